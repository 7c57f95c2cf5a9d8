import { ApiException, type CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage, type Logger } from '../log.js';
import { claimLease, DEFAULT_ELECTION_TIMING, type ElectionTiming, fingerprint, type Observation, releasedLease } from './lease.js';

export interface LeaderElectorOptions {
  coordination: CoordinationV1Api;
  namespace: string;
  name: string;
  identity: string;
  timing?: ElectionTiming;
  log: Logger;
  onStartedLeading(): void;
  /** Leadership lost (renewals failed for renewDeadline; `why` says how) or released by stop(). */
  onStoppedLeading(reason: 'lost' | 'released', why?: string): void;
  onLeaderObserved?(holder: string): void;
}

function isStatus(err: unknown, code: number): boolean {
  return err instanceof ApiException && err.code === code;
}

/** Rejects when `ms` pass first; the request itself keeps running, but nobody waits for it. */
async function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Leader election on a coordination.k8s.io Lease, as client-go does it: acquire when the lease is
 * free or has not changed for leaseDuration, renew every retryPeriod, step down when renewing has
 * failed for renewDeadline. Every write carries the resourceVersion it was based on, so of two
 * candidates racing for the same lease one gets 409 Conflict and stays a candidate.
 */
export class LeaderElector {
  private readonly timing: ElectionTiming;
  private observed: Observation | undefined;
  /** Our last successful write: renewals try it first and skip the read. */
  private lease: V1Lease | undefined;
  private leading = false;
  private stopping = false;
  private wake: AbortController = new AbortController();
  private loop: Promise<void> | undefined;
  /** Why the last attempt failed: its error, or the other holder it found. */
  private lastFailure: string | undefined;
  /** Why leadership was lost, once it was. */
  lostBecause: string | undefined;

  constructor(private readonly opts: LeaderElectorOptions) {
    this.timing = opts.timing ?? DEFAULT_ELECTION_TIMING;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Campaigns until elected, then renews until leadership ends. Resolves when it does. */
  run(): Promise<void> {
    this.loop ??= this.campaign();
    return this.loop;
  }

  /** Stops campaigning; a leader hands the lease back so a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake.abort();
    await this.loop;
    if (!this.leading) return;
    this.leading = false;
    try {
      const current = this.lease ?? (await this.read());
      if (current?.spec?.holderIdentity === this.opts.identity) {
        await within(this.timing.renewDeadlineMs, this.write({ ...current, spec: releasedLease(current.spec, Date.now()) }));
        this.opts.log.info('released the leader lease', { lease: this.leaseName() });
      }
    } catch (err) {
      this.opts.log.warn('could not release the leader lease; standbys take over when it expires', { error: errorMessage(err) });
    }
    this.opts.onStoppedLeading('released');
  }

  private leaseName(): string {
    return `${this.opts.namespace}/${this.opts.name}`;
  }

  private async pause(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: this.wake.signal }).catch(() => undefined);
  }

  private async campaign(): Promise<void> {
    const { retryPeriodMs, renewDeadlineMs } = this.timing;
    this.opts.log.info('campaigning for leadership', { lease: this.leaseName(), identity: this.opts.identity });
    while (!this.stopping && !this.leading) {
      if (await this.attempt(renewDeadlineMs)) {
        this.leading = true;
        this.opts.log.info('became leader', { lease: this.leaseName(), identity: this.opts.identity });
        this.opts.onStartedLeading();
        break;
      }
      // client-go's JitterUntil(retryPeriod, 1.2): candidates spread out instead of colliding.
      await this.pause(retryPeriodMs * (1 + Math.random() * 1.2));
    }
    let lastRenew = Date.now();
    while (!this.stopping && this.leading) {
      await this.pause(retryPeriodMs);
      if (this.stopping) return;
      const left = renewDeadlineMs - (Date.now() - lastRenew);
      if (left > 0 && (await this.attempt(left))) {
        lastRenew = Date.now();
        continue;
      }
      if (Date.now() - lastRenew >= renewDeadlineMs) {
        this.leading = false;
        this.lease = undefined;
        const why = `the lease ${this.leaseName()} was not renewed for ${Date.now() - lastRenew} ms (renew deadline ${renewDeadlineMs} ms): ${this.lastFailure ?? 'no attempt succeeded'}`;
        this.lostBecause = why;
        // Loud on purpose: the process exits after this line and the pod restarts.
        this.opts.log.error('LOST LEADERSHIP: stopping; the process exits and its restart campaigns again', {
          lease: this.leaseName(), identity: this.opts.identity, why, lastRenewedAt: new Date(lastRenew).toISOString(),
        });
        this.opts.onStoppedLeading('lost', why);
        return;
      }
    }
  }

  /** One tryAcquireOrRenew, bounded by `timeoutMs`. */
  private async attempt(timeoutMs: number): Promise<boolean> {
    try {
      return await within(timeoutMs, this.tryAcquireOrRenew());
    } catch (err) {
      this.lastFailure = `last attempt failed: ${errorMessage(err)}`;
      this.opts.log.warn('leader election attempt failed', { lease: this.leaseName(), error: errorMessage(err), leading: this.leading });
      return false;
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = Date.now();
    // Fast path for a leader: renew on top of our own last write. A 409 means someone else wrote
    // in between, which the slow path (read, then decide) sorts out.
    if (this.leading && this.lease?.spec) {
      const claim = claimLease(this.lease.spec, undefined, now, this.opts.identity, this.timing);
      if (claim.action === 'update') {
        try {
          this.remember(await this.write({ ...this.lease, spec: claim.spec }));
          return true;
        } catch (err) {
          if (!isStatus(err, 409)) throw err;
        }
      }
    }
    const current = await this.read();
    if (current) this.observe(current, now);
    const claim = claimLease(current?.spec, this.observed, now, this.opts.identity, this.timing);
    if (claim.action === 'wait') {
      if (this.leading) {
        this.lastFailure = `${claim.holder} holds the lease now`;
        this.opts.log.warn('the leader lease is held by another instance', { lease: this.leaseName(), holder: claim.holder });
      }
      this.lease = undefined;
      return false;
    }
    try {
      const written =
        claim.action === 'create'
          ? await this.opts.coordination.createNamespacedLease({
              namespace: this.opts.namespace,
              body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.opts.name, namespace: this.opts.namespace }, spec: claim.spec },
            })
          : await this.write({ ...(current as V1Lease), spec: claim.spec });
      this.remember(written);
      return true;
    } catch (err) {
      // Another candidate created or updated it first: theirs now, unless it expires.
      if (isStatus(err, 409)) return false;
      throw err;
    }
  }

  private async read(): Promise<V1Lease | undefined> {
    try {
      return await this.opts.coordination.readNamespacedLease({ name: this.opts.name, namespace: this.opts.namespace });
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw err;
    }
  }

  private write(lease: V1Lease): Promise<V1Lease> {
    // The resourceVersion in `lease` makes this a compare-and-swap.
    return this.opts.coordination.replaceNamespacedLease({ name: this.opts.name, namespace: this.opts.namespace, body: lease });
  }

  private observe(lease: V1Lease, now: number): void {
    const fp = fingerprint(lease.spec);
    if (this.observed?.fingerprint === fp) return;
    this.observed = { fingerprint: fp, atMs: now };
    const holder = lease.spec?.holderIdentity ?? '';
    if (holder && holder !== this.opts.identity) this.opts.onLeaderObserved?.(holder);
  }

  private remember(lease: V1Lease): void {
    this.lease = lease;
    this.observed = { fingerprint: fingerprint(lease.spec), atMs: Date.now() };
  }
}
