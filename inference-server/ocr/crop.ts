import sharp from 'sharp';
import type { OcrClassConfig } from '../../contract/server-config.js';

export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

/** Integer crop rectangle with a margin, kept inside the image. */
export function cropRect(box: Box, margin: number, width: number, height: number) {
  const mx = (box.x2 - box.x1) * margin;
  const my = (box.y2 - box.y1) * margin;
  const left = Math.max(0, Math.floor(box.x1 - mx));
  const top = Math.max(0, Math.floor(box.y1 - my));
  const right = Math.min(width, Math.ceil(box.x2 + mx));
  const bottom = Math.min(height, Math.ceil(box.y2 + my));
  return { left, top, width: Math.max(0, right - left), height: Math.max(0, bottom - top) };
}

/**
 * Prepares one detection for tesseract and returns PNG (tesseract.js takes encoded images, not raw
 * pixels). Single-line classes (mode line/word, e.g. plates) get isolateLine(): the crop is
 * binarised, and only the character-like connected components of one text line are kept, levelled
 * and de-slanted, dark on white. That drops what an axis-aligned crop of a tilted plate drags in (frame, background,
 * EU band, state names, bolts) and handles light-on-dark plates. When no such line is found, and for
 * block/auto classes, the crop is read as before: grey, contrast-stretched, upscaled, white border.
 */
export async function prepareCrop(
  pixels: Uint8Array,
  width: number,
  height: number,
  box: Box,
  cfg: Pick<OcrClassConfig, 'margin' | 'minHeight'> & Partial<Pick<OcrClassConfig, 'mode'>>,
): Promise<Buffer | undefined> {
  if (cfg.mode === 'line' || cfg.mode === 'word') {
    const line = await prepareCropVariant(pixels, width, height, box, cfg, 'line');
    if (line) return line;
  }
  return prepareCropVariant(pixels, width, height, box, cfg, 'plain');
}

/**
 * One way of preparing a crop: 'line' isolates the text line (undefined when no line is found),
 * 'plain' is the grey, contrast-stretched, upscaled crop with a white border.
 */
export async function prepareCropVariant(
  pixels: Uint8Array,
  width: number,
  height: number,
  box: Box,
  cfg: Pick<OcrClassConfig, 'margin' | 'minHeight'>,
  variant: 'line' | 'plain',
  line: LineOptions = {},
): Promise<Buffer | undefined> {
  const rect = cropRect(box, cfg.margin, width, height);
  if (rect.width < 2 || rect.height < 2) return undefined;
  const base = sharp(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength), {
    raw: { width, height, channels: 3 },
  })
    .extract(rect)
    .greyscale();
  if (variant === 'line') {
    // Work at a fixed height: component size limits below are relative to it.
    const h = LINE_WORK_HEIGHT;
    const w = Math.max(8, Math.round((rect.width * h) / rect.height));
    const { data } = await base.clone().resize({ width: w, height: h, kernel: 'lanczos3' }).raw().toBuffer({ resolveWithObject: true });
    return isolateLine(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), w, h, line);
  }
  let img = base;
  if (rect.height < cfg.minHeight) {
    const scale = cfg.minHeight / rect.height;
    img = img.resize({ width: Math.round(rect.width * scale), height: cfg.minHeight, kernel: 'lanczos3' });
  }
  const border = Math.max(8, Math.round(Math.max(rect.height, cfg.minHeight) * 0.15));
  // Normalise before padding so the border does not skew the histogram stretch.
  const stretched = await img.normalise().png({ compressionLevel: 1 }).toBuffer();
  return sharp(stretched)
    .extend({ top: border, bottom: border, left: border, right: border, background: { r: 255, g: 255, b: 255 } })
    .png({ compressionLevel: 1 })
    .toBuffer();
}

/** How isolateLine renders the line (the second-pass variants of format-aware reading). */
export interface LineOptions {
  /** even out the character height along the line (perspective), not only level and de-slant it */
  rectify?: boolean;
  /** character height in the output, px (default CHAR_HEIGHT) */
  charHeight?: number;
}

const LINE_WORK_HEIGHT = 128;
const CHAR_HEIGHT = 48;

interface Component {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  area: number;
  label: number;
}

/** 8-connected components of `mask`, with bounding boxes; components touching the crop edge are dropped. */
function components(mask: Uint8Array, w: number, h: number, labels: Int32Array): Component[] {
  labels.fill(0);
  const out: Component[] = [];
  const stack: number[] = [];
  let next = 0;
  for (let start = 0; start < w * h; start++) {
    if (!mask[start] || labels[start]) continue;
    next++;
    const c: Component = { x1: w, y1: h, x2: 0, y2: 0, area: 0, label: next };
    let edge = false;
    labels[start] = next;
    stack.push(start);
    while (stack.length) {
      const p = stack.pop()!;
      const x = p % w;
      const y = (p - x) / w;
      c.area++;
      if (x < c.x1) c.x1 = x;
      if (x > c.x2) c.x2 = x;
      if (y < c.y1) c.y1 = y;
      if (y > c.y2) c.y2 = y;
      if (x === 0 || y === 0 || x === w - 1 || y === h - 1) edge = true;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= h) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= w) continue;
          const q = yy * w + xx;
          if (mask[q] && !labels[q]) {
            labels[q] = next;
            stack.push(q);
          }
        }
      }
    }
    if (!edge) out.push(c);
  }
  return out;
}

/**
 * Finds the text line of a single-line crop (grey, height LINE_WORK_HEIGHT): local-mean binarisation
 * in both polarities, character-sized components (height 12-90 % of the crop, at most 4 characters wide),
 * the characters of one straight line (bestLine). Returns those components alone, dark on white,
 * the line levelled and the strokes made upright (perspective), with `rectify` also the character
 * height evened out along the line, scaled to ~`charHeight` px characters and padded, as PNG;
 * undefined when fewer than three characters line up.
 */
export async function isolateLine(grey: Uint8Array, w: number, h: number, opts: LineOptions = {}): Promise<Buffer | undefined> {
  const { rectify = false, charHeight = CHAR_HEIGHT } = opts;
  // Local mean over a (h/2)-wide window from an integral image.
  const ii = new Float64Array((w + 1) * (h + 1));
  for (let y = 0; y < h; y++) {
    let row = 0;
    for (let x = 0; x < w; x++) {
      row += grey[y * w + x]!;
      ii[(y + 1) * (w + 1) + x + 1] = ii[y * (w + 1) + x + 1]! + row;
    }
  }
  const r = Math.max(4, Math.round(h / 4));
  const mean = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    const y0 = Math.max(0, y - r), y1 = Math.min(h, y + r + 1);
    for (let x = 0; x < w; x++) {
      const x0 = Math.max(0, x - r), x1 = Math.min(w, x + r + 1);
      const sum = ii[y1 * (w + 1) + x1]! - ii[y0 * (w + 1) + x1]! - ii[y1 * (w + 1) + x0]! + ii[y0 * (w + 1) + x0]!;
      mean[y * w + x] = sum / ((y1 - y0) * (x1 - x0));
    }
  }
  const labels = new Int32Array(w * h);
  let best: (LineFit & { all: Component[]; mask: Uint8Array; labels: Int32Array; dark: boolean }) | undefined;
  for (const dark of [true, false]) {
    const mask = new Uint8Array(w * h);
    for (let i = 0; i < w * h; i++) {
      const d = grey[i]! - mean[i]!;
      mask[i] = (dark ? d < -10 : d > 10) ? 1 : 0;
    }
    const all = components(mask, w, h, labels);
    const chars = all.filter((c) => {
      const ch = c.y2 - c.y1 + 1;
      const cw = c.x2 - c.x1 + 1;
      // up to 4x wider than tall: neighbouring characters that blur or tight spacing joined
      // solid blocks (EU band, bolts, shadows) are not characters
      return ch >= 0.12 * h && ch <= 0.9 * h && cw <= 4 * ch && c.area >= 0.12 * cw * ch && c.area <= 0.9 * cw * ch && c.area >= 20;
    });
    const line = bestLine(chars, all);
    if (!line) continue;
    if (!best || line.weight > best.weight) best = { ...line, mask, labels: labels.slice(), dark, all };
  }
  if (!best || best.comps.length < 3) return undefined;

  // Keep the grey pixels (text made dark) inside the kept components' boxes, stretched between the
  // ink and paper levels (anti-aliased edges read better than a hard mask); white elsewhere. Then
  // level, scale and pad.
  // Small marks between the characters on the same line (hyphens, dots) stay: they are part of the
  // printed text (rawText), and normalisation strips them.
  const hs = best.comps.map((c) => c.y2 - c.y1 + 1).sort((a, b) => a - b);
  const medH = hs[Math.floor(hs.length / 2)]!;
  // the expected character height along the line: the perspective trend, or one height
  const expected = rectify ? best.height : () => medH;
  const left = Math.min(...best.comps.map((c) => c.x1));
  const right = Math.max(...best.comps.map((c) => c.x2));
  const cy0 = best.comps.reduce((s, c) => s + (c.y1 + c.y2) / 2, 0) / best.comps.length;
  const cxMean = best.comps.reduce((s, c) => s + (c.x1 + c.x2) / 2, 0) / best.comps.length;
  const marks = best.all.filter((c) => {
    const e = expected(cx(c));
    if (c.x1 <= left || c.x2 >= right || ht(c) > 0.5 * e || c.x2 - c.x1 + 1 > e) return false;
    const lineY = cy0 + best!.slope * (cx(c) - cxMean);
    return Math.abs(cy(c) - lineY) < 0.25 * e && !best!.comps.includes(c);
  });
  best.comps.push(...marks);
  const keep = new Set(best.comps.map((c) => c.label));
  const out = new Uint8Array(w * h).fill(255);
  const inBox = new Uint8Array(w * h);
  for (const c of best.comps)
    for (let y = Math.max(0, c.y1 - 2); y <= Math.min(h - 1, c.y2 + 2); y++)
      for (let x = Math.max(0, c.x1 - 2); x <= Math.min(w - 1, c.x2 + 2); x++) inBox[y * w + x] = 1;
  let ink = 0, inkN = 0, paper = 0, paperN = 0;
  for (let i = 0; i < w * h; i++) {
    if (!inBox[i]) continue;
    const v = best.dark ? grey[i]! : 255 - grey[i]!;
    if (best.mask[i] && keep.has(best.labels[i]!)) { ink += v; inkN++; } else { paper += v; paperN++; }
  }
  const lo = ink / Math.max(1, inkN), hi = paper / Math.max(1, paperN);
  for (let i = 0; i < w * h; i++) {
    if (!inBox[i]) continue;
    const v = best.dark ? grey[i]! : 255 - grey[i]!;
    out[i] = Math.max(0, Math.min(255, Math.round(((v - lo) / Math.max(1, hi - lo)) * 255)));
  }

  const pad = Math.round(h * 0.1);
  // Level the line and straighten the strokes in one resampling: perspective leans the characters
  // of a plate differently along it, so the stroke slant (dx/dy from each character's second
  // moments) is fitted as a linear function of x. With `rectify` the same resampling evens out the
  // character size, as perspective makes one end taller: k(x) = expected height / median height,
  // output column u steps through the source by k(x), and (u, v) samples the source at
  // (x + slant(x) k(x) v, line(x) + k(x) v); without, k = 1.
  const chars = best.comps.filter((c) => ht(c) >= 0.72 * expected(cx(c)));
  const pts: { x: number; s: number }[] = [];
  for (const c of chars) {
    let n = 0, sx = 0, sy = 0, sxy = 0, syy = 0;
    for (let y = c.y1; y <= c.y2; y++)
      for (let x = c.x1; x <= c.x2; x++) {
        const i = y * w + x;
        if (best.mask[i] && best.labels[i] === c.label) { n++; sx += x; sy += y; sxy += x * y; syy += y * y; }
      }
    const vy = syy / n - (sy / n) ** 2;
    if (vy > 0) pts.push({ x: (c.x1 + c.x2) / 2, s: (sxy / n - (sx / n) * (sy / n)) / vy });
  }
  const fit = (ps: { x: number; s: number }[]) => {
    if (ps.length === 0) return () => 0;
    const mx = ps.reduce((t, p) => t + p.x, 0) / ps.length, ms = ps.reduce((t, p) => t + p.s, 0) / ps.length;
    let sxx = 0, sxs = 0;
    for (const p of ps) { sxx += (p.x - mx) ** 2; sxs += (p.x - mx) * (p.s - ms); }
    const b1 = sxx > 0 ? sxs / sxx : 0;
    return (x: number) => Math.max(-0.6, Math.min(0.6, ms + b1 * (x - mx)));
  };
  let slant = fit(pts);
  if (pts.length >= 5) {
    // drop the two characters whose own shape leans most against the trend (7, 4, /-like strokes)
    const kept = [...pts].sort((p, q) => Math.abs(p.s - slant(p.x)) - Math.abs(q.s - slant(q.x))).slice(0, pts.length - 2);
    slant = fit(kept);
  }
  if (Math.max(Math.abs(slant(left)), Math.abs(slant(right))) < 0.1) slant = () => 0; // upright: leave the glyphs alone
  const x0 = Math.max(0, left - 4), x1 = Math.min(w - 1, right + 4);
  const k = (x: number) => Math.max(0.5, Math.min(2, expected(x) / medH));
  const columns: number[] = [];
  for (let x = x0; x <= x1; x += k(x)) columns.push(x);
  const ow = columns.length, oh = Math.ceil(2.2 * medH);
  const canvas = new Uint8Array(ow * oh).fill(255);
  for (let xo = 0; xo < ow; xo++) {
    const x = columns[xo]!;
    const sl = slant(x);
    const kx = k(x);
    const ly = cy0 + best.slope * (x - cxMean);
    for (let yo = 0; yo < oh; yo++) {
      const v = (yo - oh / 2) * kx;
      const xs = x + sl * v, ys = ly + v;
      const xi = Math.floor(xs), yi = Math.floor(ys);
      if (xi < 0 || yi < 0 || xi + 1 >= w || yi + 1 >= h) continue;
      const fx = xs - xi, fy = ys - yi;
      const p00 = out[yi * w + xi]!, p10 = out[yi * w + xi + 1]!, p01 = out[(yi + 1) * w + xi]!, p11 = out[(yi + 1) * w + xi + 1]!;
      canvas[yo * ow + xo] = Math.round(p00 * (1 - fx) * (1 - fy) + p10 * fx * (1 - fy) + p01 * (1 - fx) * fy + p11 * fx * fy);
    }
  }
  const img = sharp(Buffer.from(canvas.buffer), { raw: { width: ow, height: oh, channels: 1 } });
  // Characters about CHAR_HEIGHT px tall: where tesseract's LSTM reads best.
  const scale = charHeight / medH;
  const png = await img.png({ compressionLevel: 1 }).toBuffer();
  const trimmed = await sharp(png)
    .trim({ background: '#ffffff', threshold: 10 })
    .png({ compressionLevel: 1 })
    .toBuffer({ resolveWithObject: true })
    .catch(() => sharp(png).toBuffer({ resolveWithObject: true }));
  return sharp(trimmed.data)
    .resize({ width: Math.max(1, Math.round(trimmed.info.width * scale)), height: Math.max(1, Math.round(trimmed.info.height * scale)), kernel: 'cubic' })
    .extend({ top: pad, bottom: pad, left: pad, right: pad, background: { r: 255, g: 255, b: 255 } })
    .greyscale()
    .png({ compressionLevel: 1 })
    .toBuffer();
}

interface LineFit {
  comps: Component[];
  slope: number;
  /** expected character height at x: perspective makes one end of a plate taller than the other */
  height: (x: number) => number;
  weight: number;
}

const cx = (c: Component) => (c.x1 + c.x2) / 2;
const cy = (c: Component) => (c.y1 + c.y2) / 2;
const ht = (c: Component) => c.y2 - c.y1 + 1;

/** Least-squares line v = a + b (x - mx) through points, with mx their mean x. */
function fitLine(xs: number[], vs: number[]): { mx: number; a: number; b: number } {
  const mx = xs.reduce((s, x) => s + x, 0) / xs.length;
  const a = vs.reduce((s, v) => s + v, 0) / vs.length;
  let sxv = 0, sxx = 0;
  xs.forEach((x, i) => { sxv += (x - mx) * (vs[i]! - a); sxx += (x - mx) ** 2; });
  return { mx, a, b: sxx > 0 ? sxv / sxx : 0 };
}

/** Theil-Sen line v = a + b (x - mx): robust to a few outliers (a band, a bolt). */
function robustLine(xs: number[], vs: number[]): { mx: number; a: number; b: number } {
  const slopes: number[] = [];
  for (let i = 0; i < xs.length; i++)
    for (let j = i + 1; j < xs.length; j++) if (Math.abs(xs[j]! - xs[i]!) > 1) slopes.push((vs[j]! - vs[i]!) / (xs[j]! - xs[i]!));
  const median = (a: number[]) => (a.length ? [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)]! : 0);
  const b = median(slopes);
  const mx = xs.reduce((s, x) => s + x, 0) / xs.length;
  return { mx, a: median(vs.map((v, i) => v - b * (xs[i]! - mx))), b };
}

/**
 * The characters of the text line. The core: the set of components of similar height whose
 * centres fit one straight line with the most weight (height, discounted for components much
 * thinner than characters: a grille's bars line up too). Candidate lines run through every pair of
 * similar components, so junk above or below the text cannot pull the fit off the characters, and
 * are refined by least squares. Perspective makes one end
 * of a plate taller than the other (up to ~1.8x), so the height trend along the line is then
 * fitted robustly to the core, and components on the line that follow the trend are added from
 * the ends outwards. Isolated pieces at either end (band letters, bolts, frame corners) are
 * dropped: real gaps between characters or groups are under a character height, or under 2.5
 * where a separator mark (the hyphens of AB-123-CD, 12-ABC-3) lies between.
 */
function bestLine(candidates: Component[], all: Component[]): LineFit | undefined {
  if (candidates.length < 3) return undefined;
  // the line search below is cubic in the candidates: a very noisy crop keeps its 80 tallest
  const chars = candidates.length > 80 ? [...candidates].sort((a, b) => ht(b) - ht(a)).slice(0, 80) : candidates;
  const weightOf = (c: Component) => ht(c) * Math.min(1, (c.x2 - c.x1 + 1) / (0.35 * ht(c))) ** 2;
  let best: { comps: Component[]; slope: number; weight: number } | undefined;
  const consider = (group: Component[], sh: number) => {
    let slope = 0;
    for (let iter = 0; iter < 3 && group.length >= 3; iter++) {
      const line = fitLine(group.map(cx), group.map(cy));
      slope = Math.max(-0.6, Math.min(0.6, line.b));
      group = chars.filter((c) => ht(c) >= 0.6 * sh && ht(c) <= 1.6 * sh && Math.abs(cy(c) - (line.a + slope * (cx(c) - line.mx))) <= 0.3 * Math.max(sh, ht(c)));
    }
    const weight = group.reduce((s, c) => s + weightOf(c), 0);
    if (group.length >= 3 && (!best || weight > best.weight)) best = { comps: group, slope, weight };
  };
  for (const seed of chars) {
    if (seed.x2 - seed.x1 > 1.1 * (seed.y2 - seed.y1)) continue; // the reference height comes from a single character
    const sh = ht(seed);
    const similar = (c: Component) => ht(c) >= 0.6 * sh && ht(c) <= 1.6 * sh;
    for (const other of chars) {
      if (other === seed || !similar(other) || Math.abs(cx(other) - cx(seed)) < 0.5 * sh) continue;
      const slope = (cy(other) - cy(seed)) / (cx(other) - cx(seed));
      if (Math.abs(slope) > 0.6) continue;
      const inliers = chars.filter((c) => similar(c) && Math.abs(cy(c) - (cy(seed) + slope * (cx(c) - cx(seed)))) <= 0.3 * Math.max(sh, ht(c)));
      if (inliers.length >= 3 && (!best || inliers.reduce((s, c) => s + weightOf(c), 0) > 0.5 * best.weight)) consider(inliers, sh);
    }
  }
  if (!best) return undefined;
  const heights = best.comps.map(ht).sort((a, b) => a - b);
  const med = heights[Math.floor(heights.length / 2)]!;
  const core = best.comps.filter((c) => ht(c) >= 0.72 * med && ht(c) <= 1.38 * med).sort((a, b) => a.x1 - b.x1);
  if (core.length < 3) return undefined;
  const xs = core.map(cx);
  const lo = Math.min(...xs), hi = Math.max(...xs);
  const hl = robustLine(xs, core.map(ht));
  // at most ~1.8x taller at one end than at the other, over the core and a little beyond
  const hb = Math.sign(hl.b) * Math.min(Math.abs(hl.b), (0.57 * hl.a) / Math.max(1, (hi - lo) / 2));
  const span = hi - lo;
  const height = (x: number) => Math.max(0.5 * hl.a, hl.a + hb * (Math.max(lo - 0.3 * span, Math.min(hi + 0.3 * span, x)) - hl.mx));
  const line = fitLine(xs, core.map(cy));
  const onLine = (c: Component) => {
    const e = height(cx(c));
    return ht(c) >= 0.72 * e && ht(c) <= 1.38 * e && Math.abs(cy(c) - (line.a + line.b * (cx(c) - line.mx))) <= 0.3 * Math.max(e, ht(c));
  };
  const isolated = (a: Component, b: Component) => {
    const gap = b.x1 - a.x2;
    const e = height((a.x2 + b.x1) / 2);
    if (gap <= 1.2 * e) return false;
    const lineY = (cy(a) + cy(b)) / 2;
    const bridged = all.some(
      (m) => m.x1 > a.x2 && m.x2 < b.x1 && ht(m) <= 0.5 * e && m.x2 - m.x1 + 1 <= 1.2 * e && Math.abs(cy(m) - lineY) < 0.3 * e,
    );
    return !bridged || gap > 2.5 * e;
  };
  const comps = core;
  const rest = chars.filter((c) => !comps.includes(c) && onLine(c));
  for (let grew = true; grew; ) {
    grew = false;
    const first = comps[0]!, last = comps[comps.length - 1]!;
    const before = rest.filter((c) => c.x2 < first.x1 && !isolated(c, first)).sort((a, b) => b.x2 - a.x2)[0];
    const after = rest.filter((c) => c.x1 > last.x2 && !isolated(last, c)).sort((a, b) => a.x1 - b.x1)[0];
    if (before) { comps.unshift(before); rest.splice(rest.indexOf(before), 1); grew = true; }
    if (after) { comps.push(after); rest.splice(rest.indexOf(after), 1); grew = true; }
  }
  while (comps.length > 3 && isolated(comps[0]!, comps[1]!)) comps.shift();
  while (comps.length > 3 && isolated(comps[comps.length - 2]!, comps[comps.length - 1]!)) comps.pop();
  if (comps.length < 3) return undefined;
  return { comps, slope: best.slope, height, weight: comps.reduce((s, c) => s + weightOf(c), 0) };
}
