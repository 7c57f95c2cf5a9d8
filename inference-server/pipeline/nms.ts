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
  const keptByClass = new Map<number, Candidate[]>();
  const kept: Candidate[] = [];
  for (const c of sorted) {
    if (kept.length >= maxDetections) break;
    const same = keptByClass.get(c.classId);
    if (same && same.some((k) => iou(k, c) > iouThreshold)) continue;
    if (same) same.push(c); else keptByClass.set(c.classId, [c]);
    kept.push(c);
  }
  return kept;
}
