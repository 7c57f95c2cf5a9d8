import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchModel, FetchError } from '../../inference-server/fetch/model-fetch.js';

describe('model fetch (init container)', () => {
  let server: Server;
  let base: string;
  let dir: string;
  const model = Buffer.from('pretend this is an onnx model '.repeat(1000));
  const sha = createHash('sha256').update(model).digest('hex');
  const hits = new Map<string, number>();

  before(async () => {
    server = createServer((req, res) => {
      const n = (hits.get(req.url!) ?? 0) + 1;
      hits.set(req.url!, n);
      if (req.url === '/model.onnx') return res.end(model);
      if (req.url === '/flaky.onnx') {
        if (n < 3) {
          res.statusCode = 503;
          return res.end('busy');
        }
        return res.end(model);
      }
      if (req.url === '/cut.onnx') {
        res.setHeader('Content-Length', String(model.length));
        res.write(model.subarray(0, 100));
        return res.destroy();
      }
      res.statusCode = 404;
      res.end('no');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise((r) => server.close(r)));
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'visionops-fetch-'));
    hits.clear();
  });

  const failure = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (e) {
      return e as FetchError;
    }
    throw new Error('expected a failure');
  };

  it('downloads and verifies the sha256', async () => {
    const dest = join(dir, 'm', 'model.onnx');
    const r = await fetchModel({ uri: `${base}/model.onnx`, dest, sha256: sha.toUpperCase() });
    expect(r).to.deep.equal({ bytes: model.length, sha256: sha, attempts: 1 });
    expect(await readFile(dest)).to.deep.equal(model);
  });

  it('retries server errors with backoff', async () => {
    const r = await fetchModel({ uri: `${base}/flaky.onnx`, dest: join(dir, 'model.onnx'), sha256: sha, backoffMs: 5 });
    expect(r.attempts).to.equal(3);
  });

  it('a wrong checksum fails at once and leaves no file', async () => {
    const e = await failure(fetchModel({ uri: `${base}/model.onnx`, dest: join(dir, 'model.onnx'), sha256: 'a'.repeat(64), backoffMs: 5 }));
    expect(e.message).to.include(`has sha256 ${sha}, expected ${'a'.repeat(64)}`);
    expect(hits.get('/model.onnx')).to.equal(1);
    expect(await readdir(dir)).to.deep.equal([]);
  });

  it('a 404 is not retried and names the status', async () => {
    const e = await failure(fetchModel({ uri: `${base}/missing.onnx`, dest: join(dir, 'model.onnx'), backoffMs: 5 }));
    expect(e.message).to.include('HTTP 404');
    expect(hits.get('/missing.onnx')).to.equal(1);
  });

  it('a connection cut mid-body is retried, then reported, leaving no partial file', async () => {
    const e = await failure(fetchModel({ uri: `${base}/cut.onnx`, dest: join(dir, 'model.onnx'), retries: 2, backoffMs: 5 }));
    expect(e).to.be.instanceOf(FetchError);
    expect(hits.get('/cut.onnx')).to.equal(3);
    expect(await readdir(dir)).to.deep.equal([]);
  });

  it('refuses what it cannot fetch with a clear message', async () => {
    expect((await failure(fetchModel({ uri: 'pvc://claim/model.onnx', dest: join(dir, 'x') }))).message).to.include('only http and https');
    expect((await failure(fetchModel({ uri: 'not a url', dest: join(dir, 'x') }))).message).to.include('not a URL');
    expect((await failure(fetchModel({ uri: `${base}/model.onnx`, dest: join(dir, 'x'), sha256: 'xyz' }))).message).to.include('64 hex');
  });
});
