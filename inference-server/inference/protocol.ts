import type { YoloLayout } from '../pipeline/yolo-output.js';
import type { Thresholds } from '../../contract/server-config.js';

/** Messages between the event loop and the inference worker threads. */

export interface WorkerInit {
  modelPath: string;
  intraOpThreads: number;
  format: YoloLayout | 'auto';
  classCount?: number;
  inputSize?: number;
}

export interface ModelShape {
  inputName: string;
  inputSize: number;
  outputDims: number[];
  layout: YoloLayout;
  classes: number;
}

export interface InferRequest {
  type: 'infer';
  id: number;
  /** HWC RGB uint8 pixels. */
  pixels: Uint8Array;
  width: number;
  height: number;
  thresholds: Thresholds;
}

export interface Detection {
  classId: number;
  score: number;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export interface InferTimings {
  letterboxMs: number;
  inferenceMs: number;
  postprocessMs: number;
}

export type WorkerMessage =
  | { type: 'ready'; shape: ModelShape }
  | { type: 'failed'; reason: string }
  /** The pixels come back (transferred, no copy) so OCR can crop from them. */
  | { type: 'result'; id: number; detections: Detection[]; timings: InferTimings; pixels: Uint8Array }
  | { type: 'error'; id: number; message: string };
