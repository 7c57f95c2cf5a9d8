import { expect } from 'chai';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { MODELS } from './helpers.js';
import { ready, run, waitFor, type Proc } from './server-process.js';

/** server.healthPort: the kubelet's probes on a listener of their own, through the real server process. */
describe('visionops-server health port', function () {
  this.timeout(60_000);

  /** A GET on a connection of its own, as the kubelet probes: status and JSON body (or text). */
  const get = (url: string) =>
    new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
      http.get(url, { agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
      }).on('error', reject);
    });

  const healthUrlOf = (p: Proc) => waitFor('healthUrl', () => p.lines.find((l) => l.message === 'listening')?.healthUrl as string | undefined);

  const start = (env: Record<string, string> = {}) =>
    run(['--model', join(MODELS, 'yolov5-const.onnx'), '--port', '0'], {
      VISIONOPS__OCR__ENABLED: 'false', VISIONOPS__SERVER__HOST: '127.0.0.1', VISIONOPS__SERVER__HEALTH_PORT: '0', ...env,
    });

  it('answers /healthz, /readyz and /metrics there, and nothing else (404 JSON)', async () => {
    const p = start();
    try {
      const base = await ready(p);
      const health = await healthUrlOf(p);
      expect(health).to.not.equal(base);
      expect(await get(`${health}/healthz`)).to.deep.include({ status: 200, body: '{"status":"ok"}' });
      const readyz = await get(`${health}/readyz`);
      expect(readyz.status).to.equal(200);
      expect((JSON.parse(readyz.body) as { ready: boolean }).ready).to.equal(true);
      const metrics = await get(`${health}/metrics`);
      expect(metrics.status).to.equal(200);
      expect(metrics.body).to.match(/^visionops_http_requests_in_flight /m);
      for (const path of ['/v1/models', '/openapi.json', '/v2/health/ready', '/']) {
        const r = await get(`${health}${path}`);
        expect(r.status, path).to.equal(404);
        expect(r.type).to.match(/^application\/json/);
        expect((JSON.parse(r.body) as { error: { code: string; message: string } }).error).to.include({ code: 'not_found' });
      }
      const post = await fetch(`${health}/v1/detect`, { method: 'POST', body: 'x', headers: { 'content-type': 'image/png' } });
      expect(post.status).to.equal(404);
      expect(((await post.json()) as { error: { message: string } }).error.message).to.include('only /healthz, /readyz and /metrics');
      // The API port still serves the probes too (clients and old pod specs use them there).
      expect((await get(`${base}/healthz`)).status).to.equal(200);
      expect((await get(`${base}/v1/models`)).status).to.equal(200);
    } finally {
      p.child.kill('SIGKILL');
    }
  });

  it('SIGTERM: readiness fails there at once, it answers through the drain, and closes at exit', async () => {
    const p = start({ VISIONOPS__SERVER__DRAIN_DELAY_MS: '2000' });
    try {
      await ready(p);
      const health = await healthUrlOf(p);
      p.child.kill('SIGTERM');
      await waitFor('draining', () => p.lines.find((l) => String(l.message).startsWith('shutting down: readiness fails')));
      const readyz = await get(`${health}/readyz`);
      expect(readyz.status).to.equal(503);
      expect((JSON.parse(readyz.body) as { checks: Record<string, unknown> }).checks.shutdown).to.deep.equal({ ok: false, reason: 'the server is shutting down' });
      // Liveness holds while draining: a draining pod is not a dead one.
      expect((await get(`${health}/healthz`)).status).to.equal(200);
      expect(await p.exit).to.equal(0);
      let refused = false;
      await get(`${health}/healthz`).catch(() => (refused = true));
      expect(refused).to.equal(true);
    } finally {
      p.child.kill('SIGKILL');
    }
  });

  it('a health port in use: one clear line naming server.healthPort, exit code 4 as for the API port', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const p = start({ VISIONOPS__SERVER__HEALTH_PORT: String(port) });
      expect(await p.exit).to.equal(4);
      const err = p.stderr.join('\n');
      expect(err).to.include(`cannot start: port ${port} on 127.0.0.1 is already in use`);
      expect(err).to.include('(server.healthPort)');
      expect(err).to.not.match(/TypeError|at .*\.js:\d+/);
    } finally {
      taken.close();
    }
  });
});
