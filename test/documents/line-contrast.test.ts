import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { CONTRAST_MIN_SPAN, evenLineContrast } from '../../inference-server/documents/line-contrast.js';
import { LineReader } from '../../inference-server/documents/line-reader.js';
import { apply, rectify, type Point, type Quad } from '../../inference-server/documents/rectify.js';
import type { Box } from '../../inference-server/ocr/crop.js';
import { projectRoot } from '../../inference-server/project-root.js';

const DOCS = join(import.meta.dirname, '..', 'fixtures', 'documents');

/** An RGB image of paper (grey `paper`) with dark bars ("glyphs") every 8 columns along a line. */
function line(width: number, height: number, box: Box, ink: (x: number) => number, paper = 200): Uint8Array {
  const px = new Uint8Array(width * height * 3).fill(paper);
  for (let y = Math.ceil(box.y1); y < box.y2; y++) {
    for (let x = Math.ceil(box.x1); x < box.x2; x++) {
      if (x % 8 < 4) px.fill(ink(x), (y * width + x) * 3, (y * width + x) * 3 + 3);
    }
  }
  return px;
}
const grey = (px: Uint8Array, width: number, x: number, y: number) => px[(y * width + x) * 3]!;
const same = (b: Box) => b;

describe('ID documents: the MRZ line contrast evened along the line (second look)', () => {
  const W = 400;
  const H = 40;
  const box = { x1: 20, y1: 10, x2: 380, y2: 30 };

  it('gives a pale stretch of a line the contrast of the rest', () => {
    // ink 40 on the left half, 150 (glare) on the right, paper 200: contrast 160 against 50
    const px = line(W, H, box, (x) => (x < 200 ? 40 : 150));
    const out = evenLineContrast(px, W, H, [box], same);
    const contrast = (x0: number) => grey(out, W, x0 + 4, 20) - grey(out, W, x0, 20); // paper column minus ink column
    expect(contrast(40)).to.be.at.least(250);
    expect(contrast(320)).to.be.at.least(250);
    expect(grey(px, W, 324, 20) - grey(px, W, 320, 20)).to.equal(50);
  });

  it('leaves blank paper light and its grain small, rather than stretching noise into glyphs', () => {
    const px = line(W, H, box, () => 40);
    // past the line's end: paper with a grain of +-6 (less than CONTRAST_MIN_SPAN)
    for (let y = 10; y < 30; y++) for (let x = 0; x < 20; x++) px.fill(200 + ((x + y) % 2 ? 6 : -6), (y * W + x) * 3, (y * W + x) * 3 + 3);
    const out = evenLineContrast(px, W, H, [{ ...box, x1: 0 }], same, 0.2);
    const blank = Array.from({ length: 10 }, (_, x) => grey(out, W, x, 20));
    expect(12).to.be.below(CONTRAST_MIN_SPAN);
    expect(Math.min(...blank)).to.be.at.least(255 - Math.ceil((255 * 12) / CONTRAST_MIN_SPAN) - 1);
  });

  it('changes nothing outside the lines\' regions and reads overlapping regions from the original', () => {
    const px = line(W, H, box, (x) => (x < 200 ? 40 : 170));
    const grow = (b: Box) => ({ ...b, y1: b.y1 - 5, y2: b.y2 + 5 });
    const twice = evenLineContrast(px, W, H, [box, box], grow);
    const once = evenLineContrast(px, W, H, [box], grow);
    expect(Buffer.from(twice).equals(Buffer.from(once))).to.equal(true);
    expect(grey(once, W, 100, 2)).to.equal(200);
    expect(grey(once, W, 100, 38)).to.equal(200);
  });

  it('lets the bundled MRZ reader read the TD1 fixture\'s line paled by glare, with no character less sure than before', async () => {
    const truths = JSON.parse(await readFile(join(DOCS, 'truth.json'), 'utf8')) as { file: string; mrz: string[]; corners: Point[]; mrzQuads: Point[][] }[];
    const t = truths.find((x) => x.file === 'td1.jpg')!;
    const img = await sharp(join(DOCS, t.file)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const v = rectify(new Uint8Array(img.data), img.info.width, img.info.height, t.corners as Quad);
    const q = t.mrzQuads[0]!.map((p) => apply(v.toView, p));
    const lineBox = { x1: Math.min(...q.map((p) => p[0])), y1: Math.min(...q.map((p) => p[1])), x2: Math.max(...q.map((p) => p[0])), y2: Math.max(...q.map((p) => p[1])) };
    const reader = await LineReader.load(join(projectRoot(), 'models', 'mrz-reader.onnx'), 'mrz');
    try {
      const [plain] = await reader.read(v.pixels, v.width, v.height, [lineBox]);
      const evened = evenLineContrast(v.pixels, v.width, v.height, [lineBox], (b) => reader.grow(b, v.width, v.height));
      const [read] = await reader.read(evened, v.width, v.height, [lineBox]);
      const weakest = (r: typeof read) => Math.min(...r!.chars.map((c) => c.choices[0]!.conf));
      expect(read!.text).to.equal(t.mrz[0]);
      expect(weakest(read)).to.be.at.least(weakest(plain));
    } finally {
      await reader.close();
    }
  });
});
