import { ApiError } from '../errors.js';

/**
 * The process's memory bound. Every request reserves what it is expected to hold (its body, then
 * its decoded pixels) before it holds it; a reservation that would take RSS plus what others have
 * reserved past the bound is refused with 503 + Retry-After, so load turns into refusals instead of
 * growth. Counting the reservations on top of RSS counts live requests twice, which errs on the
 * side of refusing.
 *
 * The bound: `maxRss`, or the idle RSS (measured once the model is warm) plus `headroom`; never more
 * than `limitRatio` of the container's memory limit, where the kernel would kill the process.
 */

export class MemoryPressureError extends ApiError {
  constructor(message: string) {
    super(503, 'memory_pressure', message, { 'Retry-After': '2' });
  }
}

export interface MemoryGuardOptions {
  headroom: number;
  maxRss?: number;
  limitRatio: number;
  /** the container's memory limit (cgroupMemoryLimit()) */
  containerLimit?: number;
  /** resident set size now; process.memoryUsage.rss() by default */
  rss?: () => number;
  /**
   * How long one RSS reading serves (ms; default 50). Reading it is a /proc read: under a burst of
   * hundreds of requests that alone took a second of the event loop. Reservations made meanwhile
   * are counted at once, so a stale reading misses only what grew outside any reservation.
   */
  rssCacheMs?: number;
}

const MiB = 2 ** 20;
const mib = (b: number) => `${Math.round(b / MiB)} MiB`;

export class MemoryGuard {
  private reservedBytes = 0;
  private idleRss?: number;
  private boundBytes = Infinity;
  private readonly readRss: () => number;
  private lastRss = 0;
  private lastRead = -Infinity;
  /** refusals so far (also a metric) */
  refused = 0;

  constructor(private readonly opts: MemoryGuardOptions) {
    this.readRss = opts.rss ?? (() => process.memoryUsage.rss());
  }

  private rss(): number {
    const now = performance.now();
    if (now - this.lastRead >= (this.opts.rssCacheMs ?? 50)) {
      this.lastRss = this.readRss();
      this.lastRead = now;
    }
    return this.lastRss;
  }

  /** Sets the bound from the RSS now; called once the server is idle and warm. */
  calibrate(): { idle: number; bound: number } {
    this.idleRss = this.readRss();
    let bound = this.opts.maxRss ?? this.idleRss + this.opts.headroom;
    if (this.opts.containerLimit) bound = Math.min(bound, Math.floor(this.opts.containerLimit * this.opts.limitRatio));
    this.boundBytes = bound;
    return { idle: this.idleRss, bound };
  }

  get bound(): number {
    return this.boundBytes;
  }

  get idle(): number | undefined {
    return this.idleRss;
  }

  get reserved(): number {
    return this.reservedBytes;
  }

  /** A reservation of `bytes` for `what`, or MemoryPressureError. */
  reserve(bytes: number, what: string): Reservation {
    const r = new Reservation(this);
    r.grow(bytes, what);
    return r;
  }

  /** @internal */
  take(bytes: number, what: string): void {
    if (this.boundBytes !== Infinity) {
      const rss = this.rss();
      if (rss + this.reservedBytes + bytes > this.boundBytes) {
        this.refused++;
        throw new MemoryPressureError(
          `the server is at its memory bound: ${what} needs about ${mib(bytes)}; resident ${mib(rss)} and ` +
            `${mib(this.reservedBytes)} reserved by requests in progress, bound ${mib(this.boundBytes)}; retry shortly`,
        );
      }
    }
    this.reservedBytes += bytes;
  }

  /** @internal */
  give(bytes: number): void {
    this.reservedBytes = Math.max(0, this.reservedBytes - bytes);
  }
}

export class Reservation {
  private bytes = 0;
  private released = false;

  constructor(private readonly guard: MemoryGuard) {}

  get size(): number {
    return this.bytes;
  }

  /** Reserves `bytes` more, or throws MemoryPressureError (keeping what it held until release()). */
  grow(bytes: number, what: string): void {
    if (this.released || bytes <= 0) return;
    this.guard.take(bytes, what);
    this.bytes += bytes;
  }

  /** Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.guard.give(this.bytes);
    this.bytes = 0;
  }
}
