import type { Box } from './crop.js';

/**
 * The input of a CTC text recognizer, computed exactly as training/reader.py computes it for
 * training (its docstring is the specification), so the network sees in the server what it saw in
 * training: box grown by a margin and clipped, OpenCV's fixed-point grey, exact area resampling of
 * the fractional box, per-crop standardisation.
 */

export interface RecognizerSpec {
  alphabet: string;
  blank: number;
  height: number;
  width: number;
  margin: number;
  stdFloor: number;
}

export interface AreaWeights {
  /** first source index covered */
  first: number;
  /** source pixels spanned */
  span: number;
  /** [nOut][span], row-major */
  weights: Float64Array;
  /** per output i, the non-zero weights are at [from[i], to[i]) of its row: a crop is summed over those only */
  from: Int32Array;
  to: Int32Array;
}

/** Weights that average, for each of `nOut` equal parts of [lo, hi), the source pixels it overlaps. */
export function areaWeights(lo: number, hi: number, nOut: number): AreaWeights {
  const step = (hi - lo) / nOut;
  const first = Math.floor(lo);
  const span = Math.max(Math.ceil(hi) - first, 1);
  const weights = new Float64Array(nOut * span);
  const from = new Int32Array(nOut);
  const to = new Int32Array(nOut);
  for (let i = 0; i < nOut; i++) {
    const a = lo + i * step;
    const b = lo + (i + 1) * step;
    from[i] = Math.max(0, Math.floor(a) - first);
    to[i] = Math.min(span, Math.ceil(b) - first);
    for (let j = Math.floor(a); j < Math.ceil(b); j++) {
      const overlap = Math.min(b, j + 1) - Math.max(a, j);
      if (overlap > 0) weights[i * span + (j - first)]! += overlap / step;
    }
  }
  return { first, span, weights, from, to };
}

/** OpenCV's RGB->grey (BT.601 in 14-bit fixed point), which the training data went through. */
export function greyAt(pixels: Uint8Array, i: number): number {
  return (4899 * pixels[i]! + 9617 * pixels[i + 1]! + 1868 * pixels[i + 2]! + 8192) >> 14;
}

/** [height * width] standardised grey of one box of an RGB image (`channels` bytes per pixel). */
export function recognizerInput(
  pixels: Uint8Array,
  width: number,
  height: number,
  box: Box,
  spec: Pick<RecognizerSpec, 'height' | 'width' | 'margin' | 'stdFloor'>,
  channels = 3,
): Float32Array {
  const bw = box.x2 - box.x1;
  const bh = box.y2 - box.y1;
  const x1 = Math.max(0, box.x1 - spec.margin * bw);
  const x2 = Math.min(width, box.x2 + spec.margin * bw);
  const y1 = Math.max(0, box.y1 - spec.margin * bh);
  const y2 = Math.min(height, box.y2 + spec.margin * bh);
  const wx = areaWeights(x1, x2, spec.width);
  const wy = areaWeights(y1, y2, spec.height);
  // rows first: [spec.height][wx.span], then columns
  const tmp = new Float64Array(spec.height * wx.span);
  for (let r = 0; r < spec.height; r++) {
    for (let j = wy.from[r]!; j < wy.to[r]!; j++) {
      const w = wy.weights[r * wy.span + j]!;
      if (w === 0) continue;
      const y = Math.min(wy.first + j, height - 1);
      const rowBase = y * width;
      for (let c = 0; c < wx.span; c++) {
        const x = Math.min(wx.first + c, width - 1);
        tmp[r * wx.span + c]! += w * greyAt(pixels, (rowBase + x) * channels);
      }
    }
  }
  const out = new Float64Array(spec.height * spec.width);
  for (let r = 0; r < spec.height; r++) {
    for (let k = 0; k < spec.width; k++) {
      let s = 0;
      for (let c = wx.from[k]!; c < wx.to[k]!; c++) {
        const w = wx.weights[k * wx.span + c]!;
        if (w !== 0) s += w * tmp[r * wx.span + c]!;
      }
      out[r * spec.width + k] = s;
    }
  }
  let mean = 0;
  for (const v of out) mean += v;
  mean /= out.length;
  let variance = 0;
  for (const v of out) variance += (v - mean) ** 2;
  const std = Math.max(Math.sqrt(variance / out.length), spec.stdFloor);
  const x = new Float32Array(out.length);
  for (let i = 0; i < out.length; i++) x[i] = (out[i]! - mean) / std;
  return x;
}
