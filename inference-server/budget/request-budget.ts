import { ApiError } from '../errors.js';
import { Limiter } from './limiter.js';
import type { Reservation } from './memory-guard.js';

/**
 * What one request may spend: which of its detections are read, in batches of what size, how many
 * crops it prepares at once, its memory reservation, and its deadline. The deadline (or the client
 * going away) aborts `signal`: work not started yet (a recognizer batch, a tesseract job waiting for
 * a worker, an inference still queued) is dropped, and work already running is abandoned, its
 * result thrown away at the next check.
 */

export interface BudgetLimits {
  /** detections read per request, highest scores first */
  ocrMaxBoxes: number;
  /** detections scoring under this are not read */
  ocrMinScore: number;
  /** crops per text-recognizer run */
  recognizerBatch: number;
  /** tesseract crops prepared and held at once */
  cropsInFlight: number;
}

export class RequestTimeoutError extends ApiError {
  constructor(ms: number) {
    super(503, 'request_timeout', `the request did not finish within ${ms} ms`, { 'Retry-After': '2' });
  }
}

/** The client closed the connection: nobody will read the answer, so the work stops. */
export class ClientGoneError extends Error {
  override name = 'ClientGoneError';
  constructor() {
    super('the client closed the connection');
  }
}

export class RequestBudget {
  private readonly controller = new AbortController();
  private timer?: NodeJS.Timeout;
  private readonly crops: Limiter;
  /** rejects with the abort reason; for racing the work against the deadline */
  readonly aborted: Promise<never>;

  constructor(
    readonly limits: BudgetLimits,
    readonly reservation?: Reservation,
  ) {
    this.crops = new Limiter(limits.cropsInFlight);
    this.aborted = new Promise<never>((_, reject) => {
      this.controller.signal.addEventListener('abort', () => reject(this.controller.signal.reason as Error), { once: true });
    });
    // Nobody may await it (the request was answered another way): no unhandled rejection.
    this.aborted.catch(() => undefined);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  startDeadline(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.abort(new RequestTimeoutError(ms)), ms);
    this.timer.unref();
  }

  abort(reason: Error): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  /** Throws the abort reason once the deadline has passed or the client is gone. */
  check(): void {
    this.controller.signal.throwIfAborted();
  }

  /** The detections to read: those scoring at least ocrMinScore, at most ocrMaxBoxes of them, best first. */
  pickForOcr<T extends { score: number }>(detections: readonly T[]): Set<T> {
    const eligible = detections.filter((d) => d.score >= this.limits.ocrMinScore);
    eligible.sort((a, b) => b.score - a.score);
    return new Set(eligible.slice(0, this.limits.ocrMaxBoxes));
  }

  /** `run` over `items` in batches of recognizerBatch, one after another, stopping when aborted. */
  async inBatches<I, O>(items: readonly I[], run: (batch: I[]) => Promise<O[]>): Promise<O[]> {
    const out: O[] = [];
    for (let at = 0; at < items.length; at += this.limits.recognizerBatch) {
      this.check();
      const batch = items.slice(at, at + this.limits.recognizerBatch);
      const results = await run(batch);
      this.check();
      out.push(...results);
    }
    return out;
  }

  /** Runs `task` (crop preparation and reading) once one of the request's cropsInFlight slots is free. */
  withCrop<T>(task: () => Promise<T>): Promise<T> {
    return this.crops.run(async () => {
      this.check();
      return task();
    }, this.signal);
  }

  /** Stops the deadline and returns the reserved memory; idempotent. */
  close(): void {
    clearTimeout(this.timer);
    this.reservation?.release();
  }
}
