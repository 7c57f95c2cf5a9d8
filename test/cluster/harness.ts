/**
 * Real Kubernetes for mocha integration tests.
 *
 *   describe('@integration my controller', function () {
 *     const cluster = useCluster();
 *     it('creates a Deployment', async function () {
 *       const apps = cluster.kubeConfig.makeApiClient(AppsV1Api);
 *       await apps.createNamespacedDeployment({ namespace: cluster.namespace, body });
 *     });
 *   });
 *
 * The control plane starts on first use and once per mocha process; the root hook plugin
 * (mocha-hooks.ts) stops it after the last test. Suites must carry "@integration" in their title so
 * `npm run test:unit` (which greps them out) never reaches useCluster's hooks.
 */
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { Context } from 'mocha';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { binariesCurrent } from './build.js';
import { issueClientCert } from './certs.js';
import { down, up } from './controlplane.js';
import { REPO_ROOT } from './paths.js';
import { isAlive } from './process-util.js';
import { waitUntil } from './probe.js';
import { killComponentSync } from './processes.js';
import { readState, type ClusterState } from './state.js';
import { registerTeardown } from './teardown.js';

export { waitUntil };

export interface TestCluster {
  /** Cluster-admin (group system:masters). */
  readonly kubeConfig: KubeConfig;
  readonly kubeconfigPath: string;
  /** Where the components' logs are, when this run started the cluster. */
  readonly logDir?: string;
  /**
   * A KubeConfig that authenticates with a fresh client certificate for `user` in `groups`,
   * so tests can check what RBAC lets that user do.
   */
  userKubeConfig(user: string, groups?: readonly string[]): Promise<KubeConfig>;
}

/** Opt-in for running the suites against a cluster this repo did not start (as envtest's USE_EXISTING_CLUSTER). */
const USE_EXISTING = 'VISIONOPS_TEST_USE_EXISTING_CLUSTER';
const RUN_DIR_PREFIX = 'test-run-';
const log = (line: string): void => console.error(`[test-cluster] ${line}`);

let cluster: Promise<TestCluster> | undefined;

function loadKubeConfig(file: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  return kc;
}

function makeCluster(kubeconfigPath: string, state: ClusterState | undefined): TestCluster {
  const kubeConfig = loadKubeConfig(kubeconfigPath);
  return {
    kubeConfig,
    kubeconfigPath,
    ...(state ? { logDir: path.join(state.dir, 'logs') } : {}),
    async userKubeConfig(user, groups = []) {
      if (!state) throw new Error(`userKubeConfig needs the cluster's CA key; ${kubeconfigPath} was not written by npm run cluster`);
      const pair = await issueClientCert(state.ca, path.join(state.dir, 'pki', 'users'), user, groups);
      const b64 = async (f: string): Promise<string> => (await readFile(f)).toString('base64');
      const server = kubeConfig.getCurrentCluster();
      if (!server) throw new Error(`${kubeconfigPath} has no current cluster`);
      const kc = new KubeConfig();
      kc.loadFromClusterAndUser(server, { name: user, certData: await b64(pair.cert), keyData: await b64(pair.key) });
      return kc;
    },
  };
}

/**
 * $KUBECONFIG is honoured when it points at a cluster from `npm run cluster -- up` (its state
 * sits next to it), or at any cluster with VISIONOPS_TEST_USE_EXISTING_CLUSTER=1. A developer's
 * KUBECONFIG usually points at a real cluster, and these tests create and delete namespaces.
 */
async function existingCluster(): Promise<TestCluster | undefined> {
  const file = process.env.KUBECONFIG;
  if (!file) return undefined;
  const state = file.includes(path.delimiter) ? undefined : await readState(path.dirname(path.resolve(file)));
  const ours = state !== undefined && path.resolve(state.kubeconfig) === path.resolve(file);
  if (ours && state.realNode) {
    // Its kwok nodes are tainted and its pods really run: the integration suites expect kwok's.
    log(`ignoring KUBECONFIG=${file}: a --real-node cluster is the e2e suite's (npm run test:e2e reuses it)`);
    return undefined;
  }
  if (ours || process.env[USE_EXISTING] === '1') {
    log(`using the cluster in KUBECONFIG=${file}`);
    return makeCluster(file, ours ? state : undefined);
  }
  let context = '?';
  try {
    context = loadKubeConfig(file).getCurrentContext();
  } catch {
    // Unreadable or missing: the same as not set.
  }
  log(`ignoring KUBECONFIG=${file} (context ${context}): not from npm run cluster -- up; set ${USE_EXISTING}=1 to run against it`);
  return undefined;
}

/**
 * Clusters of earlier test runs that were killed before their teardown ran, and the logs that
 * failed runs kept: those last until the next run starts.
 */
async function reapEarlierRuns(root: string): Promise<void> {
  const entries = await readdir(root).catch(() => [] as string[]);
  for (const entry of entries.filter((e) => e.startsWith(RUN_DIR_PREFIX))) {
    const owner = Number(entry.slice(RUN_DIR_PREFIX.length));
    if (!owner || isAlive(owner)) continue;
    const dir = path.join(root, entry);
    const state = await readState(dir).catch(() => undefined);
    if (state) log(`stopping the cluster abandoned by test run ${owner} in ${dir}`);
    if (state) await down(dir);
    await rm(dir, { recursive: true, force: true });
  }
}

async function startOwnCluster(): Promise<TestCluster> {
  const root = path.join(REPO_ROOT, '.cluster');
  await reapEarlierRuns(root);
  const dir = path.join(root, `${RUN_DIR_PREFIX}${process.pid}`);
  const started = Date.now();
  const state = await up({ dir, ownerPid: process.pid, log });
  log(`control plane up in ${((Date.now() - started) / 1000).toFixed(1)} s (logs: ${path.join(dir, 'logs')})`);

  // If mocha exits without running root hooks (a crash, process.exit in a test), do not leave
  // five processes behind; nothing async can run in an 'exit' handler, hence SIGKILL.
  const killOnExit = (): void => state.processes.forEach(killComponentSync);
  process.once('exit', killOnExit);
  registerTeardown(async ({ failed }) => {
    process.removeListener('exit', killOnExit);
    // Logs of a failed run are what CI needs; everything else goes.
    await down(dir, { keepLogs: failed });
    if (failed) log(`kept the control plane logs: ${path.join(dir, 'logs')}`);
  });
  return makeCluster(state.kubeconfig, state);
}

/** The run's cluster: reused from $KUBECONFIG, or started (and built, if needed) on first call. */
export function getCluster(): Promise<TestCluster> {
  cluster ??= existingCluster()
    .then((c) => c ?? startOwnCluster())
    .catch((e: unknown) => {
      // Let a later suite retry instead of failing on a cached rejection with no context.
      cluster = undefined;
      throw e;
    });
  return cluster;
}

export interface ClusterContext extends TestCluster {
  /** A namespace created for the current test and deleted after it. */
  readonly namespace: string;
}

function namespaceFor(title: string): string {
  const slug = title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40).replace(/-+$/, '');
  return `t-${slug || 'test'}-${randomBytes(3).toString('hex')}`;
}

/**
 * Hooks for the calling describe block: the cluster before its first test, a fresh namespace
 * around each test. Read the returned object's properties inside tests and hooks, not at
 * describe time: they are only set once the hooks have run.
 */
export function useCluster(): ClusterContext {
  let current: TestCluster | undefined;
  let namespace: string | undefined;
  const need = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`${what} is only available inside tests and hooks of a useCluster() describe block`);
    return value;
  };

  before(async function (this: Context) {
    // Starting takes ~20 s, but a first run on a fresh machine compiles Kubernetes first (no
    // sensible bound: the build's own steps time out); `up` bounds each of its waits itself.
    this.timeout(300_000);
    if (!(await binariesCurrent())) this.timeout(0);
    current = await getCluster();
  });

  beforeEach(async function (this: Context) {
    this.timeout(60_000);
    const core = need(current, 'the cluster').kubeConfig.makeApiClient(CoreV1Api);
    const name = namespaceFor(this.currentTest?.title ?? 'test');
    await core.createNamespace({ body: { metadata: { name, labels: { 'visionops.test/namespace': 'true' } } } });
    // Pods are refused until the service-account controller has made the namespace's default
    // ServiceAccount; waiting here keeps that race out of every test.
    await waitUntil(`ServiceAccount default in ${name}`, 30_000, () =>
      core.readNamespacedServiceAccount({ name: 'default', namespace: name }).then(() => true, () => false),
    );
    namespace = name;
  });

  afterEach(async function () {
    if (!current || !namespace) return;
    const name = namespace;
    namespace = undefined;
    // Not awaited to completion: finalizing a namespace takes seconds and nothing reuses its name.
    await current.kubeConfig
      .makeApiClient(CoreV1Api)
      .deleteNamespace({ name })
      .catch(() => undefined);
  });

  return {
    get kubeConfig() {
      return need(current, 'the cluster').kubeConfig;
    },
    get kubeconfigPath() {
      return need(current, 'the cluster').kubeconfigPath;
    },
    get logDir() {
      return current?.logDir;
    },
    get namespace() {
      return need(namespace, 'the test namespace');
    },
    userKubeConfig(user, groups) {
      return need(current, 'the cluster').userKubeConfig(user, groups);
    },
  };
}
