import { expect } from 'chai';
import { mkdtemp, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { MODELS } from './helpers.js';
import { ready, run, waitFor } from './server-process.js';

describe('visionops-server process', function () {
  this.timeout(60_000);

  /** A GET on a connection of its own (fetch would reuse a pooled one): proves the listener still accepts. */
  const freshGet = (url: string) =>
    new Promise<number>((resolve, reject) => {
      http.get(url, { agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      }).on('error', reject);
    });

  it('SIGTERM: fails readiness at once, keeps accepting for the drain delay, then stops accepting, drains the request in flight, exits 0', async () => {
    // The dynamic-input fixture at 4096 makes one inference take a few hundred ms.
    const p = run(['--model', join(MODELS, 'yolov5-dynamic.onnx'), '--port', '0'], {
      VISIONOPS__OCR__ENABLED: 'false', VISIONOPS__SERVER__HOST: '127.0.0.1', VISIONOPS__MODEL__INPUT_SIZE: '4096',
      VISIONOPS__SERVER__DRAIN_DELAY_MS: '3000',
    });
    try {
      const base = await ready(p);
      const big = await sharp({ create: { width: 7000, height: 6000, channels: 3, background: '#4a6' } }).jpeg().toBuffer();
      const inFlight = fetch(`${base}/v1/detect`, { method: 'POST', body: big, headers: { 'content-type': 'image/jpeg' } });
      await waitFor('request in flight', async () => {
        const m = await (await fetch(`${base}/metrics`)).text();
        return /visionops_http_requests_in_flight 1/.test(m) ? true : undefined;
      });
      const signalled = Date.now();
      p.child.kill('SIGTERM');
      await waitFor('draining', () => p.lines.find((l) => String(l.message).startsWith('shutting down: readiness fails')));
      const readyz = await fetch(`${base}/readyz`);
      expect(readyz.status).to.equal(503);
      expect(((await readyz.json()) as { checks: Record<string, unknown> }).checks.shutdown).to.deep.equal({ ok: false, reason: 'the server is shutting down' });
      // During the delay new connections are still accepted and served (endpoints still route here).
      expect(await freshGet(`${base}/healthz`)).to.equal(200);
      const during = await fetch(`${base}/v1/detect`, { method: 'POST', body: await sharp({ create: { width: 64, height: 64, channels: 3, background: '#000' } }).png().toBuffer(), headers: { 'content-type': 'image/png' } });
      expect(during.status).to.equal(200);
      expect(during.headers.get('connection')).to.equal('close');
      const res = await inFlight;
      expect(res.status).to.equal(200);
      expect(((await res.json()) as { width: number }).width).to.equal(7000);
      // After the delay: no new connections.
      await waitFor('listener closed', () => freshGet(`${base}/healthz`).then(() => undefined, () => true), 30_000);
      expect(Date.now() - signalled).to.be.at.least(3000);
      expect(await p.exit).to.equal(0);
      expect(p.lines.some((l) => l.message === 'shutdown complete')).to.equal(true);
    } finally {
      p.child.kill('SIGKILL');
    }
  });

  it('SIGINT (Ctrl-C) stops without the drain delay', async () => {
    const p = run(['--model', join(MODELS, 'yolov5-const.onnx'), '--port', '0'], {
      VISIONOPS__OCR__ENABLED: 'false', VISIONOPS__SERVER__HOST: '127.0.0.1', VISIONOPS__SERVER__DRAIN_DELAY_MS: '600000',
    });
    try {
      await ready(p);
      p.child.kill('SIGINT');
      expect(await p.exit).to.equal(0);
      expect(p.lines.some((l) => String(l.message).startsWith('shutting down: readiness fails'))).to.equal(false);
      expect(p.lines.some((l) => l.message === 'shutdown complete')).to.equal(true);
    } finally {
      p.child.kill('SIGKILL');
    }
  });

  it('a port in use: one clear line and exit code 4', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const p = run(['--model', join(MODELS, 'yolov5-const.onnx'), '--port', String(port)], { VISIONOPS__OCR__ENABLED: 'false', VISIONOPS__SERVER__HOST: '127.0.0.1' });
      expect(await p.exit).to.equal(4);
      const err = p.stderr.join('\n');
      expect(err).to.include(`cannot start: port ${port} on 127.0.0.1 is already in use`);
      expect(err).to.not.match(/TypeError|at .*\.js:\d+/);
    } finally {
      taken.close();
    }
  });

  it('logs JSON lines that carry the request id', async () => {
    const p = run(['--model', join(MODELS, 'yolov5-const.onnx'), '--port', '0'], { VISIONOPS__OCR__ENABLED: 'false', VISIONOPS__SERVER__HOST: '127.0.0.1' });
    try {
      const port = await waitFor('listening', () => p.lines.find((l) => l.message === 'listening')?.port as number | undefined);
      await waitFor('ready', async () => ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok ? true : undefined));
      await fetch(`http://127.0.0.1:${port}/v1/detect`, { method: 'POST', body: 'junk', headers: { 'content-type': 'image/png', 'x-request-id': 'trace-42' } });
      const line = await waitFor('request log', () => p.lines.find((l) => l.requestId === 'trace-42'));
      expect(line).to.include({ level: 'info', status: 415, path: '/v1/detect' });
      expect(line.timestamp).to.be.a('string');
    } finally {
      p.child.kill('SIGKILL');
    }
  });

  it('refuses an invalid configuration file with exit code 2, naming the field', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'visionops-cli-'));
    const cfg = join(dir, 'server.yaml');
    await writeFile(cfg, 'model:\n  path: m.onnx\ninference:\n  workers: 0\n');
    const p = run(['--config', cfg]);
    expect(await p.exit).to.equal(2);
    expect(p.stderr.join('\n')).to.include('inference.workers');
  });

  it('server.exitOnModelError: a file that is not a model makes it exit 3 saying why; without it, it stays up unready', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'visionops-cli-'));
    const model = join(dir, 'not-a-model.onnx');
    await writeFile(model, 'this is a text file, not an ONNX protobuf\n');
    const cfg = join(dir, 'server.yaml');
    await writeFile(cfg, `model:\n  path: ${model}\nserver:\n  port: 0\n  exitOnModelError: true\nocr:\n  enabled: false\n`);
    const p = run(['--config', cfg]);
    expect(await p.exit).to.equal(3);
    const exiting = p.lines.find((l) => l.message === 'the model cannot be served: exiting');
    expect(exiting?.reason).to.be.a('string').and.to.include(`cannot serve ${model}`);

    await writeFile(cfg, `model:\n  path: ${model}\nserver:\n  port: 0\nocr:\n  enabled: false\n`);
    const stays = run(['--config', cfg]);
    try {
      await waitFor('the load failure log', () => stays.lines.find((l) => l.message === 'model failed to load; the server stays unready'));
      const early = await Promise.race([stays.exit, new Promise((r) => setTimeout(() => r('running'), 1000))]);
      expect(early).to.equal('running');
    } finally {
      stays.child.kill('SIGKILL');
    }
  });

  it('fetch exits 2 with one clear line when the model cannot be fetched', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'visionops-cli-'));
    const p = run(['fetch', '--uri', 'http://127.0.0.1:9/model.onnx', '--dest', join(dir, 'm.onnx'), '--retries', '0']);
    expect(await p.exit).to.equal(2);
    expect(p.stderr.join('\n')).to.match(/^model fetch failed: .*127\.0\.0\.1:9/m);
  });
});
