import type { Condition, ConditionType } from '../../crds/modelservice.js';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** A condition as computed, before the bookkeeping fields. */
export interface ConditionInput {
  type: ConditionType;
  status: ConditionStatus;
  reason: string;
  message: string;
}

/**
 * metav1.Time precision: the apiserver stores whole seconds. Writing milliseconds would make every
 * read-back differ from what was computed, and the status would be rewritten forever.
 */
export function formatTime(t: Date | string): string {
  const ms = typeof t === 'string' ? Date.parse(t) : t.getTime();
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

const REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

/** Reasons copied from other objects must still satisfy metav1.Condition's pattern, or the status write fails. */
export function safeReason(reason: string | undefined, fallback: string): string {
  return reason && REASON.test(reason) && reason.length <= 1024 ? reason : fallback;
}

/**
 * Stamps observedGeneration and lastTransitionTime. The transition time is kept from the previous
 * condition of the same type unless the status changed, as metav1.Condition prescribes; a new
 * reason or message alone is not a transition.
 */
export function mergeConditions(previous: readonly Condition[] | undefined, next: readonly ConditionInput[], generation: number | undefined, now: Date): Condition[] {
  return next.map((c) => {
    const before = previous?.find((p) => p.type === c.type);
    const lastTransitionTime = before && before.status === c.status ? formatTime(before.lastTransitionTime) : formatTime(now);
    return { type: c.type, status: c.status, ...(generation !== undefined ? { observedGeneration: generation } : {}), lastTransitionTime, reason: c.reason, message: c.message };
  });
}

/** Conditions whose status or reason changed: what deserves a Kubernetes Event. */
export function changedConditions(previous: readonly Condition[] | undefined, next: readonly Condition[]): Condition[] {
  return next.filter((c) => {
    const before = previous?.find((p) => p.type === c.type);
    return !before || before.status !== c.status || before.reason !== c.reason;
  });
}

export function findCondition(conditions: readonly Condition[] | undefined, type: ConditionType): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}
