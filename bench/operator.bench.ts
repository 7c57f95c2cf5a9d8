/**
 * Operator benchmark on the local control plane, in one run:
 *   1. baseline: how fast a plain client loop creates objects (ConfigMaps, and the operator's own kinds)
 *      with as many requests in flight as the operator can have;
 *   2. the floor: the same N sets of children (running Deployments), created by a plain loop with
 *      no operator and no ModelServices, and the time until every Deployment is Available: what
 *      the control plane on this machine needs for the work a ModelService implies, whoever
 *      creates the children (`--no-floor` skips it);
 *   3. N ModelServices created at once: time until every child exists and every one is Ready;
 *   4. a steady-state resync: write requests it causes (target 0);
 *   5. the operator's memory (RSS now and peak).
 * It also reports CPU seconds by process and the API server's writes by resource, and
 * `--profile-apiserver FILE` keeps a CPU profile of kube-apiserver during 2 and 3
 * (`go tool pprof -top FILE`).
 * The operator runs as the image runs it: the bundle from `npm run build:operator`, in its own
 * process, with the image's NODE_OPTIONS.
 * Ratios are against the baseline of this same run: the machine is shared and noisy.
 *
 *   npm run bench:operator -- [--count 1000] [--workers 16] [--baseline 2000] [--keep]
 *                              [--kcm-qps 500] [--kcm-concurrent-syncs 20] [--no-floor] [--profile-apiserver FILE]
 *
 * Uses the cluster in KUBECONFIG when it is one from `npm run cluster -- up`, else starts its own.
 *
 * The bench's own control plane has a /16 service range (a ClusterIP per ModelService) and a
 * controller-manager allowed 500 requests/s with 20 sync workers per controller. With Kubernetes'
 * defaults (20 requests/s per controller, 5 workers; `--kcm-qps 0`), a Deployment costs its
 * controllers about five throttled requests before its pod is Ready, so 1000 ModelServices cannot be
 * Ready in under ~4 minutes whatever the operator does: the time would measure that throttle, not
 * the API server and the operator.
 */
import { ApiException, ApiextensionsV1Api, type KubeConfig as KubeConfigType, KubeConfig, type KubernetesObject, makeInformer, NetworkingV1Api, type V1Deployment, type V1Node } from '@kubernetes/client-node';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { API_VERSION, GROUP, KIND, type ModelService, PLURAL, VERSION } from '../crds/modelservice.js';
import { CRD_FILE, CRD_NAME } from '../crds/crd.js';
import { MANAGED_SELECTOR } from '../operator/builders/meta.js';
import { defaultOperatorConfig } from '../operator/config.js';
import { desiredState } from '../operator/desired-state.js';
import { collectionPath, makeClients, type KubeClients, objectPath } from '../operator/kube/clients.js';
import { binPath } from '../test/cluster/build.js';
import { runCommand } from '../test/cluster/command.js';
import { down, up } from '../test/cluster/controlplane.js';
import { KWOK_NODE_ANNOTATION } from '../test/cluster/nodes.js';
import { REPO_ROOT } from '../test/cluster/paths.js';
import { readState } from '../test/cluster/state.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '1000' },
    workers: { type: 'string', default: '16' },
    baseline: { type: 'string', default: '2000' },
    keep: { type: 'boolean', default: false },
    'kcm-qps': { type: 'string', default: '500' },
    'kcm-concurrent-syncs': { type: 'string', default: '20' },
    // Skips the floor (children created without the operator): a shorter run.
    'no-floor': { type: 'boolean', default: false },
    // Experiments only: the default is what the image sets.
    'node-flags': { type: 'string' },
    // Writes a CPU profile of kube-apiserver while ModelServices converge (go tool pprof -top FILE).
    'profile-apiserver': { type: 'string' },
  },
});
const COUNT = Number(values.count);
const CONCURRENCY = Number(values.workers);
const BASELINE = Number(values.baseline);
const FLOOR = !values['no-floor'];
const TARGETS = { seconds: 60, throughputRatio: 0.5, noopWrites: 0, rssMb: 150 };
const log = (line: string) => console.error(`[bench] ${line}`);
const BUNDLE = 'dist/operator/operator.mjs';

/** Runs `fn` over 0..n-1 with `concurrency` in flight. */
async function pool(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (let i = next++; i < n; i = next++) await fn(i);
  }));
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>, intervalMs = 500): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await check()) return performance.now() - start;
    if (performance.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** The cluster from KUBECONFIG if `npm run cluster -- up` made it, else a fresh one (stopped at the end). */
const KCM_QPS = Number(values['kcm-qps']);
const KCM_SYNCS = Number(values['kcm-concurrent-syncs']);

/** The cluster from KUBECONFIG if `npm run cluster -- up` made it, else a fresh one (stopped at the end). */
async function cluster(): Promise<{ kubeconfig: string; components: { name: string; pid: number }[]; own: boolean; stop: () => Promise<void> }> {
  const env = process.env.KUBECONFIG;
  if (env && !env.includes(path.delimiter)) {
    const state = await readState(path.dirname(path.resolve(env)));
    if (state && path.resolve(state.kubeconfig) === path.resolve(env)) {
      log(`using the cluster in KUBECONFIG=${env} (its own controller-manager settings; --kcm-* apply to the bench's own cluster only)`);
      return { kubeconfig: env, components: state.processes, own: false, stop: async () => undefined };
    }
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'visionops-bench-'));
  log(`starting a control plane in ${dir}`);
  const state = await up({
    dir, log, serviceCidr: '10.96.0.0/16',
    ...(KCM_QPS > 0 ? { kcmQps: KCM_QPS } : {}),
    ...(KCM_SYNCS > 0 ? { kcmConcurrentSyncs: KCM_SYNCS } : {}),
  });
  return { kubeconfig: state.kubeconfig, components: state.processes, own: true, stop: async () => void (await down(dir), await rm(dir, { recursive: true, force: true })) };
}

/** kwok nodes with room for every server pod (110 pods each, as a kubelet allows by default). */
async function addNodes(clients: KubeClients, count: number, prefix: string): Promise<string[]> {
  const names = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  const resources = { cpu: '64', memory: '256Gi', pods: '110' };
  for (const name of names) {
    const node: V1Node = {
      metadata: { name, annotations: { [KWOK_NODE_ANNOTATION]: 'fake' }, labels: { 'kubernetes.io/hostname': name, type: 'kwok' } },
      status: { allocatable: resources, capacity: resources },
    };
    await clients.core.createNode({ body: node });
  }
  await waitFor(`${count} nodes Ready and untainted`, 120_000, async () => {
    const { items } = await clients.core.listNode({ labelSelector: 'type=kwok' });
    const ok = (n: V1Node) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && !(n.spec?.taints ?? []).some((t) => t.effect === 'NoSchedule');
    return names.every((name) => items.some((n) => n.metadata?.name === name && ok(n)));
  });
  return names;
}

/**
 * Room for the Services in a cluster the bench did not start: `npm run cluster -- up`'s default
 * service range is a /24 (254 ClusterIPs) and every ModelService has one. A ServiceCIDR object
 * widens it at runtime, no restart needed.
 */
async function addServiceCidr(kc: KubeConfigType): Promise<string | undefined> {
  const net = kc.makeApiClient(NetworkingV1Api);
  const name = 'visionops-bench';
  try {
    await net.createServiceCIDR({ body: { metadata: { name }, spec: { cidrs: ['10.96.0.0/16'] } } });
  } catch (err) {
    if (err instanceof ApiException && err.code === 409) return undefined; // left by an earlier run: use it
    throw err;
  }
  await waitFor('the extra service range', 30_000, async () =>
    (await net.readServiceCIDR({ name })).status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
  );
  return name;
}

interface Scrape {
  writes: number;
  leaseWrites: number;
  reconciles: number;
  queueDepth: number;
  byResource: Record<string, number>;
  heapUsedMb: number;
  heapTotalMb: number;
  /** Sums and counts of the request and reconcile duration histograms. */
  requestSeconds: number;
  requests: number;
  reconcileSeconds: number;
}

async function scrape(url: string): Promise<Scrape> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out: Scrape = { writes: 0, leaseWrites: 0, reconciles: 0, queueDepth: 0, byResource: {}, heapUsedMb: 0, heapTotalMb: 0, requestSeconds: 0, requests: 0, reconcileSeconds: 0 };
  for (const line of text.split('\n')) {
    const m = /^(\w+)(?:\{([^}]*)\})? ([0-9.e+-]+)$/.exec(line);
    if (!m) continue;
    const [, name, labels = '', value] = m;
    const v = Number(value);
    const resource = /resource="([^"]+)"/.exec(labels)?.[1] ?? '';
    if (name === 'visionops_operator_api_writes_total') {
      if (resource === 'leases') out.leaseWrites += v;
      else {
        out.writes += v;
        out.byResource[resource] = (out.byResource[resource] ?? 0) + v;
      }
    }
    if (name === 'controller_runtime_reconcile_total') out.reconciles += v;
    if (name === 'workqueue_depth') out.queueDepth += v;
    if (name === 'rest_client_request_duration_seconds_sum') out.requestSeconds += v;
    if (name === 'rest_client_request_duration_seconds_count') out.requests += v;
    if (name === 'controller_runtime_reconcile_time_seconds_sum') out.reconcileSeconds += v;
    if (name === 'nodejs_heap_size_used_bytes') out.heapUsedMb = v / 2 ** 20;
    if (name === 'nodejs_heap_size_total_bytes') out.heapTotalMb = v / 2 ** 20;
  }
  return out;
}

/** GET from the API server itself (its metrics and profiles, not a resource). */
async function apiserverGet(kc: KubeConfigType, urlPath: string): Promise<Buffer> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('no current cluster in the kubeconfig');
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  return new Promise<Buffer>((resolve, reject) => {
    https.get(`${cluster.server}${urlPath}`, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`GET ${urlPath}: HTTP ${res.statusCode}`))));
    }).on('error', reject);
  });
}

/**
 * Writes the API server has served so far, by resource (apiserver_request_total, mutating verbs):
 * who besides the operator loads it while ModelServices converge.
 */
async function apiserverWrites(kc: KubeConfigType): Promise<Record<string, number>> {
  const text = (await apiserverGet(kc, '/metrics')).toString('utf8');
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const verb = /verb="([A-Z]+)"/.exec(line)?.[1] ?? '';
    if (!['POST', 'PUT', 'PATCH', 'APPLY', 'DELETE', 'DELETECOLLECTION'].includes(verb)) continue;
    const resource = /resource="([^"]*)"/.exec(line)?.[1] ?? '';
    const sub = /subresource="([^"]*)"/.exec(line)?.[1];
    const key = sub ? `${resource}/${sub}` : resource;
    out[key] = (out[key] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return out;
}

function diffCounts(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)] as const).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]));
}

/** CPU seconds (user + system) a process has used so far. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Starts counting CPU seconds of `procs`; the returned function reports each one's since then. */
async function cpuMeter(procs: readonly { name: string; pid: number }[]): Promise<() => Promise<string>> {
  const before = await Promise.all(procs.map((p) => cpuSeconds(p.pid)));
  return async () => {
    const after = await Promise.all(procs.map((p) => cpuSeconds(p.pid)));
    return procs.map((p, i) => `${p.name} ${((after[i] as number) - (before[i] as number)).toFixed(1)}`).join(', ');
  };
}

/** With --profile-apiserver FILE: a kube-apiserver CPU profile of the next 40 s in FILE + suffix. */
function profileApiserver(kc: KubeConfigType, suffix: string): Promise<void> {
  const file = values['profile-apiserver'];
  if (!file) return Promise.resolve();
  return apiserverGet(kc, '/debug/pprof/profile?seconds=40')
    .then((b) => writeFile(`${file}${suffix}`, b))
    .then(() => log(`kube-apiserver CPU profile (40 s) in ${file}${suffix}`));
}

async function rss(pid: number): Promise<{ nowMb: number; peakMb: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { nowMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

/** The node flags of the operator image's ENTRYPOINT: measure the process as it runs in the cluster. */
async function imageNodeFlags(): Promise<string[]> {
  const dockerfile = await readFile(path.join(REPO_ROOT, 'Dockerfile.operator'), 'utf8');
  const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1];
  if (!entrypoint) throw new Error('Dockerfile.operator has no exec-form ENTRYPOINT');
  const argv = JSON.parse(entrypoint) as string[];
  return argv.slice(argv.indexOf('node') + 1, -1);
}

function startOperator(kubeconfig: string, namespace: string, workers: number, nodeFlags: string[]): { child: ChildProcess; metricsUrl: Promise<string>; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [...nodeFlags, BUNDLE], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      KUBECONFIG: kubeconfig,
      VISIONOPS_WORKERS: String(workers),
      VISIONOPS_LEADER_ELECTION_NAMESPACE: namespace,
      VISIONOPS_METRICS_BIND_ADDRESS: '127.0.0.1:0',
      VISIONOPS_HEALTH_PROBE_BIND_ADDRESS: '127.0.0.1:0',
      // Short enough to observe a resync within the run; the steady-state count waits for one.
      VISIONOPS_RESYNC_PERIOD_SECONDS: '20',
      VISIONOPS_LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const metricsUrl = new Promise<string>((resolve, reject) => {
    let buffer = '';
    child.stdout?.on('data', (b: Buffer) => {
      buffer += b.toString('utf8');
      const m = /"metrics":"(http:\/\/[^"]+)"/.exec(buffer);
      if (m?.[1]) resolve(m[1]);
      // Warnings and errors of the operator stay visible.
      for (const line of b.toString('utf8').split('\n')) if (/"level":"(warn|error)"/.test(line)) process.stderr.write(`[operator] ${line}\n`);
    });
    void exited.then((code) => reject(new Error(`the operator exited (${code}) before serving metrics`)));
  });
  return { child, metricsUrl, exited };
}

function modelService(i: number): Omit<ModelService, 'metadata'> & { metadata: { name: string } } {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name: `ms-${String(i).padStart(4, '0')}` },
    spec: {
      model: { uri: `https://models.example.com/plates-${i}.onnx`, sha256: 'a'.repeat(64) },
      ocr: { classes: ['plate'] },
      replicas: 1,
      // kwok pods need no real resources; small requests keep 1000 of them schedulable.
      resources: { requests: { cpu: '10m', memory: '32Mi' } },
    },
  };
}

async function main(): Promise<void> {
  log('building the operator bundle (npm run build:operator)');
  await runCommand('npm', ['run', 'build:operator', '--silent'], { cwd: REPO_ROOT });
  const { kubeconfig, components, own, stop } = await cluster();
  const kc: KubeConfigType = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const clients = await makeClients(kc, { maxSockets: CONCURRENCY });
  const suffix = randomBytes(3).toString('hex');
  const namespace = `bench-${suffix}`;
  let operator: ReturnType<typeof startOperator> | undefined;
  let nodes: string[] = [];
  let extraServiceCidr: string | undefined;
  try {
    await runCommand(binPath('kubectl'), ['--kubeconfig', kubeconfig, 'apply', '--server-side', '--force-conflicts', '-f', path.join(REPO_ROOT, CRD_FILE)]);
    await waitFor('the CRD', 60_000, async () =>
      (await kc.makeApiClient(ApiextensionsV1Api).readCustomResourceDefinition({ name: CRD_NAME })).status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false,
    );
    nodes = await addNodes(clients, Math.ceil(COUNT / 100) + 1, `bench-${suffix}`);
    if (!own) extraServiceCidr = await addServiceCidr(kc);
    await clients.core.createNamespace({ body: { metadata: { name: namespace } } });
    await waitFor('the default ServiceAccount', 30_000, () => clients.core.readNamespacedServiceAccount({ name: 'default', namespace }).then(() => true, () => false));

    // 1. Baselines, with the same client stack (keep-alive pool) and the same concurrency: one
    // request in flight per operator worker (a worker sends one at a time, two for ConfigMap and
    // Service together).
    const inFlight = CONCURRENCY;
    const payload = 'x'.repeat(1500);
    let t = performance.now();
    await pool(BASELINE, inFlight, async (i) => {
      await clients.core.createNamespacedConfigMap({ namespace, body: { metadata: { name: `raw-${i}`, labels: { bench: 'raw' } }, data: { 'config.yaml': payload } } });
    });
    const rawConfigMaps = BASELINE / ((performance.now() - t) / 1000);
    log(`raw creates, ConfigMaps: ${rawConfigMaps.toFixed(0)}/s (${BASELINE} at ${inFlight} in flight)`);
    await clients.core.deleteCollectionNamespacedConfigMap({ namespace, labelSelector: 'bench=raw' });
    // The objects the operator creates, built by the same builders: as plain creates, then as the
    // operator sends them (server-side apply under its field manager). The Deployments are paused
    // at 0 replicas so the baselines do not start kube-controller-manager work.
    const rawSets = Math.ceil(BASELINE / 3);
    // running: false pauses the Deployments at 0 replicas, so that no kube-controller-manager work follows.
    const rawChildren = (i: number, prefix: string, opts: { ns: string; label: string; running: boolean } = { ns: namespace, label: 'raw', running: false }) => {
      const raw = { ...modelService(i), metadata: { name: `${prefix}-${i}`, namespace: opts.ns, uid: `00000000-0000-0000-0000-${String(i).padStart(12, '0')}` } } as ModelService;
      return desiredState(raw, defaultOperatorConfig).apply.map((c) => {
        const plain = { ...c, metadata: { name: c.metadata.name, namespace: opts.ns, labels: { bench: opts.label } } };
        return plain.kind === 'Deployment' && !opts.running ? { ...plain, spec: { ...plain.spec, replicas: 0, paused: true } } : plain;
      });
    };
    /** An informer on a collection, listed once before it returns. */
    const watch = async (apiVersion: string, plural: string, labelSelector?: string, ns = namespace) => {
      const path = collectionPath(apiVersion, plural, ns);
      const informer = makeInformer<KubernetesObject>(kc, path, () => clients.raw.list(path, labelSelector), labelSelector);
      await informer.start();
      return informer;
    };
    const timed = async (what: string, send: (c: ReturnType<typeof rawChildren>[number]) => Promise<unknown>): Promise<number> => {
      const objects = Array.from({ length: rawSets }, (_, i) => rawChildren(i, what)).flat();
      const start = performance.now();
      await pool(objects.length, inFlight, (i) => send(objects[i] as (typeof objects)[number]).then(() => undefined));
      const perSecond = objects.length / ((performance.now() - start) / 1000);
      log(`raw ${what}s of the operator's kinds (ConfigMap, Service, Deployment): ${perSecond.toFixed(0)}/s (${rawSets * 3})`);
      return perSecond;
    };
    const plural = (kind: string) => ({ ConfigMap: 'configmaps', Service: 'services', Deployment: 'deployments' })[kind] as string;
    async function measureFloor(): Promise<{ createdMs: number; readyMs: number; cpu: string; writes: number }> {
      const ns = `${namespace}-floor`;
      await clients.core.createNamespace({ body: { metadata: { name: ns } } });
      await waitFor('the default ServiceAccount', 30_000, () => clients.core.readNamespacedServiceAccount({ name: 'default', namespace: ns }).then(() => true, () => false));
      const objects = Array.from({ length: COUNT }, (_, i) => rawChildren(i, 'floor', { ns, label: 'floor', running: true }));
      const deployments = await watch('apps/v1', 'deployments', 'bench=floor', ns);
      const available = (d: KubernetesObject) => (d as V1Deployment).status?.conditions?.some((c) => c.type === 'Available' && c.status === 'True') === true && (d as V1Deployment).status?.readyReplicas === 1;
      const cpuSince = await cpuMeter(components);
      const writes0 = await apiserverWrites(kc);
      const profiled = profileApiserver(kc, '.floor');
      const start = performance.now();
      // One set per loop turn, in the order the operator applies them (ConfigMap and Service, then the Deployment).
      await pool(COUNT, inFlight, async (i) => {
        for (const c of objects[i] as (typeof objects)[number]) await clients.objects.create(c);
      });
      const createdMs = performance.now() - start;
      const readyMs = await waitFor(`${COUNT} Deployments Available`, 900_000, async () => deployments.list().filter(available).length === COUNT, 250)
        .finally(() => deployments.stop()) + createdMs;
      const cpu = await cpuSince();
      const writes = Object.values(diffCounts(await apiserverWrites(kc), writes0)).reduce((a, b) => a + b, 0);
      await profiled;
      log(`floor: ${COUNT} sets of children created by a plain loop in ${(createdMs / 1000).toFixed(1)} s, every Deployment Available after ${(readyMs / 1000).toFixed(1)} s; ` +
        `${writes} API server writes; CPU seconds: ${cpu}`);
      const t0 = performance.now();
      await clients.core.deleteNamespace({ name: ns });
      await waitFor(`namespace ${ns} gone`, 600_000, () => clients.core.readNamespace({ name: ns }).then(() => false, () => true), 1000);
      log(`floor namespace deleted in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      return { createdMs, readyMs, cpu, writes };
    }
    const rawPerSecond = await timed('create', (c) => clients.objects.create(c));
    const rawApplies = await timed('apply', (c) => clients.raw.apply(objectPath(c.apiVersion, plural(c.kind), namespace, c.metadata.name), c, 'bench'));
    await Promise.all([
      clients.core.deleteCollectionNamespacedConfigMap({ namespace, labelSelector: 'bench=raw' }),
      clients.apps.deleteCollectionNamespacedDeployment({ namespace, labelSelector: 'bench=raw' }),
      ...(await clients.core.listNamespacedService({ namespace, labelSelector: 'bench=raw' })).items.map((svc) =>
        clients.core.deleteNamespacedService({ name: svc.metadata?.name ?? '', namespace })),
    ]);

    // 2. The floor: the same COUNT sets of children, running (not paused), created by the plain
    // loop with no operator at all. The time until every Deployment is Available is what the
    // control plane on this machine needs for the work every ModelService implies (ReplicaSets,
    // pods, scheduling, endpoints, statuses), whoever creates the children; it runs first, in its
    // own namespace, which is gone before the operator starts.
    const floor = FLOOR ? await measureFloor() : undefined;

    // 3. The operator, then COUNT ModelServices created as fast as the baseline loop creates.
    const nodeFlags = values['node-flags']?.split(' ').filter(Boolean) ?? (await imageNodeFlags());
    log(`starting the operator: node ${[...nodeFlags, BUNDLE].join(' ')}`);
    operator = startOperator(kubeconfig, namespace, CONCURRENCY, nodeFlags);
    const metricsUrl = await operator.metricsUrl;
    await waitFor('the operator to lead', 60_000, async () => (await fetch(`${metricsUrl}/metrics`).then((r) => r.text())).includes('leader_election_master_status{name="visionops-operator-leader"} 1'));
    // Progress is read from watches, not by listing a thousand objects a second: the bench must
    // not be what loads the API server.
    const watched = {
      modelServices: await watch(`${GROUP}/${VERSION}`, PLURAL),
      children: await Promise.all([watch('v1', 'configmaps', MANAGED_SELECTOR), watch('v1', 'services', MANAGED_SELECTOR), watch('apps/v1', 'deployments', MANAGED_SELECTOR)]),
    };
    const before = await scrape(metricsUrl);
    const procs = [...components, { name: 'operator', pid: operator.child.pid as number }, { name: 'bench (watching progress)', pid: process.pid }];
    const cpuSince = await cpuMeter(procs);
    const apiWritesBefore = await apiserverWrites(kc);
    const profiled = profileApiserver(kc, '');
    t = performance.now();
    await pool(COUNT, CONCURRENCY, async (i) => {
      await clients.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, body: modelService(i) });
    });
    const createdMs = performance.now() - t;
    log(`created ${COUNT} ModelServices in ${(createdMs / 1000).toFixed(1)} s`);

    let childrenMs = 0;
    let readyMs = 0;
    let lastReport = 0;
    let last: Scrape | undefined;
    let peakHeapTotal = 0;
    let atChildren: Scrape | undefined;
    const isReady = (m: KubernetesObject) => (m as ModelService).status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    const converging = waitFor(`every child and every ModelService Ready`, 900_000, async () => {
      const elapsed = performance.now() - t;
      if (!childrenMs && watched.children.every((w) => w.list().length === COUNT)) {
        childrenMs = elapsed;
        atChildren = await scrape(metricsUrl);
        log(`every child exists after ${(childrenMs / 1000).toFixed(1)} s`);
        // Their updates (Deployment statuses) are no news to the bench: stop parsing them.
        await Promise.all(watched.children.map((w) => w.stop()));
      }
      const ready = watched.modelServices.list().filter(isReady).length;
      if (elapsed - lastReport > 10_000) {
        lastReport = elapsed;
        const now = await scrape(metricsUrl);
        const mem = await rss(operator?.child.pid as number);
        peakHeapTotal = Math.max(peakHeapTotal, now.heapTotalMb);
        const d = (k: 'requests' | 'requestSeconds' | 'reconciles' | 'reconcileSeconds' | 'writes') => now[k] - (last ?? before)[k];
        log(
          `  ${(elapsed / 1000).toFixed(0)} s: ${ready}/${COUNT} Ready; operator: queue ${now.queueDepth}, ${d('reconciles')} reconciles ` +
            `(${((d('reconcileSeconds') / Math.max(1, d('reconciles'))) * 1000).toFixed(0)} ms avg), ${d('writes')} writes, ` +
            `${d('requests')} requests (${((d('requestSeconds') / Math.max(1, d('requests'))) * 1000).toFixed(0)} ms avg) in the last 10 s; ` +
            `RSS ${mem.nowMb.toFixed(0)} MB, heap ${now.heapUsedMb.toFixed(0)}/${now.heapTotalMb.toFixed(0)} MB`,
        );
        last = now;
      }
      if (childrenMs && ready === COUNT) readyMs = elapsed;
      return readyMs > 0;
    }, 250);
    // Stopped however the wait ends: a running watch would keep the bench from exiting.
    await converging.finally(() => Promise.all([watched.modelServices, ...watched.children].map((w) => w.stop())));
    await profiled;
    const converged = await scrape(metricsUrl);
    const apiWrites = diffCounts(await apiserverWrites(kc), apiWritesBefore);
    const apiWritesTotal = Object.values(apiWrites).reduce((a, b) => a + b, 0);
    const operatorWritesToReady = converged.writes - before.writes;
    log(`API server writes until Ready: ${apiWritesTotal} (${(apiWritesTotal / COUNT).toFixed(1)} per ModelService; the operator's ${operatorWritesToReady}, ` +
      `${((100 * operatorWritesToReady) / Math.max(1, apiWritesTotal)).toFixed(0)} %): ${JSON.stringify(apiWrites)}`);
    const cpuShare = await cpuSince();
    log(`CPU seconds until Ready (${(readyMs / 1000).toFixed(1)} s wall on ${availableParallelism()} CPUs): ${cpuShare}`);
    const childWrites = ['configmaps', 'services', 'deployments'].reduce((s, r) => s + (converged.byResource[r] ?? 0) - (before.byResource[r] ?? 0), 0);
    const childPerSecond = (COUNT * 3) / (childrenMs / 1000);
    log(`every ModelService Ready after ${(readyMs / 1000).toFixed(1)} s; operator writes: ${JSON.stringify(converged.byResource)}`);

    // 4. Steady state: quiet queue, then a full periodic resync of every ModelService.
    await waitFor('a quiet operator', 120_000, async () => {
      const a = await scrape(metricsUrl);
      await sleep(3000);
      const b = await scrape(metricsUrl);
      return b.queueDepth === 0 && a.writes === b.writes;
    }, 0);
    const quiet = await scrape(metricsUrl);
    await waitFor('a full resync', 60_000, async () => (await scrape(metricsUrl)).reconciles >= quiet.reconciles + COUNT, 500);
    await waitFor('the resync queue to drain', 60_000, async () => (await scrape(metricsUrl)).queueDepth === 0, 200);
    const resynced = await scrape(metricsUrl);
    const noopWrites = resynced.writes - quiet.writes;

    // 5. Memory.
    const mem = await rss(operator.child.pid as number);

    const seconds = readyMs / 1000;
    const ratio = childPerSecond / rawPerSecond;
    // Every write the operator sent while the children were being created (applies, first
    // statuses): its write throughput, next to the raw loop's.
    const phaseWrites = (atChildren?.writes ?? converged.writes) - before.writes;
    const writesPerSecond = phaseWrites / (childrenMs / 1000);
    const load = loadavg().map((l) => l.toFixed(1)).join(' ');
    const rows: [string, string, string, boolean][] = [
      ['raw creates: ConfigMaps', `${rawConfigMaps.toFixed(0)}/s`, 'for reference', true],
      ['raw creates: ConfigMap+Service+Deployment', `${rawPerSecond.toFixed(0)}/s`, 'baseline', true],
      ['raw applies: ConfigMap+Service+Deployment', `${rawApplies.toFixed(0)}/s`, `${(rawApplies / rawPerSecond).toFixed(2)} x raw creates`, true],
      [
        `operator writes until every child exists`,
        `${phaseWrites} in ${(childrenMs / 1000).toFixed(1)} s = ${writesPerSecond.toFixed(0)}/s`,
        `${(writesPerSecond / rawPerSecond).toFixed(2)} x raw creates (target >= ${TARGETS.throughputRatio})`,
        writesPerSecond / rawPerSecond >= TARGETS.throughputRatio,
      ],
      [`children created by the operator (${COUNT * 3})`, `${childPerSecond.toFixed(0)}/s`, `${ratio.toFixed(2)} x raw creates`, true],
      ...(floor
        ? [[
            'floor: plain loop, children converging',
            `${((COUNT * 3) / (floor.createdMs / 1000)).toFixed(0)}/s`,
            `operator children ${(childPerSecond / ((COUNT * 3) / (floor.createdMs / 1000))).toFixed(2)} x this`,
            true,
          ] as [string, string, string, boolean]]
        : []),
      [`all ${COUNT} ModelServices Ready`, `${seconds.toFixed(1)} s`, `target <= ${TARGETS.seconds} s`, seconds <= TARGETS.seconds],
      ...(floor
        ? [[`floor: same children, no operator, all Available`, `${(floor.readyMs / 1000).toFixed(1)} s`, `operator ${(seconds / (floor.readyMs / 1000)).toFixed(2)} x floor`, true] as [string, string, string, boolean]]
        : []),
      ['operator writes until Ready', `${converged.writes - before.writes} (${childWrites} child applies)`, `${((converged.writes - before.writes) / COUNT).toFixed(1)} per ModelService`, true],
      ['writes during a steady-state resync', `${noopWrites} (${resynced.reconciles - quiet.reconciles} reconciles)`, `target ${TARGETS.noopWrites}`, noopWrites === TARGETS.noopWrites],
      ['operator RSS', `${mem.nowMb.toFixed(0)} MB now, ${mem.peakMb.toFixed(0)} MB peak`, `target <= ${TARGETS.rssMb} MB`, mem.peakMb <= TARGETS.rssMb],
      ['operator JS heap (used / total)', `${resynced.heapUsedMb.toFixed(0)} / ${resynced.heapTotalMb.toFixed(0)} MB (total peaked at ${peakHeapTotal.toFixed(0)} MB)`, '', true],
    ];
    console.log(`\noperator benchmark: ${COUNT} ModelServices, ${CONCURRENCY} workers, kube-controller-manager ${own ? `QPS ${KCM_QPS > 0 ? KCM_QPS : '20 (default)'}, ${KCM_SYNCS > 0 ? KCM_SYNCS : '5 (default)'} sync workers` : 'of the given cluster'}; load average ${load} on ${availableParallelism()} CPUs`);
    for (const [what, value, target, ok] of rows) console.log(`  ${ok ? 'ok  ' : 'MISS'} ${what.padEnd(42)} ${value.padEnd(34)} ${target}`);
  } finally {
    if (operator) {
      operator.child.kill('SIGTERM');
      await operator.exited;
    }
    if (!values.keep) {
      await clients.core.deleteNamespace({ name: namespace }).catch(() => undefined);
      for (const name of nodes) await clients.core.deleteNode({ name }).catch(() => undefined);
      // Only once its Services are gone does the API server let the range go; it finishes on its own.
      if (extraServiceCidr) await kc.makeApiClient(NetworkingV1Api).deleteServiceCIDR({ name: extraServiceCidr }).catch(() => undefined);
    }
    clients.close();
    await stop();
  }
}

await main();
