import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { blockQuad, commonExtent, lineQuad, locateMrz, locateMrzAll, type LocatedMrz, type MrzLineBand } from '../../inference-server/documents/mrz-locate.js';
import type { Point } from '../../inference-server/documents/rectify.js';
import type { Box } from '../../inference-server/ocr/crop.js';

const DOCS = join(import.meta.dirname, '..', 'fixtures', 'documents');

interface Truth {
  file: string;
  type: string;
  corners: Point[];
  mrzQuads: Point[][];
}

const aabb = (pts: Point[]) => ({
  x1: Math.min(...pts.map((p) => p[0])), y1: Math.min(...pts.map((p) => p[1])),
  x2: Math.max(...pts.map((p) => p[0])), y2: Math.max(...pts.map((p) => p[1])),
});
const dist = (a: Point, b: Point) => Math.hypot(a[0] - b[0], a[1] - b[1]);

/** Whether `lines` lie on the fixture's MRZ lines: each end within half a line height of the truth. */
function onTruth(m: LocatedMrz, lines: MrzLineBand[], truth: Point[][]): string[] {
  const wrong: string[] = [];
  if (lines.length !== truth.length) return [`${lines.length} lines, not ${truth.length}`];
  const mid = (a: Point, b: Point): Point => [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
  lines.forEach((line, i) => {
    const q = lineQuad(m, line);
    const t = truth[i]!;
    const lineHeight = dist(t[0]!, t[3]!);
    if (dist(mid(q[0], q[3]), mid(t[0]!, t[3]!)) >= lineHeight / 2) wrong.push(`line ${i + 1} start`);
    if (dist(mid(q[1], q[2]), mid(t[1]!, t[2]!)) >= lineHeight / 2) wrong.push(`line ${i + 1} end`);
  });
  return wrong;
}

describe('locating the MRZ lines on a photo, without the corners', () => {
  it('finds each fixture\'s lines along their own direction: angle within a degree, line ends within half a line height', async () => {
    const truths = JSON.parse(await readFile(join(DOCS, 'truth.json'), 'utf8')) as Truth[];
    for (const t of truths) {
      const img = await sharp(join(DOCS, t.file)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const px = new Uint8Array(img.data);
      // what the detector gives: a box around one MRZ line (the middle one), and the document's box
      const hint = aabb(t.mrzQuads[Math.floor(t.mrzQuads.length / 2)]!);
      const m = locateMrz(px, img.info.width, img.info.height, hint, aabb(t.corners));
      expect(m, t.file).to.not.equal(undefined);
      expect(m!.lines, `${t.file}: the likeliest group is the MRZ`).to.have.length(t.mrzQuads.length);
      const [tl, tr] = t.mrzQuads[0]!;
      const trueAngle = Math.atan2(tr![1] - tl![1], tr![0] - tl![0]);
      expect(Math.abs(m!.angle - trueAngle) * (180 / Math.PI), `${t.file}: angle`).to.be.below(1);
      m!.lines.forEach((line, i) => {
        const q = lineQuad(m!, line);
        const truth = t.mrzQuads[i]!;
        const lineHeight = dist(truth[0]!, truth[3]!);
        // the left and right ends of the line, at its middle height
        const mid = (a: Point, b: Point): Point => [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
        expect(dist(mid(q[0], q[3]), mid(truth[0]!, truth[3]!)), `${t.file} line ${i + 1} start`).to.be.below(lineHeight / 2);
        expect(dist(mid(q[1], q[2]), mid(truth[1]!, truth[2]!)), `${t.file} line ${i + 1} end`).to.be.below(lineHeight / 2);
      });
    }
  });

  it('finds the MRZ at a rival direction when papers beside the card line up better in the marked region', async () => {
    // A residence permit on two printed sheets: in the region the server marks (the MRZ's box and a
    // block height above and below), the sheets' lines are sharper than the MRZ's, at 45 degrees.
    const t = JSON.parse(await readFile(join(DOCS, 'beside-papers.json'), 'utf8')) as Truth;
    const img = await sharp(join(DOCS, t.file)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const px = new Uint8Array(img.data);
    const mrz = aabb(t.mrzQuads.flat());
    const w = mrz.x2 - mrz.x1;
    const h = mrz.y2 - mrz.y1;
    const hint = { x1: mrz.x1 - 0.1 * w, y1: mrz.y1 - h, x2: mrz.x2 + 0.1 * w, y2: mrz.y2 + h };
    const on = (m: LocatedMrz) => m.groups.some((g) => onTruth(m, g, t.mrzQuads).length === 0);
    const first = locateMrz(px, img.info.width, img.info.height, hint, aabb(t.corners))!;
    expect(on(first), 'the sharpest direction is the sheets\'').to.equal(false);
    const all = [...locateMrzAll(px, img.info.width, img.info.height, hint, aabb(t.corners))];
    expect(all.some(on), `a rival direction has the MRZ's lines; directions: ${all.map((m) => (m.angle * 180 / Math.PI).toFixed(1)).join(', ')}`).to.equal(true);
  });

  it('cuts the lines to the stretch they share when one runs on past the others', async () => {
    // A passport whose first line is found starting 70 px early, where the document's edge lies
    // along it: read so, it came out valid with a wrong name (KLEINV, MAXIMILIAN<C).
    const t = JSON.parse(await readFile(join(DOCS, 'line-runs-on.json'), 'utf8')) as Truth & { detected: Record<'document' | 'mrzLines', Box> };
    const img = await sharp(join(DOCS, t.file)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    // the regions the server gives the locator (document-reader.ts readMrzOnPhoto) from the detector's boxes
    const { document: d, mrzLines: u } = t.detected;
    const hint = { x1: u.x1 - 0.1 * (u.x2 - u.x1), y1: u.y1 - (u.y2 - u.y1), x2: u.x2 + 0.1 * (u.x2 - u.x1), y2: u.y2 + (u.y2 - u.y1) };
    const doc = { x1: d.x1 - 0.03 * (d.x2 - d.x1), y1: d.y1 - 0.03 * (d.y2 - d.y1), x2: d.x2 + 0.03 * (d.x2 - d.x1), y2: d.y2 + 0.03 * (d.y2 - d.y1) };
    const m = locateMrz(new Uint8Array(img.data), img.info.width, img.info.height, hint, doc)!;
    const group = m.groups.find((g) => g.length === 2 && onTruth(m, g, t.mrzQuads).length > 0 && onTruth(m, g, t.mrzQuads).every((e) => e.includes('line 1 start')));
    expect(group, `a group whose only fault is line 1's start: ${m.groups.map((g) => onTruth(m, g, t.mrzQuads).join('; ')).join(' / ')}`).to.not.equal(undefined);
    const cut = commonExtent(group!);
    expect(cut, 'the lines differ by more than half a line height').to.not.equal(undefined);
    expect(onTruth(m, cut!, t.mrzQuads)).to.deep.equal([]);
  });

  it('leaves lines that start and end together as they are', () => {
    const line = (top: number, start: number, end: number): MrzLineBand => ({ top, bottom: top + 10, start, end });
    expect(commonExtent([line(0, -200, 200), line(14, -197, 204)])).to.equal(undefined);
    const cut = commonExtent([line(0, -200, 200), line(14, -230, 260), line(28, -199, 201)]);
    expect(cut?.map((l) => [l.start, l.end])).to.deep.equal([[-199, 200], [-199, 200], [-199, 200]]);
    // a measured slant is kept along the cut line
    const slanted: MrzLineBand = { top: 0, bottom: 10, start: -100, end: 100, ends: { topStart: -2, topEnd: 2, bottomStart: 8, bottomEnd: 12 } };
    expect(commonExtent([slanted, line(14, -50, 100)])?.[0]?.ends).to.deep.equal({ topStart: -1, topEnd: 2, bottomStart: 9, bottomEnd: 12 });
  });

  it('turns the block half a turn for an upside-down document, the corner order kept', () => {
    const m = { angle: 0, centre: [100, 50] as Point, lines: [{ top: -10, bottom: 0, start: -50, end: 50 }, { top: 10, bottom: 20, start: -50, end: 50 }] };
    const up = blockQuad(m, m.lines, 0);
    expect(up).to.deep.equal([[50, 40], [150, 40], [150, 70], [50, 70]]);
    const down = blockQuad(m, m.lines, 0, true);
    expect(down).to.deep.equal([[150, 70], [50, 70], [50, 40], [150, 40]]);
  });

  it('finds nothing where there is no text', () => {
    const w = 200;
    const h = 100;
    const flat = new Uint8Array(w * h * 3).fill(180);
    expect(locateMrz(flat, w, h, { x1: 10, y1: 10, x2: 190, y2: 90 }, { x1: 0, y1: 0, x2: 200, y2: 100 })).to.equal(undefined);
  });
});
