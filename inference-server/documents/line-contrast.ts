import type { Box } from '../ocr/crop.js';
import { greyAt } from '../ocr/recognizer-input.js';

/**
 * Glare on a laminate, or a print fading towards one end, leaves some characters of an MRZ line
 * pale: the reader standardises a line as a whole, so a pale stretch stays low in contrast and its
 * glyphs are read as their neighbours in shape (a faded 8 as 9 or 5). Stretching each column to the
 * darkest and lightest grey found near it along the line (a window of `reach` line heights each
 * side) gives every stretch of the line the same contrast again.
 */

/** Window half-width, in line heights (a character is about 0.6 of one). */
export const CONTRAST_REACH = 1.5;
/**
 * A window whose grey spans less than this is not stretched further than this span would be: it
 * holds no ink (the margin past a line's end), and stretching paper grain to full contrast makes
 * glyphs out of noise.
 */
export const CONTRAST_MIN_SPAN = 40;

/**
 * A copy of `pixels` (RGB) in which each box's region (the box, grown by `grow`) is replaced by its
 * grey stretched column by column to the range of the window around it. Boxes are read from the
 * original, so overlapping regions do not compound.
 */
export function evenLineContrast(
  pixels: Uint8Array,
  width: number,
  height: number,
  boxes: Box[],
  grow: (b: Box) => Box,
  reach = CONTRAST_REACH,
  minSpan = CONTRAST_MIN_SPAN,
): Uint8Array {
  const out = new Uint8Array(pixels);
  for (const line of boxes) {
    const g = grow(line);
    const x1 = Math.max(0, Math.floor(g.x1));
    const x2 = Math.min(width, Math.ceil(g.x2));
    const y1 = Math.max(0, Math.floor(g.y1));
    const y2 = Math.min(height, Math.ceil(g.y2));
    if (x2 - x1 < 2 || y2 - y1 < 2) continue;
    const w = x2 - x1;
    const colLo = new Float64Array(w).fill(255);
    const colHi = new Float64Array(w);
    const grey = new Uint8Array(w * (y2 - y1));
    for (let y = y1; y < y2; y++) {
      for (let x = x1; x < x2; x++) {
        const v = greyAt(pixels, (y * width + x) * 3);
        grey[(y - y1) * w + (x - x1)] = v;
        if (v < colLo[x - x1]!) colLo[x - x1] = v;
        if (v > colHi[x - x1]!) colHi[x - x1] = v;
      }
    }
    const r = Math.max(1, Math.round(reach * (line.y2 - line.y1)));
    const lo = slidingExtreme(colLo, r, (a, b) => a < b);
    const hi = slidingExtreme(colHi, r, (a, b) => a > b);
    for (let x = 0; x < w; x++) {
      const span = Math.max(minSpan, hi[x]! - lo[x]!);
      // a narrow span keeps its lightest grey as paper: blank paper stays light, not mid-grey
      const base = Math.min(lo[x]!, hi[x]! - minSpan);
      for (let y = y1; y < y2; y++) {
        const v = Math.round((255 * (grey[(y - y1) * w + x]! - base)) / span);
        const c = v < 0 ? 0 : v > 255 ? 255 : v;
        const i = (y * width + x1 + x) * 3;
        out[i] = c;
        out[i + 1] = c;
        out[i + 2] = c;
      }
    }
  }
  return out;
}

/** Minimum (or maximum) of `a` over [i - r, i + r] for every i, with a monotonic deque: O(n). */
function slidingExtreme(a: Float64Array, r: number, better: (x: number, y: number) => boolean): Float64Array {
  const n = a.length;
  const out = new Float64Array(n);
  const dq = new Int32Array(n);
  let head = 0;
  let tail = 0;
  let next = 0;
  for (let i = 0; i < n; i++) {
    while (next < n && next <= i + r) {
      while (tail > head && !better(a[dq[tail - 1]!]!, a[next]!)) tail--;
      dq[tail++] = next++;
    }
    while (dq[head]! < i - r) head++;
    out[i] = a[dq[head]!]!;
  }
  return out;
}
