import { defaultControllerRateLimiter, type RateLimiter } from './rate-limiter.js';

/** Hooks for the workqueue_* metrics; the queue itself does not depend on a metrics library. */
export interface QueueObserver {
  added(): void;
  depth(n: number): void;
  /** Seconds an item waited in the queue before a worker took it. */
  queued(seconds: number): void;
  /** Seconds a worker spent on an item. */
  worked(seconds: number): void;
  retried(): void;
}

const noObserver: QueueObserver = { added() {}, depth() {}, queued() {}, worked() {}, retried() {} };

/**
 * Two lanes: 'high' items are handed out before any 'normal' one. The controller puts spec
 * changes (a new ModelService, an edit, a deleted child) in the high lane and the many status
 * refreshes that pod and Deployment events cause in the normal one, so a burst of new
 * ModelServices gets its children before earlier ones get their next status update.
 */
export type Priority = 'high' | 'normal';

export interface WorkQueueOptions<K> {
  rateLimiter?: RateLimiter<K>;
  observer?: QueueObserver;
  now?: () => number;
}

/**
 * client-go's rate-limited work queue. Guarantees the controller relies on:
 * - an item is queued at most once however often it is added (dirty set);
 * - an item is never handed to two workers at once: added while processing, it is queued again
 *   only when the worker calls done() (processing set), so the worker that finishes sees the
 *   newest state on its next pass instead of racing a second worker;
 * - failures back off per item, and retries as a whole are rate limited.
 */
export class WorkQueue<K> {
  private readonly lanes: Record<Priority, K[]> = { high: [], normal: [] };
  /** Lane of each dirty item: where it is queued, or where it goes once its worker is done. */
  private readonly dirty = new Map<K, Priority>();
  private readonly processing = new Set<K>();
  private readonly enqueuedAt = new Map<K, number>();
  private readonly startedAt = new Map<K, number>();
  private readonly waiting = new Map<K, { at: number; timer: NodeJS.Timeout }>();
  private readonly getters: ((item: K | undefined) => void)[] = [];
  private readonly drained: (() => void)[] = [];
  private readonly rateLimiter: RateLimiter<K>;
  private readonly observer: QueueObserver;
  private readonly now: () => number;
  private shuttingDown = false;

  constructor(opts: WorkQueueOptions<K> = {}) {
    this.now = opts.now ?? Date.now;
    this.rateLimiter = opts.rateLimiter ?? defaultControllerRateLimiter<K>(this.now);
    this.observer = opts.observer ?? noObserver;
  }

  get length(): number {
    return this.lanes.high.length + this.lanes.normal.length;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  add(item: K, priority: Priority = 'normal'): void {
    if (this.shuttingDown) return;
    const queued = this.dirty.get(item);
    if (queued !== undefined) {
      // Already waiting: at most move it up to the high lane.
      if (queued === 'normal' && priority === 'high') {
        this.dirty.set(item, 'high');
        if (!this.processing.has(item)) {
          const lane = this.lanes.normal;
          lane.splice(lane.indexOf(item), 1);
          this.lanes.high.push(item);
        }
      }
      return;
    }
    this.observer.added();
    this.dirty.set(item, priority);
    this.enqueuedAt.set(item, this.now());
    if (this.processing.has(item)) return;
    this.push(item, priority);
  }

  /** Adds the item once `delayMs` has passed; an earlier pending add of the same item wins. */
  addAfter(item: K, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(item);
      return;
    }
    const at = this.now() + delayMs;
    const pending = this.waiting.get(item);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.waiting.delete(item);
      this.add(item);
    }, delayMs);
    // A pending retry must not keep a stopping process alive.
    timer.unref();
    this.waiting.set(item, { at, timer });
  }

  /** Re-adds a failed item after its backoff (and the global retry rate) allow. */
  addRateLimited(item: K): void {
    this.observer.retried();
    this.addAfter(item, this.rateLimiter.when(item));
  }

  /** The item succeeded: its next failure starts from the shortest backoff again. */
  forget(item: K): void {
    this.rateLimiter.forget(item);
  }

  numRequeues(item: K): number {
    return this.rateLimiter.retries(item);
  }

  /** The next item to work on, or undefined once the queue shuts down. Call done() after. */
  get(): Promise<K | undefined> {
    const item = this.take();
    if (item !== undefined || this.shuttingDown) return Promise.resolve(item);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  done(item: K): void {
    this.processing.delete(item);
    const started = this.startedAt.get(item);
    this.startedAt.delete(item);
    if (started !== undefined) this.observer.worked((this.now() - started) / 1000);
    const pending = this.dirty.get(item);
    if (pending !== undefined && !this.shuttingDown) this.push(item, pending);
    if (this.processing.size === 0) this.drained.splice(0).forEach((f) => f());
  }

  /**
   * Stops handing out items; workers blocked in get() receive undefined. Unlike client-go, items
   * still queued are not handed out: after a shutdown (SIGTERM, lost lease) this process must not
   * start new writes, and whoever runs next reconciles everything anyway.
   */
  shutdown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.waiting.values()) clearTimeout(timer);
    this.waiting.clear();
    this.getters.splice(0).forEach((g) => g(undefined));
  }

  /** Shuts down, then resolves once every item handed out has been marked done. */
  async shutdownWithDrain(): Promise<void> {
    this.shutdown();
    if (this.processing.size === 0) return;
    await new Promise<void>((resolve) => this.drained.push(resolve));
  }

  private push(item: K, priority: Priority): void {
    const getter = this.getters.shift();
    if (getter) {
      getter(this.start(item));
      return;
    }
    this.lanes[priority].push(item);
    this.observer.depth(this.length);
  }

  private take(): K | undefined {
    if (this.shuttingDown || this.length === 0) return undefined;
    const item = (this.lanes.high.length ? this.lanes.high : this.lanes.normal).shift() as K;
    this.observer.depth(this.length);
    return this.start(item);
  }

  private start(item: K): K {
    this.processing.add(item);
    this.dirty.delete(item);
    const t = this.now();
    const enqueued = this.enqueuedAt.get(item);
    this.enqueuedAt.delete(item);
    if (enqueued !== undefined) this.observer.queued((t - enqueued) / 1000);
    this.startedAt.set(item, t);
    return item;
  }
}
