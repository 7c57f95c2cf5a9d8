import { Worker } from 'node:worker_threads';
import { EventEmitter } from 'node:events';
import type { Thresholds } from '../../contract/server-config.js';
import type { TileConfig } from '../pipeline/tiles.js';
import type { Detection, InferTimings, ModelShape, RawOutput, WorkerInit, WorkerMessage } from './protocol.js';

/**
 * A fixed set of inference threads with a bounded wait queue. Past the bound callers get
 * QueueFullError at once (the HTTP layer turns it into 503 + Retry-After) instead of queueing
 * without limit and timing everyone out.
 */

export class QueueFullError extends Error {
  override name = 'QueueFullError';
}
export class InferenceTimeoutError extends Error {
  override name = 'InferenceTimeoutError';
}
export class WorkerCrashedError extends Error {
  override name = 'WorkerCrashedError';
}

export interface InferInput {
  pixels: Uint8Array;
  width: number;
  height: number;
  thresholds: Thresholds;
  tiles?: TileConfig;
}

export interface InferOutput {
  detections: Detection[];
  /** The input pixels, handed back by the worker. */
  pixels: Uint8Array;
  timings: InferTimings & { queueMs: number };
}

export interface RawInput {
  data: Float32Array;
  dims: number[];
}

export interface RawResult {
  outputs: RawOutput[];
  timings: { queueMs: number; inferenceMs: number };
}

interface Job {
  id: number;
  input: { kind: 'detect'; detect: InferInput } | { kind: 'raw'; raw: RawInput };
  enqueuedAt: number;
  queueMs: number;
  resolve: (v: never) => void;
  reject: (e: Error) => void;
  timer?: NodeJS.Timeout;
  settled: boolean;
}

interface Slot {
  worker: Worker;
  job?: Job;
  ready: boolean;
}

const fromSources = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(`./worker${fromSources ? '.ts' : '.js'}`, import.meta.url);

/** From sources (tests, benchmarks) the thread registers tsx itself: Node 20 workers do not inherit loader hooks. */
function newWorker(workerData: WorkerInit): Worker {
  if (!fromSources) return new Worker(WORKER_URL, { workerData });
  const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(WORKER_URL.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

export interface PoolOptions {
  workers: number;
  maxQueue: number;
  timeoutMs: number;
  init: WorkerInit;
}

export class WorkerPool extends EventEmitter {
  private slots: Slot[] = [];
  private queue: Job[] = [];
  private nextId = 1;
  private closed = false;
  shape?: ModelShape;

  constructor(private readonly opts: PoolOptions) {
    super();
  }

  /** Starts every thread; resolves with the model's shape once all loaded it and ran it once. */
  async start(): Promise<ModelShape> {
    const shapes = await Promise.all(Array.from({ length: this.opts.workers }, () => this.spawn()));
    this.shape = shapes[0]!;
    return this.shape;
  }

  get queueDepth(): number {
    return this.queue.length;
  }

  /** No idle thread and the queue at its bound: a job now would be refused. */
  get full(): boolean {
    return !this.slots.some((s) => s.ready && !s.job) && this.queue.length >= this.opts.maxQueue;
  }

  /** The refusal infer() would give now. */
  fullError(): QueueFullError {
    return new QueueFullError(`inference queue is full (${this.opts.maxQueue} waiting)`);
  }

  get inFlight(): number {
    return this.slots.filter((s) => s.job).length;
  }

  /** `signal` drops the job while it waits in the queue (a run already started finishes; its result is dropped). */
  infer(input: InferInput, signal?: AbortSignal): Promise<InferOutput> {
    return this.enqueue<InferOutput>({ kind: 'detect', detect: input }, signal);
  }

  /** The model on a tensor as given (Open Inference Protocol): every output, no decoding. */
  runRaw(raw: RawInput, signal?: AbortSignal): Promise<RawResult> {
    return this.enqueue<RawResult>({ kind: 'raw', raw }, signal);
  }

  private enqueue<T>(input: Job['input'], signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    if (this.closed) return Promise.reject(new WorkerCrashedError('inference pool is shut down'));
    const idle = this.slots.find((s) => s.ready && !s.job);
    if (!idle && this.queue.length >= this.opts.maxQueue) {
      return Promise.reject(new QueueFullError(`inference queue is full (${this.opts.maxQueue} waiting)`));
    }
    return new Promise<T>((resolve, reject) => {
      const job: Job = { id: this.nextId++, input, enqueuedAt: performance.now(), queueMs: 0, resolve: resolve as (v: never) => void, reject, settled: false };
      job.timer = setTimeout(() => {
        this.settle(job, new InferenceTimeoutError(`inference did not finish within ${this.opts.timeoutMs} ms`));
        const i = this.queue.indexOf(job);
        if (i >= 0) this.queue.splice(i, 1);
        this.emit('depth');
      }, this.opts.timeoutMs);
      signal?.addEventListener('abort', () => {
        this.settle(job, signal.reason as Error);
        const i = this.queue.indexOf(job);
        if (i >= 0) this.queue.splice(i, 1);
        this.emit('depth');
      }, { once: true });
      if (idle) this.dispatch(idle, job);
      else {
        this.queue.push(job);
        this.emit('depth');
      }
    });
  }

  /**
   * Refuses what is still queued, waits for the runs in progress, then stops the threads.
   * Terminating a thread inside session.run aborts the whole process (a native exception escapes
   * during teardown), and a run can outlive its HTTP request when the client went away.
   */
  async close(drainMs = 30_000): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) this.settle(job, new WorkerCrashedError('inference pool is shut down'));
    const deadline = performance.now() + drainMs;
    while (this.slots.some((s) => s.job) && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots = [];
  }

  private spawn(): Promise<ModelShape> {
    return new Promise((resolve, reject) => {
      const worker = newWorker(this.opts.init);
      const slot: Slot = { worker, ready: false };
      this.slots.push(slot);
      let started = false;
      worker.on('message', (m: WorkerMessage) => {
        switch (m.type) {
          case 'ready':
            started = true;
            slot.ready = true;
            resolve(m.shape);
            this.pump(slot);
            break;
          case 'failed':
            reject(new Error(m.reason));
            void worker.terminate();
            break;
          case 'result':
          case 'raw-result':
          case 'error': {
            const job = slot.job;
            slot.job = undefined;
            if (job && job.id === m.id) {
              if (m.type === 'result') {
                this.settle(job, undefined, { detections: m.detections, pixels: m.pixels, timings: { ...m.timings, queueMs: job.queueMs } });
              } else if (m.type === 'raw-result') {
                this.settle(job, undefined, { outputs: m.outputs, timings: { queueMs: job.queueMs, inferenceMs: m.inferenceMs } });
              } else this.settle(job, new Error(m.message));
            }
            this.pump(slot);
            break;
          }
        }
      });
      worker.on('error', (err) => {
        if (!started) reject(err);
      });
      worker.on('exit', (code) => {
        this.slots = this.slots.filter((s) => s !== slot);
        if (slot.job) this.settle(slot.job, new WorkerCrashedError(`inference worker exited with code ${code}`));
        if (!started) reject(new Error(`inference worker exited with code ${code} before loading the model`));
        else if (!this.closed) {
          // Keep capacity: a crashed thread is replaced; the model loaded before, so it will again.
          this.spawn().catch((err: Error) => this.emit('worker-error', err));
        }
      });
    });
  }

  private dispatch(slot: Slot, job: Job): void {
    if (job.settled) return this.pump(slot);
    slot.job = job;
    job.queueMs = performance.now() - job.enqueuedAt;
    if (job.input.kind === 'raw') {
      const { data, dims } = job.input.raw;
      slot.worker.postMessage({ type: 'raw', id: job.id, data, dims });
      return;
    }
    const { pixels, width, height, thresholds, tiles } = job.input.detect;
    const whole = pixels.byteOffset === 0 && pixels.byteLength === pixels.buffer.byteLength;
    // Hand the decoded pixels over without a copy when they own their buffer.
    const transfer = whole && pixels.buffer instanceof ArrayBuffer ? [pixels.buffer] : [];
    try {
      slot.worker.postMessage({ type: 'infer', id: job.id, pixels, width, height, thresholds, tiles }, transfer);
    } catch {
      slot.worker.postMessage({ type: 'infer', id: job.id, pixels: new Uint8Array(pixels), width, height, thresholds, tiles });
    }
  }

  private pump(slot: Slot): void {
    if (slot.job || !slot.ready) return;
    let job = this.queue.shift();
    while (job && job.settled) job = this.queue.shift();
    this.emit('depth');
    if (job) this.dispatch(slot, job);
  }

  private settle(job: Job, err?: Error, value?: InferOutput | RawResult): void {
    if (job.settled) return;
    job.settled = true;
    clearTimeout(job.timer);
    if (err) job.reject(err);
    else job.resolve(value as never);
  }
}
