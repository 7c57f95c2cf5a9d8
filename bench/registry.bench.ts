/**
 * Following the MLflow registry at scale, on the local control plane (kwok nodes) against a real
 * `mlflow server` (basic-auth app) behind the counting HTTPS front the tests use:
 *   1. N ModelServices on M registered models (alias `champion`), created at once: time until all
 *      are Ready, and the requests that cost the registry (resolution, serving tags);
 *   2. steady state for a few minutes: registry requests per minute, by endpoint (the claim: one
 *      `registered-models/get` per model and poll interval, whatever N);
 *   3. alias moves on one model: time from the move until every Deployment of its ModelServices
 *      pins the new version, and until every status reports it served (kwok makes pods Ready
 *      without running them, so "served" is the pods kwok reports Ready).
 * The operator runs in this process with its defaults (poll 30 s, jitter ±20 %) unless told.
 *
 *   npm run bench:registry -- [--count 100] [--models 3] [--poll 30] [--minutes 3] [--moves 3]
 *
 * Uses the cluster in KUBECONFIG when it is one from `npm run cluster -- up`, else starts its own.
 */
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { DEFAULT_REGISTRY_SETTINGS } from '../operator/registry/model-registry.js';
import { getCluster, waitUntil } from '../test/cluster/harness.js';
import { REPO_ROOT } from '../test/cluster/paths.js';
import { runTeardowns } from '../test/cluster/teardown.js';
import { counter, installCrd, modelService, ModelServices, startOperator } from '../test/operator/operator-harness.js';
import { ADMIN, MlflowRest, RegistryFront, registerVersions, sharedMlflow } from '../test/registry/mlflow.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '100' },
    models: { type: 'string', default: '3' },
    poll: { type: 'string', default: String(DEFAULT_REGISTRY_SETTINGS.pollIntervalMs / 1000) },
    minutes: { type: 'string', default: '3' },
    moves: { type: 'string', default: '3' },
  },
});
const count = Number(values.count);
const models = Number(values.models);
const pollMs = Number(values.poll) * 1000;
const minutes = Number(values.minutes);
const moves = Number(values.moves);

const log = (line: string) => console.log(`[registry-bench ${new Date().toISOString().slice(11, 19)}] ${line}`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function main(): Promise<void> {
  const cluster = await getCluster();
  await installCrd(cluster.kubeconfigPath);
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  const namespace = `registry-bench-${randomBytes(3).toString('hex')}`;
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await waitUntil('default ServiceAccount', 60_000, () => core.readNamespacedServiceAccount({ name: 'default', namespace }).then(() => true, () => false));

  const mlflow = await sharedMlflow();
  const front = new RegistryFront(mlflow.url);
  await front.start();
  const rest = new MlflowRest(mlflow.url);
  const fixture = (f: string) => path.join(REPO_ROOT, 'test/fixtures/models', f);
  const names = Array.from({ length: models }, (_, i) => `bench-${i}-${randomBytes(2).toString('hex')}`);
  log(`registering ${models} models (2 versions each) in MLflow ${mlflow.url}`);
  const registered = await registerVersions(mlflow, names.flatMap((name) => [{ name, files: [fixture('yolov5-const.onnx')] }, { name, files: [fixture('yolov8-const.onnx')] }]));
  const versions = (name: string) => registered.filter((r) => r.name === name).map((r) => r.version);
  for (const name of names) await rest.setAlias(name, 'champion', versions(name)[0]!);

  await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'mlflow-creds' }, stringData: { MLFLOW_TRACKING_USERNAME: ADMIN.username, MLFLOW_TRACKING_PASSWORD: ADMIN.password } } });
  await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'mlflow-ca' }, data: { 'ca.crt': front.caPem } } });
  const manager = await startOperator(cluster.kubeConfig, namespace, { registry: { ...DEFAULT_REGISTRY_SETTINGS, defaultTrackingUri: front.url, pollIntervalMs: pollMs }, workers: 16 });
  const ms = new ModelServices(cluster.kubeConfig, namespace);

  // 1. N ModelServices at once.
  const msNames = Array.from({ length: count }, (_, i) => `ms-${i}`);
  const modelOf = (i: number) => names[i % models]!;
  const t0 = Date.now();
  await Promise.all(
    msNames.map((n, i) =>
      ms.create(modelService(n, { model: { uri: `models:/${modelOf(i)}@champion`, mlflow: { credentialsSecret: 'mlflow-creds', caBundle: { configMap: 'mlflow-ca' } } } })),
    ),
  );
  const readyNames = async () => {
    let ready = 0;
    for (const n of msNames) if ((await ms.condition(n, 'Ready'))?.status === 'True') ready++;
    return ready;
  };
  await waitUntil(`${count} ModelServices Ready`, 900_000, async () => (await readyNames()) === count, 2000);
  const createSeconds = (Date.now() - t0) / 1000;
  const startup = { get: front.count('registered-models/get'), versions: front.count('model-versions/get'), tags: front.count('model-versions/set-tag') };
  log(`${count} ModelServices on ${models} models Ready in ${createSeconds.toFixed(1)} s; registry requests so far: ${startup.get} registered-models/get, ${startup.versions} model-versions/get, ${startup.tags} set-tag (one serving tag per ModelService)`);
  await sleep(5_000);

  // 2. Steady state.
  const since = Date.now();
  log(`steady state for ${minutes} min (poll ${pollMs / 1000} s)`);
  await sleep(minutes * 60_000);
  const span = (Date.now() - since) / 60_000;
  const by = new Map<string, number>();
  for (const r of front.requests.filter((x) => x.atMs >= since)) {
    const endpoint = r.path.replace(/^.*\/api\/2\.0\/mlflow\//, '');
    by.set(endpoint, (by.get(endpoint) ?? 0) + 1);
  }
  const total = [...by.values()].reduce((a, b) => a + b, 0);
  log(`steady state: ${(total / span).toFixed(1)} registry requests/min for ${count} ModelServices on ${models} models (${[...by].map(([e, n]) => `${e} ${(n / span).toFixed(1)}/min`).join(', ')}); expected ${((models * 60_000) / pollMs).toFixed(1)}/min of registered-models/get`);

  // 3. Alias moves on the first model.
  const moved = msNames.filter((_, i) => modelOf(i) === names[0]);
  const apps = cluster.kubeConfig.makeApiClient(AppsV1Api);
  const [va, vb] = versions(names[0]!) as [string, string];
  const pinnedTimes: number[] = [];
  const servedTimes: number[] = [];
  for (let k = 0; k < moves; k++) {
    const to = k % 2 === 0 ? vb : va;
    await rest.setAlias(names[0]!, 'champion', to);
    // From MLflow's answer (the move is committed then); the request itself can take seconds here.
    const at = Date.now();
    await waitUntil('every Deployment pinned', 600_000, async () => {
      const { items } = await apps.listNamespacedDeployment({ namespace });
      return moved.every((n) => items.find((d) => d.metadata?.name === n)?.spec?.template.metadata?.annotations?.['visionops.io/model-uri'] === `models:/${names[0]}/${to}`);
    }, 200);
    pinnedTimes.push((Date.now() - at) / 1000);
    await waitUntil('every status serving the new version', 600_000, async () => {
      for (const n of moved) if ((await ms.get(n))?.status?.model?.version !== to) return false;
      return true;
    }, 500);
    servedTimes.push((Date.now() - at) / 1000);
    log(`move ${k + 1}: ${names[0]}@champion -> v${to}: ${moved.length} Deployments pinned after ${pinnedTimes.at(-1)!.toFixed(1)} s, all statuses serving v${to} after ${servedTimes.at(-1)!.toFixed(1)} s`);
    await sleep(2_000 + Math.random() * pollMs);
  }
  log(`alias move -> every Deployment pinned: median ${median(pinnedTimes).toFixed(1)} s (${pinnedTimes.map((t) => t.toFixed(1)).join(', ')}); -> every status serving: median ${median(servedTimes).toFixed(1)} s (${servedTimes.map((t) => t.toFixed(1)).join(', ')}); poll ${pollMs / 1000} s`);
  log(`operator: ${await counter(manager, 'visionops_operator_registry_requests_total')} registry requests in all, ${await counter(manager, 'visionops_operator_status_writes_total')} status writes`);

  await manager.stop();
  await front.stop();
  await core.deleteNamespace({ name: namespace }).catch(() => undefined);
}

try {
  await main();
  await runTeardowns({ failed: false });
} catch (err) {
  console.error(err);
  await runTeardowns({ failed: true });
  process.exitCode = 1;
}
