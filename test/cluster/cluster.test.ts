import {
  ApiException,
  AppsV1Api,
  AuthenticationV1Api,
  CoreV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
  VersionApi,
  type V1Deployment,
} from '@kubernetes/client-node';
import { expect } from 'chai';
import { useCluster, waitUntil } from './harness.js';
import { KUBERNETES_VERSION } from './versions.js';

function deployment(name: string, replicas: number): V1Deployment {
  const labels = { app: name };
  return {
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        // kwok never pulls images: any reference will do.
        spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1', resources: { requests: { cpu: '100m', memory: '64Mi' } } }] },
      },
    },
  };
}

/** The status code of a rejected API call (ApiException.code), or undefined if it succeeded. */
async function statusOf(call: Promise<unknown>): Promise<number | undefined> {
  try {
    await call;
    return undefined;
  } catch (e) {
    if (e instanceof ApiException) return e.code;
    throw e;
  }
}

describe('@integration test control plane', function () {
  const cluster = useCluster();

  it('serves the pinned Kubernetes release', async function () {
    const version = await cluster.kubeConfig.makeApiClient(VersionApi).getCode();
    expect(version.gitVersion).to.equal(KUBERNETES_VERSION);
  });

  it('runs a Deployment to Ready pods on the kwok nodes', async function () {
    const apps = cluster.kubeConfig.makeApiClient(AppsV1Api);
    const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    const { namespace } = cluster;
    await apps.createNamespacedDeployment({ namespace, body: deployment('web', 3) });

    await waitUntil('3 available replicas', 60_000, async () => {
      const d = await apps.readNamespacedDeployment({ name: 'web', namespace });
      return d.status?.availableReplicas === 3;
    });
    const pods = (await core.listNamespacedPod({ namespace, labelSelector: 'app=web' })).items;
    const nodes = (await core.listNode({ labelSelector: 'type=kwok' })).items.map((n) => n.metadata?.name);
    expect(pods).to.have.length(3);
    for (const pod of pods) {
      expect(pod.status?.phase).to.equal('Running');
      expect(pod.status?.conditions?.find((c) => c.type === 'Ready')?.status).to.equal('True');
      expect(nodes).to.include(pod.spec?.nodeName);
    }
  });

  it('garbage-collects the ReplicaSet and Pods of a deleted Deployment', async function () {
    const apps = cluster.kubeConfig.makeApiClient(AppsV1Api);
    const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    const { namespace } = cluster;
    await apps.createNamespacedDeployment({ namespace, body: deployment('doomed', 2) });
    await waitUntil('2 available replicas', 60_000, async () => {
      const d = await apps.readNamespacedDeployment({ name: 'doomed', namespace });
      return d.status?.availableReplicas === 2;
    });
    const replicaSets = (await apps.listNamespacedReplicaSet({ namespace })).items;
    expect(replicaSets).to.have.length(1);
    expect(replicaSets[0]?.metadata?.ownerReferences?.[0]?.kind).to.equal('Deployment');

    // Background propagation: the API server deletes the Deployment at once and leaves its
    // dependents to kube-controller-manager's garbage collector, which is what is under test.
    await apps.deleteNamespacedDeployment({ name: 'doomed', namespace, propagationPolicy: 'Background' });
    await waitUntil('ReplicaSet and Pods to be collected', 60_000, async () => {
      const [rs, pods] = await Promise.all([apps.listNamespacedReplicaSet({ namespace }), core.listNamespacedPod({ namespace })]);
      return rs.items.length === 0 && pods.items.length === 0;
    });
  });

  it('lets a client-certificate user do only what its Role allows', async function () {
    const rbac = cluster.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
    const { namespace } = cluster;
    await rbac.createNamespacedRole({
      namespace,
      body: { metadata: { name: 'configmap-reader' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }] },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: 'alice-reads-configmaps' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'configmap-reader' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'alice' }],
      },
    });

    const alice: KubeConfig = await cluster.userKubeConfig('alice', ['visionops:testers']);
    const whoami = await alice.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    expect(whoami.status?.userInfo?.username).to.equal('alice');
    expect(whoami.status?.userInfo?.groups).to.include('visionops:testers');

    const core = alice.makeApiClient(CoreV1Api);
    // The RBAC authorizer reads bindings from an informer cache, so the grant lands a moment later.
    await waitUntil('alice may list configmaps', 10_000, async () => (await statusOf(core.listNamespacedConfigMap({ namespace }))) === undefined);
    expect(await statusOf(core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'nope' } } }))).to.equal(403);
    expect(await statusOf(core.listNamespacedSecret({ namespace }))).to.equal(403);
    expect(await statusOf(core.listNamespacedConfigMap({ namespace: 'kube-system' }))).to.equal(403);
  });

  it('issues service-account tokens that authenticate', async function () {
    const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    const { namespace } = cluster;
    const request = await core.createNamespacedServiceAccountToken({
      name: 'default',
      namespace,
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const token = request.status?.token;
    expect(token).to.be.a('string');

    const server = cluster.kubeConfig.getCurrentCluster();
    if (!server) throw new Error('no current cluster');
    const sa = new KubeConfig();
    sa.loadFromClusterAndUser(server, { name: 'default-sa', token });
    const review = await sa.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    expect(review.status?.userInfo?.username).to.equal(`system:serviceaccount:${namespace}:default`);
    expect(await statusOf(sa.makeApiClient(CoreV1Api).listNamespacedSecret({ namespace }))).to.equal(403);
  });
});
