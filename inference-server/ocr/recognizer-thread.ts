import { Worker } from 'node:worker_threads';
import type { Box } from './crop.js';
import { RecognizerLoadError, type Recognition, type RecognizerModelSpec } from './recognizer.js';
import type { RecognizerReply, RecognizerRequest } from './recognizer-worker.js';

/**
 * A TextRecognizer on a worker thread of its own, with the same interface: load, spec, recognize,
 * close. Each call sends only the image rows its boxes can read (a 50-megapixel image is not
 * copied for one plate) and gets the reads back. A thread that dies fails the calls in progress
 * and is replaced at the next call.
 */

const fromSources = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(`./recognizer-worker${fromSources ? '.ts' : '.js'}`, import.meta.url);

/** From sources (tests, benchmarks) the thread registers tsx itself, as the inference threads do. */
function spawn(path: string): Worker {
  if (!fromSources) return new Worker(WORKER_URL, { workerData: { path } });
  const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(WORKER_URL.href)}); })`;
  return new Worker(boot, { eval: true, workerData: { path } });
}

/** The rows [top, bottom) the recognizer reads for `boxes` (box + its margin, area-resampled), with a row to spare. */
export function rowsFor(boxes: Box[], height: number, margin: number): { top: number; bottom: number } {
  let top = height;
  let bottom = 0;
  for (const b of boxes) {
    const m = margin * (b.y2 - b.y1);
    top = Math.min(top, Math.floor(b.y1 - m) - 1);
    bottom = Math.max(bottom, Math.ceil(b.y2 + m) + 1);
  }
  top = Math.max(0, top);
  return { top: Math.min(top, height), bottom: Math.min(height, Math.max(bottom, top)) };
}

interface Pending {
  resolve: (r: Recognition[]) => void;
  reject: (e: Error) => void;
}

export class RecognizerThread {
  private worker?: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  private constructor(
    readonly path: string,
    readonly spec: RecognizerModelSpec,
    worker: Worker,
  ) {
    this.adopt(worker);
  }

  /** Loads the model on a new thread; RecognizerLoadError (with the reason) when it is not a recognizer. */
  static async load(path: string): Promise<RecognizerThread> {
    const { worker, spec } = await RecognizerThread.start(path);
    return new RecognizerThread(path, spec, worker);
  }

  private static start(path: string): Promise<{ worker: Worker; spec: RecognizerModelSpec }> {
    const worker = spawn(path);
    return new Promise((resolve, reject) => {
      const onMessage = (m: RecognizerReply) => {
        if (m.type === 'ready') {
          worker.off('message', onMessage);
          worker.off('exit', onExit);
          resolve({ worker, spec: m.spec });
        } else if (m.type === 'failed') {
          worker.off('exit', onExit);
          void worker.terminate();
          reject(new RecognizerLoadError(m.message));
        }
      };
      const onExit = (code: number) => reject(new RecognizerLoadError(`recognizer thread for ${path} exited with code ${code} while loading`));
      worker.on('message', onMessage);
      worker.once('exit', onExit);
      worker.once('error', (err) => reject(new RecognizerLoadError(`recognizer thread for ${path}: ${err.message}`)));
    });
  }

  private adopt(worker: Worker): void {
    this.worker = worker;
    worker.on('message', (m: RecognizerReply) => {
      if (m.type !== 'result' && m.type !== 'error') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.type === 'result') p.resolve(m.reads);
      else p.reject(new Error(m.message));
    });
    worker.on('error', () => undefined);
    worker.once('exit', (code) => {
      if (this.worker === worker) this.worker = undefined;
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        p.reject(new Error(`recognizer thread exited with code ${code}`));
      }
    });
  }

  async recognize(pixels: Uint8Array, width: number, height: number, boxes: Box[]): Promise<Recognition[]> {
    if (boxes.length === 0) return [];
    if (this.closed) throw new Error('the recognizer is closed');
    if (!this.worker) this.adopt((await RecognizerThread.start(this.path)).worker);
    const { top, bottom } = rowsFor(boxes, height, this.spec.margin);
    // A copy of those rows (the caller keeps its pixels for tesseract), boxes moved with them.
    const rows = pixels.slice(top * width * 3, bottom * width * 3);
    const moved = boxes.map((b) => ({ x1: b.x1, x2: b.x2, y1: b.y1 - top, y2: b.y2 - top }));
    const id = this.nextId++;
    const req: RecognizerRequest = { id, pixels: rows, width, height: bottom - top, boxes: moved };
    return new Promise<Recognition[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker!.postMessage(req, [rows.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    // Let batches in progress finish: terminating a thread inside session.run aborts the process.
    const deadline = Date.now() + 30_000;
    while (this.pending.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await this.worker?.terminate();
  }
}
