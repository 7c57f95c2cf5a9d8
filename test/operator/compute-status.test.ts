import type { V1Ingress, V1Pod } from '@kubernetes/client-node';
import { expect } from 'chai';
import { Value } from 'typebox/value';
import { type Condition, type ModelService, type ModelServiceStatus, modelServiceStatusSchema } from '../../crds/modelservice.js';
import { computeStatus, type ObservedState } from '../../operator/status/compute-status.js';
import { SHA, config, crashingPod, deployment, fetchFailedPod, modelService, pod, readyPod, rolledOut } from './fixtures.js';

const NOW = new Date('2026-11-25T10:00:00.000Z');

function status(ms: ModelService, observed: Partial<ObservedState>, now = NOW): ModelServiceStatus {
  return computeStatus(ms, { pods: [], ...observed }, config, now);
}

function cond(s: ModelServiceStatus, type: Condition['type']): Pick<Condition, 'status' | 'reason'> & { message: string } {
  const c = s.conditions?.find((x) => x.type === type);
  if (!c) throw new Error(`no ${type} condition`);
  return { status: c.status, reason: c.reason, message: c.message };
}

function summary(s: ModelServiceStatus): Record<string, string> {
  return Object.fromEntries((s.conditions ?? []).map((c) => [c.type, `${c.status} ${c.reason}`]));
}

describe('status calculator', () => {
  it('reports a rolled-out, serving ModelService as Ready with where to reach it', () => {
    const s = status(modelService(), { deployment: rolledOut(1), pods: [readyPod('plates-a')] });
    expect(summary(s)).to.deep.equal({
      Ready: 'True ModelServing',
      ModelReady: 'True ModelLoaded',
      Available: 'True MinimumReplicasAvailable',
      Progressing: 'False RolloutComplete',
      Degraded: 'False AsExpected',
    });
    expect(s).to.deep.include({
      observedGeneration: 3,
      replicas: 1,
      readyReplicas: 1,
      selector: 'app.kubernetes.io/name=visionops-server,app.kubernetes.io/instance=plates',
      address: 'http://plates.vision.svc.cluster.local',
      model: { uri: 'https://models.example.com/plates.onnx', sha256: SHA },
    });
    expect(s).to.not.have.property('url');
    for (const c of s.conditions!) expect(c.observedGeneration, c.type).to.equal(3);
  });

  it('says the model fetch failed, with the fetcher\'s own message, when the init container exits non-zero', () => {
    for (const p of [fetchFailedPod('plates-a'), fetchFailedPod('plates-a', true)]) {
      const s = status(modelService(), { deployment: deployment({ replicas: 1, updatedReplicas: 1, unavailableReplicas: 1 }), pods: [p] });
      expect(cond(s, 'ModelReady')).to.include({ status: 'False', reason: 'ModelFetchFailed' });
      expect(cond(s, 'ModelReady').message).to.include('has sha256 bbbb, expected aaaa');
      expect(cond(s, 'Degraded')).to.include({ status: 'True', reason: 'ModelFetchFailed' });
      expect(cond(s, 'Ready')).to.include({ status: 'False', reason: 'ModelFetchFailed' });
      expect(s).to.not.have.property('model');
    }
  });

  it('reports CrashLoopBackOff with the last exit of the server', () => {
    const s = status(modelService(), { deployment: deployment({ replicas: 1, updatedReplicas: 1 }), pods: [crashingPod('plates-a')] });
    expect(cond(s, 'Degraded')).to.include({ status: 'True', reason: 'CrashLoopBackOff' });
    expect(cond(s, 'Degraded').message).to.include('plates-a').and.include('exit code 1').and.include('invalid ONNX protobuf');
    expect(cond(s, 'Ready')).to.include({ status: 'False', reason: 'CrashLoopBackOff' });
  });

  it('reports ImagePullBackOff, also when it is the fetch container that cannot start', () => {
    const p = pod('plates-a', {
      phase: 'Pending',
      initContainerStatuses: [
        { name: 'fetch-model', image: 'nope/server:1', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ErrImagePull', message: 'manifest unknown' } } },
      ],
    });
    const s = status(modelService(), { deployment: deployment({ replicas: 1 }), pods: [p] });
    expect(cond(s, 'Degraded')).to.include({ status: 'True', reason: 'ImagePullBackOff' });
    expect(cond(s, 'Degraded').message).to.include('nope/server:1').and.include('manifest unknown');
  });

  it('reports Unschedulable with the scheduler\'s explanation', () => {
    const p = pod('plates-a', {
      phase: 'Pending',
      conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes are available: 3 Insufficient cpu.' }],
    });
    const s = status(modelService(), { deployment: deployment({ replicas: 1, updatedReplicas: 1 }), pods: [p] });
    expect(cond(s, 'Degraded')).to.deep.equal({ status: 'True', reason: 'Unschedulable', message: 'pod plates-a: 0/3 nodes are available: 3 Insufficient cpu.' });
    expect(cond(s, 'ModelReady')).to.include({ status: 'False', reason: 'Unschedulable' });
  });

  it('names the most actionable cause when pods fail differently, and how many are affected', () => {
    const s = status(modelService({ replicas: 2 }), { deployment: deployment({ replicas: 2 }, { replicas: 2 }), pods: [crashingPod('plates-a'), fetchFailedPod('plates-b')] });
    expect(cond(s, 'Degraded').reason).to.equal('ModelFetchFailed');
    expect(cond(s, 'Degraded').message).to.match(/^pod plates-b: .*\(2 pods affected\)$/);
  });

  it('reports ProgressDeadlineExceeded from the Deployment when no pod explains it', () => {
    const d = deployment({
      replicas: 2,
      updatedReplicas: 1,
      readyReplicas: 1,
      availableReplicas: 1,
      conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "plates-7d9" has timed out progressing.' }],
    });
    const s = status(modelService(), { deployment: d, pods: [readyPod('plates-old')] });
    expect(cond(s, 'Progressing')).to.include({ status: 'False', reason: 'ProgressDeadlineExceeded' });
    expect(cond(s, 'Degraded')).to.include({ status: 'True', reason: 'ProgressDeadlineExceeded' });
    expect(cond(s, 'Degraded').message).to.include('timed out progressing');
  });

  it('during a model change: the old model keeps serving, the new one is downloading', () => {
    const oldModel = { uri: 'https://models.example.com/plates-v1.onnx', sha256: 'b'.repeat(64) };
    const fetching = pod('plates-new', {
      phase: 'Pending',
      initContainerStatuses: [{ name: 'fetch-model', image: 'img', imageID: '', ready: false, restartCount: 0, state: { running: {} } }],
      containerStatuses: [{ name: 'server', image: 'img', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'PodInitializing' } } }],
    });
    const d = deployment({ replicas: 2, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 }, { replicas: 1, generation: 2 });
    const s = status(modelService(), { deployment: d, pods: [readyPod('plates-old', oldModel), fetching] });
    expect(summary(s)).to.deep.include({ Ready: 'False ModelFetching', ModelReady: 'False ModelFetching', Progressing: 'True RolloutInProgress', Degraded: 'False AsExpected' });
    expect(cond(s, 'Progressing').message).to.equal('1 old pod still running');
    expect(s.model).to.deep.equal(oldModel);
  });

  it('waits for the server to warm up before calling the model ready', () => {
    const starting = pod('plates-a', {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'False' }],
      containerStatuses: [{ name: 'server', image: 'img', imageID: '', ready: false, restartCount: 0, state: { running: {} } }],
    });
    const s = status(modelService(), { deployment: deployment({ replicas: 1, updatedReplicas: 1 }), pods: [starting] });
    expect(summary(s)).to.deep.include({ ModelReady: 'False ModelLoading', Ready: 'False ModelLoading', Available: 'False MinimumReplicasUnavailable' });
  });

  it('before the Deployment exists, nothing claims to be available', () => {
    const s = status(modelService(), {});
    expect(summary(s)).to.deep.equal({
      Ready: 'False PodsPending',
      ModelReady: 'False PodsPending',
      Available: 'False DeploymentPending',
      Progressing: 'True DeploymentPending',
      Degraded: 'False AsExpected',
    });
    expect(s).to.include({ replicas: 0, readyReplicas: 0 });
  });

  it('scaled to zero is not ready, and says why', () => {
    const s = status(modelService({ replicas: 0 }), { deployment: deployment({}, { replicas: 0 }) });
    expect(summary(s)).to.deep.include({ Ready: 'False ScaledToZero', ModelReady: 'False ScaledToZero', Available: 'False ScaledToZero' });
  });

  it('ignores pods that are going away', () => {
    const leaving: V1Pod = { ...crashingPod('plates-old'), metadata: { ...crashingPod('plates-old').metadata, deletionTimestamp: new Date() } };
    const evicted = pod('plates-evicted', { phase: 'Failed', reason: 'Evicted' });
    const s = status(modelService(), { deployment: rolledOut(1), pods: [leaving, evicted, readyPod('plates-a')] });
    expect(cond(s, 'Ready').status).to.equal('True');
  });

  it('a failed apply (quota, webhook, immutable field) shows as Degraded with its reason', () => {
    const s = status(modelService(), { deployment: rolledOut(1), pods: [readyPod('plates-a')], reconcileError: { reason: 'Forbidden', message: 'exceeded quota: compute' } });
    expect(cond(s, 'Degraded')).to.deep.equal({ status: 'True', reason: 'Forbidden', message: 'exceeded quota: compute' });
    expect(cond(s, 'Ready').status).to.equal('False');
    const odd = status(modelService(), { reconcileError: { reason: 'not camel case!', message: 'x' } });
    expect(cond(odd, 'Degraded').reason).to.equal('ReconcileFailed');
  });

  it('publishes the external URL once the Ingress exists', () => {
    const ingress: V1Ingress = { metadata: { name: 'plates' }, status: { loadBalancer: { ingress: [{ ip: '203.0.113.7' }] } } };
    const tls = modelService({ ingress: { host: 'plates.example.com', tls: { secretName: 't' } } });
    expect(status(tls, { ingress }).url).to.equal('https://plates.example.com');
    expect(status(tls, {}).url).to.equal(undefined);
    expect(status(modelService({ ingress: { host: 'plates.example.com', path: '/v1' } }), { ingress }).url).to.equal('http://plates.example.com/v1');
    expect(status(modelService({ ingress: {} }), { ingress }).url).to.equal('http://203.0.113.7');
    expect(status(modelService({ ingress: {} }), { ingress: { metadata: { name: 'plates' } } }).url).to.equal(undefined);
  });

  it('stays ready while an HPA adds a replica that is still starting', () => {
    const d = deployment({ replicas: 3, updatedReplicas: 3, readyReplicas: 2, availableReplicas: 2 }, { replicas: 3 });
    const s = status(modelService({ autoscaling: { maxReplicas: 5 } }), { deployment: d, pods: [readyPod('a'), readyPod('b'), pod('c', { phase: 'Pending' })] });
    expect(summary(s)).to.deep.include({ Ready: 'True ModelServing', Available: 'False MinimumReplicasUnavailable', Progressing: 'True RolloutInProgress' });
  });

  it('computes statuses the CRD accepts (the apiserver refuses a status write that breaks the schema)', () => {
    const cases: Partial<ObservedState>[] = [
      {},
      { deployment: rolledOut(1), pods: [readyPod('a')] },
      { deployment: deployment({ replicas: 2 }, { replicas: 2 }), pods: [crashingPod('a'), fetchFailedPod('b')] },
      { reconcileError: { reason: 'Forbidden', message: 'x'.repeat(40000) } },
    ];
    for (const observed of cases) {
      const s = status(modelService({ ingress: { host: 'plates.example.com' } }), observed);
      expect([...Value.Errors(modelServiceStatusSchema, s)]).to.deep.equal([]);
    }
  });
});
