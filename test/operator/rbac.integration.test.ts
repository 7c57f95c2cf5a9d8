import {
  ApiException,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../cluster/paths.js';
import { useCluster, waitUntil } from '../cluster/harness.js';
import { GROUP, PLURAL, VERSION } from '../../crds/modelservice.js';
import type { Manager } from '../../operator/manager.js';
import { counter, eventsFor, installConfig, type Installed, installCrd, kubectl, modelService, ModelServices, removeClusterGrants, startOperator } from './operator-harness.js';

/** The API status code a call was refused with, or 'allowed'. */
async function outcome(call: Promise<unknown>): Promise<number | 'allowed'> {
  try {
    await call;
    return 'allowed';
  } catch (err) {
    if (err instanceof ApiException) return err.code;
    throw err;
  }
}

describe('@integration operator RBAC from config/', function () {
  this.timeout(120_000);
  const cluster = useCluster();
  let installed: Installed;
  let asOperator: KubeConfig;
  let manager: Manager | undefined;

  before(async function () {
    await installCrd(cluster.kubeconfigPath);
    installed = await installConfig(cluster.kubeconfigPath);
    // A real token of the ServiceAccount, as the pod would mount it.
    const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    const request = await core.createNamespacedServiceAccountToken({
      name: installed.serviceAccount,
      namespace: installed.namespace,
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    const server = cluster.kubeConfig.getCurrentCluster();
    if (!server || !request.status?.token) throw new Error('no cluster or token');
    asOperator = new KubeConfig();
    asOperator.loadFromClusterAndUser(server, { name: installed.serviceAccount, token: request.status.token });
  });

  after(async function () {
    // Cluster-wide grants go; the CRD stays (other suites' ModelServices depend on it) and so
    // does the namespace (deleting takes a while and nothing else uses it).
    await removeClusterGrants(cluster.kubeConfig, installed);
  });

  afterEach(async function () {
    await manager?.stop();
    manager = undefined;
  });

  it('with the ServiceAccount the operator does its whole job: children, deletions, status, events, its lease', async function () {
    const { namespace } = cluster;
    const lease = `rbac-${randomBytes(3).toString('hex')}`;
    manager = await startOperator(asOperator, namespace, {
      leaderElection: { enabled: true, namespace: installed.namespace, name: lease, identity: 'rbac-test', timing: { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 } },
    });
    const ms = new ModelServices(cluster.kubeConfig, namespace);
    await ms.create(modelService('allowed', { replicas: 2, ingress: { host: 'allowed.example.com' }, archive: { enabled: true, size: '1Gi' } }));
    const objects = KubernetesObjectApi.makeApiClient(cluster.kubeConfig);
    const read = (apiVersion: string, kind: string, name = 'allowed') => objects.read({ apiVersion, kind, metadata: { name, namespace } }).then(() => true, () => false);
    const forbidden = async () => {
      if ((await counter(manager!, 'rest_client_requests_total', (l) => l.code === '403')) > 0) throw new Error('the operator was refused a request (HTTP 403)');
    };
    await waitUntil('every child', 30_000, async () =>
      (await forbidden(), await Promise.all([
        read('v1', 'ConfigMap'), read('v1', 'Service'), read('apps/v1', 'Deployment'), read('v1', 'PersistentVolumeClaim', 'allowed-archive'),
        read('policy/v1', 'PodDisruptionBudget'), read('networking.k8s.io/v1', 'Ingress'),
      ])).every(Boolean),
    );
    await ms.patchSpec('allowed', { ingress: null, archive: null, replicas: 1 });
    await waitUntil('the Ingress and PDB to be deleted', 30_000, async () => !(await read('networking.k8s.io/v1', 'Ingress')) && !(await read('policy/v1', 'PodDisruptionBudget')));
    await ms.waitForCondition('allowed', 'Ready', 'True');
    expect((await eventsFor(cluster.kubeConfig, namespace, 'allowed')).map((e) => e.reason)).to.include('Ready');
    const held = await cluster.kubeConfig.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: lease, namespace: installed.namespace });
    expect(held.spec?.holderIdentity).to.equal('rbac-test');
    expect(await counter(manager, 'rest_client_requests_total', (l) => l.code === '403')).to.equal(0);
  });

  it('the ServiceAccount is refused everything else', async function () {
    const { namespace } = cluster;
    const core = asOperator.makeApiClient(CoreV1Api);
    const custom = asOperator.makeApiClient(CustomObjectsApi);
    const apps = asOperator.makeApiClient(AppsV1Api);
    const ms = { group: GROUP, version: VERSION, namespace, plural: PLURAL };
    await new ModelServices(cluster.kubeConfig, namespace).create(modelService('guarded'));

    const refused = {
      'read secrets': await outcome(core.listNamespacedSecret({ namespace })),
      'read secrets anywhere': await outcome(core.listSecretForAllNamespaces({})),
      'create pods': await outcome(core.createNamespacedPod({ namespace, body: { metadata: { name: 'x' }, spec: { containers: [{ name: 'x', image: 'x' }] } } })),
      'delete pods': await outcome(core.deleteCollectionNamespacedPod({ namespace })),
      'create a ModelService': await outcome(custom.createNamespacedCustomObject({ ...ms, body: modelService('intruder') })),
      'edit a ModelService spec': await outcome(custom.patchNamespacedCustomObject({ ...ms, name: 'guarded', body: { spec: { replicas: 5 } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch))),
      'delete a ModelService': await outcome(custom.deleteNamespacedCustomObject({ ...ms, name: 'guarded' })),
      'delete a Deployment': await outcome(apps.deleteCollectionNamespacedDeployment({ namespace })),
      'create StatefulSets': await outcome(apps.createNamespacedStatefulSet({ namespace, body: { metadata: { name: 'x' }, spec: { selector: {}, serviceName: 'x', template: {} } } })),
      'grant itself a role': await outcome(asOperator.makeApiClient(RbacAuthorizationV1Api).createClusterRoleBinding({
        body: { metadata: { name: 'escalate' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'ServiceAccount', name: installed.serviceAccount, namespace: installed.namespace }] },
      })),
      'take leases outside its namespace': await outcome(asOperator.makeApiClient(CoordinationV1Api).createNamespacedLease({ namespace, body: { metadata: { name: 'x' }, spec: {} } })),
      'delete its own lease': await outcome(asOperator.makeApiClient(CoordinationV1Api).deleteCollectionNamespacedLease({ namespace: installed.namespace })),
      'create namespaces': await outcome(core.createNamespace({ body: { metadata: { name: `x-${randomBytes(3).toString('hex')}` } } })),
    };
    expect(Object.entries(refused).filter(([, code]) => code !== 403)).to.deep.equal([]);
  });
});

describe('@integration operator RBAC from config/namespaced (Roles only)', function () {
  this.timeout(180_000);
  const cluster = useCluster();
  let manager: Manager | undefined;
  const others: string[] = [];

  afterEach(async function () {
    await manager?.stop();
    manager = undefined;
    const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    await Promise.all(others.splice(0).map((name) => core.deleteNamespace({ name }).catch(() => undefined)));
  });

  it('installed into one namespace it does its whole job there with a Role, and is refused every other namespace and everything cluster-wide', async function () {
    const { namespace, kubeconfigPath } = cluster;
    await installCrd(kubeconfigPath);
    // A user's overlay: config/namespaced into their namespace (here the test's).
    const overlay = await mkdtemp(path.join(tmpdir(), 'visionops-namespaced-'));
    await writeFile(
      path.join(overlay, 'kustomization.yaml'),
      `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: ${namespace}\nresources:\n  - ${path.relative(overlay, path.join(REPO_ROOT, 'config/namespaced'))}\n`,
    );
    const rendered = parseAllDocuments(await kubectl(kubeconfigPath, 'kustomize', overlay)).map((d) => d.toJS() as { kind: string; metadata: { name: string; namespace?: string } });
    expect(rendered.filter((d) => d.kind.startsWith('Cluster'))).to.deep.equal([]);
    await kubectl(kubeconfigPath, 'apply', '--server-side', '--force-conflicts', '-k', overlay);
    const sa = rendered.find((d) => d.kind === 'ServiceAccount')!.metadata.name;
    const request = await cluster.kubeConfig.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({ name: sa, namespace, body: { spec: { audiences: [], expirationSeconds: 3600 } } });
    const server = cluster.kubeConfig.getCurrentCluster();
    if (!server || !request.status?.token) throw new Error('no cluster or token');
    const asOperator = new KubeConfig();
    asOperator.loadFromClusterAndUser(server, { name: sa, token: request.status.token });

    // As the Deployment of config/namespaced runs it: watching its own namespace, electing there.
    manager = await startOperator(asOperator, namespace, {
      watchNamespace: namespace,
      leaderElection: { enabled: true, namespace, name: 'visionops-operator-leader', identity: 'namespaced', timing: { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 } },
    });
    const ms = new ModelServices(cluster.kubeConfig, namespace);
    await ms.create(modelService('local', { ingress: { host: 'local.example.com' } }));
    const objects = KubernetesObjectApi.makeApiClient(cluster.kubeConfig);
    const read = (apiVersion: string, kind: string, name = 'local') => objects.read({ apiVersion, kind, metadata: { name, namespace } }).then(() => true, () => false);
    await waitUntil('every child', 60_000, async () =>
      (await Promise.all([read('v1', 'ConfigMap'), read('v1', 'Service'), read('apps/v1', 'Deployment'), read('networking.k8s.io/v1', 'Ingress')])).every(Boolean),
    );
    await ms.waitForCondition('local', 'Ready', 'True');
    expect(await counter(manager, 'rest_client_requests_total', (l) => l.code === '403')).to.equal(0);

    // Another namespace, and anything cluster-wide, is out of its reach.
    const other = `t-other-${randomBytes(3).toString('hex')}`;
    others.push(other);
    await cluster.kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: other } } });
    const core = asOperator.makeApiClient(CoreV1Api);
    const apps = asOperator.makeApiClient(AppsV1Api);
    const custom = asOperator.makeApiClient(CustomObjectsApi);
    const refused = {
      'list Deployments in another namespace': await outcome(apps.listNamespacedDeployment({ namespace: other })),
      'create a ConfigMap in another namespace': await outcome(core.createNamespacedConfigMap({ namespace: other, body: { metadata: { name: 'x' } } })),
      'create a Service in another namespace': await outcome(core.createNamespacedService({ namespace: other, body: { metadata: { name: 'x' }, spec: { ports: [{ port: 80 }] } } })),
      'list Deployments cluster-wide': await outcome(apps.listDeploymentForAllNamespaces({})),
      'list ConfigMaps cluster-wide': await outcome(core.listConfigMapForAllNamespaces({})),
      'list ModelServices cluster-wide': await outcome(custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })),
      'list ModelServices in another namespace': await outcome(custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: other, plural: PLURAL })),
    };
    expect(Object.entries(refused).filter(([, code]) => code !== 403)).to.deep.equal([]);
  });
});
