/**
 * The operator image as config/default runs it, against the local control plane: installed with
 * `kubectl apply -k config/default`, the container gets what its pod would (a token of the
 * operator's ServiceAccount in a kubeconfig mounted read-only, the Deployment's env and memory
 * limit, the restricted security context, no writable volume) and reconciles
 * examples/plate-reader.yaml, as it is in the repository, to Ready on kwok nodes.
 */
import { AppsV1Api, CoordinationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { useCluster, waitUntil } from '../cluster/harness.js';
import { REPO_ROOT } from '../cluster/paths.js';
import { installConfig, type Installed, installCrd, kubectl, ModelServices, removeClusterGrants } from '../operator/operator-harness.js';
import { type BuiltImages, builtImages, Container, packageVersion, podman, RESTRICTED } from './podman.js';

/** A port nothing listens on now (the operator shares the host's network to reach 127.0.0.1). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('@integration operator image, run as its pod runs it', function () {
  const cluster = useCluster();
  let images: BuiltImages;
  let installed: Installed;
  let scratch: string;
  let operator: Container | undefined;

  before(async function () {
    this.timeout(0);
    images = await builtImages();
    await installCrd(cluster.kubeconfigPath);
    installed = await installConfig(cluster.kubeconfigPath);
    scratch = mkdtempSync(path.join(tmpdir(), 'visionops-operator-image-'));
  });

  afterEach(async function () {
    this.timeout(30_000);
    if (operator && this.currentTest?.state === 'failed') console.error(`operator log (last 4000 chars):\n${(await operator.logs()).slice(-4000)}`);
    await operator?.remove();
    operator = undefined;
  });

  after(async function () {
    this.timeout(30_000);
    if (installed) await removeClusterGrants(cluster.kubeConfig, installed);
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('is the image config/default deploys, and it deploys the server image npm run images built', () => {
    const version = packageVersion();
    expect(images.images.operator.ref).to.equal(`ghcr.io/visionops/visionops-operator:${version}`);
    const container = installed.deployment.spec!.template.spec!.containers[0]!;
    expect(container.image).to.equal(images.images.operator.ref);
    expect(container.env?.find((e) => e.name === 'VISIONOPS_SERVER_IMAGE')?.value).to.equal(images.images.server.ref);
  });

  it('is at most 15 MB (10^6 bytes) above its base', () => {
    expect((images.images.operator.size - images.base.size) / 1e6).to.be.at.most(15);
  });

  it('reconciles examples/plate-reader.yaml to Ready, writes nothing, and releases its Lease on SIGTERM', async function () {
    this.timeout(240_000);
    const { namespace } = cluster;
    const pod = installed.deployment.spec!.template.spec!;
    const manager = pod.containers[0]!;

    // What the kubelet mounts for the pod's ServiceAccount, here as a kubeconfig (the image's node
    // user must be able to read it, as it can a projected token).
    const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    const token = await core.createNamespacedServiceAccountToken({
      name: installed.serviceAccount,
      namespace: installed.namespace,
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    const kc = new KubeConfig();
    kc.loadFromClusterAndUser(cluster.kubeConfig.getCurrentCluster()!, { name: installed.serviceAccount, token: token.status!.token! });
    const kubeconfig = path.join(scratch, 'kubeconfig');
    writeFileSync(kubeconfig, kc.exportConfig());
    chmodSync(kubeconfig, 0o644);

    const [metricsPort, healthPort] = [await freePort(), await freePort()];
    const podName = `visionops-controller-manager-${randomBytes(3).toString('hex')}`;
    const env: Record<string, string> = {};
    for (const e of manager.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
    Object.assign(env, {
      // The downward API's values.
      POD_NAME: podName,
      POD_NAMESPACE: installed.namespace,
      KUBECONFIG: '/var/run/visionops/kubeconfig',
      // The control plane listens on the host's loopback, so the container shares the host's
      // network: the ports are free ones instead of 8080/8081, and only this test's namespace is
      // watched (other suites' ModelServices are not this operator's business).
      VISIONOPS_METRICS_BIND_ADDRESS: `127.0.0.1:${metricsPort}`,
      VISIONOPS_HEALTH_PROBE_BIND_ADDRESS: `127.0.0.1:${healthPort}`,
      VISIONOPS_WATCH_NAMESPACE: namespace,
      // A Lease of its own: an earlier run's holder would otherwise hold it for a lease duration.
      VISIONOPS_LEADER_ELECTION_ID: `visionops-image-test-${randomBytes(3).toString('hex')}`,
    });
    const memory = manager.resources?.limits?.memory;
    operator = await new Container().start(
      [
        ...RESTRICTED,
        '--read-only-tmpfs=false',
        '--network', 'host',
        ...(memory ? ['--memory', String(memory).replace(/i$/, '')] : []),
        '--volume', `${kubeconfig}:/var/run/visionops/kubeconfig:ro`,
        ...Object.entries(env).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
      ],
      images.images.operator.ref,
    );
    const baselineDiff = await operator.diff();
    const running = operator;
    await waitUntil('the operator /readyz', 60_000, async () => {
      if (!(await running.state()).Running) throw new Error(`the operator exited:\n${await running.logs()}`);
      return (await fetch(`http://127.0.0.1:${healthPort}/readyz`).catch(() => undefined))?.ok === true;
    });

    await kubectl(cluster.kubeconfigPath, 'apply', '-n', namespace, '-f', path.join(REPO_ROOT, 'examples', 'plate-reader.yaml'));
    const ms = new ModelServices(cluster.kubeConfig, namespace);
    await ms.waitForCondition('plate-reader', 'Ready', 'True', undefined, 120_000);
    const deployment = await cluster.kubeConfig.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: 'plate-reader', namespace });
    expect(deployment.spec!.template.spec!.containers[0]!.image).to.equal(images.images.server.ref);

    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).to.match(/controller_runtime_reconcile_total\{[^}]*result="success"[^}]*\} [1-9]/);
    const logs = await operator.logs();
    expect(logs, 'no refusal from the API server').to.not.match(/forbidden|HTTP 403/i);
    expect(logs).to.not.match(/EROFS|read-only file system/i);
    // Only the operator's JSON lines: no runtime warning on the image's Node (client-node 1.x's
    // node-fetch printed a punycode DeprecationWarning on Node 22 at every start).
    expect(logs.split('\n').filter((l) => l.trim() && !l.startsWith('{')), 'log lines that are not the operator\'s JSON').to.deep.equal([]);
    expect(await operator.diff()).to.deep.equal(baselineDiff);

    await podman('kill', '--signal', 'TERM', operator.name);
    expect(await operator.exited(20_000)).to.equal(0);
    const leases = await cluster.kubeConfig.makeApiClient(CoordinationV1Api).listNamespacedLease({ namespace: installed.namespace });
    const lease = leases.items.find((l) => l.metadata?.name === env.VISIONOPS_LEADER_ELECTION_ID);
    expect(lease, 'the Lease it held').to.not.equal(undefined);
    expect(lease!.spec?.holderIdentity ?? '', 'released on SIGTERM').to.not.equal(podName);
  });
});
