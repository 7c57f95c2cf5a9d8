/**
 * charts/visionops with the real helm (built by test/cluster): lint, template, and consistency
 * with config/ (the kustomize install) so the two installs cannot drift apart: the same RBAC rules,
 * the same pod hardening, probes and ports, the same CRD. Then the chart installed into the test
 * control plane by ci/deploy.sh (the deploy jobs' script), and the operator run with the chart's
 * ServiceAccount identity and the chart's settings, reconciling a sample: the chart's RBAC is
 * enough for the operator, and deploy.sh's rollout wait works.
 *
 * kwok's nodes run no containers, so the operator runs here as a process (operator/main.ts), with a
 * token the API server issued to the chart's ServiceAccount and the env of the chart's Deployment.
 *
 * "@integration": it needs the binaries test/cluster builds (helm, kubectl) and, for the install,
 * the control plane. A fresh checkout builds them on first use, as the cluster suites do.
 */
import { AppsV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, type V1Deployment, type V1EnvVar } from '@kubernetes/client-node';
import { expect } from 'chai';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { buildModelServiceCrd } from '../../crds/crd.js';
import { GROUP, PLURAL, VERSION } from '../../crds/modelservice.js';
import { DEFAULT_SERVER_IMAGE } from '../../operator/config.js';
import { binariesCurrent, buildAll, binPath } from '../cluster/build.js';
import { runCommand } from '../cluster/command.js';
import { useCluster, waitUntil } from '../cluster/harness.js';
import { REPO_ROOT } from '../cluster/paths.js';
import { ModelServices } from '../operator/operator-harness.js';

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const CHART = path.join(REPO_ROOT, 'charts', 'visionops');
/** The API server's RBAC refusal, as it appears (JSON-escaped or not) in the operator's log. */
const RBAC_DENIED = /User \\?"?system:serviceaccount:[^"\\]+\\?"? cannot/;
const HELM = binPath('helm');
const KUBECTL = binPath('kubectl');

// helm keeps caches and repository config under HOME; give it a scratch one.
const helmHome = mkdtempSync(path.join(tmpdir(), 'visionops-helm-'));
const helmEnv = { ...process.env, HELM_CACHE_HOME: path.join(helmHome, 'cache'), HELM_CONFIG_HOME: path.join(helmHome, 'config'), HELM_DATA_HOME: path.join(helmHome, 'data') };

function helm(...args: string[]): Promise<string> {
  return runCommand(HELM, args, { cwd: REPO_ROOT, env: helmEnv });
}

async function render(...set: string[]): Promise<Doc[]> {
  const out = await helm('template', 'vo', CHART, '--namespace', 'visionops-system', ...set.flatMap((s) => ['--set', s]));
  return parseAllDocuments(out).map((d) => d.toJS() as Doc).filter(Boolean);
}

function docs(file: string): Doc[] {
  return parseAllDocuments(readFileSync(path.join(REPO_ROOT, file), 'utf8')).map((d) => d.toJS() as Doc);
}

const one = (all: Doc[], kind: string): Doc => {
  const found = all.filter((d) => d.kind === kind);
  expect(found, kind).to.have.length(1);
  return found[0]!;
};

const container = (deployment: Doc): Doc => deployment.spec.template.spec.containers[0];
const envOf = (deployment: Doc): Record<string, V1EnvVar> => Object.fromEntries((container(deployment).env as V1EnvVar[]).map((e) => [e.name, e]));

/** The TypeScript sources of the operator, to check that an env var the chart sets is one it reads. */
function operatorSources(): string {
  const dir = path.join(REPO_ROOT, 'operator');
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => readFileSync(path.join(dir, f), 'utf8'))
    .join('\n');
}

describe('@integration helm chart charts/visionops', function () {
  this.timeout(60_000);

  before(async function () {
    // Fresh checkouts build helm and kubectl with the rest of the test cluster (long the first time).
    if (!(await binariesCurrent())) {
      this.timeout(0);
      await buildAll({ log: (l) => console.error(`[cluster] ${l}`) });
    }
  });

  after(() => rmSync(helmHome, { recursive: true, force: true }));

  describe('helm lint and helm template', () => {
    it('lints clean (--strict) with the defaults and with every switch flipped', async () => {
      await helm('lint', '--strict', CHART);
      await helm('lint', '--strict', CHART, '--set', 'leaderElection.enabled=false,metrics.enabled=false,rbac.create=false,serviceAccount.create=false,serviceAccount.name=existing,watchNamespace=plates,logLevel=debug');
      await helm('lint', '--strict', CHART, '--set', 'replicaCount=2,metrics.serviceMonitor.enabled=true,leaderElection.leaseName=my-lease');
    });

    it('refuses values the operator would refuse: the schema and the template guards', async () => {
      const refused = (set: string) => helm('template', 'vo', CHART, '--set', set).then(() => 'rendered', (e: Error) => e.message);
      expect(await refused('logLevel=verbose')).to.match(/logLevel.*value must be one of/);
      expect(await refused('metrics.port=70000')).to.match(/metrics\/port/);
      expect(await refused('imagePullPolicy=Always')).to.match(/additional properties 'imagePullPolicy' not allowed/);
      expect(await refused('replicaCount=2,leaderElection.enabled=false')).to.match(/replicaCount > 1 needs leaderElection.enabled/);
      expect(await refused('leaderElection.renewDeadlineSeconds=20')).to.match(/leaseDurationSeconds > renewDeadlineSeconds > retryPeriodSeconds/);
      expect(await refused('serviceAccount.create=false')).to.match(/serviceAccount.name is required/);
    });

    it('grants exactly the RBAC rules of config/rbac, bound to the release\'s ServiceAccount in its namespace', async () => {
      const all = await render();
      const sa = one(all, 'ServiceAccount');
      expect(sa.metadata.namespace).to.equal('visionops-system');
      const hint = (from: string, to: string) => `charts/visionops/templates/${to} must carry the rules of config/rbac/${from}`;
      expect(one(all, 'ClusterRole').rules, hint('role.yaml', 'clusterrole.yaml')).to.deep.equal(docs('config/rbac/role.yaml')[0]!.rules);
      expect(one(all, 'Role').rules, hint('leader_election_role.yaml', 'leader-election-role.yaml')).to.deep.equal(docs('config/rbac/leader_election_role.yaml')[0]!.rules);
      expect(one(all, 'Role').metadata.namespace).to.equal('visionops-system');
      for (const binding of [one(all, 'ClusterRoleBinding'), one(all, 'RoleBinding')]) {
        expect(binding.subjects).to.deep.equal([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: 'visionops-system' }]);
        const role = one(all, binding.roleRef.kind);
        expect(binding.roleRef.name).to.equal(role.metadata.name);
      }
      expect(one(all, 'Deployment').spec.template.spec.serviceAccountName).to.equal(sa.metadata.name);
    });

    it('with watchNamespace: the same rules as a Role in that namespace, bound to the release\'s ServiceAccount, and no ClusterRole', async () => {
      const all = await render('watchNamespace=team-a');
      expect(all.filter((d) => d.kind === 'ClusterRole' || d.kind === 'ClusterRoleBinding')).to.deep.equal([]);
      const manager = all.find((d) => d.kind === 'Role' && d.metadata.namespace === 'team-a')!;
      expect(manager.rules).to.deep.equal(docs('config/rbac/role.yaml')[0]!.rules);
      const binding = all.find((d) => d.kind === 'RoleBinding' && d.metadata.namespace === 'team-a')!;
      expect(binding.roleRef).to.deep.equal({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: manager.metadata.name });
      expect(binding.subjects).to.deep.equal([{ kind: 'ServiceAccount', name: one(all, 'ServiceAccount').metadata.name, namespace: 'visionops-system' }]);
      // Leader election stays in the release namespace.
      expect(all.filter((d) => d.kind === 'Role').map((d) => d.metadata.namespace).sort()).to.deep.equal(['team-a', 'visionops-system']);
      expect(envOf(one(all, 'Deployment')).VISIONOPS_WATCH_NAMESPACE).to.deep.equal({ name: 'VISIONOPS_WATCH_NAMESPACE', value: 'team-a' });
      const refused = await helm('template', 'vo', CHART, '--set', 'watchNamespace=Team_A').then(() => 'rendered', (e: Error) => e.message);
      expect(refused).to.match(/watchNamespace/);
    });

    it('installs the generated CRD, byte for byte (the chart links to crds/, it holds no copy)', async () => {
      const shown = await helm('show', 'crds', CHART);
      expect(shown.trim()).to.equal(readFileSync(path.join(REPO_ROOT, 'crds/visionops.io_modelservices.yaml'), 'utf8').trim());
      expect(parse(shown)).to.deep.equal(buildModelServiceCrd());
    });

    it('runs the operator as config/manager does: same pod hardening, probes, ports, resources, env', async () => {
      const chart = one(await render(), 'Deployment');
      const kustomize = docs('config/manager/manager.yaml').find((d) => d.kind === 'Deployment')!;
      const [c, k] = [container(chart), container(kustomize)];
      expect(chart.spec.template.spec.securityContext).to.deep.equal(kustomize.spec.template.spec.securityContext);
      expect(c.securityContext).to.deep.equal(k.securityContext);
      expect(c.livenessProbe).to.deep.equal(k.livenessProbe);
      expect(c.readinessProbe).to.deep.equal(k.readinessProbe);
      expect(c.ports).to.deep.equal(k.ports);
      expect(c.resources).to.deep.equal(k.resources);
      expect(chart.spec.template.spec.terminationGracePeriodSeconds).to.equal(kustomize.spec.template.spec.terminationGracePeriodSeconds);
      // Same selector labels: the metrics Service, dashboards and `kubectl -l` work for both installs.
      for (const key of ['app.kubernetes.io/name', 'control-plane']) {
        expect(chart.spec.selector.matchLabels[key], key).to.equal(kustomize.spec.selector.matchLabels[key]);
      }
      const [ce, ke] = [envOf(chart), envOf(kustomize)];
      for (const name of Object.keys(ke)) expect(ce[name], name).to.deep.equal(ke[name]);
      expect(ce.VISIONOPS_SERVER_IMAGE!.value).to.equal(DEFAULT_SERVER_IMAGE);
    });

    it('sets only env vars the operator reads, and each value follows its setting', async () => {
      const sources = operatorSources();
      const chartEnv = envOf(one(await render('watchNamespace=plates', 'leaderElection.leaseName=my-lease'), 'Deployment'));
      const names = Object.keys(chartEnv).filter((n) => n.startsWith('VISIONOPS_'));
      expect(names.length).to.be.at.least(10);
      for (const name of names) expect(sources.includes(`'${name}'`) || sources.includes(`.${name}`), `${name} is read in operator/`).to.equal(true);

      const defaults = envOf(one(await render(), 'Deployment'));
      expect(defaults.VISIONOPS_LOG_LEVEL!.value).to.equal('info');
      expect(defaults.VISIONOPS_METRICS_BIND_ADDRESS!.value).to.equal(':8080');
      expect(defaults.VISIONOPS_LEADER_ELECT!.value).to.equal('true');
      expect(defaults).to.not.have.property('VISIONOPS_WATCH_NAMESPACE');
      expect(chartEnv.VISIONOPS_WATCH_NAMESPACE!.value).to.equal('plates');
      expect(chartEnv.VISIONOPS_LEADER_ELECTION_ID!.value).to.equal('my-lease');
      // The registry: MLflow's own variable for the default tracking server, and the poll interval.
      expect(defaults).to.not.have.property('MLFLOW_TRACKING_URI');
      expect(defaults.VISIONOPS_REGISTRY_POLL_SECONDS!.value).to.equal('30');
      const registry = envOf(one(await render('mlflow.trackingUri=https://mlflow.example.com', 'mlflow.pollIntervalSeconds=60'), 'Deployment'));
      expect(registry.MLFLOW_TRACKING_URI!.value).to.equal('https://mlflow.example.com');
      expect(registry.VISIONOPS_REGISTRY_POLL_SECONDS!.value).to.equal('60');

      const off = await render('metrics.enabled=false', 'leaderElection.enabled=false', 'logLevel=debug', 'image.tag=abc123', 'serverImage.tag=abc123');
      const offEnv = envOf(one(off, 'Deployment'));
      expect(offEnv.VISIONOPS_METRICS_BIND_ADDRESS!.value, '"0" is off').to.equal('0');
      expect(offEnv.VISIONOPS_LEADER_ELECT!.value).to.equal('false');
      expect(offEnv.VISIONOPS_LOG_LEVEL!.value).to.equal('debug');
      expect(offEnv.VISIONOPS_SERVER_IMAGE!.value).to.equal('ghcr.io/visionops/visionops-server:abc123');
      expect(container(one(off, 'Deployment')).image).to.equal('ghcr.io/visionops/visionops-operator:abc123');
      expect(off.map((d) => d.kind)).to.not.include.members(['Service', 'Role', 'RoleBinding']);
      expect(container(one(off, 'Deployment')).ports.map((p: { name: string }) => p.name)).to.deep.equal(['health']);
    });

    it('versions the chart with the project: appVersion is package.json\'s version and config/manager\'s tag', () => {
      const chart = parse(readFileSync(path.join(CHART, 'Chart.yaml'), 'utf8')) as { appVersion: string; version: string };
      const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
      expect(chart.appVersion).to.equal(pkg.version);
      expect(DEFAULT_SERVER_IMAGE).to.equal(`ghcr.io/visionops/visionops-server:${pkg.version}`);
      const images = (docs('config/manager/kustomization.yaml')[0]!.images as { newTag: string }[]).map((i) => i.newTag);
      expect(images).to.deep.equal([chart.appVersion]);
    });
  });

  describe('installed by ci/deploy.sh into the control plane', function () {
    this.timeout(240_000);
    const cluster = useCluster();
    const release = `vo-${randomBytes(3).toString('hex')}`;
    const repository = 'registry.example.com/visionops';
    let operator: ChildProcess | undefined;
    let operatorLog = '';
    let scratch: string;
    // useCluster's own afterEach (registered first, so run first) forgets the namespace.
    let namespace: string | undefined;

    before(() => {
      scratch = mkdtempSync(path.join(tmpdir(), 'visionops-deploy-'));
    });

    afterEach(async function () {
      this.timeout(60_000);
      await stopOperator();
      if (this.currentTest?.state === 'failed') console.error(`operator log (last 4000 chars):\n${operatorLog.slice(-4000)}`);
      // ClusterRole and ClusterRoleBinding outlive the test namespace: uninstall the release.
      if (namespace) await helm('uninstall', release, '--namespace', namespace, '--kubeconfig', cluster.kubeconfigPath, '--wait').catch(() => undefined);
      namespace = undefined;
    });

    after(() => rmSync(scratch, { recursive: true, force: true }));

    function deploy(tag: string, extra: Record<string, string> = {}): Promise<string> {
      return runCommand(path.join(REPO_ROOT, 'ci/deploy.sh'), [], {
        cwd: REPO_ROOT,
        env: {
          ...helmEnv,
          KUBECONFIG: cluster.kubeconfigPath,
          HELM: HELM,
          KUBECTL: KUBECTL,
          IMAGE_TAG: tag,
          IMAGE_REPOSITORY: repository,
          RELEASE_NAME: release,
          VISIONOPS_NAMESPACE: cluster.namespace,
          ...extra,
        },
      });
    }

    /** The release's operator Deployment, as the API server has it. */
    async function releaseDeployment(): Promise<V1Deployment> {
      const apps = cluster.kubeConfig.makeApiClient(AppsV1Api);
      const list = await apps.listNamespacedDeployment({ namespace: cluster.namespace, labelSelector: `app.kubernetes.io/instance=${release}` });
      expect(list.items, 'the release has one Deployment').to.have.length(1);
      return list.items[0]!;
    }

    /**
     * The operator process with what its pod would have: a token of the chart's ServiceAccount
     * (TokenRequest, as the kubelet gets one) and the container env of the chart's Deployment, the
     * downward-API values filled in. Only the listen addresses change: ephemeral local ports.
     */
    async function startOperatorAsChart(): Promise<void> {
      const deployment = await releaseDeployment();
      const pod = deployment.spec!.template.spec!;
      const sa = pod.serviceAccountName!;
      const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
      const token = await core.createNamespacedServiceAccountToken({ name: sa, namespace: cluster.namespace, body: { spec: { audiences: [], expirationSeconds: 3600 } } });
      const kc = new KubeConfig();
      kc.loadFromClusterAndUser(cluster.kubeConfig.getCurrentCluster()!, { name: sa, token: token.status!.token });
      const kubeconfig = path.join(scratch, `${sa}.kubeconfig`);
      writeFileSync(kubeconfig, kc.exportConfig(), { mode: 0o600 });

      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, KUBECONFIG: kubeconfig, POD_NAME: 'operator-under-test', POD_NAMESPACE: cluster.namespace };
      for (const e of pod.containers[0]!.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
      env.VISIONOPS_METRICS_BIND_ADDRESS = '127.0.0.1:0';
      env.VISIONOPS_HEALTH_PROBE_BIND_ADDRESS = '127.0.0.1:0';
      operator = spawn(process.execPath, ['--import', 'tsx', 'operator/main.ts'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      const collect = (b: Buffer) => (operatorLog += b.toString());
      operator.stdout!.on('data', collect);
      operator.stderr!.on('data', collect);
      const proc = operator;
      await waitUntil('the operator starts', 60_000, async () => {
        if (proc.exitCode !== null) throw new Error(`the operator exited with ${proc.exitCode}:\n${operatorLog}`);
        return /operator started/.test(operatorLog);
      });
    }

    async function stopOperator(): Promise<void> {
      const proc = operator;
      operator = undefined;
      if (!proc || proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
      if (proc.exitCode === null) proc.kill('SIGKILL');
    }

    it('deploys, and the operator with the chart\'s identity reconciles a sample; a new tag rolls it and deploy.sh waits for Ready', async function () {
      const ns = (namespace = cluster.namespace);
      const out = await deploy('v1');
      expect(out).to.match(new RegExp(`deployed ${release} \\(v1\\) to namespace ${ns}`));

      // Pod Security admission let the operator's pods into a namespace that enforces "restricted".
      const nsObject = await cluster.kubeConfig.makeApiClient(CoreV1Api).readNamespace({ name: ns });
      expect(nsObject.metadata?.labels?.['pod-security.kubernetes.io/enforce']).to.equal('restricted');
      const deployment = await releaseDeployment();
      expect(deployment.status?.availableReplicas).to.equal(1);
      expect(deployment.spec!.template.spec!.containers[0]!.image).to.equal(`${repository}/visionops-operator:v1`);

      await startOperatorAsChart();
      await runCommand(KUBECTL, ['--kubeconfig', cluster.kubeconfigPath, 'apply', '-n', ns, '-f', 'examples/plate-reader.yaml'], { cwd: REPO_ROOT });
      const objects = cluster.kubeConfig.makeApiClient(CustomObjectsApi);
      const sample = (await objects.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, name: 'plate-reader' })) as Doc;

      // The children, each owned by the sample: the ServiceAccount may create them.
      const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
      const apps = cluster.kubeConfig.makeApiClient(AppsV1Api);
      const owned = (o: { metadata?: { ownerReferences?: { uid: string; controller?: boolean }[] } }) => o.metadata?.ownerReferences?.some((r) => r.uid === sample.metadata.uid && r.controller) === true;
      await waitUntil('ConfigMap, Service and Deployment of plate-reader', 60_000, async () => {
        const found = await Promise.all([
          core.readNamespacedConfigMap({ name: 'plate-reader', namespace: ns }).then(owned, () => false),
          core.readNamespacedService({ name: 'plate-reader', namespace: ns }).then(owned, () => false),
          apps.readNamespacedDeployment({ name: 'plate-reader', namespace: ns }).then(owned, () => false),
        ]);
        return found.every(Boolean);
      });
      const served = await apps.readNamespacedDeployment({ name: 'plate-reader', namespace: ns });
      expect(served.spec!.template.spec!.containers[0]!.image, 'the chart\'s serverImage').to.equal(`${repository}/visionops-server:v1`);

      // It may write status (modelservices/status) and hold its Lease (the chart's Role).
      const ms = new ModelServices(cluster.kubeConfig, ns);
      await ms.waitForCondition('plate-reader', 'Ready', 'True');
      const lease = await cluster.kubeConfig.makeApiClient(CoordinationV1Api).listNamespacedLease({ namespace: ns });
      expect(lease.items.map((l) => l.spec?.holderIdentity)).to.include('operator-under-test');
      expect(operatorLog, 'no RBAC denial').to.not.match(RBAC_DENIED);

      // A new commit: deploy.sh upgrades the release and waits until the sample runs the new server
      // image and is Ready again. In a cluster the operator pod restarts with the new env; here the
      // process is restarted once the release carries the new server image.
      const second = deploy('v2', { SMOKE_MODELSERVICE: `${ns}/plate-reader` });
      second.catch(() => undefined);
      await waitUntil('the release carries the v2 server image', 120_000, async () =>
        envOf((await releaseDeployment()) as Doc).VISIONOPS_SERVER_IMAGE?.value === `${repository}/visionops-server:v2`,
      );
      await stopOperator();
      await startOperatorAsChart();
      const log = await second;
      expect(log).to.match(new RegExp(`waiting for ModelService ${ns}/plate-reader to run ${repository}/visionops-server:v2`));
      expect(log).to.match(/successfully rolled out/);
      expect(log).to.match(new RegExp(`deployed ${release} \\(v2\\)`));
      const rolled = await apps.readNamespacedDeployment({ name: 'plate-reader', namespace: ns });
      expect(rolled.spec!.template.spec!.containers[0]!.image).to.equal(`${repository}/visionops-server:v2`);
      expect(operatorLog, 'no RBAC denial').to.not.match(RBAC_DENIED);
    });
  });
});
