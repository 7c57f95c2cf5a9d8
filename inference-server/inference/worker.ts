import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { letterboxParams, letterboxToTensor, unletterboxBox } from '../pipeline/letterbox.js';
import { decodeCandidates, detectLayout, type Candidate, type OutputLayout } from '../pipeline/yolo-output.js';
import { cropTile, fromTile, newFromTiles, tileGrid } from '../pipeline/tiles.js';
import { nonMaxSuppression } from '../pipeline/nms.js';
import type { InferRequest, ModelShape, RawOutput, RawRequest, WorkerInit, WorkerMessage } from './protocol.js';

/**
 * One ONNX session per thread: session.run is a synchronous native call, so it must never run on
 * the event loop that answers HTTP and health probes.
 */

const DEFAULT_INPUT_SIZE = 640;
const init = workerData as WorkerInit;
const port = parentPort!;
const send = (m: WorkerMessage, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

async function load(): Promise<{ session: ort.InferenceSession; shape: ModelShape; layout: OutputLayout }> {
  const session = await ort.InferenceSession.create(init.modelPath, {
    intraOpNumThreads: init.intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const input = session.inputMetadata[0];
  if (!input || !input.isTensor) throw new Error('model has no tensor input');
  const dims = input.shape;
  if (dims.length !== 4 || (typeof dims[1] === 'number' && dims[1] !== 3)) {
    throw new Error(`model input ${input.name} has shape [${dims.join(', ')}], expected [1, 3, S, S]`);
  }
  const h = dims[2];
  const w = dims[3];
  let inputSize: number;
  if (typeof h === 'number' && typeof w === 'number') {
    if (h !== w) throw new Error(`model input is ${w}x${h}; only square inputs are supported`);
    inputSize = h;
  } else {
    inputSize = init.inputSize ?? DEFAULT_INPUT_SIZE;
  }
  // The output dims are often symbolic in the metadata; a real run gives the true ones.
  const probe = new ort.Tensor('float32', new Float32Array(3 * inputSize * inputSize).fill(114 / 255), [1, 3, inputSize, inputSize]);
  const outputs = await session.run({ [input.name]: probe });
  const first = outputs[session.outputNames[0]!];
  if (!first) throw new Error('model produced no output');
  const outputDims = first.dims.map(Number);
  const layout = detectLayout(outputDims, init.classCount, init.format);
  const all = session.outputNames.map((name) => ({ name, type: outputs[name]!.type, dims: outputs[name]!.dims.map(Number) }));
  return {
    session,
    layout,
    shape: { inputName: input.name, inputSize, outputDims, outputs: all, layout: layout.layout, classes: layout.classes },
  };
}

async function infer(
  session: ort.InferenceSession,
  shape: ModelShape,
  layout: OutputLayout,
  req: InferRequest,
  scratch: Float32Array,
): Promise<void> {
  const timings = { letterboxMs: 0, inferenceMs: 0, postprocessMs: 0 };
  const { confidence, iou, maxDetections } = req.thresholds;
  /** One model run on an image: its boxes after NMS, in that image's pixels. */
  const detect = async (pixels: Uint8Array, width: number, height: number, limit = maxDetections): Promise<Candidate[]> => {
    const t0 = performance.now();
    const params = letterboxParams(width, height, shape.inputSize);
    letterboxToTensor(pixels, params, scratch);
    const t1 = performance.now();
    const tensor = new ort.Tensor('float32', scratch, [1, 3, shape.inputSize, shape.inputSize]);
    const outputs = await session.run({ [shape.inputName]: tensor });
    const t2 = performance.now();
    const out = outputs[session.outputNames[0]!]!;
    const kept = nonMaxSuppression(decodeCandidates(out.data as Float32Array, layout, confidence), iou, limit);
    const boxes = kept.map((c) => ({ classId: c.classId, score: c.score, ...unletterboxBox(params, c) }));
    timings.letterboxMs += t1 - t0;
    timings.inferenceMs += t2 - t1;
    timings.postprocessMs += performance.now() - t2;
    return boxes;
  };
  let detections = await detect(req.pixels, req.width, req.height);
  // Tiles add what the whole image missed, in the room maxDetections leaves: the whole image's
  // boxes stay, and a full answer (or a request that asks for every box) needs no second look.
  const room = maxDetections - detections.length;
  const tiles = req.tiles && room > 0 ? tileGrid(req.width, req.height, req.tiles, shape.inputSize) : [];
  if (tiles.length > 0) {
    const seen: Candidate[] = [];
    for (const tile of tiles) {
      for (const box of await detect(cropTile(req.pixels, req.width, tile), tile.width, tile.height, room)) {
        const placed = fromTile(box, tile, req.width, req.height);
        if (placed) seen.push(placed);
      }
    }
    const t = performance.now();
    const added = nonMaxSuppression(newFromTiles(seen, detections), iou, room);
    detections = [...detections, ...added].sort((a, b) => b.score - a.score);
    timings.postprocessMs += performance.now() - t;
  }
  const pixels = req.pixels;
  const owned = pixels.byteOffset === 0 && pixels.byteLength === pixels.buffer.byteLength && pixels.buffer instanceof ArrayBuffer;
  send(
    { type: 'result', id: req.id, detections, timings: { ...timings, ...(tiles.length ? { tiles: tiles.length } : {}) }, pixels },
    owned ? [pixels.buffer as ArrayBuffer] : [],
  );
}

/** Every output of one run on the client's own tensor, handed back without a copy. */
async function runRaw(session: ort.InferenceSession, shape: ModelShape, req: RawRequest): Promise<void> {
  const t0 = performance.now();
  const outputs = await session.run({ [shape.inputName]: new ort.Tensor('float32', req.data, req.dims) });
  const inferenceMs = performance.now() - t0;
  const out: RawOutput[] = session.outputNames.map((name) => {
    const t = outputs[name]!;
    return { name, type: t.type, dims: t.dims.map(Number), data: t.data as RawOutput['data'] };
  });
  const transfer = out.map((o) => o.data.buffer).filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
  try {
    send({ type: 'raw-result', id: req.id, outputs: out, inferenceMs }, [...new Set(transfer)]);
  } catch {
    // A buffer onnxruntime does not let go of: copy it instead.
    send({ type: 'raw-result', id: req.id, outputs: out, inferenceMs });
  }
}

load().then(
  ({ session, shape, layout }) => {
    const scratch = new Float32Array(3 * shape.inputSize * shape.inputSize);
    send({ type: 'ready', shape });
    // Requests arrive one at a time per worker (the pool guarantees it), so the scratch tensor is safe to reuse.
    port.on('message', (req: InferRequest | RawRequest) => {
      const work = req.type === 'raw' ? runRaw(session, shape, req) : infer(session, shape, layout, req, scratch);
      work.catch((err: unknown) => send({ type: 'error', id: req.id, message: (err as Error).message ?? String(err) }));
    });
  },
  (err: unknown) => send({ type: 'failed', reason: (err as Error).message ?? String(err) }),
);
