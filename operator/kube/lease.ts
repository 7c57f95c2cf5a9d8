import { V1MicroTime, type V1LeaseSpec } from '@kubernetes/client-node';

/** controller-runtime's defaults: a standby takes over at most ~17 s after the leader vanished. */
export interface ElectionTiming {
  /** How long a lease stays valid after its last renewal, as seen by the candidates. */
  leaseDurationMs: number;
  /** A leader that could not renew for this long steps down (before others may take over). */
  renewDeadlineMs: number;
  /** Pause between attempts to acquire or renew. */
  retryPeriodMs: number;
}

export const DEFAULT_ELECTION_TIMING: ElectionTiming = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

/** What a candidate last saw in the Lease, and when by its own clock. */
export interface Observation {
  /** Fields that change whenever the holder renews or changes; compared to detect activity. */
  fingerprint: string;
  atMs: number;
}

export type Claim =
  | { action: 'create' | 'update'; spec: V1LeaseSpec }
  | { action: 'wait'; holder: string; validForMs: number };

export function fingerprint(spec: V1LeaseSpec | undefined): string {
  const t = (d: Date | string | undefined) => (d === undefined ? '' : new Date(d).getTime());
  return JSON.stringify([spec?.holderIdentity ?? '', t(spec?.renewTime), t(spec?.acquireTime), spec?.leaseTransitions ?? 0, spec?.leaseDurationSeconds ?? 0]);
}

/**
 * client-go's tryAcquireOrRenew as a pure function. Expiry is judged by when *this* candidate last
 * saw the lease change (observation.atMs), never by the renewTime written in it: the holder's
 * clock may be skewed against ours, our own clock never is.
 */
export function claimLease(current: V1LeaseSpec | undefined, observation: Observation | undefined, nowMs: number, identity: string, timing: ElectionTiming): Claim {
  const now = new V1MicroTime(nowMs);
  const durationSeconds = Math.ceil(timing.leaseDurationMs / 1000);
  if (current === undefined) {
    return { action: 'create', spec: { holderIdentity: identity, leaseDurationSeconds: durationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 } };
  }
  const holder = current.holderIdentity ?? '';
  if (holder !== '' && holder !== identity) {
    const durationMs = (current.leaseDurationSeconds ?? durationSeconds) * 1000;
    const seenAt = observation?.atMs ?? nowMs;
    const validForMs = seenAt + durationMs - nowMs;
    if (validForMs > 0) return { action: 'wait', holder, validForMs };
  }
  const renewing = holder === identity;
  return {
    action: 'update',
    spec: {
      holderIdentity: identity,
      leaseDurationSeconds: durationSeconds,
      acquireTime: renewing && current.acquireTime ? new V1MicroTime(new Date(current.acquireTime).getTime()) : now,
      renewTime: now,
      leaseTransitions: (current.leaseTransitions ?? 0) + (renewing ? 0 : 1),
    },
  };
}

/** The record a leader leaves when it stops on purpose: no holder, so a standby need not wait out the lease. */
export function releasedLease(current: V1LeaseSpec, nowMs: number): V1LeaseSpec {
  const now = new V1MicroTime(nowMs);
  return { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: current.leaseTransitions ?? 0 };
}
