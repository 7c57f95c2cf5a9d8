/**
 * Helpers for the operator's integration suites: the CRD installed with kubectl, the operator run
 * in-process against the test cluster (scoped to the test's namespace, so suites never see each
 * other's ModelServices), and readers for what a user would look at.
 */
import { ApiException, CoreV1Api, type CoreV1Event, CustomObjectsApi, type KubeConfig, PatchStrategy, RbacAuthorizationV1Api, setHeaderOptions, type V1Deployment } from '@kubernetes/client-node';
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { binPath } from '../cluster/build.js';
import { runCommand } from '../cluster/command.js';
import { REPO_ROOT } from '../cluster/paths.js';
import { waitUntil } from '../cluster/harness.js';
import { API_VERSION, type Condition, GROUP, KIND, type ModelService, type ModelServiceSpec, PLURAL, VERSION } from '../../crds/modelservice.js';
import { CRD_FILE, CRD_NAME } from '../../crds/crd.js';
import { defaultOperatorConfig } from '../../operator/config.js';
import { createLogger } from '../../operator/log.js';
import { Manager } from '../../operator/manager.js';
import { managerSettingsFromEnv, type ManagerSettings } from '../../operator/manager-config.js';

export const KUBECTL = binPath('kubectl');

/** Runs kubectl against the test cluster; rejects with its stderr. */
export function kubectl(kubeconfigPath: string, ...args: string[]): Promise<string> {
  return runCommand(KUBECTL, ['--kubeconfig', kubeconfigPath, ...args], { cwd: REPO_ROOT });
}

export interface Installed {
  namespace: string;
  serviceAccount: string;
  /** The operator's Deployment as config/default renders it. */
  deployment: V1Deployment;
  clusterRoles: string[];
  clusterRoleBindings: string[];
}

/** What `kubectl apply -k config/default` installs, read from the rendered manifests (names come from config/). */
export async function installConfig(kubeconfigPath: string): Promise<Installed> {
  const rendered = await kubectl(kubeconfigPath, 'kustomize', path.join(REPO_ROOT, 'config/default'));
  const docs = parseAllDocuments(rendered).map((d) => d.toJS() as { kind: string; metadata: { name: string; namespace?: string } });
  await kubectl(kubeconfigPath, 'apply', '--server-side', '--force-conflicts', '-k', path.join(REPO_ROOT, 'config/default'));
  const sa = docs.find((d) => d.kind === 'ServiceAccount');
  if (!sa?.metadata.namespace) throw new Error('config/default renders no namespaced ServiceAccount');
  const deployment = docs.find((d) => d.kind === 'Deployment');
  if (!deployment) throw new Error('config/default renders no Deployment');
  return {
    namespace: sa.metadata.namespace,
    serviceAccount: sa.metadata.name,
    deployment: deployment as V1Deployment,
    clusterRoles: docs.filter((d) => d.kind === 'ClusterRole').map((d) => d.metadata.name),
    clusterRoleBindings: docs.filter((d) => d.kind === 'ClusterRoleBinding').map((d) => d.metadata.name),
  };
}

/** Removes what installConfig granted cluster-wide; the CRD and the namespace stay (other suites use them). */
export async function removeClusterGrants(kc: KubeConfig, installed: Installed): Promise<void> {
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  await Promise.all([
    ...installed.clusterRoleBindings.map((name) => rbac.deleteClusterRoleBinding({ name }).catch(() => undefined)),
    ...installed.clusterRoles.map((name) => rbac.deleteClusterRole({ name }).catch(() => undefined)),
  ]);
}

let crdInstalled: Promise<void> | undefined;

/** The CRD as a user installs it (kubectl apply), once per run. */
export function installCrd(kubeconfigPath: string): Promise<void> {
  crdInstalled ??= (async () => {
    await kubectl(kubeconfigPath, 'apply', '--server-side', '--force-conflicts', '-f', path.join(REPO_ROOT, CRD_FILE));
    await kubectl(kubeconfigPath, 'wait', '--for=condition=Established', '--timeout=60s', `crd/${CRD_NAME}`);
  })().catch((err: unknown) => {
    crdInstalled = undefined;
    throw err;
  });
  return crdInstalled;
}

/** Settings for an in-process operator: the test namespace only, ephemeral ports, no election unless asked. */
export function testSettings(namespace: string, overrides: Partial<ManagerSettings> = {}): ManagerSettings {
  const base = managerSettingsFromEnv({}, namespace);
  return {
    ...base,
    watchNamespace: namespace,
    workers: 4,
    metricsBindAddress: '127.0.0.1:0',
    healthBindAddress: '127.0.0.1:0',
    ...overrides,
    leaderElection: { ...base.leaderElection, enabled: false, namespace, ...overrides.leaderElection },
  };
}

/** VISIONOPS_TEST_LOG=debug shows the operator's logs while the tests run. */
export function testLogger() {
  const level = process.env.VISIONOPS_TEST_LOG;
  return createLogger(level === 'debug' || level === 'info' ? level : 'error', { silent: !level });
}

/** Starts an operator in this process; stop it in afterEach. */
export async function startOperator(kubeConfig: KubeConfig, namespace: string, overrides: Partial<ManagerSettings> = {}): Promise<Manager> {
  const manager = new Manager({ kubeConfig, config: defaultOperatorConfig, settings: testSettings(namespace, overrides), log: testLogger() });
  await manager.start();
  return manager;
}

export const SHA = 'a'.repeat(64);

/** A ModelService a kwok node can run: small requests, one replica unless told otherwise. */
export function modelService(name: string, spec: Partial<ModelServiceSpec> = {}): Omit<ModelService, 'metadata'> & { metadata: { name: string } } {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name },
    spec: {
      model: { uri: 'https://models.example.com/plates.onnx', sha256: SHA },
      resources: { requests: { cpu: '10m', memory: '32Mi' } },
      ...spec,
    },
  };
}

export class ModelServices {
  private readonly api: CustomObjectsApi;

  constructor(
    kc: KubeConfig,
    private readonly namespace: string,
  ) {
    this.api = kc.makeApiClient(CustomObjectsApi);
  }

  async create(ms: ReturnType<typeof modelService>): Promise<ModelService> {
    return (await this.api.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: this.namespace, plural: PLURAL, body: ms })) as ModelService;
  }

  async get(name: string): Promise<ModelService | undefined> {
    try {
      return (await this.api.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: this.namespace, plural: PLURAL, name })) as ModelService;
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw err;
    }
  }

  /** A JSON merge patch of the spec, as `kubectl patch --type merge` sends. */
  async patchSpec(name: string, spec: Record<string, unknown>): Promise<ModelService> {
    return (await this.api.patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, namespace: this.namespace, plural: PLURAL, name, body: { spec } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )) as ModelService;
  }

  async delete(name: string): Promise<void> {
    await this.api.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: this.namespace, plural: PLURAL, name });
  }

  async condition(name: string, type: Condition['type']): Promise<Condition | undefined> {
    return (await this.get(name))?.status?.conditions?.find((c) => c.type === type);
  }

  /** Waits until the condition has this status (and reason, if given); returns it. */
  async waitForCondition(name: string, type: Condition['type'], status: Condition['status'], reason?: string, timeoutMs = 60_000): Promise<Condition> {
    let last: Condition | undefined;
    await waitUntil(`${name} ${type}=${status}${reason ? ` (${reason})` : ''}`, timeoutMs, async () => {
      last = await this.condition(name, type);
      return last?.status === status && (reason === undefined || last.reason === reason);
    }).catch((err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}; last: ${JSON.stringify(last)}`);
    });
    return last as Condition;
  }
}

/** Events about one object, oldest first. */
export async function eventsFor(kc: KubeConfig, namespace: string, name: string): Promise<CoreV1Event[]> {
  const { items } = await kc.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` });
  return items.sort((a, b) => new Date(a.firstTimestamp ?? 0).getTime() - new Date(b.firstTimestamp ?? 0).getTime());
}

/** Sum of a counter in a manager's registry, over the label sets `filter` accepts. */
export async function counter(manager: Manager, name: string, filter: (labels: Record<string, string | number>) => boolean = () => true): Promise<number> {
  const metric = manager.metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  return values.filter((v) => filter(v.labels as Record<string, string | number>)).reduce((sum, v) => sum + v.value, 0);
}

/** Write requests a manager sent, leader election renewals left out. */
export function reconcileWrites(manager: Manager): Promise<number> {
  return counter(manager, 'visionops_operator_api_writes_total', (l) => l.resource !== 'leases');
}

/** An operator as its own process (`npm run operator` without the npm wrapper, so signals reach it). */
export interface OperatorProcess {
  identity: string;
  child: ChildProcess;
  /** Every line it printed, stdout and stderr. */
  output: string[];
  /** The same lines parsed as its JSON log records ({ raw } for a line that is not JSON). */
  lines: Record<string, unknown>[];
  exit: Promise<number | null>;
}

export function spawnOperator(kubeconfigPath: string, namespace: string, identity: string, env: Record<string, string> = {}): OperatorProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'operator/main.ts'], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      KUBECONFIG: kubeconfigPath,
      POD_NAME: identity,
      VISIONOPS_WATCH_NAMESPACE: namespace,
      VISIONOPS_LEADER_ELECTION_NAMESPACE: namespace,
      VISIONOPS_METRICS_BIND_ADDRESS: '127.0.0.1:0',
      VISIONOPS_HEALTH_PROBE_BIND_ADDRESS: '127.0.0.1:0',
      VISIONOPS_WORKERS: '2',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const lines: Record<string, unknown>[] = [];
  const collect = (b: Buffer) =>
    b.toString('utf8').split('\n').filter(Boolean).forEach((l) => {
      output.push(l);
      try {
        lines.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        lines.push({ raw: l });
      }
    });
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { identity, child, output, lines, exit };
}
