/**
 * Serving from the MLflow registry, end to end on the local control plane: a real `mlflow server`
 * (basic-auth app, proxied artifacts) holds versions registered the way training/tracking.py
 * registers them; the operator reaches it over HTTPS through a front that trusts a private CA
 * (spec.model.mlflow.caBundle), counts requests, and can be taken down to make the registry
 * unreachable. Pods run on kwok nodes, which report them Running and Ready without running them:
 * what a pod would serve is checked by running its two commands (the init container's fetch and
 * the server with the operator's config) as local processes against the same MLflow server.
 */
import { AppsV1Api, CoreV1Api, type V1Container, type V1Deployment, type V1EnvVar, type V1Pod, type V1PodStatus } from '@kubernetes/client-node';
import { expect } from 'chai';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { REPO_ROOT } from '../cluster/paths.js';
import { useCluster, waitUntil } from '../cluster/harness.js';
import type { ModelServiceSpec } from '../../crds/modelservice.js';
import type { Manager } from '../../operator/manager.js';
import { DEFAULT_REGISTRY_SETTINGS } from '../../operator/registry/model-registry.js';
import { ADMIN, MlflowRest, type MlflowServer, type Registered, RegistryFront, registerVersions, sharedMlflow } from '../registry/mlflow.js';
import { counter, eventsFor, installCrd, kubectl, modelService, ModelServices, startOperator } from './operator-harness.js';

const MODELS = path.join(REPO_ROOT, 'test/fixtures/models');
const V5 = path.join(MODELS, 'yolov5-const.onnx');
const V8 = path.join(MODELS, 'yolov8-const.onnx');
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
const POLL_MS = 1000;
const NO_KUBELET_TAINT = 'visionops.test/no-kubelet';

/** The spec's registry settings as a user writes them: credentials from a Secret, the front's CA from a ConfigMap. */
function registrySpec(uri: string, extra: Partial<NonNullable<ModelServiceSpec['model']['mlflow']>> = {}): Partial<ModelServiceSpec> {
  return { model: { uri, mlflow: { credentialsSecret: 'mlflow-creds', caBundle: { configMap: 'mlflow-ca' }, ...extra } } };
}

function fetchContainer(d: V1Deployment | undefined): V1Container {
  const c = d?.spec?.template.spec?.initContainers?.find((x) => x.name === 'fetch-model');
  if (!c) throw new Error('no fetch-model init container');
  return c;
}

interface ProcResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('@integration serving from the MLflow registry', function () {
  this.timeout(180_000);
  const cluster = useCluster();
  let manager: Manager | undefined;
  let mlflow: MlflowServer;
  let front: RegistryFront;
  let rest: MlflowRest;
  /** plates v1 (yolov5), v2 (yolov8), v3 (no hash tag), v4 (tag says yolov8's hash, file is yolov5). */
  let plates: Registered[];
  let counted: Registered[];

  before(async function () {
    this.timeout(900_000);
    await installCrd(cluster.kubeconfigPath);
    mlflow = await sharedMlflow();
    rest = new MlflowRest(mlflow.url);
    front = new RegistryFront(mlflow.url);
    await front.start();
    const all = await registerVersions(mlflow, [
      { name: 'plates', files: [V5] },
      { name: 'plates', files: [V8] },
      { name: 'plates', files: [V5], hashTag: 'none' },
      { name: 'plates', files: [V5], hashTag: sha(V8) },
      { name: 'count-a', files: [V5] },
      { name: 'count-b', files: [V5] },
      { name: 'count-c', files: [V8] },
    ]);
    plates = all.slice(0, 4);
    counted = all.slice(4);
  });

  after(async () => {
    await front?.stop();
  });

  afterEach(async function () {
    await manager?.stop();
    manager = undefined;
  });

  /** The Secret and CA ConfigMap a user creates next to the ModelService. */
  async function prepareNamespace(password = ADMIN.password): Promise<void> {
    const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    await core.createNamespacedSecret({
      namespace: cluster.namespace,
      body: { metadata: { name: 'mlflow-creds' }, stringData: { MLFLOW_TRACKING_USERNAME: ADMIN.username, MLFLOW_TRACKING_PASSWORD: password } },
    });
    await core.createNamespacedConfigMap({ namespace: cluster.namespace, body: { metadata: { name: 'mlflow-ca' }, data: { 'ca.crt': front.caPem } } });
  }

  function operator(): Promise<Manager> {
    return startOperator(cluster.kubeConfig, cluster.namespace, {
      // MLFLOW_TRACKING_URI of the operator: the ModelServices leave trackingUri out.
      registry: { ...DEFAULT_REGISTRY_SETTINGS, defaultTrackingUri: front.url, pollIntervalMs: POLL_MS, maxBackoffMs: 2 * POLL_MS },
    });
  }

  async function deploymentOf(name: string): Promise<V1Deployment | undefined> {
    return cluster.kubeConfig.makeApiClient(AppsV1Api).readNamespacedDeployment({ name, namespace: cluster.namespace }).catch(() => undefined);
  }

  async function pinnedVersion(name: string): Promise<string | undefined> {
    return (await deploymentOf(name))?.spec?.template.metadata?.annotations?.['visionops.io/model-uri'];
  }

  /** The init container's environment as the kubelet would build it: secretKeyRefs read from the Secret, the CA file where the pod mounts it. */
  async function podEnv(env: V1EnvVar[] | undefined, dir: string): Promise<Record<string, string>> {
    const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    const out: Record<string, string> = { PATH: process.env.PATH ?? '' };
    for (const e of env ?? []) {
      const ref = e.valueFrom?.secretKeyRef;
      if (ref) {
        const secret = await core.readNamespacedSecret({ name: ref.name!, namespace: cluster.namespace });
        const v = secret.data?.[ref.key];
        if (v !== undefined) out[e.name] = Buffer.from(v, 'base64').toString('utf8');
      } else if (e.name === 'NODE_EXTRA_CA_CERTS') {
        const ca = path.join(dir, 'ca.crt');
        writeFileSync(ca, front.caPem);
        out[e.name] = ca;
      } else if (e.value !== undefined) out[e.name] = e.value;
    }
    return out;
  }

  /** Runs the Deployment's fetch init container command as a process, writing the model into `dir`. */
  async function runFetch(d: V1Deployment | undefined, dir: string): Promise<ProcResult> {
    const c = fetchContainer(d);
    const args = (c.args ?? []).map((a) => (a === '/models/model.onnx' ? path.join(dir, 'model.onnx') : a));
    const env = await podEnv(c.env, dir);
    return new Promise((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'inference-server/cli.ts'), ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  it('resolves an alias, pins its version (never the alias) in the Deployment, and reports it in the status and in MLflow', async function () {
    const { namespace, kubeConfig } = cluster;
    await prepareNamespace();
    await rest.setAlias('plates', 'resolve', plates[0]!.version);
    manager = await operator();
    const ms = new ModelServices(kubeConfig, namespace);
    await ms.create(modelService('by-alias', registrySpec('models:/plates@resolve')));
    await ms.create(modelService('by-version', registrySpec(`models:/plates/${plates[1]!.version}`)));
    await ms.waitForCondition('by-alias', 'Ready', 'True', 'ModelServing', 90_000);
    await ms.waitForCondition('by-version', 'Ready', 'True', 'ModelServing', 90_000);

    const d = await deploymentOf('by-alias');
    const fetch = fetchContainer(d);
    expect(fetch.args).to.deep.equal(['fetch', '--uri', `models:/plates/${plates[0]!.version}`, '--sha256', sha(V5), '--dest', '/models/model.onnx']);
    expect(fetch.env).to.deep.include({ name: 'MLFLOW_TRACKING_URI', value: front.url });
    expect(fetch.env).to.deep.include({ name: 'MLFLOW_TRACKING_PASSWORD', valueFrom: { secretKeyRef: { name: 'mlflow-creds', key: 'MLFLOW_TRACKING_PASSWORD', optional: true } } });
    const podSpec = JSON.stringify(d?.spec?.template.spec);
    expect(podSpec).to.not.include('@resolve');
    expect(podSpec).to.not.include(ADMIN.password);
    const cm = await kubeConfig.makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: 'by-alias', namespace });
    expect(JSON.stringify(cm.data)).to.not.include(ADMIN.password);
    expect((parse(cm.data!['config.yaml']!) as { model: Record<string, unknown> }).model).to.deep.include({ version: plates[0]!.version, source: `models:/plates/${plates[0]!.version}` });
    expect(fetchContainer(await deploymentOf('by-version')).args).to.include(`models:/plates/${plates[1]!.version}`);

    const status = (await ms.get('by-alias'))!.status!;
    expect(status.model).to.deep.equal({
      uri: 'models:/plates@resolve',
      resolvedUri: `models:/plates/${plates[0]!.version}`,
      version: plates[0]!.version,
      alias: 'resolve',
      runId: plates[0]!.runId,
      source: plates[0]!.source,
      sha256: sha(V5),
    });
    expect(await ms.condition('by-alias', 'ModelResolved')).to.include({ status: 'True', reason: 'Resolved' });
    expect(await ms.condition('by-alias', 'RegistryReachable')).to.include({ status: 'True', reason: 'Reachable' });
    const table = await kubectl(cluster.kubeconfigPath, 'get', 'msvc', '-n', namespace, 'by-alias', 'by-version');
    expect(table.split('\n')[0]).to.match(/NAME\s+READY\s+REPLICAS\s+MODEL\s+VERSION/);
    expect(table).to.match(new RegExp(`by-alias\\s+True\\s+1\\s+models:/plates@resolve\\s+${plates[0]!.version}\\s`));
    expect(table).to.match(new RegExp(`by-version\\s+True\\s+1\\s+models:/plates/${plates[1]!.version}\\s+${plates[1]!.version}\\s`));

    // Which version serves where, in MLflow.
    await waitUntil('the serving tags in MLflow', 30_000, async () => (await rest.tags('plates', plates[0]!.version))[`visionops.serving/${namespace}.by-alias`] !== undefined);
    expect((await rest.tags('plates', plates[1]!.version))[`visionops.serving/${namespace}.by-version`]).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('the loop: moving the alias rolls the Deployment to the new version (Event v1 → v2), the status and MLflow follow, its pods would serve it; moving it back rolls back', async function () {
    const { namespace, kubeConfig } = cluster;
    await prepareNamespace();
    const [v1, v2] = [plates[0]!.version, plates[1]!.version];
    // A per-test alias: tests share the registered model.
    const alias = `champion-${randomBytes(3).toString('hex')}`;
    await rest.setAlias('plates', alias, v1);
    manager = await operator();
    const ms = new ModelServices(kubeConfig, namespace);
    await ms.create(modelService('plates', registrySpec(`models:/plates@${alias}`)));
    await ms.waitForCondition('plates', 'Ready', 'True', 'ModelServing', 90_000);
    expect((await ms.get('plates'))!.status!.model?.version).to.equal(v1);

    await rest.setAlias('plates', alias, v2);
    // From MLflow's answer: on a busy machine the request itself can take seconds.
    const moved = Date.now();
    await waitUntil(`the Deployment pins version ${v2}`, 30_000, async () => (await pinnedVersion('plates')) === `models:/plates/${v2}`);
    const pinnedMs = Date.now() - moved;
    await waitUntil(`status.model.version ${v2}`, 90_000, async () => (await ms.get('plates'))?.status?.model?.version === v2);
    const servedMs = Date.now() - moved;
    await ms.waitForCondition('plates', 'Ready', 'True', 'ModelServing', 90_000);
    console.log(`      [registry] alias move -> Deployment pinned ${(pinnedMs / 1000).toFixed(1)} s, -> status serving v${v2} ${(servedMs / 1000).toFixed(1)} s (kwok, poll ${POLL_MS} ms)`);
    const events = (await eventsFor(kubeConfig, namespace, 'plates')).map((e) => `${e.reason}: ${e.message}`);
    expect(events).to.include(`ModelVersionChanged: models:/plates@${alias}: v${v1} → v${v2}`);
    const tag = `visionops.serving/${namespace}.plates`;
    await waitUntil('the serving tag moved to the new version', 30_000, async () => (await rest.tags('plates', v2))[tag] !== undefined && (await rest.tags('plates', v1))[tag] === undefined);

    // What the new pods run, run here: the fetch gets the new version's bytes through the
    // registry, and the server started with the operator's config reports that version.
    const dir = mkdtempSync(path.join(tmpdir(), 'visionops-loop-'));
    let server: ChildProcess | undefined;
    try {
      const d = await deploymentOf('plates');
      const fetched = await runFetch(d, dir);
      expect(fetched.code, fetched.stderr).to.equal(0);
      expect(sha(path.join(dir, 'model.onnx'))).to.equal(sha(V8));
      const cm = await kubeConfig.makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: 'plates', namespace });
      const config = parse(cm.data!['config.yaml']!) as { model: { path: string }; server: Record<string, unknown> };
      config.model.path = path.join(dir, 'model.onnx');
      config.server = { ...config.server, port: 0 };
      writeFileSync(path.join(dir, 'config.yaml'), stringify(config));
      server = spawn(process.execPath, ['--import', 'tsx', 'inference-server/cli.ts', 'serve', '--config', path.join(dir, 'config.yaml')], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let log = '';
      server.stdout!.on('data', (b: Buffer) => (log += b.toString()));
      server.stderr!.on('data', (b: Buffer) => (log += b.toString()));
      let url = '';
      await waitUntil('the server listens', 60_000, async () => {
        if (server!.exitCode !== null) throw new Error(`the server exited with ${server!.exitCode}:\n${log}`);
        url = /"url":"(http:\/\/[^"]+)"/.exec(log)?.[1] ?? '';
        return url !== '';
      });
      await waitUntil('/readyz', 60_000, () => fetch(`${url}/readyz`).then((r) => r.ok, () => false));
      const models = (await (await fetch(`${url}/v1/models`)).json()) as { models: { name: string; version: string; source?: string; format?: string }[] };
      expect(models.models[0]).to.deep.include({ name: 'plates', version: v2, source: `models:/plates/${v2}`, format: 'yolov8' });
    } finally {
      if (server && server.exitCode === null) {
        const exited = new Promise((r) => server!.once('exit', r));
        server.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    }

    // Moving the alias back is a rollback: the Deployment pins the old version again.
    await rest.setAlias('plates', alias, v1);
    await waitUntil(`the Deployment pins version ${v1} again`, 30_000, async () => (await pinnedVersion('plates')) === `models:/plates/${v1}`);
    await waitUntil(`status.model.version ${v1}`, 90_000, async () => (await ms.get('plates'))?.status?.model?.version === v1);
    expect((await eventsFor(kubeConfig, namespace, 'plates')).map((e) => `${e.reason}: ${e.message}`)).to.include(`ModelVersionChanged: models:/plates@${alias}: v${v2} → v${v1}`);
    await waitUntil('the serving tag moved back', 30_000, async () => (await rest.tags('plates', v1))[tag] !== undefined && (await rest.tags('plates', v2))[tag] === undefined);
    // Deleting the ModelService takes its tag away.
    await ms.delete('plates');
    await waitUntil('the serving tag removed', 30_000, async () => (await rest.tags('plates', v1))[tag] === undefined);
  });

  it('a missing alias holds a new ModelService back (ModelNotFound) and leaves a serving one serving, saying so', async function () {
    const { namespace, kubeConfig } = cluster;
    await prepareNamespace();
    const alias = `gone-${randomBytes(3).toString('hex')}`;
    await rest.setAlias('plates', alias, plates[0]!.version);
    manager = await operator();
    const ms = new ModelServices(kubeConfig, namespace);
    await ms.create(modelService('serving', registrySpec(`models:/plates@${alias}`)));
    await ms.create(modelService('new', registrySpec('models:/plates@no-such-alias')));
    await ms.create(modelService('no-model', registrySpec('models:/no-such-model/1')));
    await ms.waitForCondition('serving', 'Ready', 'True', 'ModelServing', 90_000);

    const held = await ms.waitForCondition('new', 'ModelReady', 'False', 'ModelNotFound');
    expect(held.message).to.include('alias no-such-alias of plates not found in the registry').and.include('its aliases:');
    expect(await ms.condition('new', 'Ready')).to.include({ status: 'False', reason: 'ModelNotFound' });
    expect(await deploymentOf('new')).to.equal(undefined);
    expect((await ms.waitForCondition('no-model', 'ModelReady', 'False', 'ModelNotFound')).message).to.include('registered model no-such-model does not exist');

    const before = await deploymentOf('serving');
    await rest.deleteAlias('plates', alias);
    const resolved = await ms.waitForCondition('serving', 'ModelResolved', 'False', 'ModelNotFound', 30_000);
    expect(resolved.message).to.match(new RegExp(`has no alias ${alias} .*; still serving models:/plates/${plates[0]!.version}$`));
    expect(await ms.condition('serving', 'Ready')).to.include({ status: 'True' });
    expect((await deploymentOf('serving'))?.metadata?.generation).to.equal(before?.metadata?.generation);
    expect((await eventsFor(kubeConfig, namespace, 'serving')).map((e) => `${e.type}/${e.reason}`)).to.include('Warning/ModelNotFound');
    // Without the alias nothing is fetched by polling harder: one request per poll for the model.
    await rest.setAlias('plates', alias, plates[0]!.version);
    await ms.waitForCondition('serving', 'ModelResolved', 'True', 'Resolved', 30_000);
  });

  it('a version without an onnx_sha256 tag is refused (ModelHashMissing) unless allowUnverified', async function () {
    const { namespace, kubeConfig } = cluster;
    await prepareNamespace();
    manager = await operator();
    const ms = new ModelServices(kubeConfig, namespace);
    const v3 = plates[2]!.version;
    await ms.create(modelService('strict', registrySpec(`models:/plates/${v3}`)));
    await ms.create(modelService('lenient', registrySpec(`models:/plates/${v3}`, { allowUnverified: true })));
    const refused = await ms.waitForCondition('strict', 'ModelReady', 'False', 'ModelHashMissing');
    expect(refused.message).to.include(`models:/plates/${v3} has no onnx_sha256 tag`).and.include('allowUnverified');
    expect(await deploymentOf('strict')).to.equal(undefined);
    await ms.waitForCondition('lenient', 'Ready', 'True', 'ModelServing', 90_000);
    expect(fetchContainer(await deploymentOf('lenient')).args).to.deep.equal(['fetch', '--uri', `models:/plates/${v3}`, '--dest', '/models/model.onnx']);
    expect((await ms.condition('lenient', 'ModelResolved'))?.message).to.include('unverified');
  });

  it('refused credentials are Unauthorized; fixing the Secret resolves the model', async function () {
    const { namespace, kubeConfig } = cluster;
    await prepareNamespace('wrong-password');
    manager = await operator();
    const ms = new ModelServices(kubeConfig, namespace);
    await ms.create(modelService('locked', registrySpec(`models:/plates/${plates[0]!.version}`)));
    const held = await ms.waitForCondition('locked', 'ModelReady', 'False', 'Unauthorized');
    expect(held.message).to.match(/HTTP 401/);
    expect(await ms.condition('locked', 'RegistryReachable')).to.include({ status: 'False', reason: 'Unauthorized' });
    expect(await deploymentOf('locked')).to.equal(undefined);

    const core = kubeConfig.makeApiClient(CoreV1Api);
    await core.replaceNamespacedSecret({
      name: 'mlflow-creds',
      namespace,
      body: { metadata: { name: 'mlflow-creds' }, stringData: { MLFLOW_TRACKING_USERNAME: ADMIN.username, MLFLOW_TRACKING_PASSWORD: ADMIN.password } },
    });
    await ms.waitForCondition('locked', 'Ready', 'True', 'ModelServing', 90_000);
    expect(await ms.condition('locked', 'RegistryReachable')).to.include({ status: 'True' });
  });

  it('the registry going away changes nothing that serves, not even a moved alias, until it is back', async function () {
    const { namespace, kubeConfig } = cluster;
    await prepareNamespace();
    const alias = `down-${randomBytes(3).toString('hex')}`;
    await rest.setAlias('plates', alias, plates[0]!.version);
    manager = await operator();
    const ms = new ModelServices(kubeConfig, namespace);
    await ms.create(modelService('steady', registrySpec(`models:/plates@${alias}`)));
    await ms.waitForCondition('steady', 'Ready', 'True', 'ModelServing', 90_000);
    const before = await deploymentOf('steady');
    const writesBefore = await counter(manager, 'visionops_operator_child_applies_total');

    await front.stop();
    const downAt = Date.now();
    try {
      const cond = await ms.waitForCondition('steady', 'RegistryReachable', 'False', 'RegistryUnreachable', 30_000);
      expect(cond.message).to.include('ECONNREFUSED');
      // The alias moves while the operator cannot see it (MLflow itself is up, behind the front).
      await rest.setAlias('plates', alias, plates[1]!.version);
      await new Promise((r) => setTimeout(r, 5 * POLL_MS));
      const during = await deploymentOf('steady');
      expect(during?.metadata?.generation).to.equal(before?.metadata?.generation);
      expect(during?.spec?.template).to.deep.equal(before?.spec?.template);
      expect(await counter(manager, 'visionops_operator_child_applies_total')).to.equal(writesBefore);
      expect(await ms.condition('steady', 'Ready')).to.include({ status: 'True' });
      expect((await ms.condition('steady', 'ModelResolved'))?.message).to.match(/still serving models:\/plates\/\d+$/);
      // One failing poll at a time for the model, backing off (1 s, then 2 s): not a request per reconcile or per ModelService.
      const failed = await counter(manager, 'visionops_operator_registry_requests_total', (l) => l.code === 'error');
      expect(failed).to.be.within(1, Math.ceil((Date.now() - downAt) / (POLL_MS * (1 - DEFAULT_REGISTRY_SETTINGS.jitter))) + 1);
    } finally {
      await front.start();
    }
    await ms.waitForCondition('steady', 'RegistryReachable', 'True', 'Reachable', 30_000);
    await waitUntil('the rollout to the moved alias', 30_000, async () => (await pinnedVersion('steady')) === `models:/plates/${plates[1]!.version}`);
    const events = (await eventsFor(kubeConfig, namespace, 'steady')).map((e) => `${e.type}/${e.reason}`);
    expect(events).to.include.members(['Warning/RegistryUnreachable', 'Normal/RegistryReachable', 'Normal/ModelVersionChanged']);
  });

  it('a file that does not match its version\'s onnx_sha256 fails the pod\'s fetch: ModelFetchFailed', async function () {
    const { namespace, kubeConfig } = cluster;
    const core = kubeConfig.makeApiClient(CoreV1Api);
    await prepareNamespace();
    // kwok would report the pod Ready; on a node without kubelet the test writes the pod status
    // the kubelet would write after running the init container's command.
    const node = `no-kubelet-${randomBytes(3).toString('hex')}`;
    const resources = { cpu: '8', memory: '32Gi', pods: '20' };
    await core.createNode({
      body: {
        metadata: { name: node, labels: { 'kubernetes.io/hostname': node } },
        spec: { taints: [{ key: NO_KUBELET_TAINT, value: 'true', effect: 'NoSchedule' }] },
        status: { allocatable: resources, capacity: resources },
      },
    });
    const dir = mkdtempSync(path.join(tmpdir(), 'visionops-mismatch-'));
    try {
      manager = await operator();
      const ms = new ModelServices(kubeConfig, namespace);
      const v4 = plates[3]!.version;
      await ms.create(modelService('tampered', {
        ...registrySpec(`models:/plates/${v4}`),
        nodeSelector: { 'kubernetes.io/hostname': node },
        tolerations: [
          { key: NO_KUBELET_TAINT, operator: 'Exists' },
          { key: 'node.kubernetes.io/not-ready', operator: 'Exists' },
          { key: 'node.kubernetes.io/unreachable', operator: 'Exists' },
        ],
      }));
      let d: V1Deployment | undefined;
      await waitUntil('the Deployment', 60_000, async () => (d = await deploymentOf('tampered')) !== undefined);
      expect(fetchContainer(d).args).to.include(sha(V8));

      const run = await runFetch(d, dir);
      expect(run.code).to.equal(2);
      const why = run.stderr.trim().split('\n').pop()!;
      expect(why).to.equal(`model fetch failed: models:/plates/${v4}: yolov5-const.onnx has sha256 ${sha(V5)}, expected ${sha(V8)} (the version's onnx_sha256 tag)`);

      let pod: V1Pod | undefined;
      await waitUntil('the pod on the node without kubelet', 60_000, async () => {
        const { items } = await core.listNamespacedPod({ namespace, labelSelector: 'app.kubernetes.io/instance=tampered' });
        pod = items.find((p) => p.spec?.nodeName === node);
        return pod !== undefined;
      });
      const status = (now: Date): V1PodStatus => ({
        phase: 'Pending',
        conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: now }, { type: 'Ready', status: 'False', lastTransitionTime: now }],
        initContainerStatuses: [{
          name: 'fetch-model', image: 'img', imageID: '', ready: false, restartCount: 0,
          state: { terminated: { exitCode: run.code ?? 1, reason: 'Error', message: why, startedAt: now, finishedAt: now } },
        }],
        containerStatuses: [{ name: 'server', image: 'img', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'PodInitializing' } } }],
      });
      await waitUntil('pod status written', 10_000, async () => {
        const current = await core.readNamespacedPod({ name: pod!.metadata!.name!, namespace });
        return core.replaceNamespacedPodStatus({ name: pod!.metadata!.name!, namespace, body: { ...current, status: status(new Date()) } }).then(() => true, () => false);
      });
      const failed = await ms.waitForCondition('tampered', 'ModelReady', 'False', 'ModelFetchFailed');
      expect(failed.message).to.include(`has sha256 ${sha(V5)}, expected ${sha(V8)}`);
      expect(await ms.condition('tampered', 'ModelResolved')).to.include({ status: 'True' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await core.deleteNode({ name: node }).catch(() => undefined);
    }
  });

  it('asks the registry once per poll for each (server, model), however many ModelServices use it', async function () {
    const { namespace, kubeConfig } = cluster;
    await prepareNamespace();
    for (const c of counted) await rest.setAlias(c.name, 'count', c.version);
    manager = await operator();
    const ms = new ModelServices(kubeConfig, namespace);
    const each = 4;
    for (const c of counted) for (let i = 0; i < each; i++) await ms.create(modelService(`${c.name}-${i}`, registrySpec(`models:/${c.name}@count`)));
    const names = counted.flatMap((c) => Array.from({ length: each }, (_, i) => `${c.name}-${i}`));
    await waitUntil('every ModelService resolved', 120_000, async () => {
      for (const n of names) if ((await ms.condition(n, 'ModelResolved'))?.status !== 'True') return false;
      return true;
    });
    const since = Date.now();
    const windowMs = 10 * POLL_MS;
    await new Promise((r) => setTimeout(r, windowMs));
    const perModel = counted.map((c) => front.count('registered-models/get', since, ['name', c.name]));
    // Each model polled on and on, at most once per interval (jittered ±20 %), whatever the 12
    // ModelServices. A slow answer delays the next poll: on a loaded machine fewer than 10 each.
    for (const n of perModel) expect(n).to.be.within(1, Math.ceil(windowMs / (POLL_MS * (1 - DEFAULT_REGISTRY_SETTINGS.jitter))) + 1);
    // Version details are not asked again within ten intervals.
    expect(front.count('model-versions/get', since)).to.be.at.most(counted.length);
    console.log(`      [registry] ${names.length} ModelServices on ${counted.length} models: ${perModel.join(' + ')} alias polls in ${windowMs / 1000} s (poll ${POLL_MS} ms)`);
  });
});
