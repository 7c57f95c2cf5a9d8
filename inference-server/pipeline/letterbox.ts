/**
 * Letterbox exactly as ultralytics/yolov5 `letterbox(im, S, auto=False)` followed by the
 * `/ 255` and HWC->CHW of its dataloader: one pass from the decoded RGB pixels to the model's
 * float32 NCHW input. Keeping it bit-compatible with cv2.resize(INTER_LINEAR) is what lets our
 * boxes match the Python reference to 1e-3 in score.
 */

export interface LetterboxParams {
  /** Square side of the model input. */
  size: number;
  srcWidth: number;
  srcHeight: number;
  /** r = min(S/h, S/w). */
  ratio: number;
  newWidth: number;
  newHeight: number;
  padLeft: number;
  padTop: number;
}

export const PAD_VALUE = 114;

/** Python 3's round(): halves go to the even neighbour. */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

export function letterboxParams(srcWidth: number, srcHeight: number, size: number): LetterboxParams {
  if (!(srcWidth > 0 && srcHeight > 0)) throw new RangeError(`image size ${srcWidth}x${srcHeight} is empty`);
  const ratio = Math.min(size / srcHeight, size / srcWidth);
  const newWidth = Math.max(1, pyRound(srcWidth * ratio));
  const newHeight = Math.max(1, pyRound(srcHeight * ratio));
  const dw = (size - newWidth) / 2;
  const dh = (size - newHeight) / 2;
  // yolov5 rounds (d - 0.1) for top/left, so an odd padding puts the smaller half first.
  return {
    size, srcWidth, srcHeight, ratio, newWidth, newHeight,
    padLeft: pyRound(dw - 0.1),
    padTop: pyRound(dh - 0.1),
  };
}

/** Maps a box from letterboxed input pixels back to the source image, as yolov5's scale_boxes does. */
export function unletterboxBox(
  p: LetterboxParams,
  box: { x1: number; y1: number; x2: number; y2: number },
): { x1: number; y1: number; x2: number; y2: number } {
  const gain = p.ratio;
  const padX = (p.size - p.srcWidth * gain) / 2;
  const padY = (p.size - p.srcHeight * gain) / 2;
  const clip = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  return {
    x1: clip((box.x1 - padX) / gain, p.srcWidth),
    y1: clip((box.y1 - padY) / gain, p.srcHeight),
    x2: clip((box.x2 - padX) / gain, p.srcWidth),
    y2: clip((box.y2 - padY) / gain, p.srcHeight),
  };
}

const COEF_BITS = 11;
const COEF_SCALE = 1 << COEF_BITS;

interface AxisTaps {
  /** First source index for each destination index. */
  index: Int32Array;
  /** Fixed-point weights (sum 2048) of the two taps. */
  w0: Int32Array;
  w1: Int32Array;
}

/** cv2's INTER_LINEAR tap table: half-pixel centres, single-precision fraction, border clamp. */
export function linearTaps(srcLen: number, dstLen: number): AxisTaps {
  const scale = 1 / (dstLen / srcLen);
  const index = new Int32Array(dstLen);
  const w0 = new Int32Array(dstLen);
  const w1 = new Int32Array(dstLen);
  for (let d = 0; d < dstLen; d++) {
    let f = Math.fround((d + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f = Math.fround(f - s);
    if (s < 0) { f = 0; s = 0; }
    if (s >= srcLen - 1) { f = 0; s = srcLen - 1; }
    index[d] = s;
    const a1 = Math.round(f * COEF_SCALE);
    w1[d] = a1;
    w0[d] = Math.round((1 - f) * COEF_SCALE);
  }
  return { index, w0, w1 };
}

/**
 * Resizes HWC RGB uint8 pixels with cv2's fixed-point bilinear arithmetic, pads with 114 and
 * writes float32 CHW 0..1 into `out` (length 3*S*S).
 */
export function letterboxToTensor(
  rgb: Uint8Array,
  p: LetterboxParams,
  out: Float32Array = new Float32Array(3 * p.size * p.size),
): Float32Array {
  const { size: S, srcWidth: sw, srcHeight: sh, newWidth: nw, newHeight: nh, padLeft, padTop } = p;
  if (rgb.length < sw * sh * 3) throw new RangeError('pixel buffer shorter than width*height*3');
  const plane = S * S;
  out.fill(PAD_VALUE / 255);
  const identity = sw === nw && sh === nh;
  const xs = linearTaps(sw, nw);
  const ys = linearTaps(sh, nh);
  // Horizontal pass results for the two source rows in use, cached by row index.
  const rowA = new Int32Array(nw * 3);
  const rowB = new Int32Array(nw * 3);
  let rowAIndex = -1;
  let rowBIndex = -1;
  const xIndex = xs.index;
  const xW0 = xs.w0;
  const xW1 = xs.w1;
  const hresize = (row: number, dst: Int32Array) => {
    const base = row * sw * 3;
    for (let x = 0; x < nw; x++) {
      const s = base + xIndex[x]! * 3;
      const a0 = xW0[x]!;
      const a1 = xW1[x]!;
      const s1 = a1 === 0 ? s : s + 3;
      dst[x * 3] = rgb[s]! * a0 + rgb[s1]! * a1;
      dst[x * 3 + 1] = rgb[s + 1]! * a0 + rgb[s1 + 1]! * a1;
      dst[x * 3 + 2] = rgb[s + 2]! * a0 + rgb[s1 + 2]! * a1;
    }
  };
  const inv255 = 1 / 255;
  for (let y = 0; y < nh; y++) {
    const o = (y + padTop) * S + padLeft;
    if (identity) {
      const base = y * sw * 3;
      for (let x = 0; x < nw; x++) {
        out[o + x] = rgb[base + x * 3]! * inv255;
        out[plane + o + x] = rgb[base + x * 3 + 1]! * inv255;
        out[2 * plane + o + x] = rgb[base + x * 3 + 2]! * inv255;
      }
      continue;
    }
    const r0 = ys.index[y]!;
    const b0 = ys.w0[y]!;
    const b1 = ys.w1[y]!;
    const r1 = b1 === 0 ? r0 : r0 + 1;
    if (rowAIndex !== r0) {
      if (rowBIndex === r0) { rowA.set(rowB); } else { hresize(r0, rowA); }
      rowAIndex = r0;
    }
    if (rowBIndex !== r1) { hresize(r1, rowB); rowBIndex = r1; }
    const oG = plane + o;
    const oB = 2 * plane + o;
    // cv2's SIMD vertical pass: drop 4 bits, multiply, shift 16, add, round by 2 bits. Weights sum
    // to 2048, so the result is already within 0..255.
    for (let x = 0, i = 0; x < nw; x++, i += 3) {
      out[o + x] = ((((b0 * (rowA[i]! >> 4)) >> 16) + ((b1 * (rowB[i]! >> 4)) >> 16) + 2) >> 2) * inv255;
      out[oG + x] = ((((b0 * (rowA[i + 1]! >> 4)) >> 16) + ((b1 * (rowB[i + 1]! >> 4)) >> 16) + 2) >> 2) * inv255;
      out[oB + x] = ((((b0 * (rowA[i + 2]! >> 4)) >> 16) + ((b1 * (rowB[i + 2]! >> 4)) >> 16) + 2) >> 2) * inv255;
    }
  }
  return out;
}
