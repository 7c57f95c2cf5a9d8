import { parentPort, workerData } from 'node:worker_threads';
import type { Box } from './crop.js';
import { TextRecognizer } from './recognizer.js';

/**
 * The text recognizer's thread (recognizer-thread.ts): its preprocessing is JavaScript and
 * onnxruntime-node's session.run is a synchronous native call, so on the event loop every batch
 * held up health probes and every other request.
 */

export type RecognizerRequest = { id: number; pixels: Uint8Array; width: number; height: number; boxes: Box[] };
export type RecognizerReply =
  | { type: 'ready'; spec: TextRecognizer['spec'] }
  | { type: 'failed'; message: string }
  | { type: 'result'; id: number; reads: Awaited<ReturnType<TextRecognizer['recognize']>> }
  | { type: 'error'; id: number; message: string };

const port = parentPort!;
const send = (m: RecognizerReply) => port.postMessage(m);

TextRecognizer.load((workerData as { path: string }).path).then(
  (rec) => {
    send({ type: 'ready', spec: rec.spec });
    // One batch at a time: they queue in the port, in order.
    let chain = Promise.resolve();
    port.on('message', (req: RecognizerRequest) => {
      chain = chain.then(() =>
        rec.recognize(req.pixels, req.width, req.height, req.boxes).then(
          (reads) => send({ type: 'result', id: req.id, reads }),
          (err: Error) => send({ type: 'error', id: req.id, message: err.message }),
        ),
      );
    });
  },
  (err: Error) => send({ type: 'failed', message: err.message }),
);
