import { type Informer, type KubeConfig, type KubernetesListObject, type KubernetesObject, makeInformer, type ObjectCache } from '@kubernetes/client-node';
import { errorMessage, type Logger } from '../log.js';

type ListWatch<T extends KubernetesObject> = Informer<T> & ObjectCache<T>;

export interface InformerHandlers<T> {
  add?(obj: T): void;
  update?(obj: T): void;
  delete?(obj: T): void;
}

export interface InformerOptions<T extends KubernetesObject> {
  /** For logs and metrics, e.g. "deployments". */
  name: string;
  kubeConfig: KubeConfig;
  /** Collection path to watch, e.g. /apis/apps/v1/deployments or /api/v1/namespaces/x/pods. */
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  log: Logger;
  /** First and longest wait before restarting after an error. */
  backoff?: { initialMs: number; maxMs: number };
  /** Restart a watch that has delivered nothing (not even a reconnect) for this long. */
  watchdogMs?: number;
  /**
   * Trims an object before it is cached (client-go's SetTransform): managedFields alone are often
   * a third of a Pod, and the cache holds thousands.
   */
  transform?: (obj: T) => void;
  /** Informer restarts, by cause. */
  onRestart?: (cause: 'error' | 'watchdog') => void;
  /** The error that stopped the list or watch (before the restart is scheduled). */
  onError?: (err: unknown) => void;
}

/**
 * makeInformer with what client-node leaves out. After an error its ListWatch emits 'error' and
 * stays stopped (2.x only re-watches by itself after a clean close, with a backoff of 1 to 30 s
 * while closes come without events): this restarts it with exponential backoff, resuming from
 * the last resourceVersion (the library relists on 410 Gone). Watches have also been seen to stall without
 * any error: a watchdog replaces a watch that has been silent for `watchdogMs` with a fresh
 * list+watch and reports only real differences (changed, added, vanished objects), so a restart
 * costs no spurious reconciles.
 */
export class ResilientInformer<T extends KubernetesObject> {
  private current: ListWatch<T>;
  /** The replaced instance's cache, until the fresh one has listed: the baseline for the diff. */
  private previous: ListWatch<T> | undefined;
  private lastActivity = Date.now();
  private failures = 0;
  private running = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private watchdogTimer: NodeJS.Timeout | undefined;
  private synced = false;
  private resolveSynced: () => void = () => undefined;
  private readonly syncedOnce: Promise<void>;

  constructor(
    private readonly opts: InformerOptions<T>,
    private readonly handlers: InformerHandlers<T>,
  ) {
    this.syncedOnce = new Promise((resolve) => (this.resolveSynced = resolve));
    this.current = this.create();
  }

  /** Starts listing and watching; resolves after the first complete list (retrying until then). */
  async start(): Promise<void> {
    if (this.running) return this.syncedOnce;
    this.running = true;
    const watchdogMs = this.opts.watchdogMs ?? 0;
    if (watchdogMs > 0) {
      this.watchdogTimer = setInterval(() => this.checkWatchdog(watchdogMs), Math.max(50, Math.min(watchdogMs / 4, 30_000)));
      this.watchdogTimer.unref();
    }
    void this.startCurrent();
    return this.syncedOnce;
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.restartTimer);
    clearInterval(this.watchdogTimer);
    await this.current.stop();
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.current.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.current.list(namespace);
  }

  private create(): ListWatch<T> {
    const inst = makeInformer<T>(this.opts.kubeConfig, this.opts.path, this.opts.list, this.opts.labelSelector);
    const mine = (): boolean => inst === this.current && this.running;
    const safely = (what: string, f: () => void): void => {
      try {
        f();
      } catch (err) {
        this.opts.log.error('informer handler failed', { informer: this.opts.name, event: what, error: errorMessage(err) });
      }
    };
    inst.on('add', (obj) => {
      if (!mine()) return;
      this.touch();
      safely('add', () => {
        this.opts.transform?.(obj);
        const before = this.previous?.get(obj.metadata?.name ?? '', obj.metadata?.namespace);
        if (!before) this.handlers.add?.(obj);
        // Seen before the restart: only a new resourceVersion is news.
        else if (before.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.handlers.update?.(obj);
      });
    });
    inst.on('update', (obj) => {
      if (!mine()) return;
      this.touch();
      safely('update', () => {
        this.opts.transform?.(obj);
        this.handlers.update?.(obj);
      });
    });
    inst.on('delete', (obj) => {
      if (!mine()) return;
      this.touch();
      safely('delete', () => this.handlers.delete?.(obj));
    });
    inst.on('connect', () => {
      if (mine()) this.touch();
    });
    inst.on('error', (err: unknown) => {
      if (mine()) this.scheduleRestart(err);
    });
    return inst;
  }

  private touch(): void {
    this.lastActivity = Date.now();
  }

  /**
   * start() resolves once the list is done and the watch request was answered, or right after the
   * library emitted 'error' (synchronously, inside start). No error in between means in sync.
   */
  private async startCurrent(): Promise<void> {
    const inst = this.current;
    const failuresBefore = this.failures;
    let failed = false;
    const onError = (): void => {
      failed = true;
    };
    inst.on('error', onError);
    try {
      await inst.start();
    } catch (err) {
      failed = true;
      if (this.failures === failuresBefore) this.scheduleRestart(err);
    } finally {
      inst.off('error', onError);
    }
    if (failed || inst !== this.current || !this.running) return;
    this.failures = 0;
    this.touch();
    const previous = this.previous;
    this.previous = undefined;
    if (previous) {
      // Objects deleted while the old watch was stalled: nobody told us, so tell the handlers now.
      for (const obj of previous.list()) {
        if (!inst.get(obj.metadata?.name ?? '', obj.metadata?.namespace)) this.handlers.delete?.(obj);
      }
    }
    if (!this.synced) {
      this.synced = true;
      this.opts.log.debug('informer synced', { informer: this.opts.name, objects: inst.list().length });
      this.resolveSynced();
    }
  }

  private scheduleRestart(err: unknown): void {
    if (!this.running || this.restartTimer) return;
    const { initialMs, maxMs } = this.opts.backoff ?? { initialMs: 500, maxMs: 30_000 };
    // Jitter keeps a dozen informers (or replicas) from hitting a recovering API server in step.
    const delay = Math.min(initialMs * 2 ** this.failures, maxMs) * (0.8 + Math.random() * 0.4);
    this.failures++;
    this.opts.onError?.(err);
    this.opts.log.warn('informer failed; restarting', { informer: this.opts.name, error: errorMessage(err), attempt: this.failures, delayMs: Math.round(delay) });
    this.opts.onRestart?.('error');
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.running) void this.startCurrent();
    }, delay);
    this.restartTimer.unref();
  }

  private checkWatchdog(watchdogMs: number): void {
    if (!this.running || !this.synced || this.restartTimer || this.previous) return;
    const silentFor = Date.now() - this.lastActivity;
    if (silentFor < watchdogMs) return;
    this.opts.log.info('watch silent for too long; replacing it', { informer: this.opts.name, silentMs: silentFor });
    this.opts.onRestart?.('watchdog');
    // A fresh instance rather than stop()+start() on the old one: the library aborts the old
    // request asynchronously and its late 'done' would tear down (or duplicate) the new watch.
    const old = this.current;
    this.previous = old;
    this.current = this.create();
    void old.stop();
    this.touch();
    void this.startCurrent();
  }
}
