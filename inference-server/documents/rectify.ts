/**
 * The upright view of a photographed document: the quadrilateral of its corners (top-left,
 * top-right, bottom-right, bottom-left, in the document's own orientation) warped to a rectangle
 * with a margin around it. The same geometry as training/documents/views.py (rect_geometry,
 * rectify), which made the detector's and recognizers' training views: width = mean of the top and
 * bottom edges clamped to [480, 1400] px, height in the quadrilateral's proportion, 4 % margin,
 * bilinear sampling, 114 outside the photo.
 */

export type Point = [number, number];
export type Quad = [Point, Point, Point, Point];

export const RECT_MIN_W = 480;
export const RECT_MAX_W = 1400;
export const RECT_MARGIN = 0.04;
const PAD = 114;

export interface RectGeometry {
  /** the document's width and height in the view */
  width: number;
  height: number;
  /** margin on every side */
  margin: number;
}

const dist = (a: Point, b: Point) => Math.hypot(a[0] - b[0], a[1] - b[1]);

export function rectGeometry(q: Quad): RectGeometry {
  const [tl, tr, br, bl] = q;
  const w = (dist(tr, tl) + dist(br, bl)) / 2;
  const h = (dist(bl, tl) + dist(br, tr)) / 2;
  const width = Math.min(Math.max(Math.round(w), RECT_MIN_W), RECT_MAX_W);
  const height = Math.max(8, Math.round((width * h) / Math.max(w, 1e-6)));
  return { width, height, margin: Math.round(RECT_MARGIN * width) };
}

/** 3x3 homography (row-major, h[8] = 1) mapping each src point to its dst point. */
export function homography(src: Quad, dst: Quad): number[] {
  // the standard 8 equations in h0..h7
  const A: number[][] = [];
  for (let i = 0; i < 4; i++) {
    const [x, y] = src[i]!;
    const [u, v] = dst[i]!;
    A.push([x, y, 1, 0, 0, 0, -u * x, -u * y, u]);
    A.push([0, 0, 0, x, y, 1, -v * x, -v * y, v]);
  }
  // Gaussian elimination with partial pivoting
  for (let c = 0; c < 8; c++) {
    let p = c;
    for (let r = c + 1; r < 8; r++) if (Math.abs(A[r]![c]!) > Math.abs(A[p]![c]!)) p = r;
    if (Math.abs(A[p]![c]!) < 1e-12) throw new Error('degenerate quadrilateral');
    [A[c], A[p]] = [A[p]!, A[c]!];
    for (let r = 0; r < 8; r++) {
      if (r === c) continue;
      const f = A[r]![c]! / A[c]![c]!;
      if (f === 0) continue;
      for (let k = c; k < 9; k++) A[r]![k]! -= f * A[c]![k]!;
    }
  }
  return [...A.map((row, i) => row[8]! / row[i]!), 1];
}

export function apply(h: number[], p: Point): Point {
  const w = h[6]! * p[0] + h[7]! * p[1] + h[8]!;
  return [(h[0]! * p[0] + h[1]! * p[1] + h[2]!) / w, (h[3]! * p[0] + h[4]! * p[1] + h[5]!) / w];
}

export interface RectifiedView {
  pixels: Uint8Array;
  width: number;
  height: number;
  geometry: RectGeometry;
  /** photo -> view */
  toView: number[];
  /** view -> photo */
  toPhoto: number[];
}

/** Warps the document out of an RGB photo (HWC, 3 channels). */
export function rectify(pixels: Uint8Array, width: number, height: number, quad: Quad): RectifiedView {
  const g = rectGeometry(quad);
  const W = g.width + 2 * g.margin;
  const H = g.height + 2 * g.margin;
  const m = g.margin;
  const target: Quad = [[m, m], [m + g.width, m], [m + g.width, m + g.height], [m, m + g.height]];
  const toView = homography(quad, target);
  const toPhoto = homography(target, quad);
  const out = new Uint8Array(W * H * 3);
  const [a, b, c, d, e, f, gx, gy, gz] = toPhoto as [number, number, number, number, number, number, number, number, number];
  const px = (x: number, y: number, ch: number) => (x < 0 || y < 0 || x >= width || y >= height ? PAD : pixels[(y * width + x) * 3 + ch]!);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const w = gx * x + gy * y + gz;
      const sx = (a * x + b * y + c) / w;
      const sy = (d * x + e * y + f) / w;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      const o = (y * W + x) * 3;
      if (x0 >= 0 && y0 >= 0 && x0 + 1 < width && y0 + 1 < height) {
        const i00 = (y0 * width + x0) * 3;
        const i01 = i00 + 3;
        const i10 = i00 + width * 3;
        const i11 = i10 + 3;
        for (let ch = 0; ch < 3; ch++) {
          const top = pixels[i00 + ch]! + (pixels[i01 + ch]! - pixels[i00 + ch]!) * fx;
          const bot = pixels[i10 + ch]! + (pixels[i11 + ch]! - pixels[i10 + ch]!) * fx;
          out[o + ch] = Math.round(top + (bot - top) * fy);
        }
      } else {
        for (let ch = 0; ch < 3; ch++) {
          const top = px(x0, y0, ch) + (px(x0 + 1, y0, ch) - px(x0, y0, ch)) * fx;
          const bot = px(x0, y0 + 1, ch) + (px(x0 + 1, y0 + 1, ch) - px(x0, y0 + 1, ch)) * fx;
          out[o + ch] = Math.round(top + (bot - top) * fy);
        }
      }
    }
  }
  return { pixels: out, width: W, height: H, geometry: g, toView, toPhoto };
}
