import type { Box } from './crop.js';
import type { OcrResult } from './reader.js';

/**
 * Boxes a plate is read from by the recognizer, all in one batch: the detector's box, then the same
 * box a little shorter, taller, wider. A detector's box edges wander by a few per cent, and
 * which crop reads best varies per plate; the read kept is the best (fits a layout, then most
 * confident). The adjustments and their order were chosen on the validation scenes (seed 2), not on
 * the evaluation set (models/plate-reader.md).
 */
export const READ_VIEWS: readonly { name: string; dx: number; dy: number }[] = [
  { name: 'box', dx: 0, dy: 0 },
  { name: 'shorter', dx: 0, dy: -0.05 },
  { name: 'taller', dx: 0, dy: 0.05 },
  { name: 'wider', dx: 0.03, dy: 0 },
];

/** The first `count` views of a box: each edge moved out (positive) or in by a fraction of its size. */
export function viewBoxes(box: Box, count: number): Box[] {
  const w = box.x2 - box.x1;
  const h = box.y2 - box.y1;
  return READ_VIEWS.slice(0, Math.max(1, count)).map(({ dx, dy }) => ({
    x1: box.x1 - dx * w,
    y1: box.y1 - dy * h,
    x2: box.x2 + dx * w,
    y2: box.y2 + dy * h,
  }));
}

/**
 * Whether read `a` of one box beats read `b` of another view of it: a read that fits a layout with
 * fewer corrections first, then the recognizer's confidence (comparable across views of one plate,
 * unlike tesseract's across its modes).
 */
export function betterView(a: OcrResult, b: OcrResult): boolean {
  const ca = a.formatCost ?? Infinity;
  const cb = b.formatCost ?? Infinity;
  if (ca !== cb) return ca < cb;
  return a.confidence > b.confidence;
}
