/**
 * client-go's workqueue rate limiters, as pure state machines over an injected clock, so the
 * backoff arithmetic is testable without waiting.
 */

export interface RateLimiter<K> {
  /** How long to wait before handing `item` out again; each call counts as one more failure. */
  when(item: K): number;
  /** The item succeeded: its backoff starts over. */
  forget(item: K): void;
  /** Failures counted for the item since it was last forgotten. */
  retries(item: K): number;
}

/** base * 2^failures, capped: 5 ms, 10 ms, 20 ms ... 1000 s, per item. */
export class ExponentialFailureRateLimiter<K> implements RateLimiter<K> {
  private readonly failures = new Map<K, number>();

  constructor(
    private readonly baseMs = 5,
    private readonly maxMs = 1_000_000,
  ) {}

  when(item: K): number {
    const n = this.failures.get(item) ?? 0;
    this.failures.set(item, n + 1);
    // 2^n overflows to Infinity long after the cap is reached; min() keeps that harmless.
    return Math.min(this.baseMs * 2 ** n, this.maxMs);
  }

  forget(item: K): void {
    this.failures.delete(item);
  }

  retries(item: K): number {
    return this.failures.get(item) ?? 0;
  }
}

/**
 * A token bucket shared by all items (golang.org/x/time/rate semantics): `qps` tokens a second,
 * at most `burst` saved up. Each call reserves a token, possibly one not yet refilled, and returns
 * how long until it exists. This bounds the overall retry rate when many items fail at once.
 */
export class TokenBucketRateLimiter<K> implements RateLimiter<K> {
  private tokens: number;
  private last: number;

  constructor(
    private readonly qps = 10,
    private readonly burst = 100,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  when(_item: K): number {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.qps);
    this.last = t;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.qps) * 1000;
  }

  forget(_item: K): void {}

  retries(_item: K): number {
    return 0;
  }
}

/** The longest wait any of the limiters asks for: per-item backoff and the global rate together. */
export class MaxOfRateLimiter<K> implements RateLimiter<K> {
  private readonly limiters: readonly RateLimiter<K>[];

  constructor(...limiters: RateLimiter<K>[]) {
    this.limiters = limiters;
  }

  when(item: K): number {
    // Every limiter must see the failure (no short-circuit), or its count would drift.
    return Math.max(...this.limiters.map((l) => l.when(item)));
  }

  forget(item: K): void {
    for (const l of this.limiters) l.forget(item);
  }

  retries(item: K): number {
    return Math.max(...this.limiters.map((l) => l.retries(item)));
  }
}

/** controller-runtime's default: 5 ms..1000 s per item, 10 qps with a burst of 100 overall. */
export function defaultControllerRateLimiter<K>(now: () => number = Date.now): RateLimiter<K> {
  return new MaxOfRateLimiter<K>(new ExponentialFailureRateLimiter<K>(5, 1_000_000), new TokenBucketRateLimiter<K>(10, 100, now));
}
