import { expect } from 'chai';
import { claimLease, DEFAULT_ELECTION_TIMING, fingerprint, releasedLease } from '../../operator/kube/lease.js';

const T = DEFAULT_ELECTION_TIMING;
const NOW = Date.parse('2026-11-25T10:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

describe('leader lease decisions', () => {
  it('uses controller-runtime timing: 15 s lease, 10 s renew deadline, 2 s retry', () => {
    expect(T).to.deep.equal({ leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 });
  });

  it('creates a missing lease for itself', () => {
    const claim = claimLease(undefined, undefined, NOW, 'me', T);
    expect(claim.action).to.equal('create');
    if (claim.action !== 'create') return;
    expect(claim.spec).to.include({ holderIdentity: 'me', leaseDurationSeconds: 15, leaseTransitions: 0 });
    // MicroTime: the API server refuses timestamps without exactly six fraction digits.
    expect(claim.spec.renewTime?.toISOString()).to.equal('2026-11-25T10:00:00.000000Z');
  });

  it('waits while another holder renewed within the lease duration, judged by its own clock', () => {
    const held = { holderIdentity: 'other', leaseDurationSeconds: 15, renewTime: new Date(iso(NOW - 60_000)), leaseTransitions: 2 };
    // The renewTime says a minute ago (the holder's clock may be off); we saw it change 5 s ago.
    const claim = claimLease(held, { fingerprint: fingerprint(held), atMs: NOW - 5_000 }, NOW, 'me', T);
    expect(claim).to.deep.equal({ action: 'wait', holder: 'other', validForMs: 10_000 });
  });

  it('takes over a lease not renewed for the lease duration, counting the transition', () => {
    const held = { holderIdentity: 'other', leaseDurationSeconds: 15, acquireTime: new Date(iso(NOW - 99_000)), renewTime: new Date(iso(NOW - 1_000)), leaseTransitions: 2 };
    const claim = claimLease(held, { fingerprint: fingerprint(held), atMs: NOW - 15_000 }, NOW, 'me', T);
    expect(claim.action).to.equal('update');
    if (claim.action !== 'update') return;
    expect(claim.spec).to.include({ holderIdentity: 'me', leaseTransitions: 3 });
    expect(claim.spec.acquireTime?.getTime()).to.equal(NOW);
  });

  it('renews its own lease keeping acquireTime and the transition count', () => {
    const mine = { holderIdentity: 'me', leaseDurationSeconds: 15, acquireTime: new Date(iso(NOW - 50_000)), renewTime: new Date(iso(NOW - 2_000)), leaseTransitions: 4 };
    const claim = claimLease(mine, undefined, NOW, 'me', T);
    expect(claim.action).to.equal('update');
    if (claim.action !== 'update') return;
    expect(claim.spec).to.include({ holderIdentity: 'me', leaseTransitions: 4 });
    expect(claim.spec.acquireTime?.getTime()).to.equal(NOW - 50_000);
    expect(claim.spec.renewTime?.getTime()).to.equal(NOW);
  });

  it('takes a released lease at once', () => {
    const released = releasedLease({ holderIdentity: 'other', leaseTransitions: 7 }, NOW - 100);
    expect(released).to.include({ holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 7 });
    const claim = claimLease(released, { fingerprint: fingerprint(released), atMs: NOW - 100 }, NOW, 'me', T);
    expect(claim.action).to.equal('update');
  });

  it('sees any renewal as activity: the fingerprint changes with renewTime and holder', () => {
    const a = { holderIdentity: 'x', renewTime: new Date(NOW) };
    expect(fingerprint(a)).to.equal(fingerprint({ holderIdentity: 'x', renewTime: new Date(NOW) }));
    expect(fingerprint(a)).to.not.equal(fingerprint({ holderIdentity: 'x', renewTime: new Date(NOW + 1) }));
    expect(fingerprint(a)).to.not.equal(fingerprint({ holderIdentity: 'y', renewTime: new Date(NOW) }));
  });
});
