import { expect } from 'chai';
import net from 'node:net';
import { join } from 'node:path';
import request from 'supertest';
import type { RunningServer } from '../../inference-server/server.js';
import { MODELS, startTestServer } from './helpers.js';

/** A raw connection that sends `parts` (with pauses between) and returns all the server answers before closing. */
function rawExchange(url: string, parts: string[], pauseMs = 0): Promise<{ text: string; ms: number }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(Number(port), hostname, async () => {
      for (const p of parts) {
        socket.write(p);
        if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
      }
    });
    let text = '';
    socket.on('data', (b) => (text += b.toString()));
    socket.on('error', reject);
    socket.on('close', () => resolve({ text, ms: Date.now() - started }));
  });
}

function parse(text: string): { status: number; headers: string; body: { error: { code: string; message: string } } } {
  const [head, body] = text.split('\r\n\r\n');
  return { status: Number(/^HTTP\/1\.1 (\d+)/.exec(head!)![1]), headers: head!, body: JSON.parse(body!) };
}

describe('slow and malformed clients: the configured timeouts, answered in JSON', function () {
  this.timeout(60_000);
  let s: RunningServer;
  before(async () => {
    s = await startTestServer({ model: { path: join(MODELS, 'yolov5-const.onnx') }, server: { headersTimeoutMs: 1000, bodyTimeoutMs: 2500 } });
  });
  after(() => s?.shutdown());

  it('headers that never finish: 408 headers_timeout after server.headersTimeoutMs', async () => {
    const r = await rawExchange(s.url, ['POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n']);
    const res = parse(r.text);
    expect(res.status).to.equal(408);
    expect(res.headers).to.match(/content-type: application\/json/i);
    expect(res.body.error).to.deep.equal({ code: 'headers_timeout', message: 'the request headers did not arrive within 1000 ms' });
    expect(r.ms).to.be.at.least(1000);
  });

  it('a body that trickles: 408 body_timeout after server.bodyTimeoutMs', async () => {
    const r = await rawExchange(s.url, ['POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n', 'x'.repeat(100)]);
    const res = parse(r.text);
    expect(res.status).to.equal(408);
    expect(res.body.error).to.deep.equal({ code: 'body_timeout', message: 'the request body did not arrive within 2500 ms' });
    expect(r.ms).to.be.at.least(2500);
  });

  it('headers over the size limit: 431 JSON', async () => {
    const r = await rawExchange(s.url, [`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`]);
    const res = parse(r.text);
    expect(res.status).to.equal(431);
    expect(res.body.error.code).to.equal('headers_too_large');
  });

  it('a request line that is not HTTP: 400 JSON', async () => {
    const r = await rawExchange(s.url, ['HELLO THERE\r\n\r\n']);
    const res = parse(r.text);
    expect(res.status).to.equal(400);
    expect(res.body.error.code).to.equal('bad_request');
  });

  it('keeps serving afterwards, and never answered 500', async () => {
    await request(s.url).get('/healthz').expect(200);
    const metrics = (await request(s.url).get('/metrics')).text;
    expect(metrics).to.not.match(/status="5\d\d"/);
  });
});
