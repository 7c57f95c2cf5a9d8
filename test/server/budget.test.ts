import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import request from 'supertest';
import { stringify } from 'yaml';
import { Budgets } from '../../inference-server/budget/budgets.js';
import { cgroupMemoryLimit } from '../../inference-server/budget/cgroup-memory.js';
import { Limiter } from '../../inference-server/budget/limiter.js';
import { MemoryGuard, MemoryPressureError } from '../../inference-server/budget/memory-guard.js';
import { RequestBudget } from '../../inference-server/budget/request-budget.js';
import { loadConfig } from '../../inference-server/config/load.js';
import { projectRoot } from '../../inference-server/project-root.js';
import { MODELS, startTestServer } from './helpers.js';
import { MiB, ready, rssOf, run, sampleRss, waitFor } from './server-process.js';

const PLATE = readFileSync(join(projectRoot(), 'ci', 'smoke', 'plate.jpg'));
const GiB = 2 ** 30;

function postPlate(base: string, query: string, path = '/v1/read'): Promise<Response> {
  const form = new FormData();
  form.append('image', new Blob([PLATE], { type: 'image/jpeg' }), 'plate.jpg');
  return fetch(`${base}${path}?${query}`, { method: 'POST', body: form });
}

interface ReadBody {
  detections: { class: string; score: number; text?: string }[];
  ocrSkipped?: number;
  error?: { code: string };
}

describe('request budget: pieces', () => {
  it('a limiter runs at most `size` tasks, and a waiting task whose signal aborts never starts', async () => {
    const l = new Limiter(1);
    let release!: () => void;
    const first = l.run(() => new Promise<void>((r) => (release = r)));
    const ac = new AbortController();
    let started = false;
    const second = l.run(async () => {
      started = true;
    }, ac.signal);
    expect(l.queued).to.equal(1);
    ac.abort(new Error('deadline'));
    await second.then(() => expect.fail('should reject'), (e: Error) => expect(e.message).to.equal('deadline'));
    expect(l.queued).to.equal(0);
    release();
    await first;
    expect(started).to.equal(false);
    expect(l.active).to.equal(0);
  });

  it('reads the best-scored boxes down to the floor, at most ocrMaxBoxes', () => {
    const b = new RequestBudget({ ocrMaxBoxes: 2, ocrMinScore: 0.3, recognizerBatch: 4, cropsInFlight: 1 });
    const ds = [0.1, 0.9, 0.5, 0.31, 0.2].map((score) => ({ score }));
    expect([...b.pickForOcr(ds)].map((d) => d.score)).to.deep.equal([0.9, 0.5]);
  });

  it('runs the recognizer in batches and stops at the next batch once aborted', async () => {
    const b = new RequestBudget({ ocrMaxBoxes: 100, ocrMinScore: 0, recognizerBatch: 3, cropsInFlight: 1 });
    const seen: number[][] = [];
    const out = await b.inBatches([1, 2, 3, 4, 5, 6, 7], async (batch) => (seen.push(batch), batch.map((x) => x * 10)));
    expect(seen).to.deep.equal([[1, 2, 3], [4, 5, 6], [7]]);
    expect(out).to.deep.equal([10, 20, 30, 40, 50, 60, 70]);
    const runs: number[][] = [];
    const aborted = b.inBatches([1, 2, 3, 4, 5, 6, 7], async (batch) => {
      runs.push(batch);
      b.abort(new Error('timed out'));
      return batch;
    });
    await aborted.then(() => expect.fail('should reject'), (e: Error) => expect(e.message).to.equal('timed out'));
    expect(runs).to.have.length(1);
  });

  it('the memory bound: idle RSS + headroom, under the container limit; refusals name the numbers', () => {
    let rss = 400 * MiB;
    const g = new MemoryGuard({ headroom: 1024 * MiB, limitRatio: 0.85, rss: () => rss, rssCacheMs: 0 });
    expect(g.calibrate()).to.deep.equal({ idle: 400 * MiB, bound: 1424 * MiB });
    const a = g.reserve(600 * MiB, 'a');
    expect(() => g.reserve(500 * MiB, 'a 500 MiB image')).to.throw(MemoryPressureError, /500 MiB image.*bound 1424 MiB/);
    a.release();
    a.release();
    expect(g.reserved).to.equal(0);
    const b = g.reserve(500 * MiB, 'b');
    rss = 1000 * MiB; // others grew meanwhile
    expect(() => b.grow(100 * MiB, 'pixels')).to.throw(MemoryPressureError);
    expect(b.size).to.equal(500 * MiB);
    const capped = new MemoryGuard({ headroom: 4096 * MiB, limitRatio: 0.85, containerLimit: 2048 * MiB, rss: () => 300 * MiB });
    expect(capped.calibrate().bound).to.equal(Math.floor(2048 * MiB * 0.85));
    const absolute = new MemoryGuard({ headroom: 1, maxRss: 900 * MiB, limitRatio: 1, rss: () => 300 * MiB });
    expect(absolute.calibrate().bound).to.equal(900 * MiB);
  });

  it('reads the container memory limit from cgroup v2 or v1', () => {
    const fs = (files: Record<string, string>) => (p: string) => files[p];
    expect(cgroupMemoryLimit(fs({ '/sys/fs/cgroup/memory.max': '1073741824\n' }))).to.equal(GiB);
    expect(cgroupMemoryLimit(fs({ '/sys/fs/cgroup/memory.max': 'max\n' }))).to.equal(undefined);
    expect(cgroupMemoryLimit(fs({ '/sys/fs/cgroup/memory/memory.limit_in_bytes': '536870912' }))).to.equal(GiB / 2);
    expect(cgroupMemoryLimit(fs({ '/sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712' }))).to.equal(undefined);
    expect(cgroupMemoryLimit(fs({}))).to.equal(undefined);
  });

  it('the OCR floor defaults to the configured detection threshold, whatever a request asks for', () => {
    const cfg = loadConfig({ overrides: { model: { path: 'm.onnx', thresholds: { confidence: 0.4 } } } });
    expect(new Budgets(cfg).limits).to.deep.equal({ ocrMaxBoxes: 32, ocrMinScore: 0.4, recognizerBatch: 32, cropsInFlight: 4 });
  });
});

describe('request budget: the memory bound refuses work instead of growing', function () {
  this.timeout(60_000);

  it('503 memory_pressure with Retry-After and a JSON error past the bound; probes still answer', async () => {
    const s = await startTestServer({ model: { path: join(MODELS, 'yolov5-const.onnx') }, budget: { maxRss: '1MiB' } });
    try {
      const img = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#777' } }).jpeg().toBuffer();
      const r = await request(s.url).post('/v1/detect').set('Content-Type', 'image/jpeg').send(img);
      expect(r.status).to.equal(503);
      expect(r.headers['retry-after']).to.equal('2');
      expect(r.body.error.code).to.equal('memory_pressure');
      expect(r.body.error.message).to.match(/memory bound/);
      const metrics = (await request(s.url).get('/metrics')).text;
      expect(metrics).to.match(/visionops_requests_rejected_total\{code="memory_pressure"\} 1/);
      expect(metrics).to.match(/visionops_memory_bound_bytes 1048576/);
      expect(metrics).to.match(/visionops_memory_reserved_bytes 0/);
      // The probes and metadata still answer: only work that costs memory is refused.
      await request(s.url).get('/healthz').expect(200);
    } finally {
      await s.shutdown();
    }
  });
});

describe('request budget: the fan-out requests against the real server process', function () {
  this.timeout(240_000);
  let p: ReturnType<typeof run>;
  let base: string;
  let idle: number;

  before(async () => {
    // `npm start`'s configuration: the bundled detector, plate reader and tesseract fallback.
    p = run(['--port', '0'], { VISIONOPS__SERVER__HOST: '127.0.0.1' });
    base = await ready(p, 120_000);
    await new Promise((r) => setTimeout(r, 500));
    idle = rssOf(p.child.pid!);
  });
  after(() => p?.child.kill('SIGKILL'));

  const cases = [
    ['confidence=0&iou=1&maxDetections=10000', 10_000],
    ['confidence=0&maxDetections=1000', undefined],
    ['confidence=0', 300],
  ] as const;
  for (const [query, count] of cases) {
    it(`POST /v1/read?${query}: answered within the deadline, RSS under idle + 1 GiB`, async () => {
      const rss = sampleRss(p.child.pid!);
      const started = Date.now();
      const res = await postPlate(base, query);
      const ms = Date.now() - started;
      const peak = rss.stop();
      const body = (await res.json()) as ReadBody;
      console.log(`      ${query}: ${res.status} in ${ms} ms, RSS idle ${Math.round(idle / MiB)} MiB, peak ${Math.round(peak / MiB)} MiB (+${Math.round((peak - idle) / MiB)})`);
      expect(res.status, JSON.stringify(body.error)).to.equal(200);
      expect(ms).to.be.below(30_000 + 2_000);
      expect(peak - idle).to.be.below(GiB);
      if (count) expect(body.detections).to.have.length(count);
      const read = body.detections.filter((d) => d.text !== undefined);
      expect(read.length).to.be.within(1, 32);
      expect(body.ocrSkipped).to.equal(body.detections.length - read.length);
      // The best box is among those read, and it is the plate.
      expect(read.map((d) => d.text)).to.include('ZF89CYC');
      expect(Math.min(...read.map((d) => d.score))).to.be.at.least(0.25);
    });
  }

  it('gives the memory back: RSS after the three is still under idle + 1 GiB', () => {
    expect(rssOf(p.child.pid!) - idle).to.be.below(GiB);
  });
});

describe('request budget: the deadline cancels queued OCR work (real server process)', function () {
  this.timeout(180_000);

  it('answers 503 request_timeout at the deadline, runs no tesseract job after it, serves the next request', async () => {
    // tesseract only (no recognizer), every box read: lots of slow OCR for one request.
    const dir = await mkdtemp(join(tmpdir(), 'visionops-budget-'));
    const cfg = join(dir, 'server.yaml');
    await writeFile(cfg, stringify({
      server: { host: '127.0.0.1', port: 0, requestTimeoutMs: 4000 },
      model: { path: join(projectRoot(), 'models', 'plate-detector.onnx'), name: 'plate-detector' },
      ocr: { classes: { plate: { mode: 'line', charset: 'A-Z0-9', formats: ['LLDD LLL', 'LL-DDD-LL'], retry: true } } },
      budget: { ocrMinScore: 0, ocrMaxBoxes: 300 },
    }));
    const p = run(['--config', cfg]);
    try {
      const base = await ready(p, 120_000);
      const jobs = async () => Number(/^visionops_ocr_tesseract_jobs_total (\d+)/m.exec(await (await fetch(`${base}/metrics`)).text())![1]);
      const before = await jobs();
      const started = Date.now();
      const res = await postPlate(base, 'confidence=0');
      const ms = Date.now() - started;
      const body = (await res.json()) as ReadBody;
      expect(res.status).to.equal(503);
      expect(res.headers.get('retry-after')).to.equal('2');
      expect(body.error!.code).to.equal('request_timeout');
      expect(ms).to.be.below(4000 + 2000);
      const atDeadline = await jobs();
      expect(atDeadline - before, 'tesseract was working when the deadline came').to.be.greaterThan(0);
      // Jobs running at the deadline (at most one per tesseract worker) may still finish; nothing after.
      await new Promise((r) => setTimeout(r, 2500));
      const settled = await jobs();
      expect(settled - atDeadline).to.be.at.most(2);
      await new Promise((r) => setTimeout(r, 2500));
      expect(await jobs()).to.equal(settled);
      const next = await postPlate(base, '');
      expect(next.status).to.equal(200);
      expect(((await next.json()) as ReadBody).detections[0]!.text).to.be.a('string');
      await waitFor('reservations returned', async () => (/^visionops_memory_reserved_bytes 0$/m.test(await (await fetch(`${base}/metrics`)).text()) ? true : undefined));
    } finally {
      p.child.kill('SIGKILL');
    }
  });
});
