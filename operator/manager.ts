import { ApiException, type KubeConfig, type KubernetesObject, type V1Pod } from '@kubernetes/client-node';
import { GROUP, type ModelService, PLURAL, VERSION } from '../crds/modelservice.js';
import { MANAGED_SELECTOR } from './builders/meta.js';
import type { OperatorConfig } from './config.js';
import { dropManagedFields, trimDeploymentForCache, trimPodForCache } from './controller/child-sync.js';
import { keyOf, ownerKey, podOwnerKey } from './controller/owners.js';
import { type CacheReader, ModelServiceReconciler } from './controller/reconciler.js';
import { CHILD_KINDS, type ChildKind } from './desired-state.js';
import { serveHealth, serveMetrics, type RunningServer } from './http-servers.js';
import { collectionPath, type KubeClients, makeClients, resourceOfPath } from './kube/clients.js';
import { EventRecorder } from './kube/events.js';
import { ApiReachability, isOutageStatus } from './kube/api-reachability.js';
import { ResilientInformer } from './kube/informer.js';
import { LeaderElector } from './kube/leader-election.js';
import { errorMessage, type Logger } from './log.js';
import type { ManagerSettings } from './manager-config.js';
import { createOperatorMetrics, type OperatorMetrics, queueObserver, type ReconcileResult } from './metrics.js';
import { WorkQueue } from './queue/work-queue.js';
import { kubeDataReader } from './registry/connection.js';
import { ModelRegistry } from './registry/model-registry.js';

export const CONTROLLER_NAME = 'modelservice';
const COMPONENT = 'visionops-operator';
/** How often the API server is pinged (GET /version) and how long an answer may take. */
const PING_EVERY_MS = 5_000;
const PING_TIMEOUT_MS = 5_000;

export interface ManagerOptions {
  kubeConfig: KubeConfig;
  config: OperatorConfig;
  settings: ManagerSettings;
  log: Logger;
}

/** Why a manager stopped: asked to, or it lost the leader lease (then the process should exit non-zero). */
export type StopReason = 'stopped' | 'leadership-lost';

/**
 * The whole operator in one object: informers, work queue, workers, leader election, metrics
 * and health endpoints. start() and stop() let tests run it in-process; main.ts wires it to the
 * environment and signals.
 */
export class Manager {
  readonly metrics: OperatorMetrics;
  /** Resolves once the manager has stopped, with why. */
  readonly done: Promise<StopReason>;
  private resolveDone: (reason: StopReason) => void = () => undefined;
  private readonly log: Logger;
  private readonly queue: WorkQueue<string>;
  private clients: KubeClients | undefined;
  private reconciler: ModelServiceReconciler | undefined;
  private recorder: EventRecorder | undefined;
  private registry: ModelRegistry | undefined;
  private elector: LeaderElector | undefined;
  private msInformer: ResilientInformer<KubernetesObject> | undefined;
  private readonly childInformers = new Map<ChildKind, ResilientInformer<KubernetesObject>>();
  private podInformer: ResilientInformer<V1Pod> | undefined;
  /** namespace/modelservice -> pod name -> pod. */
  private readonly podIndex = new Map<string, Map<string, V1Pod>>();
  /** Last generation seen per ModelService: status-only updates (our own writes) need no reconcile. */
  private readonly generations = new Map<string, number | undefined>();
  private servers: RunningServer[] = [];
  private workers: Promise<void>[] = [];
  private resyncTimer: NodeJS.Timeout | undefined;
  private leading = false;
  private stopping: Promise<void> | undefined;
  private metricsServer: RunningServer | undefined;
  private healthServer: RunningServer | undefined;
  private readonly reachability: ApiReachability;
  private pingTimer: NodeJS.Timeout | undefined;
  /** Why leadership was lost, when it was (the lease's last renewal error or its new holder). */
  lostLeadershipBecause: string | undefined;

  constructor(private readonly opts: ManagerOptions) {
    this.log = opts.log;
    this.metrics = createOperatorMetrics(CONTROLLER_NAME);
    this.queue = new WorkQueue<string>({ observer: queueObserver(this.metrics, CONTROLLER_NAME) });
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.reachability = new ApiReachability({ log: this.log, onChange: (up) => this.metrics.apiserverReachable.set(up ? 1 : 0) });
    this.metrics.apiserverReachable.set(1);
  }

  get metricsUrl(): string | undefined {
    return this.metricsServer?.url;
  }

  get healthUrl(): string | undefined {
    return this.healthServer?.url;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  get identity(): string {
    return this.opts.settings.leaderElection.identity;
  }

  /** Every informer has listed once: the caches can be trusted for decisions. */
  get synced(): boolean {
    return this.informers().every((i) => i.hasSynced);
  }

  private informers(): ResilientInformer<KubernetesObject>[] {
    return [this.msInformer, ...this.childInformers.values(), this.podInformer as ResilientInformer<KubernetesObject> | undefined].filter(
      (i): i is ResilientInformer<KubernetesObject> => i !== undefined,
    );
  }

  /** Serves /metrics and probes, starts the informers and the election; resolves without waiting to be elected. */
  async start(): Promise<void> {
    const { settings, kubeConfig } = this.opts;
    this.metricsServer = await serveMetrics(this.metrics.registry, settings.metricsBindAddress);
    this.healthServer = await serveHealth(
      {
        healthz: () => undefined,
        readyz: () => (this.synced ? undefined : 'informer caches not synced yet'),
      },
      settings.healthBindAddress,
    );
    this.servers = [this.metricsServer, this.healthServer].filter((s): s is RunningServer => s !== undefined);

    const m = this.metrics;
    this.clients = await makeClients(kubeConfig, {
      observe: (method, path, status, seconds, error) => {
        this.reachability.observe(method, path, status, error);
        m.restRequests.labels(status ? String(status) : '<error>', method).inc();
        m.restLatency.labels(method).observe(seconds);
        if (method !== 'GET') m.apiWrites.labels(resourceOfPath(path), method).inc();
      },
    });
    this.recorder = new EventRecorder(this.clients.core, COMPONENT, this.identity, this.log);
    this.createInformers(this.clients);
    this.registry = new ModelRegistry({
      settings: settings.registry,
      reader: kubeDataReader(this.clients.core),
      enqueue: (key) => this.queue.add(key),
      log: this.log,
      observe: (endpoint, code) => m.registryRequests.labels(endpoint, code).inc(),
    });
    const children = {} as Record<ChildKind, CacheReader<KubernetesObject>>;
    for (const [kind, informer] of this.childInformers) children[kind] = informer;
    this.reconciler = new ModelServiceReconciler({
      caches: {
        modelServices: this.msInformer as unknown as CacheReader<ModelService>,
        children,
        pods: (namespace, name) => [...(this.podIndex.get(keyOf(namespace, name))?.values() ?? [])],
      },
      api: this.clients.raw,
      config: this.opts.config,
      recorder: this.recorder,
      metrics: this.metrics,
      log: this.log,
      registry: this.registry,
    });
    for (const inf of this.informers()) void inf.start();
    this.startPinging(this.clients);

    m.maxConcurrentReconciles.labels(CONTROLLER_NAME).set(settings.workers);
    const le = settings.leaderElection;
    if (!le.enabled) {
      this.onStartedLeading();
      return;
    }
    this.elector = new LeaderElector({
      coordination: this.clients.coordination,
      namespace: le.namespace,
      name: le.name,
      identity: le.identity,
      timing: le.timing,
      log: this.log,
      onStartedLeading: () => this.onStartedLeading(),
      onStoppedLeading: (reason, why) => {
        if (reason !== 'lost') return;
        this.lostLeadershipBecause = why;
        void this.shutdown('leadership-lost');
      },
      onLeaderObserved: (holder) => this.log.info('another instance leads', { leader: holder }),
    });
    void this.elector.run();
  }

  /** Graceful: finishes reconciles in flight, hands the lease back, stops watching. */
  stop(): Promise<void> {
    return this.shutdown('stopped');
  }

  /** Reconcile every ModelService in the cache again (what the periodic resync does). */
  resync(): number {
    const all = this.msInformer?.list() ?? [];
    for (const ms of all) this.queue.add(keyOf(ms.metadata?.namespace ?? '', ms.metadata?.name ?? ''));
    return all.length;
  }

  private shutdown(reason: StopReason): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info('stopping', { reason, ...(this.lostLeadershipBecause ? { why: this.lostLeadershipBecause } : {}) });
      clearInterval(this.resyncTimer);
      clearInterval(this.pingTimer);
      this.leading = false;
      this.metrics.leaderStatus.labels(this.opts.settings.leaderElection.name).set(0);
      const bounded = (p: Promise<unknown>, ms: number) => Promise.race([p, new Promise((r) => setTimeout(r, ms).unref())]);
      // Let reconciles in flight finish (bounded: a request can hang until its timeout); a
      // half-applied set of children is fixed by whoever reconciles next. A leader that lost its
      // lease must stop at once, as controller-runtime's does: another instance may lead already,
      // and the API server it could not reach would hold every request of the clean-up.
      const lost = reason === 'leadership-lost';
      await bounded(Promise.all([this.queue.shutdownWithDrain(), ...this.workers]), lost ? 2_000 : 10_000);
      // Only a leader that stopped on purpose releases the lease; a lost one is not ours to touch.
      if (reason === 'stopped') await this.elector?.stop();
      await bounded(Promise.all(this.informers().map((i) => i.stop())), 5_000);
      await bounded(this.recorder?.flush() ?? Promise.resolve(), lost ? 1_000 : 5_000);
      // Serving tags in flight get a moment; a registry that is down keeps them (removed on the next change).
      await bounded(this.registry?.flush() ?? Promise.resolve(), lost ? 1_000 : 5_000);
      this.registry?.stop();
      await Promise.all(this.servers.map((s) => s.close()));
      this.clients?.close();
      this.log.info('stopped', { reason });
      this.resolveDone(reason);
    })();
    return this.stopping;
  }

  /**
   * Watches go quiet when the API server does, and an instance that is not renewing a lease sends
   * nothing else: a cheap GET /version every few seconds notices an outage (and its end) either way.
   */
  private startPinging(clients: KubeClients): void {
    const ping = async () => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), PING_TIMEOUT_MS)));
      // Answers and network errors reach the tracker through the client's observer; only silence needs saying here.
      const outcome = await Promise.race([clients.raw.get('/version').then(() => 'ok' as const, () => 'failed' as const), late]);
      clearTimeout(timer);
      if (outcome === 'late') this.reachability.failed('GET /version', `no answer within ${PING_TIMEOUT_MS} ms`);
    };
    this.pingTimer = setInterval(() => void ping(), PING_EVERY_MS);
    this.pingTimer.unref();
  }

  private onStartedLeading(): void {
    this.leading = true;
    this.metrics.leaderStatus.labels(this.opts.settings.leaderElection.name).set(1);
    void this.startWorkers();
  }

  private async startWorkers(): Promise<void> {
    // Decisions need complete caches: a child missing from a half-listed cache would be re-created.
    await Promise.all(this.informers().map((i) => i.start()));
    if (this.stopping) return;
    const { workers, resyncPeriodMs } = this.opts.settings;
    const n = this.resync();
    this.log.info('caches synced; reconciling', { modelServices: n, workers });
    for (let i = 0; i < workers; i++) this.workers.push(this.worker());
    this.resyncTimer = setInterval(() => {
      const count = this.resync();
      this.log.debug('periodic resync', { modelServices: count });
    }, resyncPeriodMs);
    this.resyncTimer.unref();
  }

  private async worker(): Promise<void> {
    const reconciler = this.reconciler as ModelServiceReconciler;
    const m = this.metrics;
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      m.activeWorkers.labels(CONTROLLER_NAME).inc();
      const end = m.reconcileTime.labels(CONTROLLER_NAME).startTimer();
      let result: ReconcileResult = 'success';
      try {
        await reconciler.reconcile(key);
        this.queue.forget(key);
      } catch (err) {
        result = 'error';
        m.reconcileErrors.labels(CONTROLLER_NAME).inc();
        this.log.warn('reconcile failed; retrying with backoff', { modelService: key, error: errorMessage(err), retries: this.queue.numRequeues(key) });
        this.queue.addRateLimited(key);
      } finally {
        end();
        m.reconcileTotal.labels(CONTROLLER_NAME, result).inc();
        m.activeWorkers.labels(CONTROLLER_NAME).dec();
        this.queue.done(key);
      }
    }
  }

  private createInformers(clients: KubeClients): void {
    const { settings, kubeConfig } = this.opts;
    const ns = settings.watchNamespace;
    const common = {
      kubeConfig,
      log: this.log,
      watchdogMs: settings.watchdogMs,
      // A watch that breaks because the API server is gone counts towards the outage; a 403 or 404 does not.
      onError: (err: unknown) => {
        if (!(err instanceof ApiException) || isOutageStatus(err.code)) this.reachability.failed('watch', errorMessage(err));
      },
    };
    const restarts = (name: string) => (cause: 'error' | 'watchdog') => this.metrics.informerRestarts.labels(name, cause).inc();

    this.msInformer = new ResilientInformer<KubernetesObject>(
      {
        ...common,
        name: PLURAL,
        path: collectionPath(`${GROUP}/${VERSION}`, PLURAL, ns),
        list: () => clients.raw.list(collectionPath(`${GROUP}/${VERSION}`, PLURAL, ns)),
        onRestart: restarts(PLURAL),
        transform: dropManagedFields,
      },
      {
        add: (obj) => this.onModelService(obj),
        update: (obj) => this.onModelService(obj),
        delete: (obj) => {
          const key = keyOf(obj.metadata?.namespace ?? '', obj.metadata?.name ?? '');
          this.generations.delete(key);
          this.reconciler?.forget(key);
        },
      },
    );

    for (const child of CHILD_KINDS) {
      const enqueueOwner = (obj: KubernetesObject) => {
        const key = ownerKey(obj);
        if (key) this.queue.add(key);
        return key;
      };
      this.childInformers.set(
        child.kind,
        new ResilientInformer<KubernetesObject>(
          {
            ...common,
            name: child.plural,
            path: collectionPath(child.apiVersion, child.plural, ns),
            labelSelector: MANAGED_SELECTOR,
            list: () => clients.raw.list(collectionPath(child.apiVersion, child.plural, ns), MANAGED_SELECTOR),
            onRestart: restarts(child.plural),
            transform: child.kind === 'Deployment' ? trimDeploymentForCache : dropManagedFields,
          },
          {
            add: enqueueOwner,
            update: enqueueOwner,
            delete: (obj) => {
              // Someone deleted a child: putting it back comes before status refreshes.
              const key = ownerKey(obj);
              if (!key) return;
              this.reconciler?.forgetChild(key, { ...obj, kind: child.kind });
              this.queue.add(key, 'high');
            },
          },
        ),
      );
    }

    const indexPod = (pod: V1Pod, present: boolean) => {
      const key = podOwnerKey(pod);
      const name = pod.metadata?.name;
      if (!key || !name) return;
      let pods = this.podIndex.get(key);
      if (present) {
        if (!pods) this.podIndex.set(key, (pods = new Map()));
        pods.set(name, pod);
      } else if (pods) {
        pods.delete(name);
        if (pods.size === 0) this.podIndex.delete(key);
      }
      this.queue.add(key);
    };
    this.podInformer = new ResilientInformer<V1Pod>(
      {
        ...common,
        name: 'pods',
        path: collectionPath('v1', 'pods', ns),
        labelSelector: MANAGED_SELECTOR,
        list: () => clients.raw.list<V1Pod>(collectionPath('v1', 'pods', ns), MANAGED_SELECTOR),
        onRestart: restarts('pods'),
        transform: trimPodForCache,
      },
      { add: (p) => indexPod(p, true), update: (p) => indexPod(p, true), delete: (p) => indexPod(p, false) },
    );
  }

  private onModelService(obj: KubernetesObject): void {
    const key = keyOf(obj.metadata?.namespace ?? '', obj.metadata?.name ?? '');
    const generation = obj.metadata?.generation;
    const deleting = obj.metadata?.deletionTimestamp !== undefined;
    // Status writes (ours) bump the resourceVersion but not the generation: nothing to do for them.
    if (this.generations.has(key) && this.generations.get(key) === generation && !deleting) return;
    this.generations.set(key, generation);
    // New or edited: its children come before the status refreshes of the others.
    this.queue.add(key, 'high');
  }
}
