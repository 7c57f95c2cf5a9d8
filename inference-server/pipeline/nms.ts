import type { Candidate } from './yolo-output.js';

/** yolov5 caps the boxes that enter NMS; beyond it only the best-scored are considered. */
export const MAX_NMS_INPUT = 30000;

export function iou(a: Candidate, b: Candidate): number {
  const iw = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const ih = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Greedy per-class NMS as torchvision.ops.nms over yolov5's class-offset boxes: a box is dropped
 * when its IoU with a better box of the same class exceeds `iouThreshold`.
 */
export function nonMaxSuppression(candidates: Candidate[], iouThreshold: number, maxDetections: number): Candidate[] {
  const sorted = [...candidates].sort((a, b) => b.score - a.score).slice(0, MAX_NMS_INPUT);
  // The kept boxes of each class as flat coordinates: a request may keep thousands of boxes
  // (confidence=0, maxDetections=10000), and comparing against objects in a closure took seconds.
  const keptByClass = new Map<number, { boxes: Float64Array; n: number }>();
  const kept: Candidate[] = [];
  const limit = Math.min(maxDetections, sorted.length);
  for (const c of sorted) {
    if (kept.length >= maxDetections) break;
    let same = keptByClass.get(c.classId);
    if (!same) keptByClass.set(c.classId, (same = { boxes: new Float64Array(limit * 5), n: 0 }));
    if (overlapsAny(same.boxes, same.n, c, iouThreshold)) continue;
    const o = same.n * 5;
    same.boxes[o] = c.x1;
    same.boxes[o + 1] = c.y1;
    same.boxes[o + 2] = c.x2;
    same.boxes[o + 3] = c.y2;
    same.boxes[o + 4] = (c.x2 - c.x1) * (c.y2 - c.y1);
    same.n++;
    kept.push(c);
  }
  return kept;
}

/** Whether `c` overlaps one of the first `n` boxes (x1, y1, x2, y2, area) by more than `threshold`, as iou(). */
function overlapsAny(boxes: Float64Array, n: number, c: Candidate, threshold: number): boolean {
  const area = (c.x2 - c.x1) * (c.y2 - c.y1);
  for (let i = 0, o = 0; i < n; i++, o += 5) {
    const iw = Math.min(boxes[o + 2]!, c.x2) - Math.max(boxes[o]!, c.x1);
    if (iw <= 0) continue;
    const ih = Math.min(boxes[o + 3]!, c.y2) - Math.max(boxes[o + 1]!, c.y1);
    if (ih <= 0) continue;
    const inter = iw * ih;
    const union = boxes[o + 4]! + area - inter;
    if (union > 0 && inter / union > threshold) return true;
  }
  return false;
}
