import { expect } from 'chai';
import { join } from 'node:path';
import sharp from 'sharp';
import request from 'supertest';
import type { RunningServer } from '../../inference-server/server.js';
import { openApiDocument } from '../../inference-server/http/openapi.js';
import { MODELS, manifest, startTestServer } from './helpers.js';

const m = manifest();
const mapping = m.mappings.find((x) => x.original.width === 640 && x.original.height === 480)!;

async function grey(width: number, height: number, format: 'jpeg' | 'png' | 'webp' = 'jpeg'): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 90, g: 90, b: 90 } } })[format]().toBuffer();
}

function expectMapped(detections: { class: string; classId: number; score: number; box: Record<string, number> }[]) {
  expect(detections.map((d) => d.classId)).to.deep.equal(mapping.expected.map((e) => e.class));
  detections.forEach((d, i) => {
    const e = mapping.expected[i]!;
    expect(d.class).to.equal(e.name);
    expect(d.score).to.be.closeTo(e.score, 1e-5);
    for (const k of ['x1', 'y1', 'x2', 'y2'] as const) expect(d.box[k], `${i}.${k}`).to.be.closeTo(e.box[k], 0.01);
  });
}

for (const file of ['yolov5-const.onnx', 'yolov8-const.onnx']) {
  describe(`HTTP API with ${file}`, function () {
    let s: RunningServer;
    before(async () => {
      s = await startTestServer({ model: { path: join(MODELS, file), name: 'plates', version: '7' } });
    });
    after(() => s?.shutdown());

    it('is ready after loading and warming up', async () => {
      const r = await request(s.url).get('/readyz').expect(200);
      expect(r.body).to.deep.equal({ ready: true, checks: { model: { ok: true }, warmup: { ok: true } } });
    });

    it('POST /v1/detect returns boxes mapped back to the original image, clipped', async () => {
      const r = await request(s.url).post('/v1/detect').set('Content-Type', 'image/jpeg').send(await grey(640, 480)).expect(200);
      expect(r.body).to.include({ width: 640, height: 480, format: 'jpeg' });
      expect(r.body.model).to.deep.equal({ name: 'plates', version: '7' });
      expect(r.body.sha256).to.match(/^[0-9a-f]{64}$/);
      expectMapped(r.body.detections);
      for (const k of ['decodeMs', 'queueMs', 'letterboxMs', 'inferenceMs', 'postprocessMs', 'totalMs']) {
        expect(r.body.timings[k], k).to.be.a('number').and.at.least(0);
      }
    });

    it('accepts PNG, WebP and a multipart field "image"', async () => {
      await request(s.url).post('/v1/detect').set('Content-Type', 'image/png').send(await grey(640, 480, 'png')).expect(200);
      await request(s.url).post('/v1/detect').set('Content-Type', 'image/webp').send(await grey(640, 480, 'webp')).expect(200);
      const r = await request(s.url).post('/v1/detect').attach('image', await grey(640, 480), { filename: 'x.jpg', contentType: 'image/jpeg' }).expect(200);
      expectMapped(r.body.detections);
    });

    it('takes per-request thresholds', async () => {
      const r = await request(s.url)
        .post('/v1/detect?confidence=0.7&maxDetections=2')
        .set('Content-Type', 'image/jpeg')
        .send(await grey(640, 480))
        .expect(200);
      expect(r.body.detections).to.have.length(2);
      expect(r.body.detections.every((d: { score: number }) => d.score > 0.7)).to.equal(true);
      const all = await request(s.url).post('/v1/detect?iou=0.99').set('Content-Type', 'image/jpeg').send(await grey(640, 480)).expect(200);
      expect(all.body.detections.length).to.be.greaterThan(mapping.expected.length);
    });

    it('applies EXIF orientation before detection (width and height swap)', async () => {
      const rotated = await sharp({ create: { width: 480, height: 640, channels: 3, background: '#555' } })
        .jpeg()
        .withMetadata({ orientation: 6 })
        .toBuffer();
      const r = await request(s.url).post('/v1/detect').set('Content-Type', 'image/jpeg').send(rotated).expect(200);
      expect([r.body.width, r.body.height]).to.deep.equal([640, 480]);
      expectMapped(r.body.detections);
    });

    it('describes the model on /v1/models and the KServe V2 endpoints', async () => {
      const r = await request(s.url).get('/v1/models').expect(200);
      const model = r.body.models[0];
      expect(model).to.include({ name: 'plates', version: '7', ready: true, format: file.startsWith('yolov5') ? 'yolov5' : 'yolov8' });
      expect(model.inputShape).to.deep.equal([1, 3, 320, 320]);
      expect(model.classes).to.deep.equal(['plate', 'card']);
      await request(s.url).get('/v2/health/live').expect(200, { live: true });
      await request(s.url).get('/v2/health/ready').expect(200, { ready: true });
      await request(s.url).get('/v2/models/plates/ready').expect(200, { name: 'plates', ready: true });
      const meta = await request(s.url).get('/v2/models/plates').expect(200);
      expect(meta.body.inputs[0]).to.deep.equal({ name: 'images', datatype: 'FP32', shape: [1, 3, 320, 320] });
      const missing = await request(s.url).get('/v2/models/other').expect(404);
      // Open Inference Protocol errors: {"error": "..."}.
      expect(missing.body.error).to.be.a('string').and.include('no model named other');
    });
  });
}

describe('HTTP API: cross-cutting', function () {
  let s: RunningServer;
  before(async () => {
    s = await startTestServer({ model: { path: join(MODELS, 'yolov5-const.onnx') } });
  });
  after(() => s?.shutdown());

  it('echoes a client request id, or makes one, in the header and error bodies', async () => {
    const r = await request(s.url).get('/healthz').set('X-Request-Id', 'abc-123').expect(200);
    expect(r.headers['x-request-id']).to.equal('abc-123');
    const e = await request(s.url).post('/v1/detect').set('Content-Type', 'image/png').send(Buffer.from('nope')).expect(415);
    expect(e.body.error.requestId).to.equal(e.headers['x-request-id']).and.match(/^[0-9a-f-]{36}$/);
    const evil = await request(s.url).get('/healthz').set('X-Request-Id', '<script>x</script>').expect(200);
    expect(evil.headers['x-request-id']).to.match(/^[0-9a-f-]{36}$/);
  });

  it('exports request, stage, queue and in-flight metrics', async () => {
    await request(s.url).post('/v1/detect').set('Content-Type', 'image/jpeg').send(await grey(64, 48)).expect(200);
    const r = await request(s.url).get('/metrics').expect(200);
    expect(r.text).to.match(/visionops_http_requests_total\{route="\/v1\/detect",method="POST",status="200"\} \d+/);
    expect(r.text).to.match(/visionops_http_request_duration_seconds_bucket\{le="0.1",route="\/v1\/detect"/);
    expect(r.text).to.match(/visionops_pipeline_stage_duration_seconds_count\{stage="inference"\} \d+/);
    expect(r.text).to.include('visionops_inference_queue_depth 0');
    expect(r.text).to.include('visionops_http_requests_in_flight 0');
    expect(r.text).to.match(/visionops_detections_total\{class="plate"\} \d+/);
    expect(r.text).to.include('visionops_model_ready 1');
  });

  it('serves the OpenAPI document and Swagger UI, and the document lists every route', async () => {
    const doc = (await request(s.url).get('/openapi.json').expect(200)).body as ReturnType<typeof openApiDocument>;
    for (const path of ['/v1/detect', '/v1/read', '/v1/models', '/v2/health/live', '/v2/health/ready', '/v2/models/{name}', '/v2/models/{name}/ready', '/healthz', '/readyz', '/metrics']) {
      expect(doc.paths, path).to.have.property(path);
    }
    const ui = await request(s.url).get('/docs/').expect(200);
    expect(ui.text).to.include('swagger-ui');
  });
});

describe('HTTP API: under a path prefix (server.basePath, from spec.ingress.path)', function () {
  let s: RunningServer;
  before(async () => {
    s = await startTestServer({ model: { path: join(MODELS, 'yolov5-const.onnx'), name: 'plates' }, server: { basePath: '/models/plates/' } });
  });
  after(() => s?.shutdown());

  it('answers the whole API under the prefix an Ingress keeps in the path, and still at the root', async () => {
    const r = await request(s.url).post('/models/plates/v1/detect?confidence=0.3').set('Content-Type', 'image/jpeg').send(await grey(64, 48)).expect(200);
    expect(r.body.model.name).to.equal('plates');
    await request(s.url).get('/models/plates/v2/models/plates/ready').expect(200);
    await request(s.url).get('/models/plates/readyz').expect(200);
    await request(s.url).post('/v1/detect').set('Content-Type', 'image/jpeg').send(await grey(64, 48)).expect(200);
    // Validation errors are the API's own, not an express 404.
    const bad = await request(s.url).post('/models/plates/v1/detect?confidence=7').set('Content-Type', 'image/jpeg').send(await grey(64, 48)).expect(400);
    expect(bad.body.error.message).to.include('confidence');
  });

  it('strips only a whole path segment', async () => {
    await request(s.url).get('/models/platesX/v1/models').expect(404);
    await request(s.url).get('/models/plates').expect(404);
  });
});
