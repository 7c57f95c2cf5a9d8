/**
 * Turns a raw YOLO output tensor into scored candidate boxes. YOLOv5 exports [1, N, 5+nc]
 * (cx, cy, w, h, objectness, class scores); YOLOv8/11 export [1, 4+nc, N] with no objectness.
 * The layout is told apart from the shape, so one server serves both families.
 */

export type YoloLayout = 'yolov5' | 'yolov8';

export interface OutputLayout {
  layout: YoloLayout;
  /** Number of candidate boxes (anchors or grid cells). */
  candidates: number;
  classes: number;
}

export class UnsupportedOutputError extends Error {
  override name = 'UnsupportedOutputError';
}

/**
 * @param dims output dims as reported by the runtime
 * @param expectedClasses class count when known (config or metadata): resolves ambiguous shapes
 * @param forced the configured format, 'auto' to infer
 */
export function detectLayout(
  dims: readonly number[],
  expectedClasses?: number,
  forced: YoloLayout | 'auto' = 'auto',
): OutputLayout {
  const shape = `[${dims.join(', ')}]`;
  if (dims.length !== 3 || dims[0] !== 1 || dims.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new UnsupportedOutputError(
      `model output shape ${shape} is neither YOLOv5 [1, N, 5+nc] nor YOLOv8 [1, 4+nc, N]`,
    );
  }
  const a = dims[1]!;
  const b = dims[2]!;
  const asV5 = b >= 6 ? { layout: 'yolov5' as const, candidates: a, classes: b - 5 } : undefined;
  const asV8 = a >= 5 ? { layout: 'yolov8' as const, candidates: b, classes: a - 4 } : undefined;
  const fits = (c: OutputLayout | undefined): c is OutputLayout =>
    c !== undefined && (expectedClasses === undefined || c.classes === expectedClasses);

  if (forced !== 'auto') {
    const chosen = forced === 'yolov5' ? asV5 : asV8;
    if (!fits(chosen)) {
      throw new UnsupportedOutputError(
        `model output shape ${shape} does not fit the configured format ${forced}` +
          (expectedClasses !== undefined ? ` with ${expectedClasses} classes` : ''),
      );
    }
    return chosen;
  }
  const v5 = fits(asV5);
  const v8 = fits(asV8);
  if (v5 && !v8) return asV5!;
  if (v8 && !v5) return asV8!;
  if (v5 && v8) {
    // Both readings fit: candidates outnumber the per-box attributes in every real export.
    return a > b ? asV5! : asV8!;
  }
  throw new UnsupportedOutputError(
    `model output shape ${shape} does not fit YOLOv5 [1, N, 5+nc] or YOLOv8 [1, 4+nc, N]` +
      (expectedClasses !== undefined ? ` with ${expectedClasses} classes` : ''),
  );
}

export interface Candidate {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  score: number;
  classId: number;
}

/** Candidates whose best score passes `confidence`, in input-pixel xyxy. */
export function decodeCandidates(data: Float32Array, layout: OutputLayout, confidence: number): Candidate[] {
  const { candidates: n, classes: nc } = layout;
  const out: Candidate[] = [];
  if (layout.layout === 'yolov5') {
    const stride = 5 + nc;
    for (let i = 0; i < n; i++) {
      const o = i * stride;
      const obj = data[o + 4]!;
      if (!(obj > confidence)) continue;
      let best = 0;
      let bestScore = -Infinity;
      for (let c = 0; c < nc; c++) {
        const s = data[o + 5 + c]! * obj;
        if (s > bestScore) { bestScore = s; best = c; }
      }
      if (!(bestScore > confidence)) continue;
      out.push(xywhToCandidate(data[o]!, data[o + 1]!, data[o + 2]!, data[o + 3]!, bestScore, best));
    }
  } else {
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bestScore = -Infinity;
      for (let c = 0; c < nc; c++) {
        const s = data[(4 + c) * n + i]!;
        if (s > bestScore) { bestScore = s; best = c; }
      }
      if (!(bestScore > confidence)) continue;
      out.push(xywhToCandidate(data[i]!, data[n + i]!, data[2 * n + i]!, data[3 * n + i]!, bestScore, best));
    }
  }
  return out;
}

function xywhToCandidate(cx: number, cy: number, w: number, h: number, score: number, classId: number): Candidate {
  return { x1: cx - w / 2, y1: cy - h / 2, x2: cx + w / 2, y2: cy + h / 2, score, classId };
}
