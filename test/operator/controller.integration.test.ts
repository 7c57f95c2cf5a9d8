import { ApiException, AppsV1Api, CoreV1Api, type KubernetesObject, KubernetesObjectApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { expect } from 'chai';
import path from 'node:path';
import { REPO_ROOT } from '../cluster/paths.js';
import { useCluster, waitUntil } from '../cluster/harness.js';
import { API_VERSION, KIND } from '../../crds/modelservice.js';
import { ANNOTATION_CONFIG_HASH } from '../../operator/builders/deployment.js';
import type { Manager } from '../../operator/manager.js';
import { eventsFor, installCrd, kubectl, modelService, ModelServices, reconcileWrites, startOperator } from './operator-harness.js';

async function exists(objects: KubernetesObjectApi, apiVersion: string, kind: string, namespace: string, name: string): Promise<KubernetesObject | undefined> {
  try {
    return await objects.read({ apiVersion, kind, metadata: { name, namespace } });
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return undefined;
    throw err;
  }
}

describe('@integration ModelService controller', function () {
  this.timeout(120_000);
  const cluster = useCluster();
  let manager: Manager | undefined;

  before(async function () {
    await installCrd(cluster.kubeconfigPath);
  });

  afterEach(async function () {
    await manager?.stop();
    manager = undefined;
  });

  it('kubectl apply of the samples creates every child, each controlled by its ModelService', async function () {
    const { namespace, kubeConfig } = cluster;
    manager = await startOperator(kubeConfig, namespace);
    await kubectl(cluster.kubeconfigPath, 'apply', '-n', namespace, '-k', path.join(REPO_ROOT, 'examples'));
    const objects = KubernetesObjectApi.makeApiClient(kubeConfig);
    const ms = new ModelServices(kubeConfig, namespace);

    const expected: Record<string, [string, string][]> = {
      'plate-reader': [['v1', 'ConfigMap'], ['v1', 'Service'], ['apps/v1', 'Deployment']],
      'plate-reader-prod': [
        ['v1', 'ConfigMap'], ['v1', 'Service'], ['apps/v1', 'Deployment'], ['v1', 'PersistentVolumeClaim'],
        ['autoscaling/v2', 'HorizontalPodAutoscaler'], ['policy/v1', 'PodDisruptionBudget'], ['networking.k8s.io/v1', 'Ingress'],
      ],
    };
    for (const [name, kinds] of Object.entries(expected)) {
      const owner = await ms.get(name);
      expect(owner, name).to.not.equal(undefined);
      for (const [apiVersion, kind] of kinds) {
        const childName = kind === 'PersistentVolumeClaim' ? `${name}-archive` : name;
        let child: KubernetesObject | undefined;
        await waitUntil(`${kind} ${childName}`, 30_000, async () => (child = await exists(objects, apiVersion, kind, namespace, childName)) !== undefined);
        expect(child?.metadata?.ownerReferences, `${kind} ${childName}`).to.deep.equal([
          { apiVersion: API_VERSION, kind: KIND, name, uid: owner?.metadata.uid, controller: true, blockOwnerDeletion: true },
        ]);
      }
    }
    // The API server (1.37) keeps the native preStop sleep action in the pod template.
    const deployment = await kubeConfig.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: 'plate-reader', namespace });
    const pod = deployment.spec!.template.spec!;
    expect(pod.containers[0]!.lifecycle?.preStop?.sleep?.seconds).to.equal(10);
    expect(pod.terminationGracePeriodSeconds).to.be.greaterThan(10);
    // kwok runs the plate reader's pod: what `kubectl get msvc` prints follows.
    await ms.waitForCondition('plate-reader', 'Ready', 'True', 'ModelServing');
    const table = await kubectl(cluster.kubeconfigPath, 'get', 'msvc', 'plate-reader', '-n', namespace, '--no-headers');
    expect(table).to.match(/^plate-reader\s+True\s+1\s+bundled:\/\/plate-detector\s/);
    const events = await eventsFor(kubeConfig, namespace, 'plate-reader');
    expect(events.map((e) => e.reason)).to.include('Ready');
  });

  it('a spec edit rolls the Deployment to pods with the new configuration', async function () {
    const { namespace, kubeConfig } = cluster;
    manager = await startOperator(kubeConfig, namespace);
    const ms = new ModelServices(kubeConfig, namespace);
    const apps = kubeConfig.makeApiClient(AppsV1Api);
    await ms.create(modelService('rolling'));
    await ms.waitForCondition('rolling', 'Ready', 'True');
    const before = await apps.readNamespacedDeployment({ name: 'rolling', namespace });
    const hashBefore = before.spec?.template.metadata?.annotations?.[ANNOTATION_CONFIG_HASH];

    const edited = await ms.patchSpec('rolling', { model: { thresholds: { confidence: 0.6 } } });
    await waitUntil('a new pod template', 30_000, async () => {
      const d = await apps.readNamespacedDeployment({ name: 'rolling', namespace });
      return d.spec?.template.metadata?.annotations?.[ANNOTATION_CONFIG_HASH] !== hashBefore;
    });
    const cm = await kubeConfig.makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: 'rolling', namespace });
    expect(cm.data?.['config.yaml']).to.include('confidence: 0.6');
    // The new ReplicaSet replaces the old pod; the status catches up with the new generation.
    await waitUntil('the rollout to finish', 60_000, async () => {
      const d = await apps.readNamespacedDeployment({ name: 'rolling', namespace });
      const s = d.status;
      return s?.observedGeneration === d.metadata?.generation && s?.updatedReplicas === 1 && s?.replicas === 1 && s?.availableReplicas === 1;
    });
    const ready = await ms.waitForCondition('rolling', 'Ready', 'True');
    expect(ready.observedGeneration).to.equal(edited.metadata.generation);
    const rs = await apps.listNamespacedReplicaSet({ namespace });
    expect(rs.items).to.have.length(2);
    expect((await eventsFor(kubeConfig, namespace, 'rolling')).map((e) => e.reason)).to.include('RolloutStarted');
  });

  it('puts back a deleted Service and a hand-edited Deployment', async function () {
    const { namespace, kubeConfig } = cluster;
    manager = await startOperator(kubeConfig, namespace);
    const ms = new ModelServices(kubeConfig, namespace);
    const apps = kubeConfig.makeApiClient(AppsV1Api);
    const core = kubeConfig.makeApiClient(CoreV1Api);
    await ms.create(modelService('sturdy'));
    await ms.waitForCondition('sturdy', 'Ready', 'True');

    const svc = await core.readNamespacedService({ name: 'sturdy', namespace });
    await core.deleteNamespacedService({ name: 'sturdy', namespace });
    await waitUntil('the Service to come back', 30_000, async () => {
      const again = await core.readNamespacedService({ name: 'sturdy', namespace }).catch(() => undefined);
      return again !== undefined && again.metadata?.uid !== svc.metadata?.uid;
    });

    const original = await apps.readNamespacedDeployment({ name: 'sturdy', namespace });
    const image = original.spec?.template.spec?.containers[0]?.image;
    await apps.patchNamespacedDeployment(
      { name: 'sturdy', namespace, body: { spec: { replicas: 3, template: { spec: { containers: [{ name: 'server', image: 'registry.invalid/someone-else:latest' }] } } } } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    await waitUntil('the Deployment to be restored', 30_000, async () => {
      const d = await apps.readNamespacedDeployment({ name: 'sturdy', namespace });
      return d.spec?.replicas === 1 && d.spec.template.spec?.containers[0]?.image === image;
    });
  });

  it('sends no write at all when a resync finds nothing changed', async function () {
    const { namespace, kubeConfig } = cluster;
    manager = await startOperator(kubeConfig, namespace);
    const ms = new ModelServices(kubeConfig, namespace);
    for (const name of ['quiet-a', 'quiet-b']) await ms.create(modelService(name));
    for (const name of ['quiet-a', 'quiet-b']) await ms.waitForCondition(name, 'Ready', 'True');
    // Let the last status write and its watch events settle.
    await waitUntil('the queue to drain', 10_000, async () => manager!.metrics.queueDepth.get().then((g) => g.values.every((v) => v.value === 0)));
    await new Promise((r) => setTimeout(r, 1000));

    const writes = await reconcileWrites(manager);
    const reconciles = async () => (await manager!.metrics.reconcileTotal.get()).values.reduce((s, v) => s + v.value, 0);
    const before = await reconciles();
    expect(manager.resync()).to.equal(2);
    await waitUntil('both to be reconciled again', 10_000, async () => (await reconciles()) >= before + 2);
    expect(await reconcileWrites(manager)).to.equal(writes);

    // A restarted operator has no memory of its applies: it still finds nothing to write.
    await manager.stop();
    manager = await startOperator(kubeConfig, namespace);
    await waitUntil('the new operator to reconcile both', 10_000, async () => (await counter2(manager!)) >= 2);
    expect(await reconcileWrites(manager)).to.equal(0);
  });

  it('hands spec.replicas over when switching to autoscaling, without dropping to one replica', async function () {
    const { namespace, kubeConfig } = cluster;
    manager = await startOperator(kubeConfig, namespace);
    const ms = new ModelServices(kubeConfig, namespace);
    const apps = kubeConfig.makeApiClient(AppsV1Api);
    await ms.create(modelService('scaling', { replicas: 3 }));
    await waitUntil('3 available replicas', 60_000, async () => {
      const d = await apps.readNamespacedDeployment({ name: 'scaling', namespace }).catch(() => undefined);
      return d?.status?.availableReplicas === 3;
    });

    await ms.patchSpec('scaling', { replicas: null, autoscaling: { minReplicas: 2, maxReplicas: 5 } });
    const objects = KubernetesObjectApi.makeApiClient(kubeConfig);
    await waitUntil('the HorizontalPodAutoscaler', 30_000, async () => (await exists(objects, 'autoscaling/v2', 'HorizontalPodAutoscaler', namespace, 'scaling')) !== undefined);
    const seen = new Set<number | undefined>();
    for (let i = 0; i < 10; i++) {
      seen.add((await apps.readNamespacedDeployment({ name: 'scaling', namespace })).spec?.replicas);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect([...seen]).to.deep.equal([3]);
    const d = await apps.readNamespacedDeployment({ name: 'scaling', namespace });
    const managers = (d.metadata?.managedFields ?? []).filter((f) => JSON.stringify(f.fieldsV1 ?? {}).includes('"f:replicas"')).map((f) => f.manager);
    expect(managers).to.not.include('visionops-operator');
  });

  it('deleting the ModelService garbage-collects its children', async function () {
    const { namespace, kubeConfig } = cluster;
    manager = await startOperator(kubeConfig, namespace);
    const ms = new ModelServices(kubeConfig, namespace);
    const objects = KubernetesObjectApi.makeApiClient(kubeConfig);
    await ms.create(modelService('doomed', { replicas: 2, ingress: { host: 'doomed.example.com' } }));
    const kinds: [string, string][] = [['v1', 'ConfigMap'], ['v1', 'Service'], ['apps/v1', 'Deployment'], ['policy/v1', 'PodDisruptionBudget'], ['networking.k8s.io/v1', 'Ingress']];
    await waitUntil('all children', 30_000, async () => (await Promise.all(kinds.map(([v, k]) => exists(objects, v, k, namespace, 'doomed')))).every(Boolean));

    await ms.delete('doomed');
    await waitUntil('the garbage collector to remove every child and pod', 60_000, async () => {
      const left = await Promise.all(kinds.map(([v, k]) => exists(objects, v, k, namespace, 'doomed')));
      const pods = await kubeConfig.makeApiClient(CoreV1Api).listNamespacedPod({ namespace });
      return left.every((o) => o === undefined) && pods.items.length === 0;
    });
  });
});

async function counter2(manager: Manager): Promise<number> {
  return (await manager.metrics.reconcileTotal.get()).values.reduce((s, v) => s + v.value, 0);
}
