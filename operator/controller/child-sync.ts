import { createHash } from 'node:crypto';
import type { KubernetesObject, V1ManagedFieldsEntry } from '@kubernetes/client-node';
import type { Child } from '../desired-state.js';
import { sortDeep } from '../canonical.js';

/** The one field manager the operator applies under: SSA tracks what it owns by this name. */
export const FIELD_MANAGER = 'visionops-operator';
/**
 * Only used to hand spec.replicas over to an HPA: it co-owns the field for one apply, so the
 * value stays when the operator stops applying it (see replicasHandover).
 */
export const HANDOVER_MANAGER = 'visionops-operator-handover';
/** Hash of the applied configuration, stored on each child: a changed spec shows without a diff. */
export const ANNOTATION_APPLIED_HASH = 'visionops.io/applied-hash';

/**
 * How long a fresh apply is trusted over a cache that does not show it yet. The watch event of
 * our own write arrives within milliseconds normally; this only bounds how long a write lost in a
 * race (object deleted before the response came back) goes unnoticed.
 */
export const CACHE_LAG_WINDOW_MS = 30_000;

/** JSON with sorted keys and no undefined members: equal values, equal strings. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortDeep(value));
}


export function shortHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 16);
}

/** The child as it is applied: with the hash of its own content in an annotation. */
export function withAppliedHash(child: Child): { object: Child; hash: string } {
  const hash = shortHash(child);
  const object = { ...child, metadata: { ...child.metadata, annotations: { ...child.metadata.annotations, [ANNOTATION_APPLIED_HASH]: hash } } } as Child;
  return { object, hash };
}

/**
 * The part of `live` at the places `shape` has values: the fields the operator sets, read back.
 * Lists keep their length (an item someone else added is part of what we see).
 */
export function project(live: unknown, shape: unknown): unknown {
  if (Array.isArray(shape)) {
    if (!Array.isArray(live)) return live;
    return live.map((item: unknown, i) => (i < shape.length ? project(item, shape[i]) : item));
  }
  if (shape && typeof shape === 'object') {
    if (!live || typeof live !== 'object' || Array.isArray(live)) return live;
    const out: Record<string, unknown> = {};
    for (const [k, s] of Object.entries(shape)) if (s !== undefined) out[k] = project((live as Record<string, unknown>)[k], s);
    return out;
  }
  return live;
}

/**
 * The fields compared: all but apiVersion and kind, which items of a list response lack (the
 * informer's first view of every object), while watch events and apply responses carry them.
 */
function comparable(desired: object): object {
  const { apiVersion: _a, kind: _k, ...rest } = desired as Record<string, unknown>;
  return rest;
}

export function projectionHash(live: unknown, desired: object): string {
  return shortHash(project(live, comparable(desired)));
}

/** Every field the operator sets has that value in `live`. Exact: "0.5" is not "500m" here. */
export function subsetEqual(desired: object, live: unknown): boolean {
  const shape = comparable(desired);
  return canonicalJson(project(live, shape)) === canonicalJson(shape);
}

/** What the operator knows about its last apply of one child. */
export interface AppliedMemo {
  hash: string;
  /** projectionHash of the object the API server returned: our fields as the server stored them. */
  projection: string;
  atMs: number;
}

export type ApplyDecision =
  | { apply: false; why: 'in-sync' | 'awaiting-cache' }
  | { apply: true; why: 'missing' | 'changed' | 'drifted' };

function appliedHashOf(live: KubernetesObject): string | undefined {
  return live.metadata?.annotations?.[ANNOTATION_APPLIED_HASH];
}

/**
 * Whether a child needs a server-side apply. The target is no request at all when nothing
 * changed, and one when something did:
 * - spec changes show as a different applied-hash annotation;
 * - edits by others (drift) show as our fields reading back differently from what the server
 *   returned after our last apply: comparing against the server's own rendering means
 *   normalisation (quantities, defaults) is never mistaken for drift;
 * - the informer cache may not show our last write yet; that is not a reason to write again.
 */
export function decideApply(desired: Child, hash: string, live: KubernetesObject | undefined, memo: AppliedMemo | undefined, nowMs: number): ApplyDecision {
  if (memo && memo.hash === hash) {
    if (!live || appliedHashOf(live) !== hash) {
      if (nowMs - memo.atMs < CACHE_LAG_WINDOW_MS) return { apply: false, why: 'awaiting-cache' };
      return { apply: true, why: live ? 'changed' : 'missing' };
    }
    return projectionHash(live, desired) === memo.projection ? { apply: false, why: 'in-sync' } : { apply: true, why: 'drifted' };
  }
  if (!live) return { apply: true, why: 'missing' };
  if (appliedHashOf(live) !== hash) return { apply: true, why: 'changed' };
  // No memo (the operator restarted): compare exactly; a normalised field costs one apply, then the memo holds.
  return subsetEqual(desired, live) ? { apply: false, why: 'in-sync' } : { apply: true, why: 'drifted' };
}

/** Whether `manager`'s Apply entry in managedFields covers the field at `path`. */
export function managerOwns(managedFields: readonly V1ManagedFieldsEntry[] | undefined, manager: string, path: readonly string[]): boolean {
  return (managedFields ?? []).some((entry) => {
    if (entry.manager !== manager || entry.operation !== 'Apply') return false;
    let node: unknown = entry.fieldsV1;
    for (const key of path) {
      if (!node || typeof node !== 'object') return false;
      node = (node as Record<string, unknown>)[`f:${key}`];
    }
    return node !== undefined;
  });
}

/**
 * The apply that must precede dropping spec.replicas from a Deployment (the ModelService switched
 * to autoscaling). Applying without a field the manager owned deletes the field, and the
 * Deployment falls back to 1 replica until the HPA acts. Co-owning the current value under a
 * second manager first keeps it (the Kubernetes docs' "transferring ownership" recipe).
 */
export function replicasHandover(desired: Child, live: KubernetesObject | undefined): KubernetesObject | undefined {
  if (desired.kind !== 'Deployment' || desired.spec?.replicas !== undefined || !live) return undefined;
  const replicas = (live as { spec?: { replicas?: number } }).spec?.replicas;
  if (replicas === undefined || !managerOwns(live.metadata?.managedFields, FIELD_MANAGER, ['spec', 'replicas'])) return undefined;
  return { apiVersion: desired.apiVersion, kind: desired.kind, metadata: { name: desired.metadata.name, namespace: desired.metadata.namespace }, spec: { replicas } } as KubernetesObject;
}

/**
 * The cache copy of a Deployment keeps one fact from managedFields: whether the operator's apply
 * owns spec.replicas (replicasHandover needs it). The full entries mirror every field and would
 * double the size of each cached Deployment.
 */
export function trimDeploymentForCache(obj: KubernetesObject): void {
  const ownsReplicas = managerOwns(obj.metadata?.managedFields, FIELD_MANAGER, ['spec', 'replicas']);
  if (!obj.metadata) return;
  if (ownsReplicas) obj.metadata.managedFields = [{ manager: FIELD_MANAGER, operation: 'Apply', fieldsV1: { 'f:spec': { 'f:replicas': {} } } }];
  else delete obj.metadata.managedFields;
}

/** For every other cached kind: managedFields are never read, and are often a third of the object. */
export function dropManagedFields(obj: KubernetesObject): void {
  delete obj.metadata?.managedFields;
}

/**
 * Pods are only read for their status (conditions, container states) and the model annotations;
 * the spec is most of a Pod and the cache holds one per replica.
 */
export function trimPodForCache(pod: KubernetesObject & { spec?: unknown }): void {
  dropManagedFields(pod);
  delete pod.spec;
}
