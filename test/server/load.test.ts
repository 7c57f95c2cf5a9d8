import { expect } from 'chai';
import { join } from 'node:path';
import sharp from 'sharp';
import request from 'supertest';
import { InferenceTimeoutError, QueueFullError, WorkerPool } from '../../inference-server/inference/worker-pool.js';
import { MODELS, startTestServer } from './helpers.js';

const thresholds = { confidence: 0.25, iou: 0.45, maxDetections: 300 };
// A large frame keeps a worker busy for tens of milliseconds in letterboxing alone.
const bigFrame = () => ({ pixels: new Uint8Array(6000 * 4000 * 3).fill(90), width: 6000, height: 4000, thresholds });

describe('bounded queue and timeouts', function () {
  this.timeout(60_000);

  it('rejects at once past the queue bound instead of queueing without limit', async () => {
    const pool = new WorkerPool({ workers: 1, maxQueue: 1, timeoutMs: 30_000, init: { modelPath: join(MODELS, 'yolov5-const.onnx'), intraOpThreads: 1, format: 'auto' } });
    await pool.start();
    try {
      const running = pool.infer(bigFrame());
      const queued = pool.infer(bigFrame());
      expect(pool.queueDepth).to.equal(1);
      let rejected: unknown;
      await pool.infer(bigFrame()).catch((e: unknown) => (rejected = e));
      expect(rejected).to.be.instanceOf(QueueFullError);
      const [a, b] = await Promise.all([running, queued]);
      expect(a.detections.length).to.be.greaterThan(0);
      expect(b.timings.queueMs).to.be.greaterThan(0);
      expect(pool.queueDepth).to.equal(0);
    } finally {
      await pool.close();
    }
  });

  it('times a request out and keeps serving the next one', async () => {
    const pool = new WorkerPool({ workers: 1, maxQueue: 4, timeoutMs: 1, init: { modelPath: join(MODELS, 'yolov5-const.onnx'), intraOpThreads: 1, format: 'auto' } });
    await pool.start();
    try {
      let err: unknown;
      await pool.infer(bigFrame()).catch((e: unknown) => (err = e));
      expect(err).to.be.instanceOf(InferenceTimeoutError);
    } finally {
      await pool.close();
    }
  });

  it('HTTP: a full queue answers 503 with Retry-After and a JSON error', async () => {
    // A 4096 input makes each inference take a few hundred ms: the worker is surely still busy
    // when the HTTP request arrives.
    const s = await startTestServer({ model: { path: join(MODELS, 'yolov5-dynamic.onnx'), inputSize: 4096 }, server: { maxQueue: 0 } });
    try {
      const pool = s.service.inferencePool!;
      const busy = pool.infer(bigFrame()); // occupies the only worker
      const img = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#000' } }).png().toBuffer();
      const r = await request(s.url).post('/v1/detect').set('Content-Type', 'image/png').send(img);
      await busy;
      expect(r.status).to.equal(503);
      expect(r.headers['retry-after']).to.equal('1');
      expect(r.body.error.code).to.equal('queue_full');
      await request(s.url).post('/v1/detect').set('Content-Type', 'image/png').send(img).expect(200);
      const m = (await request(s.url).get('/metrics')).text;
      expect(m).to.match(/visionops_requests_rejected_total\{code="queue_full"\} 1/);
    } finally {
      await s.shutdown();
    }
  });
});

describe('closing the pool', function () {
  this.timeout(60_000);

  it('lets a run in progress finish instead of killing its thread mid-inference', async () => {
    const pool = new WorkerPool({ workers: 1, maxQueue: 4, timeoutMs: 30_000, init: { modelPath: join(MODELS, 'yolov5-dynamic.onnx'), intraOpThreads: 1, format: 'auto', inputSize: 4096 } });
    await pool.start();
    const running = pool.infer(bigFrame());
    const queued = pool.infer(bigFrame()).then(
      () => 'served',
      (e: Error) => e.name,
    );
    await pool.close();
    expect((await running).detections.length).to.be.greaterThan(0);
    expect(await queued).to.equal('WorkerCrashedError');
  });
});
