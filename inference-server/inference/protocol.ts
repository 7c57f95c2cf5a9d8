import type { YoloLayout } from '../pipeline/yolo-output.js';
import type { Thresholds } from '../../contract/server-config.js';
import type { TileConfig } from '../pipeline/tiles.js';

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
  /** the first output's dims (the one decoded as YOLO) */
  outputDims: number[];
  /** every output, as a probe run produced it (the Open Inference Protocol endpoints list them) */
  outputs: { name: string; type: string; dims: number[] }[];
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
  /** a second look in tiles for small objects (model.tiles); absent or grid 1: the whole image only */
  tiles?: TileConfig;
}

/** The model run as is on a tensor the client made (Open Inference Protocol /infer). */
export interface RawRequest {
  type: 'raw';
  id: number;
  data: Float32Array;
  dims: number[];
}

export interface RawOutput {
  name: string;
  /** onnxruntime's tensor type (float32, int64, ...) */
  type: string;
  dims: number[];
  data: Float32Array | Int32Array | Uint8Array | BigInt64Array | Float64Array | Int8Array | Int16Array | Uint16Array | Uint32Array | BigUint64Array;
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
  /** model runs on tiles after the whole image's (model.tiles) */
  tiles?: number;
}

export type WorkerMessage =
  | { type: 'ready'; shape: ModelShape }
  | { type: 'failed'; reason: string }
  /** The pixels come back (transferred, no copy) so OCR can crop from them. */
  | { type: 'result'; id: number; detections: Detection[]; timings: InferTimings; pixels: Uint8Array }
  | { type: 'raw-result'; id: number; outputs: RawOutput[]; inferenceMs: number }
  | { type: 'error'; id: number; message: string };
