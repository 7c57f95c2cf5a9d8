import { expect } from 'chai';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import type { RunningServer } from '../../inference-server/server.js';
import { MODELS, startTestServer } from './helpers.js';

describe('a model the server cannot serve: stays up, unready, and says why', function () {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'visionops-model-'));
    await writeFile(join(dir, 'not-onnx.onnx'), 'this is a README, not a model\n');
  });

  const cases: [string, () => string, Record<string, unknown>, RegExp][] = [
    ['the file is missing', () => join(dir, 'absent.onnx'), {}, /absent\.onnx does not exist/],
    ['the file is not ONNX', () => join(dir, 'not-onnx.onnx'), {}, /not an ONNX model/],
    ['the output shape cannot be decoded', () => join(MODELS, 'bad-output.onnx'), {}, /output shape \[1, 7\]/],
    ['the configured classes do not match the output', () => join(MODELS, 'yolov5-const.onnx'), { classes: ['a', 'b', 'c'] }, /3 classes/],
    ['the configured format does not fit', () => join(MODELS, 'yolov5-const.onnx'), { format: 'yolov8' }, /configured format yolov8/],
  ];

  for (const [what, path, extra, reason] of cases) {
    it(what, async () => {
      let s: RunningServer | undefined;
      try {
        s = await startTestServer({ model: { path: path(), ...extra } });
        await request(s.url).get('/healthz').expect(200);
        const ready = await request(s.url).get('/readyz').expect(503);
        expect(ready.body.ready).to.equal(false);
        expect(ready.body.checks.model.ok).to.equal(false);
        expect(ready.body.checks.model.reason).to.match(reason);
        await request(s.url).get('/v2/health/ready').expect(503, { ready: false });
        const models = await request(s.url).get('/v1/models').expect(200);
        expect(models.body.models[0].reason).to.match(reason);
        const r = await request(s.url).post('/v1/detect').set('Content-Type', 'image/png').send(Buffer.from('x')).expect(503);
        expect(r.body.error.code).to.equal('not_ready');
        expect(r.headers['retry-after']).to.equal('5');
      } finally {
        await s?.shutdown();
      }
    });
  }

  it('reads the input size from the configuration for a model with dynamic height and width', async () => {
    const s = await startTestServer({ model: { path: join(MODELS, 'yolov5-dynamic.onnx'), inputSize: 256 } });
    try {
      const r = await request(s.url).get('/v1/models').expect(200);
      expect(r.body.models[0].inputShape).to.deep.equal([1, 3, 256, 256]);
      expect(r.body.models[0].ready).to.equal(true);
    } finally {
      await s.shutdown();
    }
  });
});
