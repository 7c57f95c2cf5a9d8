import { expect } from 'chai';
import type { Condition } from '../../crds/modelservice.js';
import { controlledBy, keyOf, ownerKey, podOwnerKey, splitKey } from '../../operator/controller/owners.js';
import { rolloutStartedEvent, transitionEvents } from '../../operator/controller/transitions.js';

function conditions(spec: Record<string, [Condition['status'], string]>): Condition[] {
  return Object.entries(spec).map(([type, [status, reason]]) => ({ type, status, reason, message: `${reason} details`, lastTransitionTime: '2026-11-25T10:00:00Z' }));
}

describe('events for status transitions', () => {
  it('says nothing about the first, expected "not ready yet"', () => {
    const first = conditions({ Ready: ['False', 'PodsPending'], Degraded: ['False', 'AsExpected'], Progressing: ['True', 'RolloutInProgress'] });
    expect(transitionEvents(undefined, first)).to.deep.equal([]);
  });

  it('announces becoming ready', () => {
    const before = conditions({ Ready: ['False', 'ModelLoading'], Degraded: ['False', 'AsExpected'] });
    const after = conditions({ Ready: ['True', 'ModelServing'], Degraded: ['False', 'AsExpected'] });
    expect(transitionEvents(before, after)).to.deep.equal([{ type: 'Normal', reason: 'Ready', message: 'ModelServing details' }]);
  });

  it('warns with the cause when degraded, and says when it recovered', () => {
    const ok = conditions({ Ready: ['True', 'ModelServing'], Degraded: ['False', 'AsExpected'] });
    const crashing = conditions({ Ready: ['False', 'CrashLoopBackOff'], Degraded: ['True', 'CrashLoopBackOff'] });
    expect(transitionEvents(ok, crashing)).to.deep.equal([{ type: 'Warning', reason: 'CrashLoopBackOff', message: 'CrashLoopBackOff details' }]);
    const fetchFailing = conditions({ Ready: ['False', 'ModelFetchFailed'], Degraded: ['True', 'ModelFetchFailed'] });
    expect(transitionEvents(crashing, fetchFailing).map((e) => e.reason), 'a new cause is news').to.deep.equal(['ModelFetchFailed']);
    expect(transitionEvents(fetchFailing, ok)).to.deep.equal([
      { type: 'Normal', reason: 'Recovered', message: 'no longer degraded (was ModelFetchFailed)' },
      { type: 'Normal', reason: 'Ready', message: 'ModelServing details' },
    ]);
  });

  it('warns when ready is lost without a failure', () => {
    const ok = conditions({ Ready: ['True', 'ModelServing'], Degraded: ['False', 'AsExpected'], Progressing: ['False', 'RolloutComplete'] });
    const rolling = conditions({ Ready: ['False', 'RolloutInProgress'], Degraded: ['False', 'AsExpected'], Progressing: ['True', 'RolloutInProgress'] });
    expect(transitionEvents(ok, rolling).map((e) => `${e.type}/${e.reason}`)).to.deep.equal(['Warning/NotReady']);
  });

  it('notes a rollout when an apply changes the pod template, whatever the order of its keys', () => {
    const template = (image: string) => ({ metadata: { labels: { app: 'x' }, annotations: { 'visionops.io/config-hash': 'h1' } }, spec: { containers: [{ name: 'server', image }] } });
    const dep = (image: string, generation: number) => ({ metadata: { name: 'x', generation }, spec: { selector: {}, template: template(image) } });
    const reordered = { metadata: { name: 'x', generation: 3 }, spec: { selector: {}, template: { spec: { containers: [{ image: 'a', name: 'server' }] }, metadata: { annotations: { 'visionops.io/config-hash': 'h1' }, labels: { app: 'x' } } } } };
    expect(rolloutStartedEvent(dep('a', 3), reordered)).to.equal(undefined);
    expect(rolloutStartedEvent(undefined, dep('a', 1)), 'a new Deployment is no rollout').to.equal(undefined);
    expect(rolloutStartedEvent(dep('a', 3), undefined), 'nothing applied').to.equal(undefined);
    const e = rolloutStartedEvent(dep('a', 3), dep('b', 4));
    expect(e?.reason).to.equal('RolloutStarted');
    expect(e?.type).to.equal('Normal');
    expect(e?.message).to.include('generation 4');
  });
});

describe('owner lookups', () => {
  const ref = { apiVersion: 'visionops.io/v1alpha1', kind: 'ModelService', name: 'plates', uid: 'u1', controller: true };

  it('maps a child to its controlling ModelService', () => {
    expect(ownerKey({ metadata: { namespace: 'ns', ownerReferences: [ref] } })).to.equal('ns/plates');
    expect(ownerKey({ metadata: { namespace: 'ns', ownerReferences: [{ ...ref, controller: false }] } })).to.equal(undefined);
    expect(ownerKey({ metadata: { namespace: 'ns', ownerReferences: [{ ...ref, apiVersion: 'other.io/v1' }] } })).to.equal(undefined);
    expect(controlledBy({ metadata: { ownerReferences: [ref] } }, 'u1')).to.equal(true);
    expect(controlledBy({ metadata: { ownerReferences: [ref] } }, 'u2')).to.equal(false);
  });

  it('maps a server pod to its ModelService by label (pods belong to ReplicaSets)', () => {
    const labels = { 'app.kubernetes.io/instance': 'plates', 'app.kubernetes.io/managed-by': 'visionops-operator' };
    expect(podOwnerKey({ metadata: { namespace: 'ns', labels } })).to.equal('ns/plates');
    expect(podOwnerKey({ metadata: { namespace: 'ns', labels: { 'app.kubernetes.io/instance': 'plates' } } })).to.equal(undefined);
  });

  it('round-trips queue keys', () => {
    expect(splitKey(keyOf('ns', 'a'))).to.deep.equal({ namespace: 'ns', name: 'a' });
  });
});
