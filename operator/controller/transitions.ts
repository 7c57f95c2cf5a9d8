import type { V1Deployment } from '@kubernetes/client-node';
import { isDeepStrictEqual } from 'node:util';
import type { Condition } from '../../crds/modelservice.js';
import { changedConditions } from '../status/conditions.js';

export interface EventSpec {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/**
 * The Kubernetes Events a status change deserves: what someone running `kubectl describe msvc`
 * or watching events wants to know happened. Becoming Ready, a failure and its recovery.
 * (A rollout starting is told by the apply that starts it: rolloutStartedEvent.) Reason or message churn while nothing really changed is left out, and so is
 * the first, expected "not ready yet".
 */
export function transitionEvents(previous: readonly Condition[] | undefined, next: readonly Condition[]): EventSpec[] {
  const before = (type: string) => previous?.find((c) => c.type === type);
  const events: EventSpec[] = [];
  const changed = changedConditions(previous, next);
  const degraded = changed.find((c) => c.type === 'Degraded');
  if (degraded?.status === 'True') events.push({ type: 'Warning', reason: degraded.reason, message: degraded.message });
  else if (degraded?.status === 'False' && before('Degraded')?.status === 'True') {
    events.push({ type: 'Normal', reason: 'Recovered', message: `no longer degraded (was ${before('Degraded')?.reason})` });
  }
  const ready = changed.find((c) => c.type === 'Ready');
  if (ready?.status === 'True') events.push({ type: 'Normal', reason: 'Ready', message: ready.message });
  // Only a fall from Ready: the cause itself is reported by Degraded.
  else if (ready?.status === 'False' && before('Ready')?.status === 'True' && degraded?.status !== 'True') {
    events.push({ type: 'Warning', reason: 'NotReady', message: `${ready.reason}: ${ready.message}` });
  }
  // The registry (models:/ URIs): a resolution that fails, and the server going away and coming back.
  const resolved = changed.find((c) => c.type === 'ModelResolved');
  if (resolved && resolved.status !== 'True') events.push({ type: 'Warning', reason: resolved.reason, message: resolved.message });
  const reachable = changed.find((c) => c.type === 'RegistryReachable');
  if (reachable?.status === 'False' && reachable.reason !== resolved?.reason) events.push({ type: 'Warning', reason: reachable.reason, message: reachable.message });
  else if (reachable?.status === 'True' && before('RegistryReachable') && before('RegistryReachable')?.status !== 'True') {
    events.push({ type: 'Normal', reason: 'RegistryReachable', message: `the registry answers again (was ${before('RegistryReachable')?.reason})` });
  }
  return events;
}

/** JSON's view of an object: typed models and plain objects alike, key order ignored by the comparison. */
function plain(x: unknown): unknown {
  return x === undefined ? undefined : JSON.parse(JSON.stringify(x));
}

/**
 * The operator's own apply changed the pod template of a Deployment that already existed: new pods
 * will replace the old ones. Told from the write itself, not from a status that may never show
 * the rollout in progress (a fast rollout can finish between two status passes).
 */
export function rolloutStartedEvent(before: V1Deployment | undefined, applied: V1Deployment | undefined): EventSpec | undefined {
  if (!before || !applied) return undefined;
  if (isDeepStrictEqual(plain(before.spec?.template), plain(applied.spec?.template))) return undefined;
  const generation = applied.metadata?.generation;
  return { type: 'Normal', reason: 'RolloutStarted', message: `the pod template changed${generation ? ` (Deployment generation ${generation})` : ''}: new pods replace the old ones as they become ready` };
}
