/**
 * Finds the MRZ's text lines in a photo without the document's corners: the MRZ is two or three
 * long rows of evenly spaced, high-contrast glyphs, so inside the region where the detector saw
 * MRZ lines the strong horizontal-gradient pixels (glyph strokes) line up along one direction.
 * That direction is the angle whose projection profile is the sharpest (the projection-profile
 * skew estimate of document analysis); the profile's heavy bands at that angle are the lines, and
 * each line's extent along the direction is where its stroke pixels are.
 *
 * The document pipeline reads the MRZ from these lines first: it needs no corners (the detector
 * finds the MRZ lines far more reliably than the corners, and a document warped from wrong
 * corners comes out crooked).
 */
import type { Box } from '../ocr/crop.js';
import type { Point, Quad } from './rectify.js';

export interface MrzLineBand {
  /** across the lines (rotated y): top and bottom of the glyphs */
  top: number;
  bottom: number;
  /** along the line (rotated x): first and last glyph */
  start: number;
  end: number;
  /**
   * Where the glyphs' top and bottom are at the line's start and end, when measured: a document
   * photographed at an angle has its lines converge and its glyphs larger at the nearer end.
   */
  ends?: { topStart: number; topEnd: number; bottomStart: number; bottomEnd: number };
}

export interface LocatedMrz {
  /** direction of the lines, radians, in [-pi/2, pi/2): 0 is upright, positive turns clockwise on screen */
  angle: number;
  /** the lean of the glyphs: along-the-line offset per unit across (0: upright) */
  shear: number;
  /** the region's centre in the photo: rotated coordinates are taken about it */
  centre: Point;
  /** the lines, top to bottom in the rotated frame: the likeliest group */
  lines: MrzLineBand[];
  /** every candidate group of lines, likeliest first (nearest where the detector saw the MRZ) */
  groups: MrzLineBand[][];
}

/** The frame in which the MRZ's lines are horizontal and its glyphs upright. */
export type Frame = Pick<LocatedMrz, 'angle' | 'centre'> & { shear?: number };

export interface LocateOptions {
  /** angles searched, radians either side of upright (coarse step 1 degree, then 0.1) */
  maxAngle?: number;
  /** most lines an MRZ has */
  maxLines?: number;
}

const DEG = Math.PI / 180;
/** Share of a region's pixels kept as strokes: the strongest horizontal gradients. */
const STROKE_SHARE = 0.12;
/** A band is a line when its profile passes this share of the profile's peak... */
const BAND_LEVEL = 0.3;
/** Share of a line's strokes left out at either end when measuring its extent (stray marks). */
const EXTENT_TRIM = 0.002;

/** OpenCV's fixed-point BT.601 grey of an RGB pixel (as the readers' input, ocr/recognizer-input.ts). */
const greyOf = (px: Uint8Array, i: number) => (4899 * px[i]! + 9617 * px[i + 1]! + 1868 * px[i + 2]! + 8192) >> 14;

/** The stroke pixels of a region: coordinates about its centre. */
function strokes(pixels: Uint8Array, width: number, region: Box): { xs: Float32Array; ys: Float32Array; centre: Point } {
  const x1 = Math.max(1, Math.floor(region.x1));
  const x2 = Math.min(width - 2, Math.ceil(region.x2));
  const y1 = Math.max(0, Math.floor(region.y1));
  const y2 = Math.ceil(region.y2);
  const rw = Math.max(0, x2 - x1 + 1);
  const rh = Math.max(0, y2 - y1);
  const grad = new Uint8Array(rw * rh);
  const hist = new Uint32Array(256);
  for (let y = 0; y < rh; y++) {
    const row = (y1 + y) * width;
    for (let x = 0; x < rw; x++) {
      const i = (row + x1 + x) * 3;
      const g = Math.abs(greyOf(pixels, i + 3) - greyOf(pixels, i - 3)) >> 1;
      grad[y * rw + x] = g;
      hist[g]!++;
    }
  }
  // the threshold that keeps the strongest STROKE_SHARE of the gradients (at least a faint edge)
  let keep = Math.floor(STROKE_SHARE * rw * rh);
  let t = 255;
  for (; t > 8 && keep > 0; t--) keep -= hist[t]!;
  const cx = x1 + rw / 2;
  const cy = y1 + rh / 2;
  const xs: number[] = [];
  const ys: number[] = [];
  for (let y = 0; y < rh; y++) {
    for (let x = 0; x < rw; x++) {
      if (grad[y * rw + x]! > t) {
        xs.push(x1 + x - cx);
        ys.push(y1 + y - cy);
      }
    }
  }
  return { xs: Float32Array.from(xs), ys: Float32Array.from(ys), centre: [cx, cy] };
}

/** Histogram of the rotated y (1 px bins) of the strokes at `angle`, and its offset. */
function profile(xs: Float32Array, ys: Float32Array, angle: number, half: number): Float64Array {
  const s = Math.sin(angle);
  const c = Math.cos(angle);
  const h = new Float64Array(2 * half + 1);
  for (let i = 0; i < xs.length; i++) {
    const v = Math.round(-xs[i]! * s + ys[i]! * c) + half;
    if (v >= 0 && v < h.length) h[v]!++;
  }
  return h;
}

const sharpness = (h: Float64Array) => h.reduce((a, v) => a + v * v, 0);

/** The glyphs' lean searched, as a shear (0.35: about 19 degrees), and its step. */
const MAX_SHEAR = 0.35;
const SHEAR_STEP = 0.01;
/** Strokes this share of a line's height outside its band still count as its own (lines converge). */
const BAND_GROW = 0.15;
/** The share of a line's strokes above its glyphs' top, and below their bottom, at one end. */
const EDGE_SHARE = 0.03;
/** A line's glyphs continue while the gap to the next stroke is under this many line heights. */
const LINE_GAP = 1.0;
/** An MRZ line spans at least this share of the region where the detector saw MRZ lines. */
const MIN_LINE_SHARE = 0.4;
/** A direction whose lines are this sharp against the sharpest's is a candidate too... */
const ANGLE_RIVAL = 0.6;
/** ...at most this many, this far apart. */
const MAX_ANGLES = 6;
const ANGLE_APART = 4 * DEG;
/** How far a line group's own direction is looked for from the direction it was found at. */
const REFINE_SPAN = 4 * DEG;
/** The groups of a direction, nearest the hint first, measured again at their own direction. */
const REFINED_GROUPS = 6;
/** The lines of one MRZ have nearly the same length (TD1's name line may end in fillers). */
const SAME_LENGTH = 0.6;
/** The lines of one MRZ are in one font: their heights differ by less than this factor (perspective). */
const SAME_HEIGHT = 1.8;
/** Consecutive MRZ lines are at most this many line heights apart, centre to centre. */
const LINE_PITCH = 2.4;

/**
 * The MRZ lines of a document in an RGB photo (HWC): the direction is measured inside `hint`
 * (where the detector saw MRZ lines), the lines inside `document` (its box) near the hint;
 * undefined when no two lines stand out.
 */
export function locateMrz(pixels: Uint8Array, width: number, height: number, hint: Box, document: Box, options: LocateOptions = {}): LocatedMrz | undefined {
  return locateMrzAll(pixels, width, height, hint, document, options).next().value ?? undefined;
}

/**
 * As locateMrz, at every direction the hint's strokes favour, lazily: a caller that stops at the
 * first candidate that reads pays for no other. First the sharpest direction's lines, then its
 * rivals' (ANGLE_RIVAL), then each group again at its own direction where that differs.
 *
 * A claim form or a receipt next to the document can have lines sharper than the MRZ's in the
 * region the detector marked: its direction wins, and the MRZ is found at a rival (held-out seed 3
 * photos 91 and 109). And the direction measured over the region is pulled by other text in it:
 * the MRZ's own strokes give its direction (seed 4 photo 158: 2.5 degrees apart, a drift over the
 * line's 900 px of more than its height).
 */
export function* locateMrzAll(pixels: Uint8Array, width: number, height: number, hint: Box, document: Box, options: LocateOptions = {}): Generator<LocatedMrz> {
  const maxAngle = options.maxAngle ?? 45 * DEG;
  const maxLines = options.maxLines ?? 3;
  const clip = (b: Box) => ({ x1: Math.max(0, b.x1), y1: Math.max(0, b.y1), x2: Math.min(width, b.x2), y2: Math.min(height - 1, b.y2) });
  const hinted = clip(hint);
  if (hinted.x2 - hinted.x1 < 16 || hinted.y2 - hinted.y1 < 8) return;
  const near = strokes(pixels, width, hinted);
  if (near.xs.length < 50) return;
  const half = Math.ceil(Math.hypot(hinted.x2 - hinted.x1, hinted.y2 - hinted.y1) / 2) + 1;

  // the directions at which the strokes line up best: local maxima of the profile's sharpness on
  // a 1 degree grid, strongest first, each refined to 0.1 degree
  const coarse: { a: number; score: number }[] = [];
  for (let a = -maxAngle; a <= maxAngle + 1e-9; a += DEG) coarse.push({ a, score: sharpness(profile(near.xs, near.ys, a, half)) });
  const top = Math.max(...coarse.map((c) => c.score));
  const peaks = coarse
    .filter((c, i) => c.score >= ANGLE_RIVAL * top && c.score >= (coarse[i - 1]?.score ?? 0) && c.score >= (coarse[i + 1]?.score ?? 0))
    .sort((p, q) => q.score - p.score);
  const angles: number[] = [];
  for (const p of peaks) {
    if (angles.length >= MAX_ANGLES) break;
    if (angles.some((a) => Math.abs(a - p.a) < ANGLE_APART)) continue;
    angles.push(sharpest(near.xs, near.ys, half, p.a - DEG, p.a + DEG));
  }

  // the document's text lines at each direction; strokes are taken again over the whole document,
  // not reused from the hint's, since a stroke is a share of its own region's strongest gradients
  const doc = clip({ x1: Math.min(document.x1, hinted.x1), y1: Math.min(document.y1, hinted.y1), x2: Math.max(document.x2, hinted.x2), y2: Math.max(document.y2, hinted.y2) });
  const docStrokes = strokes(pixels, width, doc);
  const docHalf = Math.ceil(Math.hypot(doc.x2 - doc.x1, doc.y2 - doc.y1) / 2) + 1;
  const located: LocatedMrz[] = [];
  for (const angle of angles) {
    const m = linesAt(docStrokes, docHalf, hinted, angle, maxLines);
    if (!m) continue;
    located.push(m);
    yield m;
  }
  const tried = [...angles];
  for (const m of located) {
    for (const g of m.groups.slice(0, REFINED_GROUPS)) {
      const own = groupDirection(docStrokes, docHalf, m, g);
      if (tried.some((a) => Math.abs(a - own) <= 0.15 * DEG)) continue;
      tried.push(own);
      const r = linesAt(docStrokes, docHalf, hinted, own, maxLines);
      if (r) yield r;
    }
  }
}

/** The direction in [from, to] (0.1 degree steps) at which the strokes' profile is sharpest. */
function sharpest(xs: Float32Array, ys: Float32Array, half: number, from: number, to: number): number {
  let best = from;
  let bestScore = -1;
  for (let a = from; a <= to + 1e-9; a += 0.1 * DEG) {
    const score = sharpness(profile(xs, ys, a, half));
    if (score > bestScore) {
      bestScore = score;
      best = a;
    }
  }
  return best;
}

/** The direction at which the strokes of one line group of `m` line up best, within REFINE_SPAN of `m`'s. */
function groupDirection(docStrokes: ReturnType<typeof strokes>, docHalf: number, m: LocatedMrz, g: MrzLineBand[]): number {
  const { xs, ys } = docStrokes;
  const angle = m.angle;
  const s = Math.sin(angle);
  const c = Math.cos(angle);
  const pad = 0.5 * Math.max(...g.map((l) => l.bottom - l.top));
  const top = Math.min(...g.map((l) => l.top)) - pad;
  const bottom = Math.max(...g.map((l) => l.bottom)) + pad;
  // the lines' ends are in the unsheared frame: widened by the shear's reach across the band, so the
  // leaning glyphs at either end keep their strokes
  const start = Math.min(...g.map((l) => l.start)) - Math.abs(m.shear) * (bottom - top);
  const end = Math.max(...g.map((l) => l.end)) + Math.abs(m.shear) * (bottom - top);
  const gx: number[] = [];
  const gy: number[] = [];
  for (let i = 0; i < xs.length; i++) {
    const across = -xs[i]! * s + ys[i]! * c;
    const along = xs[i]! * c + ys[i]! * s;
    if (across >= top && across <= bottom && along >= start && along <= end) {
      gx.push(xs[i]!);
      gy.push(ys[i]!);
    }
  }
  if (gx.length < 50) return angle;
  const fx = Float32Array.from(gx);
  const fy = Float32Array.from(gy);
  // a subset of the document's strokes: the document's profile half-width holds every one of them
  return sharpest(fx, fy, docHalf, angle - REFINE_SPAN, angle + REFINE_SPAN);
}

/** The candidate MRZs (line groups) of the document's strokes at one direction. */
function linesAt(docStrokes: ReturnType<typeof strokes>, docHalf: number, hinted: Box, angle: number, maxLines: number): LocatedMrz | undefined {
  const { xs, ys, centre } = docStrokes;
  const raw = profile(xs, ys, angle, docHalf);
  const h = raw.map((_, i) => ((raw[i - 1] ?? 0) + raw[i]! + (raw[i + 1] ?? 0)) / 3);
  const peak = Math.max(...h);
  const bands: { top: number; bottom: number }[] = [];
  for (let i = 0; i < h.length; ) {
    if (h[i]! < BAND_LEVEL * peak) {
      i++;
      continue;
    }
    let j = i;
    while (j < h.length && h[j]! >= BAND_LEVEL * peak) j++;
    if (j - i >= 3) bands.push({ top: i - docHalf - 0.5, bottom: j - docHalf - 0.5 });
    i = j;
  }
  if (bands.length < 2) return undefined;

  // each band's longest run of glyphs along the direction
  const s = Math.sin(angle);
  const c = Math.cos(angle);
  const along: number[][] = bands.map(() => []);
  for (let i = 0; i < xs.length; i++) {
    const v = -xs[i]! * s + ys[i]! * c;
    const k = bands.findIndex((b) => v >= b.top && v <= b.bottom);
    if (k >= 0) along[k]!.push(xs[i]! * c + ys[i]! * s);
  }
  const lines: MrzLineBand[] = bands.map((b, k) => {
    const u = along[k]!.sort((p, q) => p - q);
    const gap = LINE_GAP * (b.bottom - b.top);
    let runStart = 0;
    let bestRun = { from: 0, to: -1 };
    for (let i = 1; i <= u.length; i++) {
      if (i === u.length || u[i]! - u[i - 1]! > gap) {
        if (u[i - 1]! - u[runStart]! > (u[bestRun.to] ?? 0) - (u[bestRun.from] ?? 0) || bestRun.to < 0) bestRun = { from: runStart, to: i - 1 };
        runStart = i;
      }
    }
    const run = u.slice(bestRun.from, bestRun.to + 1);
    const cut = Math.floor(EXTENT_TRIM * run.length);
    return { top: b.top, bottom: b.bottom, start: run[cut] ?? 0, end: run[run.length - 1 - cut] ?? 0 };
  });
  // Candidate MRZs: two or three consecutive lines, evenly spaced, of similar length, long enough
  // to span most of where the detector saw the MRZ; nearest that place first. The reader's check
  // digits decide among them (document-reader.ts), so a candidate too many costs a read, not a
  // wrong answer.
  const hintAcross = -((hinted.x1 + hinted.x2) / 2 - centre[0]) * s + ((hinted.y1 + hinted.y2) / 2 - centre[1]) * c;
  const minLength = MIN_LINE_SHARE * Math.max(hinted.x2 - hinted.x1, hinted.y2 - hinted.y1) * Math.abs(c);
  const usable = lines.filter((l) => l.end - l.start >= minLength).sort((a, b) => a.top - b.top);
  const groups: MrzLineBand[][] = [];
  for (const size of [3, 2].filter((n) => n <= maxLines)) {
    for (let i = 0; i + size <= usable.length; i++) {
      const g = usable.slice(i, i + size);
      const heights = g.map((l) => l.bottom - l.top);
      const lengths = g.map((l) => l.end - l.start);
      const evenlySpaced = g.every((l, k) => k === 0 || (l.top + l.bottom) / 2 - (g[k - 1]!.top + g[k - 1]!.bottom) / 2 <= LINE_PITCH * (heights[k]! + heights[k - 1]!) / 2);
      const sameSize = Math.max(...heights) <= SAME_HEIGHT * Math.min(...heights) && Math.min(...lengths) >= SAME_LENGTH * Math.max(...lengths);
      if (evenlySpaced && sameSize) groups.push(g);
    }
  }
  if (groups.length === 0) return undefined;
  const across = (g: MrzLineBand[]) => (g[0]!.top + g.at(-1)!.bottom) / 2;
  groups.sort((a, b) => Math.abs(across(a) - hintAcross) - Math.abs(across(b) - hintAcross) || b.length - a.length);

  // A document photographed at a slant (yaw, pitch) has its glyphs leaning, which turning cannot
  // undo: the lean is the shear under which the glyphs' vertical strokes line up in columns.
  const first = groups[0]!;
  const strokesAlong: number[] = [];
  const strokesAcross: number[] = [];
  for (let i = 0; i < xs.length; i++) {
    const v = -xs[i]! * s + ys[i]! * c;
    const a = xs[i]! * c + ys[i]! * s;
    if (first.some((l) => v >= l.top && v <= l.bottom && a >= l.start && a <= l.end)) {
      strokesAlong.push(a);
      strokesAcross.push(v);
    }
  }
  let shear = 0;
  let shearScore = -1;
  for (let k = -MAX_SHEAR; k <= MAX_SHEAR + 1e-9; k += SHEAR_STEP) {
    const hist = new Map<number, number>();
    for (let i = 0; i < strokesAlong.length; i++) {
      const b = Math.round(strokesAlong[i]! - k * strokesAcross[i]!);
      hist.set(b, (hist.get(b) ?? 0) + 1);
    }
    let score = 0;
    for (const n of hist.values()) score += n * n;
    if (score > shearScore + 1e-9) {
      shearScore = score;
      shear = k;
    }
  }
  // the lines' extents in the upright (unsheared) frame, and where their glyphs' top and bottom
  // are near either end (the strokes' spread across the line in its first and last thirds)
  const uprightAlong = Float64Array.from(xs, (x, i) => x * c + ys[i]! * s - shear * (-x * s + ys[i]! * c));
  const acrossOf = Float64Array.from(xs, (x, i) => -x * s + ys[i]! * c);
  const measured = new Map<MrzLineBand, MrzLineBand>();
  const upright = (l: MrzLineBand): MrzLineBand => {
    const known = measured.get(l);
    if (known) return known;
    const mid = (l.top + l.bottom) / 2;
    const start = l.start - shear * mid;
    const end = l.end - shear * mid;
    const grow = BAND_GROW * (l.bottom - l.top);
    const third = (end - start) / 3;
    const spread = (from: number, to: number) => {
      const v: number[] = [];
      for (let i = 0; i < xs.length; i++) {
        const a = uprightAlong[i]!;
        const w = acrossOf[i]!;
        if (a >= from && a <= to && w >= l.top - grow && w <= l.bottom + grow) v.push(w);
      }
      if (v.length < 20) return undefined;
      v.sort((p, q) => p - q);
      return { top: v[Math.floor(EDGE_SHARE * v.length)]!, bottom: v[Math.ceil((1 - EDGE_SHARE) * v.length) - 1]!, at: (from + to) / 2 };
    };
    const first = spread(start, start + third);
    const last = spread(end - third, end);
    let ends: MrzLineBand['ends'];
    if (first && last) {
      // straight edges through the two measurements, extended to the line's ends
      const at = (y0: number, y1: number, x: number) => y0 + ((y1 - y0) * (x - first.at)) / (last.at - first.at);
      ends = { topStart: at(first.top, last.top, start), topEnd: at(first.top, last.top, end), bottomStart: at(first.bottom, last.bottom, start), bottomEnd: at(first.bottom, last.bottom, end) };
    }
    const out = { ...l, start, end, ...(ends ? { ends } : {}) };
    measured.set(l, out);
    return out;
  };
  const uprightGroups = groups.map((g) => g.map(upright));
  return { angle, shear, centre, lines: uprightGroups[0]!, groups: uprightGroups };
}

/** A point of the upright frame (rotated, then unsheared) in the photo. */
export function toPhoto(m: Frame, along: number, across: number): Point {
  const s = Math.sin(m.angle);
  const c = Math.cos(m.angle);
  const a = along + (m.shear ?? 0) * across;
  return [m.centre[0] + a * c - across * s, m.centre[1] + a * s + across * c];
}

/**
 * The quadrilateral (top-left, top-right, bottom-right, bottom-left) around every line, grown by
 * `pad` line heights: what is warped upright for the reader. `flipped` turns it half a turn (a
 * document upside down has the same lines).
 */
export function blockQuad(m: Frame, lines: MrzLineBand[], pad: number, flipped = false): Quad {
  const firstLine = edges(lines[0]!);
  const lastLine = edges(lines.at(-1)!);
  const start = Math.min(...lines.map((l) => l.start));
  const end = Math.max(...lines.map((l) => l.end));
  const padStart = pad * (lastLine.bottomStart - firstLine.topStart) / lines.length;
  const padEnd = pad * (lastLine.bottomEnd - firstLine.topEnd) / lines.length;
  const q: Quad = [
    toPhoto(m, start - padStart, firstLine.topStart - padStart),
    toPhoto(m, end + padEnd, firstLine.topEnd - padEnd),
    toPhoto(m, end + padEnd, lastLine.bottomEnd + padEnd),
    toPhoto(m, start - padStart, lastLine.bottomStart + padStart),
  ];
  return flipped ? [q[2], q[3], q[0], q[1]] : q;
}

/** A line's own quadrilateral in the photo, in the same corner order as blockQuad. */
export function lineQuad(m: Frame, line: MrzLineBand, flipped = false): Quad {
  const e = edges(line);
  const q: Quad = [toPhoto(m, line.start, e.topStart), toPhoto(m, line.end, e.topEnd), toPhoto(m, line.end, e.bottomEnd), toPhoto(m, line.start, e.bottomStart)];
  return flipped ? [q[2], q[3], q[0], q[1]] : q;
}

/** Lines whose ends differ by more than this many line heights are taken not to share their extent. */
const SAME_EXTENT = 0.5;

/**
 * The group's lines cut to the stretch they all cover, when one runs past the others; else
 * undefined. Every line of an MRZ holds the same number of characters and is printed to its end
 * (fillers are glyphs too), so they start and end together: a line that runs on has taken in a
 * mark, the document's edge or other text beside it, and reads squeezed (seed 4 photo 12, the
 * fixture td3-line-runs-on.jpg: line 1 found from 70 px before line 2, along the passport's edge,
 * read valid as KLEINV / MAXIMILIAN<C).
 */
export function commonExtent(lines: MrzLineBand[]): MrzLineBand[] | undefined {
  const start = Math.max(...lines.map((l) => l.start));
  const end = Math.min(...lines.map((l) => l.end));
  const height = Math.min(...lines.map((l) => l.bottom - l.top));
  const slack = SAME_EXTENT * height;
  if (end - start <= 0 || lines.every((l) => l.start >= start - slack && l.end <= end + slack)) return undefined;
  return lines.map((l) => {
    // the line's edges (measured, else its band) taken at the new ends
    const e = edges(l);
    const at = (a: number, b: number, x: number) => a + ((b - a) * (x - l.start)) / (l.end - l.start);
    return { ...l, start, end, ends: { topStart: at(e.topStart, e.topEnd, start), topEnd: at(e.topStart, e.topEnd, end), bottomStart: at(e.bottomStart, e.bottomEnd, start), bottomEnd: at(e.bottomStart, e.bottomEnd, end) } };
  });
}

/** The line's top and bottom at its start and end: as measured, else its band. */
function edges(l: MrzLineBand): NonNullable<MrzLineBand['ends']> {
  return l.ends ?? { topStart: l.top, topEnd: l.top, bottomStart: l.bottom, bottomEnd: l.bottom };
}
