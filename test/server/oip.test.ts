import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { OipError, parseInferRequest } from '../../inference-server/oip/tensors.js';
import { decodeImage } from '../../inference-server/pipeline/decode.js';
import { letterboxParams, letterboxToTensor, unletterboxBox } from '../../inference-server/pipeline/letterbox.js';
import { nonMaxSuppression } from '../../inference-server/pipeline/nms.js';
import { decodeCandidates, detectLayout } from '../../inference-server/pipeline/yolo-output.js';
import { projectRoot } from '../../inference-server/project-root.js';
import type { RunningServer } from '../../inference-server/server.js';
import { runCommand } from '../cluster/command.js';
import { pythonTool, TRITON_CLIENT } from '../delivery/python-tools.js';
import { boxIou, manifest, MODELS, startTestServer } from './helpers.js';

const model = { name: 'images', datatype: 'FP32' as const, shape: [1, 3, 2, 2] };
const body = (o: unknown) => Buffer.from(JSON.stringify(o));
const input = (extra: Record<string, unknown> = {}) => ({ name: 'images', shape: [1, 3, 2, 2], datatype: 'FP32', data: Array.from({ length: 12 }, (_, i) => i / 10), ...extra });

describe('Open Inference Protocol: parsing an inference request', () => {
  it('takes flat or nested row-major data', () => {
    const flat = parseInferRequest(body({ id: 'a', inputs: [input()] }), undefined, model);
    expect(flat.id).to.equal('a');
    expect(Array.from(flat.input.data)).to.deep.equal(Array.from(Float32Array.from({ length: 12 }, (_, i) => i / 10)));
    const nested = [[[[0, 0.1], [0.2, 0.3]], [[0.4, 0.5], [0.6, 0.7]], [[0.8, 0.9], [1, 1.1]]]];
    expect(Array.from(parseInferRequest(body({ inputs: [input({ data: nested })] }), undefined, model).input.data)).to.deep.equal(Array.from(flat.input.data));
  });

  it('takes binary tensor data after a JSON header (Inference-Header-Content-Length)', () => {
    const values = Float32Array.from({ length: 12 }, (_, i) => i * 1.5);
    const head = body({ inputs: [{ name: 'images', shape: [1, 3, 2, 2], datatype: 'FP32', parameters: { binary_data_size: 48 } }], outputs: [{ name: 'output0', parameters: { binary_data: true } }] });
    const r = parseInferRequest(Buffer.concat([head, Buffer.from(values.buffer)]), String(head.length), model);
    expect(Array.from(r.input.data)).to.deep.equal(Array.from(values));
    expect(r.outputs).to.deep.equal([{ name: 'output0', binary: true }]);
  });

  const bad: [string, Buffer, string | undefined, RegExp][] = [
    ['an empty body', Buffer.alloc(0), undefined, /no body/],
    ['not JSON', Buffer.from('{"inputs": ['), undefined, /not JSON/],
    ['no inputs', body({ id: 'x' }), undefined, /"inputs" must be a non-empty array/],
    ['two inputs', body({ inputs: [input(), input()] }), undefined, /takes one input/],
    ['another input name', body({ inputs: [input({ name: 'x' })] }), undefined, /unexpected input "x".*"images"/],
    ['another datatype', body({ inputs: [input({ datatype: 'INT8' })] }), undefined, /datatype "INT8" is not the model's FP32/],
    ['another shape', body({ inputs: [input({ shape: [1, 3, 4, 4] })] }), undefined, /shape \[1, 3, 4, 4\] is not the model's \[1, 3, 2, 2\]/],
    ['too few values', body({ inputs: [input({ data: [1, 2, 3] })] }), undefined, /has 3 values; its shape holds 12/],
    ['too many values', body({ inputs: [input({ data: Array(13).fill(0) })] }), undefined, /more than the 12 values/],
    ['a string among the values', body({ inputs: [input({ data: [...Array(11).fill(0), 'x'] })] }), undefined, /holds "x"/],
    ['a header length past the body', body({ inputs: [input()] }), '99999', /not a length within/],
    ['binary size without binary data', body({ inputs: [input({ data: undefined, parameters: { binary_data_size: 48 } })] }), undefined, /no Inference-Header-Content-Length/],
    ['outputs that are not a list', body({ inputs: [input()], outputs: {} }), undefined, /"outputs" must be an array/],
  ];
  for (const [what, bytes, header, message] of bad) {
    it(`refuses ${what}, naming the problem`, () => {
      expect(() => parseInferRequest(bytes, header, model)).to.throw(OipError, message);
    });
  }
});

describe('Open Inference Protocol: POST /v2/models/{name}/infer', function () {
  this.timeout(60_000);
  let s: RunningServer;
  const rows = manifest().rows.values.flat();
  const tensor = Array.from({ length: 3 * 320 * 320 }, (_, i) => (i % 255) / 255);
  before(async () => {
    s = await startTestServer({ model: { path: join(MODELS, 'yolov5-const.onnx'), name: 'plates', version: '7' } });
  });
  after(() => s?.shutdown());

  it('runs the model on a JSON tensor and returns its raw output', async () => {
    const r = await request(s.url).post('/v2/models/plates/infer').send({ id: 'r1', inputs: [{ name: 'images', shape: [1, 3, 320, 320], datatype: 'FP32', data: tensor }] }).expect(200);
    expect(r.body).to.include({ model_name: 'plates', model_version: '7', id: 'r1' });
    const [out] = r.body.outputs;
    expect(out).to.include({ name: 'output0', datatype: 'FP32' });
    expect(out.shape).to.deep.equal([1, 16, 7]);
    expect(out.data).to.have.length(rows.length);
    out.data.forEach((v: number, i: number) => expect(v, `value ${i}`).to.be.closeTo(rows[i]!, 1e-5));
  });

  it('the versioned route works and an unknown version or model is a 404 in the protocol shape', async () => {
    await request(s.url).post('/v2/models/plates/versions/7/infer').send({ inputs: [{ name: 'images', shape: [1, 3, 320, 320], datatype: 'FP32', data: tensor }] }).expect(200);
    const v = await request(s.url).post('/v2/models/plates/versions/8/infer').send({ inputs: [] }).expect(404);
    expect(v.body).to.deep.equal({ error: 'model plates has no version 8; this server serves version 7' });
    const m = await request(s.url).get('/v2/models/other').expect(404);
    expect(m.body.error).to.be.a('string');
  });

  it('answers binary tensor data with binary tensor data when asked', async () => {
    const data = Float32Array.from(tensor);
    const head = Buffer.from(JSON.stringify({ inputs: [{ name: 'images', shape: [1, 3, 320, 320], datatype: 'FP32', parameters: { binary_data_size: data.byteLength } }], parameters: { binary_data_output: true } }));
    const res = await fetch(`${s.url}/v2/models/plates/infer`, { method: 'POST', body: Buffer.concat([head, Buffer.from(data.buffer)]), headers: { 'Inference-Header-Content-Length': String(head.length) } });
    expect(res.status).to.equal(200);
    const n = Number(res.headers.get('inference-header-content-length'));
    const bytes = Buffer.from(await res.arrayBuffer());
    const json = JSON.parse(bytes.subarray(0, n).toString());
    expect(json.outputs[0]).to.deep.include({ name: 'output0', shape: [1, 16, 7], parameters: { binary_data_size: rows.length * 4 } });
    const values = new Float32Array(bytes.subarray(n).buffer.slice(bytes.byteOffset + n, bytes.byteOffset + bytes.length));
    values.forEach((v, i) => expect(v).to.be.closeTo(rows[i]!, 1e-5));
  });

  const errors: [string, () => request.Test, number, RegExp][] = [
    ['no body', () => request(s.url).post('/v2/models/plates/infer'), 400, /no body/],
    ['broken JSON', () => request(s.url).post('/v2/models/plates/infer').set('Content-Type', 'application/json').send('{"inputs": [1,'), 400, /not JSON|JSON/],
    ['a wrong shape', () => request(s.url).post('/v2/models/plates/infer').send({ inputs: [{ name: 'images', shape: [1, 3, 32, 32], datatype: 'FP32', data: [] }] }), 400, /shape \[1, 3, 32, 32\] is not the model's \[1, 3, 320, 320\]/],
    ['an unknown output', () => request(s.url).post('/v2/models/plates/infer').send({ inputs: [{ name: 'images', shape: [1, 3, 320, 320], datatype: 'FP32', data: tensor }], outputs: [{ name: 'boxes' }] }), 400, /unknown output "boxes".*"output0"/],
    ['a body over the limit', () => request(s.url).post('/v2/models/plates/infer').send(Buffer.alloc(21 * 2 ** 20, 32)), 413, /limit/],
  ];
  for (const [what, send, status, message] of errors) {
    it(`${what}: ${status} {"error": "..."}`, async () => {
      const r = await send();
      expect(r.status).to.equal(status);
      expect(r.headers['content-type']).to.match(/application\/json/);
      expect(Object.keys(r.body)).to.deep.equal(['error']);
      expect(r.body.error).to.match(message);
    });
  }
});

describe('Open Inference Protocol: tritonclient against the server', function () {
  this.timeout(300_000);
  let s: RunningServer;
  let bin: string;
  let dir: string;
  const root = projectRoot();
  const detector = join(root, 'models', 'plate-detector.onnx');

  before(async () => {
    bin = await pythonTool(TRITON_CLIENT);
    s = await startTestServer({ model: { path: detector, name: 'plate-detector', version: 'demo' } });
    dir = await mkdtemp(join(tmpdir(), 'visionops-oip-'));
  });
  after(() => s?.shutdown());

  it('metadata and inference with a real OIP client; the raw output decodes to the boxes /v1/detect finds', async () => {
    const jpeg = readFileSync(join(root, 'ci', 'smoke', 'plate.jpg'));
    const size = s.service.model!.shape.inputSize;
    const image = await decodeImage(jpeg, 50e6);
    const params = letterboxParams(image.width, image.height, size);
    const x = new Float32Array(3 * size * size);
    letterboxToTensor(image.pixels, params, x);
    await writeFile(join(dir, 'x.f32'), Buffer.from(x.buffer));
    await runCommand(join(bin, 'python'), [join(import.meta.dirname, 'oip_client.py'), s.url, 'plate-detector', join(dir, 'x.f32'), join(dir, 'out.json')]);
    const seen = JSON.parse(await readFile(join(dir, 'out.json'), 'utf8'));

    expect(seen).to.include({ live: true, ready: true, model_ready: true });
    expect(seen.server.extensions).to.include('binary_tensor_data');
    expect(seen.metadata.inputs).to.deep.equal([{ name: 'images', datatype: 'FP32', shape: [1, 3, size, size] }]);
    const out = seen.metadata.outputs[0];
    expect(seen.binary.shape).to.deep.equal(out.shape);
    expect(seen.binary.dtype).to.equal('float32');
    expect(seen.binary.id).to.equal('req-True-True');
    expect(seen.json.data).to.deep.equal(seen.binary.data);

    // Decoded as the server decodes: the same plate as /v1/detect.
    const layout = detectLayout(out.shape, 1, 'auto');
    const boxes = nonMaxSuppression(decodeCandidates(Float32Array.from(seen.binary.data), layout, 0.25), 0.45, 300).map((c) => unletterboxBox(params, c));
    const detect = await request(s.url).post('/v1/detect').set('Content-Type', 'image/jpeg').send(jpeg).expect(200);
    expect(boxes).to.have.length(detect.body.detections.length).and.length.greaterThan(0);
    expect(boxIou(boxes[0]!, detect.body.detections[0].box)).to.be.greaterThan(0.99);

    expect(seen.wrong_shape.status).to.equal('400');
    expect(seen.wrong_shape.message).to.match(/shape \[1, 3, 32, 32\] is not the model's/);
    expect(seen.unknown_model.status).to.equal('404');
    expect(seen.unknown_model.message).to.match(/no model named no-such-model/);
  });
});
