import { expect } from 'chai';
import { join } from 'node:path';
import sharp from 'sharp';
import request from 'supertest';
import type { RunningServer } from '../../inference-server/server.js';
import { expandCharset, normalizeText } from '../../inference-server/ocr/normalize.js';
import { cropRect } from '../../inference-server/ocr/crop.js';
import { MODELS, manifest, startTestServer } from './helpers.js';

describe('OCR text rules', () => {
  it('normalises as configured: strip characters, collapse spaces, uppercase', () => {
    expect(normalizeText(' ab-12 3\ncd ', { strip: ' -', uppercase: true })).to.equal('AB123CD');
    expect(normalizeText('Jane  Doe', { strip: '', uppercase: false })).to.equal('Jane Doe');
  });

  it('expands charset ranges into a tesseract whitelist', () => {
    expect(expandCharset('A-E0-2')).to.equal('ABCDE012');
    expect(expandCharset('-A-C')).to.equal('-ABC');
    expect(() => expandCharset('Z-A')).to.throw(RangeError);
  });

  it('crops with a margin and stays inside the image', () => {
    expect(cropRect({ x1: 100, y1: 50, x2: 200, y2: 70 }, 0.1, 1000, 1000)).to.deep.equal({ left: 90, top: 48, width: 120, height: 24 });
    expect(cropRect({ x1: 0, y1: 0, x2: 50, y2: 50 }, 0.5, 60, 60)).to.deep.equal({ left: 0, top: 0, width: 60, height: 60 });
  });
});

/**
 * The constant fixture model always reports a plate at (120,120)-(280,200) in a 640x480 image, so
 * drawing a plate there makes /v1/read exercise crop, preprocessing and tesseract for real.
 */
describe('POST /v1/read', function () {
  this.timeout(60_000);
  let s: RunningServer;
  const plateBox = manifest().mappings.find((x) => x.original.width === 640)!.expected[0]!.box;

  async function scene(text: string, fontSize = 28): Promise<Buffer> {
    const w = plateBox.x2 - plateBox.x1;
    const h = plateBox.y2 - plateBox.y1;
    const svg = `<svg width="640" height="480" xmlns="http://www.w3.org/2000/svg">
      <rect width="640" height="480" fill="#3a4a5a"/>
      <rect x="${plateBox.x1}" y="${plateBox.y1}" width="${w}" height="${h}" rx="6" fill="#f4f4f0" stroke="#111" stroke-width="3"/>
      <text x="${plateBox.x1 + w / 2}" y="${plateBox.y1 + h / 2 + 11}" font-family="DejaVu Sans Mono" font-weight="bold" font-size="${fontSize}" text-anchor="middle" fill="#111" xml:space="preserve">${text}</text>
    </svg>`;
    return sharp(Buffer.from(svg)).jpeg({ quality: 92 }).toBuffer();
  }

  before(async () => {
    s = await startTestServer({
      model: { path: join(MODELS, 'yolov5-const.onnx') },
      ocr: { enabled: true, workers: 2, classes: { plate: { mode: 'line', charset: 'A-Z0-9-', normalize: { strip: ' -' } } } },
    });
  });
  after(() => s?.shutdown());

  it('is ready only with OCR workers up', async () => {
    const r = await request(s.url).get('/readyz').expect(200);
    expect(r.body.checks.ocr).to.deep.equal({ ok: true });
  });

  it('reads the plate text of OCR classes and leaves other classes alone', async () => {
    const r = await request(s.url).post('/v1/read').set('Content-Type', 'image/jpeg').send(await scene('AB-123-CD')).expect(200);
    const best = r.body.detections[0];
    expect(best.class).to.equal('plate');
    expect(best.text).to.equal('AB123CD');
    expect(best.rawText.replace(/\s/g, '')).to.equal('AB-123-CD');
    expect(best.textConfidence).to.be.within(0.5, 1);
    const cards = r.body.detections.filter((d: { class: string }) => d.class === 'card');
    expect(cards).to.not.be.empty;
    expect(cards.every((d: { text?: string }) => d.text === undefined)).to.equal(true);
    expect(r.body.timings.ocrMs).to.be.a('number').greaterThan(0);
  });

  it('reads different plates concurrently without mixing them up', async () => {
    const plates = ['7ABC123', 'XY-987-ZT', '42KM77'];
    const results = await Promise.all(
      plates.map(async (p) => (await request(s.url).post('/v1/read').set('Content-Type', 'image/jpeg').send(await scene(p)).expect(200)).body),
    );
    expect(results.map((r) => r.detections[0].text)).to.deep.equal(plates.map((p) => p.replace(/-/g, '')));
  });

  it('keeps a character that a separator sets apart at the end of the line (12-ABC-3 layouts)', async () => {
    // the gap from X to 3 is wider than a character, but a hyphen bridges it: not a stray mark
    const r = await request(s.url).post('/v1/read').set('Content-Type', 'image/jpeg').send(await scene('90 -TFX- 3', 22)).expect(200);
    expect(r.body.detections[0].text).to.equal('90TFX3');
  });

  it('/v1/detect does not run OCR', async () => {
    const r = await request(s.url).post('/v1/detect').set('Content-Type', 'image/jpeg').send(await scene('AB-123-CD')).expect(200);
    expect(r.body.detections[0].text).to.equal(undefined);
    expect(r.body.timings.ocrMs).to.equal(undefined);
  });
});
