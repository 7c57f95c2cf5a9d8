import { expect } from 'chai';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { MODELS } from './helpers.js';
import { run, waitFor } from './server-process.js';

describe('visionops-server process', function () {
  this.timeout(60_000);

  it('SIGTERM: stops accepting, drains the request in flight, exits 0', async () => {
    // The dynamic-input fixture at 4096 makes one inference take a few hundred ms.
    const p = run(['--model', join(MODELS, 'yolov5-dynamic.onnx'), '--port', '0'], {
      VISIONOPS__OCR__ENABLED: 'false', VISIONOPS__SERVER__HOST: '127.0.0.1', VISIONOPS__MODEL__INPUT_SIZE: '4096',
    });
    try {
      const port = await waitFor('listening', () => p.lines.find((l) => l.message === 'listening')?.port as number | undefined);
      const base = `http://127.0.0.1:${port}`;
      await waitFor('ready', async () => ((await fetch(`${base}/readyz`)).ok ? true : undefined));
      const big = await sharp({ create: { width: 7000, height: 6000, channels: 3, background: '#4a6' } }).jpeg().toBuffer();
      const inFlight = fetch(`${base}/v1/detect`, { method: 'POST', body: big, headers: { 'content-type': 'image/jpeg' } });
      await waitFor('request in flight', async () => {
        const m = await (await fetch(`${base}/metrics`)).text();
        return /visionops_http_requests_in_flight 1/.test(m) ? true : undefined;
      });
      p.child.kill('SIGTERM');
      const res = await inFlight;
      expect(res.status).to.equal(200);
      expect(((await res.json()) as { width: number }).width).to.equal(7000);
      expect(await p.exit).to.equal(0);
      let refused = false;
      await fetch(`${base}/healthz`).catch(() => {
        refused = true;
      });
      expect(refused).to.equal(true);
      expect(p.lines.some((l) => l.message === 'shutdown complete')).to.equal(true);
    } finally {
      p.child.kill('SIGKILL');
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

  it('fetch exits 2 with one clear line when the model cannot be fetched', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'visionops-cli-'));
    const p = run(['fetch', '--uri', 'http://127.0.0.1:9/model.onnx', '--dest', join(dir, 'm.onnx'), '--retries', '0']);
    expect(await p.exit).to.equal(2);
    expect(p.stderr.join('\n')).to.match(/^model fetch failed: .*127\.0\.0\.1:9/m);
  });
});
