import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import request from 'supertest';
import type { RunningServer } from '../../inference-server/server.js';
import { calibratedConfidence, ctcGreedy, greedyPathLogProb, minCharLogProb, readConfidence } from '../../inference-server/ocr/ctc.js';
import { resultFromRead } from '../../inference-server/ocr/reader.js';
import { areaWeights, greyAt, recognizerInput } from '../../inference-server/ocr/recognizer-input.js';
import { parseRecognizerSpec, RECOGNIZER_METADATA_KEY, RecognizerLoadError, TextRecognizer } from '../../inference-server/ocr/recognizer.js';
import { RecognizerThread, rowsFor } from '../../inference-server/ocr/recognizer-thread.js';
import { ocrClassSchema } from '../../contract/server-config.js';
import { betterView, viewBoxes } from '../../inference-server/ocr/recognizer-views.js';
import { plateOcr, PLATE_CHARSET } from '../../inference-server/ocr/plate-rule.js';
import { FIXTURES, startTestServer } from './helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const DETECTOR = join(ROOT, 'models', 'plate-detector.onnx');
const READER = join(ROOT, 'models', 'plate-reader.onnx');
const SMOKE = join(ROOT, 'ci', 'smoke', 'plate.jpg');

interface Expected {
  height: number;
  width: number;
  margin: number;
  stdFloor: number;
  grey: number[];
  cases: { box: [number, number, number, number]; input: number[] }[];
}

describe('text recognizer input (parity with training/reader.py)', () => {
  const dir = join(FIXTURES, 'recognizer');
  const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Expected;

  async function image() {
    const { data, info } = await sharp(join(dir, 'image.png')).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return { pixels: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
  }

  it('computes the grey values of the training data', async () => {
    const { pixels } = await image();
    expect(Array.from({ length: 64 }, (_, i) => greyAt(pixels, i * 3))).to.deep.equal(expected.grey);
  });

  it('gives the network the input it was trained on, for fractional, clipped and upsampled boxes', async () => {
    const { pixels, width, height } = await image();
    for (const c of expected.cases) {
      const [x1, y1, x2, y2] = c.box;
      const got = recognizerInput(pixels, width, height, { x1, y1, x2, y2 }, expected);
      expect(got.length).to.equal(expected.height * expected.width);
      let worst = 0;
      got.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - c.input[i]!))));
      expect(worst, `box ${c.box.join(',')}`).to.be.below(1e-3);
    }
  });

  it('area weights average: each output row sums to 1 and covers only its interval', () => {
    for (const [lo, hi, n] of [[3.25, 17.5, 4], [0, 5, 32], [10.5, 11, 8]] as const) {
      const w = areaWeights(lo, hi, n);
      for (let i = 0; i < n; i++) {
        const row = w.weights.subarray(i * w.span, (i + 1) * w.span);
        expect(row.reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-9);
      }
    }
    // [0, 4) into 2: output 0 is source pixels 0 and 1, half each
    expect(Array.from(areaWeights(0, 4, 2).weights)).to.deep.equal([0.5, 0.5, 0, 0, 0, 0, 0.5, 0.5]);
  });
});

describe('CTC decoding', () => {
  const alphabet = 'AB0';
  /** one column per entry: [blank, A, B, 0] */
  const cols = (rows: number[][]) => ({ probs: Float32Array.from(rows.flat()), steps: rows.length });

  it('merges repeated columns, drops blanks, keeps a doubled letter split by a blank', () => {
    const { probs, steps } = cols([
      [0.9, 0.05, 0.03, 0.02],
      [0.1, 0.8, 0.05, 0.05],
      [0.1, 0.85, 0.03, 0.02],
      [0.9, 0.05, 0.03, 0.02],
      [0.2, 0.7, 0.05, 0.05],
      [0.1, 0.1, 0.1, 0.7],
    ]);
    const read = ctcGreedy(probs, steps, 4, alphabet);
    expect(read.map((c) => c.choices[0]!.ch).join('')).to.equal('AA0');
    // the first A's alternatives come from its most certain column (0.85), blank excluded
    expect(read[0]!.choices.map((c) => c.ch)).to.deep.equal(['A', 'B', '0']);
    expect(read[0]!.choices[0]!.conf).to.be.closeTo(0.85, 1e-6);
    expect(readConfidence(read)).to.be.closeTo(Math.cbrt(0.85 * 0.7 * 0.7), 1e-6);
  });

  it('reads nothing from blanks only, and refuses a shape that does not fit the alphabet', () => {
    expect(ctcGreedy(cols([[1, 0, 0, 0]]).probs, 1, 4, alphabet)).to.deep.equal([]);
    expect(readConfidence([])).to.equal(0);
    expect(() => ctcGreedy(new Float32Array(8), 2, 4, 'AB')).to.throw(/alphabet of 2 characters for 4 classes/);
    expect(() => ctcGreedy(new Float32Array(7), 2, 4, alphabet)).to.throw(/expected 2x4/);
  });

  it('scores the greedy path and its weakest character, and maps them through the calibration', () => {
    const { probs, steps } = cols([
      [0.9, 0.05, 0.03, 0.02],
      [0.1, 0.8, 0.05, 0.05],
      [0.2, 0.1, 0.1, 0.6],
    ]);
    expect(greedyPathLogProb(probs, steps, 4)).to.be.closeTo(Math.log(0.9 * 0.8 * 0.6), 1e-6);
    const read = ctcGreedy(probs, steps, 4, alphabet);
    expect(minCharLogProb(read)).to.be.closeTo(Math.log(0.6), 1e-6);
    expect(minCharLogProb([])).to.equal(-30);
    const cal = { kind: 'logistic' as const, features: ['pathLogProb', 'minCharLogProb'] as ['pathLogProb', 'minCharLogProb'], weights: [2, 1] as [number, number], bias: 3 };
    expect(calibratedConfidence(cal, -1, -0.5)).to.be.closeTo(1 / (1 + Math.exp(-(2 * -1 + -0.5 + 3))), 1e-12);
    // a less likely path is never more confident
    expect(calibratedConfidence(cal, -3, -0.5)).to.be.below(calibratedConfidence(cal, -1, -0.5));
  });

  it('reads all 36 characters, and with the plate charset never drops one', () => {
    const cfg = ocrClassSchema.parse({ charset: PLATE_CHARSET });
    const ch = (x: string) => ({ choices: [{ ch: x, conf: 0.9 }] });
    const r = resultFromRead([...'UU431HVIOQ'].map(ch), 0.8, cfg);
    expect(r).to.deep.include({ rawText: 'UU431HVIOQ', text: 'UU431HVIOQ', confidence: 0.8 });
    expect(r.format).to.equal(undefined);
  });

  it('corrects a read to the layouts of a class that opts into them, one character for one, within the charset', () => {
    const cfg = ocrClassSchema.parse({ charset: 'A-HJ-NPR-Z0-9', formats: ['LL-DDD-LL', 'DLLLDDD'] });
    const ch = (...c: [string, number][]) => ({ choices: c.map(([x, conf]) => ({ ch: x, conf })) });
    // "AB-123-CD" read with an O (outside the charset) for the D and a 0 in a letter slot
    const read = [ch(['A', 0.9]), ch(['B', 0.9]), ch(['1', 0.9]), ch(['2', 0.9]), ch(['3', 0.9]), ch(['0', 0.6], ['C', 0.3]), ch(['O', 0.5], ['D', 0.4])];
    const r = resultFromRead(read, 0.8, cfg);
    expect(r.rawText).to.equal('AB1230D');
    expect(r.text).to.equal('AB123CD');
    expect(r.format).to.equal('LL-DDD-LL');
    expect(r.formatCost).to.be.greaterThan(0);
    expect(r.confidence).to.equal(0.8);
    // one character too many: no layout fits, the read is returned as read
    const long = resultFromRead([...read, ch(['7', 0.9])], 0.8, cfg);
    expect(long).to.deep.include({ text: 'AB1230D7' });
    expect(long.format).to.equal(undefined);
  });
});

describe('recognizer views', () => {
  it('reads a box as it is first, then with its edges moved by fractions of its size', () => {
    const box = { x1: 100, y1: 50, x2: 300, y2: 90 };
    const views = viewBoxes(box, 4);
    expect(views[0]).to.deep.equal(box);
    expect(views).to.have.length(4);
    for (const v of views.slice(1)) {
      // centred on the same point, different by a few per cent
      expect((v.x1 + v.x2) / 2).to.be.closeTo(200, 1e-9);
      expect((v.y1 + v.y2) / 2).to.be.closeTo(70, 1e-9);
      expect(Math.abs(v.x2 - v.x1 - 200) + Math.abs(v.y2 - v.y1 - 40)).to.be.within(1, 20);
    }
    expect(viewBoxes(box, 1)).to.deep.equal([box]);
    expect(viewBoxes(box, 0)).to.deep.equal([box]);
  });

  it('keeps the read that fits a layout with the fewest corrections, then the most confident', () => {
    const r = (formatCost: number | undefined, confidence: number) => ({ text: 'X', rawText: 'X', confidence, ...(formatCost === undefined ? {} : { formatCost }) });
    expect(betterView(r(0, 0.5), r(1, 0.99))).to.equal(true);
    expect(betterView(r(2, 0.5), r(undefined, 0.99))).to.equal(true);
    expect(betterView(r(0, 0.9), r(0, 0.8))).to.equal(true);
    expect(betterView(r(undefined, 0.9), r(undefined, 0.8))).to.equal(true);
    expect(betterView(r(0, 0.8), r(0, 0.8))).to.equal(false);
  });
});

describe('text recognizer model loading', () => {
  it('refuses metadata that is not a recognizer, naming what is wrong', () => {
    expect(() => parseRecognizerSpec({})).to.throw(RecognizerLoadError, /no "visionops.recognizer" metadata/);
    expect(() => parseRecognizerSpec({ [RECOGNIZER_METADATA_KEY]: '{' })).to.throw(/not JSON/);
    const ok = { kind: 'ctc-text-recognizer', alphabet: 'AB', blank: 0, height: 32, width: 128, margin: 0.06, grey: 'bt601-fixed14', resample: 'area', normalize: 'standardize', stdFloor: 4 };
    expect(parseRecognizerSpec({ [RECOGNIZER_METADATA_KEY]: JSON.stringify(ok) })).to.include({ height: 32, width: 128, alphabet: 'AB' });
    expect(() => parseRecognizerSpec({ [RECOGNIZER_METADATA_KEY]: JSON.stringify({ ...ok, resample: 'bilinear' }) })).to.throw(/resample "bilinear" is not supported/);
    expect(() => parseRecognizerSpec({ [RECOGNIZER_METADATA_KEY]: JSON.stringify({ ...ok, height: 2 }) })).to.throw(/height must be a number in \[8, 256\]/);
    // a calibration, when there is one, must be one the server can compute
    const calibration = { kind: 'logistic', features: ['pathLogProb', 'minCharLogProb'], weights: [0.5, 1.5], bias: 4 };
    expect(parseRecognizerSpec({ [RECOGNIZER_METADATA_KEY]: JSON.stringify({ ...ok, calibration }) }).calibration).to.deep.equal(calibration);
    expect(parseRecognizerSpec({ [RECOGNIZER_METADATA_KEY]: JSON.stringify(ok) }).calibration).to.equal(undefined);
    expect(() => parseRecognizerSpec({ [RECOGNIZER_METADATA_KEY]: JSON.stringify({ ...ok, calibration: { ...calibration, weights: [1] } }) })).to.throw(/calibration must be/);
  });

  it('refuses a detector model and a missing file with a reason', async () => {
    try {
      await TextRecognizer.load(join(FIXTURES, 'models', 'yolov5-const.onnx'));
      expect.fail('loaded a detector as a recognizer');
    } catch (err) {
      expect((err as Error).message).to.match(/yolov5-const.onnx: no "visionops.recognizer" metadata/);
    }
    try {
      await TextRecognizer.load('/nonexistent/reader.onnx');
      expect.fail('loaded a missing file');
    } catch (err) {
      expect((err as Error).message).to.match(/does not exist or cannot be read/);
    }
  });
});

describe('bundled plate reader, end to end through the server', function () {
  this.timeout(120_000);
  let s: RunningServer | undefined;
  afterEach(async () => {
    await s?.shutdown();
    s = undefined;
  });

  it('reads the smoke plate with the recognizer alone, without tesseract workers or layouts', async () => {
    s = await startTestServer({ model: { path: DETECTOR }, ocr: { enabled: true, workers: 1, classes: { plate: plateOcr(READER) } } });
    const ready = await request(s.url).get('/readyz').expect(200);
    expect(ready.body.checks).to.have.property('recognizer');
    expect(ready.body.checks, 'no tesseract workers for a class the recognizer reads').to.not.have.property('ocr');
    const res = await request(s.url).post('/v1/read').set('Content-Type', 'image/jpeg').send(readFileSync(SMOKE)).expect(200);
    const plates = (res.body as { detections: { class: string; text: string; textConfidence: number; textUncertain: boolean; textFormat?: string }[] }).detections;
    expect(plates).to.have.length(1);
    expect(plates[0]).to.include({ class: 'plate', text: 'ZF89CYC', rawText: 'ZF89CYC' });
    expect(plates[0]!.textFormat).to.equal(undefined);
    // the bundled reader carries its calibration: the confidence is a probability, flagged below 0.9
    expect(plates[0]!.textConfidence).to.be.within(0, 1);
    expect(plates[0]!.textUncertain).to.equal(plates[0]!.textConfidence < 0.9);
    expect(s.service.ocrJobs, 'tesseract jobs').to.equal(0);
  });

  it('flags a read as uncertain below the class threshold, and not below a threshold of 0', async () => {
    const classes = (uncertainBelow: number) => ({ plate: { ...plateOcr(READER), uncertainBelow } });
    s = await startTestServer({ model: { path: DETECTOR }, ocr: { enabled: true, workers: 1, classes: classes(1) } });
    const res = await request(s.url).post('/v1/read').set('Content-Type', 'image/jpeg').send(readFileSync(SMOKE)).expect(200);
    const [plate] = (res.body as { detections: { text: string; textConfidence: number; textUncertain: boolean }[] }).detections;
    expect(plate).to.include({ text: 'ZF89CYC', textUncertain: true });
    expect(plate!.textConfidence).to.be.below(1);
    await s.shutdown();
    s = await startTestServer({ model: { path: DETECTOR }, ocr: { enabled: true, workers: 1, classes: classes(0) } });
    const again = await request(s.url).post('/v1/read').set('Content-Type', 'image/jpeg').send(readFileSync(SMOKE)).expect(200);
    expect(again.body.detections[0]).to.include({ text: 'ZF89CYC', textUncertain: false });
  });

  it('batches every plate of an image into one recognizer run and reads each', async () => {
    const rec = await TextRecognizer.load(READER);
    try {
      const { data, info } = await sharp(SMOKE).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const pixels = new Uint8Array(data.buffer, data.byteOffset, data.length);
      const box = { x1: 331.56, y1: 384.09, x2: 632.57, y2: 496.72 };
      // the same plate twice and a patch of road: two reads of the plate, nothing plate-like in the third
      const reads = await rec.recognize(pixels, info.width, info.height, [box, box, { x1: 10, y1: 10, x2: 110, y2: 40 }]);
      expect(reads.map((r) => r.text).slice(0, 2)).to.deep.equal(['ZF89CYC', 'ZF89CYC']);
      expect(reads[2]!.text).to.not.equal('ZF89CYC');
    } finally {
      await rec.close();
    }
  });

  it('stays up but unready, naming the file, when the recognizer is not one', async () => {
    s = await startTestServer({
      model: { path: DETECTOR },
      ocr: { enabled: true, workers: 1, classes: { plate: plateOcr(DETECTOR) } },
    });
    const ready = await request(s.url).get('/readyz').expect(503);
    expect(ready.body.checks.recognizer.ok).to.equal(false);
    expect(ready.body.checks.recognizer.reason).to.match(/plate-detector.onnx: no "visionops.recognizer" metadata/);
    const res = await request(s.url).post('/v1/read').set('Content-Type', 'image/jpeg').send(readFileSync(SMOKE)).expect(503);
    expect(res.body.error.code).to.equal('not_ready');
    // detection does not need the reader
    await request(s.url).post('/v1/detect').set('Content-Type', 'image/jpeg').send(readFileSync(SMOKE)).expect(200);
  });
});

describe('the recognizer on its own thread', function () {
  this.timeout(120_000);

  it('reads exactly what the recognizer reads on the event loop, sending only the rows its boxes need', async () => {
    const direct = await TextRecognizer.load(READER);
    const threaded = await RecognizerThread.load(READER);
    try {
      const { data, info } = await sharp(SMOKE).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const pixels = new Uint8Array(data.buffer, data.byteOffset, data.length);
      const plate = { x1: 331.56, y1: 384.09, x2: 632.57, y2: 496.72 };
      // A plate, its views, a box at the top edge and one at the bottom edge (clipping as in the full image).
      const boxes = [...viewBoxes(plate, 4), { x1: 10, y1: 0, x2: 110, y2: 30 }, { x1: 500, y1: info.height - 20, x2: 700, y2: info.height }];
      const a = await direct.recognize(pixels, info.width, info.height, boxes);
      const b = await threaded.recognize(pixels, info.width, info.height, boxes);
      expect(b).to.deep.equal(a);
      expect(b[0]!.text).to.equal('ZF89CYC');
      expect(rowsFor([plate], info.height, threaded.spec.margin)).to.deep.equal({ top: 376, bottom: 505 });
      // The caller's pixels are untouched (tesseract crops from them afterwards).
      expect(pixels.length).to.equal(info.width * info.height * 3);
    } finally {
      await Promise.all([direct.close(), threaded.close()]);
    }
  });

  it('refuses a model that is not a recognizer, with the reason', async () => {
    try {
      await RecognizerThread.load(join(FIXTURES, 'models', 'yolov5-const.onnx'));
      expect.fail('loaded a detector as a recognizer');
    } catch (err) {
      expect(err).to.be.instanceOf(RecognizerLoadError);
      expect((err as Error).message).to.match(/yolov5-const.onnx: no "visionops.recognizer" metadata/);
    }
  });
});
