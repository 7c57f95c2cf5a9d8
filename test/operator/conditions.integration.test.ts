import { CoreV1Api, type V1Pod, type V1PodStatus } from '@kubernetes/client-node';
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { useCluster, waitUntil } from '../cluster/harness.js';
import type { Manager } from '../../operator/manager.js';
import { counter, eventsFor, installCrd, modelService, ModelServices, startOperator } from './operator-harness.js';

const NO_KUBELET_TAINT = 'visionops.test/no-kubelet';

/**
 * kwok plays kubelet on its nodes and would overwrite any pod status a test writes. Pods bound
 * to this node have no kubelet at all: the test writes their status through pods/status, as a
 * kubelet would. The taint keeps every other test's pods off it.
 */
async function createNodeWithoutKubelet(core: CoreV1Api): Promise<string> {
  const name = `no-kubelet-${randomBytes(3).toString('hex')}`;
  const resources = { cpu: '8', memory: '32Gi', pods: '20' };
  await core.createNode({
    body: {
      metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' } },
      spec: { taints: [{ key: NO_KUBELET_TAINT, value: 'true', effect: 'NoSchedule' }] },
      status: { allocatable: resources, capacity: resources },
    },
  });
  return name;
}

const tolerateNoKubelet = [
  { key: NO_KUBELET_TAINT, operator: 'Exists' as const },
  // The node never reports Ready: the node lifecycle controller taints it, which must not evict.
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists' as const },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists' as const },
];

/** Writes the pod's status as a kubelet would (PUT pods/status), retrying on conflicts with the control plane's own updates. */
async function setPodStatus(core: CoreV1Api, pod: V1Pod, status: (now: Date) => V1PodStatus): Promise<void> {
  const { name, namespace } = pod.metadata as { name: string; namespace: string };
  await waitUntil(`status of pod ${name} written`, 10_000, async () => {
    const current = await core.readNamespacedPod({ name, namespace });
    try {
      await core.replaceNamespacedPodStatus({ name, namespace, body: { ...current, status: status(new Date()) } });
      return true;
    } catch {
      return false;
    }
  });
}

const scheduled = (now: Date) => ({ type: 'PodScheduled', status: 'True', lastTransitionTime: now });
const notReady = (now: Date) => [
  { type: 'Ready', status: 'False', lastTransitionTime: now },
  { type: 'ContainersReady', status: 'False', lastTransitionTime: now },
];
const fetched = (now: Date) => ({
  name: 'fetch-model', image: 'img', imageID: '', ready: true, restartCount: 0,
  state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: now, finishedAt: now } },
});

describe('@integration ModelService conditions follow the pods', function () {
  this.timeout(120_000);
  const cluster = useCluster();
  let manager: Manager | undefined;
  let node: string | undefined;

  before(async function () {
    await installCrd(cluster.kubeconfigPath);
    node = await createNodeWithoutKubelet(cluster.kubeConfig.makeApiClient(CoreV1Api));
  });

  after(async function () {
    if (node) await cluster.kubeConfig.makeApiClient(CoreV1Api).deleteNode({ name: node }).catch(() => undefined);
  });

  afterEach(async function () {
    await manager?.stop();
    manager = undefined;
  });

  async function podOf(name: string): Promise<V1Pod> {
    const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    let pod: V1Pod | undefined;
    await waitUntil(`a pod of ${name} bound to ${node}`, 30_000, async () => {
      const { items } = await core.listNamespacedPod({ namespace: cluster.namespace, labelSelector: `app.kubernetes.io/instance=${name}` });
      pod = items.find((p) => p.spec?.nodeName === node);
      return pod !== undefined;
    });
    return pod as V1Pod;
  }

  it('a crash-looping server makes the ModelService Degraded (CrashLoopBackOff), and Ready once it runs', async function () {
    const { namespace, kubeConfig } = cluster;
    manager = await startOperator(kubeConfig, namespace);
    const ms = new ModelServices(kubeConfig, namespace);
    const core = kubeConfig.makeApiClient(CoreV1Api);
    await ms.create(modelService('crashy', { nodeSelector: { 'kubernetes.io/hostname': node as string }, tolerations: tolerateNoKubelet }));
    const pod = await podOf('crashy');

    await setPodStatus(core, pod, (now) => ({
      phase: 'Running',
      conditions: [scheduled(now), { type: 'Initialized', status: 'True', lastTransitionTime: now }, ...notReady(now)],
      initContainerStatuses: [fetched(now)],
      containerStatuses: [{
        name: 'server', image: 'img', imageID: '', ready: false, restartCount: 4,
        state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container=server' } },
        lastState: { terminated: { exitCode: 1, reason: 'Error', message: 'cannot load model: invalid ONNX protobuf', startedAt: now, finishedAt: now } },
      }],
    }));
    const degraded = await ms.waitForCondition('crashy', 'Degraded', 'True', 'CrashLoopBackOff');
    expect(degraded.message).to.include('invalid ONNX protobuf');
    const ready = await ms.condition('crashy', 'Ready');
    expect(ready).to.include({ status: 'False', reason: 'CrashLoopBackOff' });

    await setPodStatus(core, pod, (now) => ({
      phase: 'Running',
      conditions: [scheduled(now), { type: 'Initialized', status: 'True', lastTransitionTime: now }, { type: 'Ready', status: 'True', lastTransitionTime: now }, { type: 'ContainersReady', status: 'True', lastTransitionTime: now }],
      initContainerStatuses: [fetched(now)],
      containerStatuses: [{ name: 'server', image: 'img', imageID: '', ready: true, restartCount: 4, state: { running: { startedAt: now } } }],
    }));
    await ms.waitForCondition('crashy', 'Ready', 'True', 'ModelServing');
    await ms.waitForCondition('crashy', 'Degraded', 'False');
    const events = (await eventsFor(kubeConfig, namespace, 'crashy')).map((e) => `${e.type}/${e.reason}`);
    expect(events).to.include.members(['Warning/CrashLoopBackOff', 'Normal/Recovered', 'Normal/Ready']);
  });

  it('a failing model fetch init container shows as ModelFetchFailed with its exit message', async function () {
    const { namespace, kubeConfig } = cluster;
    manager = await startOperator(kubeConfig, namespace);
    const ms = new ModelServices(kubeConfig, namespace);
    const core = kubeConfig.makeApiClient(CoreV1Api);
    await ms.create(modelService('unfetched', { nodeSelector: { 'kubernetes.io/hostname': node as string }, tolerations: tolerateNoKubelet }));
    const pod = await podOf('unfetched');

    const why = 'model fetch failed: https://models.example.com/plates.onnx has sha256 0bad, expected aaaa';
    await setPodStatus(core, pod, (now) => ({
      phase: 'Pending',
      conditions: [scheduled(now), { type: 'Initialized', status: 'False', reason: 'ContainersNotInitialized', lastTransitionTime: now }, ...notReady(now)],
      initContainerStatuses: [{
        name: 'fetch-model', image: 'img', imageID: '', ready: false, restartCount: 3,
        state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container=fetch-model' } },
        lastState: { terminated: { exitCode: 2, reason: 'Error', message: why, startedAt: now, finishedAt: now } },
      }],
      containerStatuses: [{ name: 'server', image: 'img', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'PodInitializing' } } }],
    }));
    const modelReady = await ms.waitForCondition('unfetched', 'ModelReady', 'False', 'ModelFetchFailed');
    expect(modelReady.message).to.include('has sha256 0bad, expected aaaa').and.include('exit code 2');
    expect(await ms.condition('unfetched', 'Degraded')).to.include({ status: 'True', reason: 'ModelFetchFailed' });
    expect(await ms.condition('unfetched', 'Ready')).to.include({ status: 'False', reason: 'ModelFetchFailed' });
  });

  it('a spec Kubernetes refuses for a child is reported as InvalidSpec, without retry storms, until it is fixed', async function () {
    const { namespace, kubeConfig } = cluster;
    manager = await startOperator(kubeConfig, namespace);
    const ms = new ModelServices(kubeConfig, namespace);
    // The CRD cannot check label keys in a free-form map; the Deployment validation can.
    await ms.create(modelService('picky', { nodeSelector: { 'not a label key!': 'x' } }));
    const degraded = await ms.waitForCondition('picky', 'Degraded', 'True', 'InvalidSpec');
    expect(degraded.message).to.match(/^Deployment picky: HTTP 422: .*nodeSelector/);
    expect(await ms.condition('picky', 'Ready')).to.include({ status: 'False', reason: 'InvalidSpec' });
    expect((await eventsFor(kubeConfig, namespace, 'picky')).map((e) => `${e.type}/${e.reason}`)).to.include('Warning/InvalidSpec');
    // Everything that could be applied was.
    const core = kubeConfig.makeApiClient(CoreV1Api);
    await core.readNamespacedService({ name: 'picky', namespace });
    await new Promise((r) => setTimeout(r, 1000));
    expect(await counter(manager, 'workqueue_retries_total')).to.equal(0);

    await ms.patchSpec('picky', { nodeSelector: null });
    await ms.waitForCondition('picky', 'Ready', 'True');
    expect(await ms.condition('picky', 'Degraded')).to.include({ status: 'False' });
  });
});
