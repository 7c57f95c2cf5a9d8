import { errorMessage, type Logger } from '../log.js';

/**
 * Whether the API server answers, as every request and a periodic ping see it, said loudly and
 * not too often. An outage is logged at error level when it starts, then at most once every
 * `reportEveryMs` while it lasts (how long, how many requests failed, the last error), and once
 * more when the API server answers again. Without this an outage was silent: watches just go
 * quiet, and a leader without election (or a standby) has nothing else to say.
 */

export interface ReachabilityOptions {
  log: Logger;
  /** At most one "still unreachable" line per this long. */
  reportEveryMs?: number;
  /** Reachability changes (for the metric). */
  onChange?: (reachable: boolean) => void;
  now?: () => number;
}

/** Answers that mean the API server itself is in trouble (not a refusal of this request). */
export function isOutageStatus(status: number): boolean {
  return status === 0 || status === 429 || status >= 500;
}

export class ApiReachability {
  private downSince: number | undefined;
  private failures = 0;
  private lastError = '';
  private lastReport = 0;
  private readonly now: () => number;

  constructor(private readonly opts: ReachabilityOptions) {
    this.now = opts.now ?? Date.now;
  }

  get reachable(): boolean {
    return this.downSince === undefined;
  }

  /** One request's outcome: `status` 0 for no answer (connection refused, reset, timed out). */
  observe(method: string, path: string, status: number, error?: unknown): void {
    if (isOutageStatus(status)) this.failed(`${method} ${path}`, status === 0 ? errorMessage(error) : `HTTP ${status}`);
    else this.answered();
  }

  failed(request: string, error: string): void {
    const now = this.now();
    this.failures++;
    this.lastError = `${request}: ${error}`;
    const every = this.opts.reportEveryMs ?? 10_000;
    if (this.downSince === undefined) {
      this.downSince = now;
      this.lastReport = now;
      this.opts.log.error('cannot reach the API server; retrying with backoff', { request, error });
      this.opts.onChange?.(false);
    } else if (now - this.lastReport >= every) {
      this.lastReport = now;
      this.opts.log.error('the API server is still unreachable', { downForMs: now - this.downSince, failedRequests: this.failures, lastError: this.lastError });
    }
  }

  answered(): void {
    if (this.downSince === undefined) return;
    const downForMs = this.now() - this.downSince;
    this.opts.log.warn('the API server answers again', { downForMs, failedRequests: this.failures, lastError: this.lastError });
    this.downSince = undefined;
    this.failures = 0;
    this.opts.onChange?.(true);
  }
}
