import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import request from 'supertest';
import type { RunningServer } from '../../inference-server/server.js';
import { plateOcr } from '../../inference-server/ocr/plate-rule.js';
import { cropTile, fromTile, newFromTiles, tileGrid, type Tile } from '../../inference-server/pipeline/tiles.js';
import type { Candidate } from '../../inference-server/pipeline/yolo-output.js';
import { boxIou, startTestServer } from './helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const DETECTOR = join(ROOT, 'models', 'plate-detector.onnx');
const READER = join(ROOT, 'models', 'plate-reader.onnx');
const SMOKE = join(ROOT, 'ci', 'smoke', 'plate.jpg');
const box = (x1: number, y1: number, x2: number, y2: number, score = 0.9, classId = 0): Candidate => ({ x1, y1, x2, y2, score, classId });

describe('detection tiles: the geometry', () => {
  it('covers the image with grid x grid tiles that overlap by the configured share', () => {
    const tiles = tileGrid(2400, 1800, { grid: 2, overlap: 0.25 }, 416);
    expect(tiles).to.have.length(4);
    // 2 tiles of side s with one overlap of s/4 span the side: s = 2400 / 1.75
    expect(tiles.map((t) => [t.x, t.y, t.width, t.height])).to.deep.equal([
      [0, 0, 1372, 1029], [1028, 0, 1372, 1029], [0, 771, 1372, 1029], [1028, 771, 1372, 1029],
    ]);
    for (const t of tiles) {
      expect(t.x + t.width).to.be.at.most(2400);
      expect(t.y + t.height).to.be.at.most(1800);
    }
    const three = tileGrid(3000, 1000, { grid: 3, overlap: 0.2 }, 640);
    expect(three).to.have.length(9);
    expect(three.at(-1)!.x + three.at(-1)!.width).to.equal(3000);
  });

  it('makes no tiles when they cannot add resolution: grid 1, or an image that fits the model input', () => {
    expect(tileGrid(2400, 1800, { grid: 1, overlap: 0.25 }, 416)).to.deep.equal([]);
    expect(tileGrid(416, 300, { grid: 2, overlap: 0.25 }, 416)).to.deep.equal([]);
    expect(tileGrid(417, 300, { grid: 2, overlap: 0.25 }, 416)).to.have.length(4);
  });

  it('cuts a tile out of the RGB pixels row by row', () => {
    const w = 4;
    const px = Uint8Array.from({ length: w * 3 * 3 }, (_, i) => i);
    const tile: Tile = { x: 1, y: 1, width: 2, height: 2 };
    expect([...cropTile(px, w, tile)]).to.deep.equal([15, 16, 17, 18, 19, 20, 27, 28, 29, 30, 31, 32]);
  });

  it('places a tile box in the image, and drops one cut by a tile edge inside the image', () => {
    const tile: Tile = { x: 1000, y: 700, width: 1000, height: 800 };
    expect(fromTile(box(100, 100, 300, 160), tile, 3000, 3000)).to.deep.include({ x1: 1100, y1: 800, x2: 1300, y2: 860 });
    expect(fromTile(box(0, 100, 300, 160), tile, 3000, 3000), 'at the left edge').to.equal(undefined);
    expect(fromTile(box(100, 100, 999, 160), tile, 3000, 3000), 'at the right edge').to.equal(undefined);
    expect(fromTile(box(100, 795, 300, 800), tile, 3000, 3000), 'at the bottom edge').to.equal(undefined);
    // where the tile edge is the image's, nothing was cut
    const corner: Tile = { x: 0, y: 0, width: 1000, height: 800 };
    expect(fromTile(box(0, 0, 200, 60), corner, 3000, 3000)).to.deep.include({ x1: 0, y1: 0 });
    expect(fromTile(box(800, 0, 1000, 60), corner, 3000, 3000), 'the right edge lies inside the image').to.equal(undefined);
  });

  it('adds only what the whole image missed: a tile box over a whole-image box of its class is the same object', () => {
    const whole = [box(100, 100, 400, 200)];
    const fromTiles = [
      box(110, 105, 390, 195, 0.95), // the same plate, seen again
      box(150, 120, 250, 180, 0.8), // a part of it
      box(110, 105, 390, 195, 0.7, 1), // another class at the same place
      box(1000, 1000, 1060, 1020, 0.6), // a small plate the whole image missed
    ];
    expect(newFromTiles(fromTiles, whole).map((b) => [b.classId, b.x1])).to.deep.equal([[1, 110], [0, 1000]]);
  });
});

describe('detection tiles: a small plate in a large photo, through the server', () => {
  let s: RunningServer | undefined;
  afterEach(async () => {
    await s?.shutdown();
    s = undefined;
  });

  /** The smoke photo scaled so its plate is `share` of a 2400x1800 photo, at (1300, 900). */
  async function photoWithSmallPlate(share: number): Promise<{ jpeg: Buffer; plate: { x1: number; y1: number; x2: number; y2: number } }> {
    s = await startTestServer({ model: { path: DETECTOR } });
    const found = await request(s.url).post('/v1/detect').set('Content-Type', 'image/jpeg').send(readFileSync(SMOKE)).expect(200);
    await s.shutdown();
    s = undefined;
    const b = (found.body as { detections: { box: { x1: number; y1: number; x2: number; y2: number } }[] }).detections[0]!.box;
    const meta = await sharp(SMOKE).metadata();
    const scale = Math.sqrt((share * 2400 * 1800) / ((b.x2 - b.x1) * (b.y2 - b.y1)));
    const small = await sharp(SMOKE).resize(Math.round(meta.width! * scale), Math.round(meta.height! * scale)).toBuffer();
    const jpeg = await sharp({ create: { width: 2400, height: 1800, channels: 3, background: { r: 120, g: 130, b: 125 } } })
      .composite([{ input: small, left: 1300, top: 900 }])
      .jpeg({ quality: 92 })
      .toBuffer();
    return { jpeg, plate: { x1: 1300 + b.x1 * scale, y1: 900 + b.y1 * scale, x2: 1300 + b.x2 * scale, y2: 900 + b.y2 * scale } };
  }

  it('a plate of 0.15 % of the photo: the whole image finds nothing; with 2x2 tiles the plate is found where it is and read', async () => {
    // the bundled detector finds this plate in the whole image from 0.2 % of the photo up
    const { jpeg, plate } = await photoWithSmallPlate(0.0015);
    const ocr = { enabled: true, workers: 1, classes: { plate: plateOcr(READER) } };

    s = await startTestServer({ model: { path: DETECTOR }, ocr });
    const without = await request(s.url).post('/v1/read').set('Content-Type', 'image/jpeg').send(jpeg).expect(200);
    expect(without.body.detections, 'the whole image at the 416 input').to.deep.equal([]);
    await s.shutdown();

    s = await startTestServer({ model: { path: DETECTOR, tiles: { grid: 2 } }, ocr });
    const withTiles = await request(s.url).post('/v1/read').set('Content-Type', 'image/jpeg').send(jpeg).expect(200);
    const dets = withTiles.body.detections as { class: string; box: typeof plate; text: string }[];
    expect(dets).to.have.length(1);
    expect(dets[0]!.class).to.equal('plate');
    expect(boxIou(dets[0]!.box, plate), `box ${JSON.stringify(dets[0]!.box)} vs ${JSON.stringify(plate)}`).to.be.greaterThan(0.6);
    expect(dets[0]!.text).to.equal('ZF89CYC');
  });

  it('a plate the whole image sees is returned once, with tiles as without', async () => {
    // At the default confidence a tile also answers a headlight (score 0.32), another object: what
    // this test is about is the plate, which must not come back twice.
    const detect = '/v1/detect?confidence=0.5';
    s = await startTestServer({ model: { path: DETECTOR } });
    const plain = await request(s.url).post(detect).set('Content-Type', 'image/jpeg').send(readFileSync(SMOKE)).expect(200);
    await s.shutdown();
    expect(plain.body.detections).to.have.length(1);
    // the smoke photo (960x540) is larger than the 416 input, so it is tiled
    s = await startTestServer({ model: { path: DETECTOR, tiles: { grid: 3, overlap: 0.3 } } });
    const tiled = await request(s.url).post(detect).set('Content-Type', 'image/jpeg').send(readFileSync(SMOKE)).expect(200);
    expect(tiled.body.detections).to.deep.equal(plain.body.detections);
  });

  it('refuses a grid past the bound in the configuration, naming the field', async () => {
    let message = '';
    try {
      s = await startTestServer({ model: { path: DETECTOR, tiles: { grid: 8 } } });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).to.match(/model\.tiles\.grid/);
  });
});
