import { ApiException, type KubernetesObject, type V1Deployment, type V1Ingress, type V1Pod } from '@kubernetes/client-node';
import { API_VERSION, KIND, type ModelService, type ModelServiceStatus, PLURAL } from '../../crds/modelservice.js';
import { InvalidSpecError } from '../builders/model-source.js';
import type { OperatorConfig } from '../config.js';
import { type Child, CHILD_KINDS, type ChildKind, type ChildRef, desiredState, type DesiredState } from '../desired-state.js';
import { objectPath, type RawClient } from '../kube/clients.js';
import type { EventRecorder } from '../kube/events.js';
import { errorMessage, type Logger } from '../log.js';
import type { OperatorMetrics } from '../metrics.js';
import { computeStatus } from '../status/compute-status.js';
import { statusEqual } from '../status/status-equal.js';
import {
  type AppliedMemo,
  CACHE_LAG_WINDOW_MS,
  decideApply,
  FIELD_MANAGER,
  HANDOVER_MANAGER,
  projectionHash,
  replicasHandover,
  withAppliedHash,
} from './child-sync.js';
import { controlledBy, keyOf, splitKey } from './owners.js';
import { rolloutStartedEvent, transitionEvents } from './transitions.js';
import { isModelsUri } from '../../contract/mlflow.js';
import { REASONS } from '../registry/decide.js';
import type { ModelRegistry, RegistryDecision } from '../registry/model-registry.js';
import { describeChange, pinFromAnnotations, type RegistryPin } from '../registry/pin.js';
import { ANNOTATION_MODEL_SHA256 } from '../builders/deployment.js';

/** Read access to an informer cache. */
export interface CacheReader<T> {
  get(name: string, namespace?: string): T | undefined;
}

export interface ReconcilerCaches {
  modelServices: CacheReader<ModelService>;
  children: Record<ChildKind, CacheReader<KubernetesObject>>;
  /** Server pods of one ModelService. */
  pods(namespace: string, modelService: string): readonly V1Pod[];
}

export interface ReconcilerDeps {
  caches: ReconcilerCaches;
  api: RawClient;
  config: OperatorConfig;
  recorder: EventRecorder;
  metrics: OperatorMetrics;
  log: Logger;
  /** Resolves models:/ URIs; without it such a ModelService is reported as InvalidSpec. */
  registry?: ModelRegistry;
  now?: () => Date;
}

/** A reconcile that could not finish; the worker retries it with backoff. */
export class ReconcileError extends Error {
  override name = 'ReconcileError';
}

const PLURALS = new Map<string, string>(CHILD_KINDS.map((k) => [k.kind, k.plural]));

function pathOf(obj: { apiVersion: string; kind: string; metadata: { name: string; namespace: string } }, subresource?: string): string {
  const plural = obj.kind === KIND ? PLURAL : PLURALS.get(obj.kind);
  if (!plural) throw new Error(`no resource for kind ${obj.kind}`);
  return objectPath(obj.apiVersion, plural, obj.metadata.namespace, obj.metadata.name, subresource);
}

/**
 * A request the API server refused as such (as opposed to timeouts, 5xx, 409, 429, which are only
 * retried): the reason and message go into the Degraded condition, where `kubectl get msvc`
 * shows them. 422 means the spec produced an object Kubernetes rejects (a nodeSelector key that is
 * no label key, an affinity with an unknown operator): only a spec change can fix that.
 */
function refusal(err: unknown, child: Child): { reason: string; message: string } | undefined {
  if (!(err instanceof ApiException)) return undefined;
  const reason = err.code === 422 ? 'InvalidSpec' : err.code === 403 ? 'Forbidden' : [400, 404].includes(err.code) ? 'ApplyFailed' : undefined;
  return reason ? { reason, message: `${child.kind} ${child.metadata.name}: ${errorMessage(err)}` } : undefined;
}

function ignoreStatus(err: unknown, ...codes: number[]): void {
  if (!(err instanceof ApiException && codes.includes(err.code))) throw err;
}

function childKey(c: { kind: string; metadata?: { namespace?: string; name?: string } } | ChildRef): string {
  const meta = 'metadata' in c ? c.metadata : (c as ChildRef);
  return `${c.kind}/${meta?.namespace ?? ''}/${meta?.name ?? ''}`;
}

/**
 * The children in three rounds, each applied in parallel: what pods mount (ConfigMap, volume)
 * and the Service first, then the Deployment, then what refers to it (HPA, PDB, Ingress). Order
 * within desiredState is kept; a reconcile costs three round trips at most instead of seven.
 */
export function applyPhases(children: readonly Child[]): Child[][] {
  const at = children.findIndex((c) => c.kind === 'Deployment');
  if (at < 0) return [children.slice()];
  return [children.slice(0, at), [children[at] as Child], children.slice(at + 1)].filter((p) => p.length > 0);
}

/**
 * Level-triggered: each pass reads the ModelService and its children from the informer caches,
 * applies only the children that differ, deletes the ones whose section is gone, and writes the
 * status only when it changed. A steady state therefore costs reads of local memory and no API
 * request at all.
 */
export class ModelServiceReconciler {
  /** Per ModelService key, per child: the last apply. */
  private readonly applied = new Map<string, Map<string, AppliedMemo>>();
  /** Per ModelService key: the status last written, until the cache shows it. */
  private readonly statusWritten = new Map<string, { uid: string; status: ModelServiceStatus; atMs: number }>();
  private readonly now: () => Date;
  /**
   * desiredState and the applied hashes of the ModelService object a pass read from the cache.
   * The cache replaces the object on every change, so the same object means the same answer; a
   * ModelService is reconciled again for each event on its children and on every resync.
   */
  private readonly desiredOf = new WeakMap<ModelService, { pin: string; desired: DesiredState }>();
  private readonly hashedOf = new WeakMap<Child, { object: Child; hash: string }>();

  constructor(private readonly deps: ReconcilerDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** The ModelService is gone: drop what we remembered about it. */
  forget(key: string): void {
    this.applied.delete(key);
    this.statusWritten.delete(key);
    this.deps.registry?.forget(key);
  }

  /** A child was deleted (by anyone): the next pass must not trust the memo of its last apply. */
  forgetChild(ownerKey: string, child: KubernetesObject): void {
    this.applied.get(ownerKey)?.delete(childKey({ kind: child.kind ?? '', metadata: child.metadata ?? {} }));
  }

  async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const ms = this.deps.caches.modelServices.get(name, namespace);
    if (!ms) {
      // Deleted: the garbage collector removes the children through their ownerReferences.
      this.forget(key);
      return;
    }
    if (ms.metadata.deletionTimestamp) return;

    let problem: { reason: string; message: string } | undefined;
    let transient: unknown;
    let desired: DesiredState | undefined;
    const registry = await this.resolveRegistry(key, ms);
    try {
      // A registry model without a version to pin builds nothing: what is live stays as it is.
      if (!registry || registry.pin) {
        const pinKey = registry?.pin ? JSON.stringify(registry.pin) : '';
        const memo = this.desiredOf.get(ms);
        if (memo?.pin === pinKey) desired = memo.desired;
        else this.desiredOf.set(ms, { pin: pinKey, desired: (desired = desiredState(ms, this.deps.config, registry?.pin)) });
      }
    } catch (err) {
      if (!(err instanceof InvalidSpecError)) throw err;
      // Only a new spec can fix this, and a new spec triggers a reconcile: no retry.
      problem = { reason: 'InvalidSpec', message: err.message };
    }

    // What the API server returned for this pass's applies: newer than the cache, for the status.
    const fresh = new Map<ChildKind, KubernetesObject>();
    const deploymentBefore = this.owned<V1Deployment>('Deployment', ms, fresh);
    if (desired) {
      for (const phase of applyPhases(desired.apply)) {
        const results = await Promise.allSettled(phase.map((child) => this.syncChild(key, child)));
        results.forEach((r, i) => {
          const child = phase[i] as Child;
          if (r.status === 'fulfilled') {
            if (r.value) fresh.set(child.kind, r.value);
            return;
          }
          const refused = refusal(r.reason, child);
          if (refused) problem ??= refused;
          else transient ??= r.reason;
        });
      }
      for (const ref of desired.delete) {
        try {
          await this.deleteChild(key, ms, ref);
        } catch (err) {
          transient ??= err;
        }
      }
    }

    // A Deployment written in this pass has not been seen by its controller yet: a status now
    // could only say "just applied", and the watch event of our own write brings the next pass,
    // which reports what the Deployment controller did with it. In a quiet cluster that is the
    // same status a few milliseconds later; in a burst of new ModelServices that pass waits
    // behind the new ones, and one status write says what a second one would have corrected.
    if (registry?.pin && registry.live && fresh.has('Deployment')) this.announceVersionChange(ms, registry.live, registry.pin);
    const rollout = rolloutStartedEvent(deploymentBefore, fresh.get('Deployment') as V1Deployment | undefined);
    if (rollout) this.deps.recorder.record(involvedOf(ms), rollout);
    const deferStatus = !problem && !transient && this.storedNewVersion(fresh.get('Deployment'), ms);
    if (!deferStatus) {
      const status = await this.updateStatus(key, ms, problem, fresh, registry);
      // Which version serves where, back into MLflow (in the background).
      if (status) this.deps.registry?.served(key, registry?.conn, status.model);
    }
    if (transient) throw transient;
    // A missing Secret or ConfigMap is not watched: look again, with the queue's backoff.
    const unconfigured = registry?.conditions.find((c) => c.reason === REASONS.notConfigured);
    if (unconfigured) throw new ReconcileError(unconfigured.message);
    // Quotas, admission webhooks, RBAC: the cause may go away without a spec change, so retry
    // (with backoff). An invalid spec waits for the edit that fixes it, which triggers a reconcile.
    if (problem && problem.reason !== 'InvalidSpec') throw new ReconcileError(problem.message);
  }

  /** For a models:/ URI: the version to pin and the registry's conditions; undefined for other URIs. */
  private async resolveRegistry(key: string, ms: ModelService): Promise<(RegistryDecision & { live?: RegistryPin }) | undefined> {
    if (!isModelsUri(ms.spec.model.uri)) {
      this.deps.registry?.release(key);
      return undefined;
    }
    if (!this.deps.registry) {
      return { conditions: [], blocked: { reason: 'InvalidSpec', message: `model.uri ${ms.spec.model.uri}: this operator has no registry support enabled` } };
    }
    const deployment = this.deps.caches.children.Deployment.get(ms.metadata.name, ms.metadata.namespace);
    const annotations = deployment && controlledBy(deployment, ms.metadata.uid) ? (deployment as V1Deployment).spec?.template?.metadata?.annotations : undefined;
    const live = pinFromAnnotations(annotations, annotations?.[ANNOTATION_MODEL_SHA256]);
    const decision = await this.deps.registry.decide(key, ms, live);
    return { ...decision, ...(live ? { live } : {}) };
  }

  /** The Deployment now pins another version than it did: `v6 → v7` on the ModelService. */
  private announceVersionChange(ms: ModelService, from: RegistryPin, to: RegistryPin): void {
    if (from.name === to.name && from.version === to.version && from.trackingUri === to.trackingUri) return;
    const involved = involvedOf(ms);
    const message = describeChange(from, to);
    this.deps.recorder.record(involved, { type: 'Normal', reason: 'ModelVersionChanged', message });
    this.deps.log.info('model version changed; rolling out', { modelService: keyOf(ms.metadata.namespace, ms.metadata.name), change: message });
  }

  private memos(key: string): Map<string, AppliedMemo> {
    let m = this.applied.get(key);
    if (!m) this.applied.set(key, (m = new Map()));
    return m;
  }

  /** Applies the child if it needs it; returns the object the server stored, or undefined when nothing was sent. */
  private async syncChild(key: string, child: Child): Promise<KubernetesObject | undefined> {
    let hashed = this.hashedOf.get(child);
    if (!hashed) this.hashedOf.set(child, (hashed = withAppliedHash(child)));
    const { object, hash } = hashed;
    const live = this.deps.caches.children[child.kind].get(child.metadata.name, child.metadata.namespace);
    const memos = this.memos(key);
    const ck = childKey(child);
    const nowMs = this.now().getTime();
    const decision = decideApply(object, hash, live, memos.get(ck), nowMs);
    if (!decision.apply) return undefined;

    const path = pathOf(object);
    const handover = replicasHandover(object, live);
    if (handover) {
      await this.deps.api.apply(path, handover, HANDOVER_MANAGER);
      this.deps.log.info('handed spec.replicas over before autoscaling takes it', { modelService: key, replicas: (handover as V1Deployment).spec?.replicas });
    }
    const result = await this.deps.api.apply<KubernetesObject>(path, object, FIELD_MANAGER);
    memos.set(ck, { hash, projection: projectionHash(result, object), atMs: nowMs });
    this.deps.metrics.childApplies.labels(child.kind).inc();
    this.deps.log.debug('applied', { modelService: key, kind: child.kind, name: child.metadata.name, why: decision.why });
    return result;
  }

  private async deleteChild(key: string, ms: ModelService, ref: ChildRef): Promise<void> {
    const live = this.deps.caches.children[ref.kind].get(ref.name, ref.namespace);
    // Only what this ModelService controls: a same-named object of someone else's stays.
    if (!live || !controlledBy(live, ms.metadata.uid)) return;
    try {
      await this.deps.api.delete(pathOf({ apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name, namespace: ref.namespace } }), {
        propagationPolicy: 'Background',
        // The uid precondition: never the object someone recreated under that name meanwhile.
        preconditions: { uid: live.metadata?.uid },
      });
      this.deps.log.info('deleted', { modelService: key, kind: ref.kind, name: ref.name });
    } catch (err) {
      ignoreStatus(err, 404, 409);
    }
    this.applied.get(key)?.delete(childKey(ref));
  }

  /** The apply stored a new version of the Deployment, so a watch event about it is on its way. */
  private storedNewVersion(applied: KubernetesObject | undefined, ms: ModelService): boolean {
    if (!applied) return false;
    const cached = this.deps.caches.children.Deployment.get(ms.metadata.name, ms.metadata.namespace);
    return cached?.metadata?.resourceVersion !== applied.metadata?.resourceVersion;
  }

  private owned<T extends KubernetesObject>(kind: ChildKind, ms: ModelService, fresh: ReadonlyMap<ChildKind, KubernetesObject>): T | undefined {
    const obj = fresh.get(kind) ?? this.deps.caches.children[kind].get(ms.metadata.name, ms.metadata.namespace);
    return obj && controlledBy(obj, ms.metadata.uid) ? (obj as T) : undefined;
  }

  /** Writes the status if it changed; returns the status computed (undefined: the ModelService is gone). */
  private async updateStatus(
    key: string,
    ms: ModelService,
    refusal: { reason: string; message: string } | undefined,
    fresh: ReadonlyMap<ChildKind, KubernetesObject>,
    registry: RegistryDecision | undefined,
  ): Promise<ModelServiceStatus | undefined> {
    const now = this.now();
    const written = this.statusWritten.get(key);
    // Our last write may not have reached the cache yet; comparing against the older status
    // would write the same thing again. Past the window the cache has it: forget the copy.
    const recent = written !== undefined && written.uid === ms.metadata.uid && now.getTime() - written.atMs < CACHE_LAG_WINDOW_MS;
    if (written && !recent) this.statusWritten.delete(key);
    const previous = recent ? written.status : ms.status;
    const deployment = this.owned<V1Deployment>('Deployment', ms, fresh);
    const ingress = this.owned<V1Ingress>('Ingress', ms, fresh);
    const next = computeStatus(
      { ...ms, ...(previous ? { status: previous } : {}) },
      {
        ...(deployment ? { deployment } : {}),
        ...(ingress ? { ingress } : {}),
        pods: this.deps.caches.pods(ms.metadata.namespace, ms.metadata.name),
        ...(refusal ? { reconcileError: refusal } : {}),
        ...(registry ? { registry } : {}),
      },
      this.deps.config,
      now,
    );
    if (statusEqual(previous, next)) return next;

    let stored: ModelServiceStatus = next;
    try {
      const body = { apiVersion: API_VERSION, kind: KIND, metadata: { name: ms.metadata.name, namespace: ms.metadata.namespace }, status: next };
      const result = await this.deps.api.apply<KubernetesObject & { status?: ModelServiceStatus }>(pathOf(body, 'status'), body, FIELD_MANAGER);
      stored = result.status ?? next;
    } catch (err) {
      // Deleted meanwhile: nothing to report on.
      ignoreStatus(err, 404);
      return undefined;
    }
    this.statusWritten.set(key, { uid: ms.metadata.uid, status: stored, atMs: now.getTime() });
    this.deps.metrics.statusWrites.inc();

    const involved = involvedOf(ms);
    for (const event of transitionEvents(previous?.conditions, next.conditions ?? [])) this.deps.recorder.record(involved, event);
    const ready = next.conditions?.find((c) => c.type === 'Ready');
    this.deps.log.debug('status updated', { modelService: keyOf(ms.metadata.namespace, ms.metadata.name), ready: ready?.status, reason: ready?.reason });
    return stored;
  }
}

/** The ModelService as the object its Events are about. */
function involvedOf(ms: ModelService) {
  return { apiVersion: API_VERSION, kind: KIND, name: ms.metadata.name, namespace: ms.metadata.namespace, uid: ms.metadata.uid };
}
