import sharp from 'sharp';
import type { OcrClassConfig } from '../config/schema.js';

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
  const rect = cropRect(box, cfg.margin, width, height);
  if (rect.width < 2 || rect.height < 2) return undefined;
  const base = sharp(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength), {
    raw: { width, height, channels: 3 },
  })
    .extract(rect)
    .greyscale();
  if (cfg.mode === 'line' || cfg.mode === 'word') {
    // Work at a fixed height: component size limits below are relative to it.
    const h = LINE_WORK_HEIGHT;
    const w = Math.max(8, Math.round((rect.width * h) / rect.height));
    const { data } = await base.clone().resize({ width: w, height: h, kernel: 'lanczos3' }).raw().toBuffer({ resolveWithObject: true });
    const line = await isolateLine(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), w, h);
    if (line) return line;
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
 * the group of similar height with the largest summed height whose centres lie on one straight line. Returns those
 * components alone, dark on white, the line levelled and the strokes made upright (perspective),
 * scaled to ~48 px characters and padded, as PNG; undefined when fewer than
 * three characters line up.
 */
export async function isolateLine(grey: Uint8Array, w: number, h: number): Promise<Buffer | undefined> {
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
  let best: { comps: Component[]; all: Component[]; mask: Uint8Array; labels: Int32Array; slope: number; score: number; dark: boolean } | undefined;
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
    const line = bestLine(chars, h);
    if (!line) continue;
    const score = line.comps.reduce((s, c) => s + (c.y2 - c.y1 + 1), 0);
    if (!best || score > best.score) best = { ...line, mask, labels: labels.slice(), score, dark, all };
  }
  if (!best || best.comps.length < 3) return undefined;

  // Keep the grey pixels (text made dark) inside the kept components' boxes, stretched between the
  // ink and paper levels (anti-aliased edges read better than a hard mask); white elsewhere. Then
  // level, scale and pad.
  // Small marks between the characters on the same line (hyphens, dots) stay: they are part of the
  // printed text (rawText), and normalisation strips them.
  const hs = best.comps.map((c) => c.y2 - c.y1 + 1).sort((a, b) => a - b);
  const medH = hs[Math.floor(hs.length / 2)]!;
  const left = Math.min(...best.comps.map((c) => c.x1));
  const right = Math.max(...best.comps.map((c) => c.x2));
  const cy0 = best.comps.reduce((s, c) => s + (c.y1 + c.y2) / 2, 0) / best.comps.length;
  const cxMean = best.comps.reduce((s, c) => s + (c.x1 + c.x2) / 2, 0) / best.comps.length;
  const marks = best.all.filter((c) => {
    if (c.x1 <= left || c.x2 >= right || c.y2 - c.y1 + 1 > 0.5 * medH || c.x2 - c.x1 + 1 > medH) return false;
    const lineY = cy0 + best!.slope * ((c.x1 + c.x2) / 2 - cxMean);
    return Math.abs((c.y1 + c.y2) / 2 - lineY) < 0.25 * medH && !best!.comps.includes(c);
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
  // moments) is fitted as a linear function of x, and output (x, v) samples the source at
  // (x + slant(x) v, line(x) + v).
  const chars = best.comps.filter((c) => c.y2 - c.y1 + 1 >= 0.72 * medH);
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
  const ow = x1 - x0 + 1, oh = Math.ceil(2.2 * medH);
  const canvas = new Uint8Array(ow * oh).fill(255);
  for (let xo = 0; xo < ow; xo++) {
    const x = x0 + xo;
    const sl = slant(x);
    const ly = cy0 + best.slope * (x - cxMean);
    for (let yo = 0; yo < oh; yo++) {
      const v = yo - oh / 2;
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
  const scale = CHAR_HEIGHT / medH;
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

/** The largest set of components of similar height whose centres fit one line (slope from a least-squares fit). */
function bestLine(chars: Component[], h: number): { comps: Component[]; slope: number } | undefined {
  if (chars.length < 3) return undefined;
  let best: { comps: Component[]; slope: number; weight: number } | undefined;
  for (const seed of chars) {
    if (seed.x2 - seed.x1 > 1.1 * (seed.y2 - seed.y1)) continue; // the reference height comes from a single character
    const sh = seed.y2 - seed.y1 + 1;
    // Perspective makes one end of a plate up to ~1.5x taller than the other: a loose height band,
    // then the line fit decides.
    const similar = (c: Component) => {
      const ch = c.y2 - c.y1 + 1;
      return ch >= 0.6 * sh && ch <= 1.6 * sh;
    };
    let group = chars.filter(similar);
    let slope = 0;
    for (let iter = 0; iter < 3 && group.length >= 3; iter++) {
      const xs = group.map((c) => (c.x1 + c.x2) / 2);
      const ys = group.map((c) => (c.y1 + c.y2) / 2);
      const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
      const my = ys.reduce((a, b) => a + b, 0) / ys.length;
      let sxy = 0, sxx = 0;
      xs.forEach((x, i) => { sxy += (x - mx) * (ys[i]! - my); sxx += (x - mx) ** 2; });
      slope = sxx > 0 ? Math.max(-0.6, Math.min(0.6, sxy / sxx)) : 0;
      group = chars.filter((c) => {
        const resid = (c.y1 + c.y2) / 2 - (my + slope * ((c.x1 + c.x2) / 2 - mx));
        return similar(c) && Math.abs(resid) <= 0.3 * Math.max(sh, c.y2 - c.y1 + 1);
      });
    }
    const weight = group.reduce((s, c) => s + (c.y2 - c.y1 + 1), 0);
    if (group.length >= 3 && (!best || weight > best.weight)) best = { comps: group, slope, weight };
  }
  void h;
  if (!best) return undefined;
  // Second pass around the median height, then drop isolated pieces at either end (band letters,
  // bolts, frame corners): real gaps between characters or groups are under a character height.
  const heights = best.comps.map((c) => c.y2 - c.y1 + 1).sort((a, b) => a - b);
  const med = heights[Math.floor(heights.length / 2)]!;
  const comps = best.comps
    .filter((c) => (c.y2 - c.y1 + 1) >= 0.72 * med && (c.y2 - c.y1 + 1) <= 1.38 * med)
    .sort((a, b) => a.x1 - b.x1);
  while (comps.length > 3 && comps[1]!.x1 - comps[0]!.x2 > 1.2 * med) comps.shift();
  while (comps.length > 3 && comps[comps.length - 1]!.x1 - comps[comps.length - 2]!.x2 > 1.2 * med) comps.pop();
  return comps.length >= 3 ? { comps, slope: best.slope } : undefined;
}
