import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { mkdir, mkdtemp, readFile, readdir, rm, rmdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { binariesCurrent, binPath, buildAll } from './build.js';
import { createCertificateAuthority, createServiceAccountKey, issueClientCert, issueServingCert } from './certs.js';
import { writeKubeconfig } from './kubeconfig.js';
import { KWOK_STAGES_FILE } from './kwok-stages.js';
import { createKwokNodes, KWOK_NODE_ANNOTATION } from './nodes.js';
import { NODE_NAME } from './realnode/configs.js';
import { freePorts } from './ports.js';
import { get, waitUntil, type TlsFiles } from './probe.js';
import { isRunning, logTail, startComponent, stopComponent, type ComponentProcess } from './processes.js';
import { readState, STATE_FILE, writeState, type ClusterState } from './state.js';
import { createNodeNetwork, realNodeServiceCidr, type NodeNetwork } from './realnode/network.js';
import { initialNodeState, startRealNode, teardownRealNode } from './realnode/node.js';
import { REPO_ROOT } from './paths.js';

export interface UpOptions {
  dir: string;
  /** kwok Nodes to create (2 or 3 is plenty for scheduling and spreading tests). */
  nodes?: number;
  /** The test run that owns this cluster; see ClusterState.ownerPid. */
  ownerPid?: number;
  log?: (line: string) => void;
  /** ClusterIP range (default 10.0.0.0/24: 254 Services; scale tests want a /16). */
  serviceCidr?: string;
  /**
   * kube-controller-manager's client limit (--kube-api-qps, burst twice that) and its
   * deployment/replicaset/endpoints/endpointslice sync workers. Defaults are Kubernetes' (20 qps, 5 workers),
   * which is what tests want; a benchmark of many objects raises them so that the time measures
   * the API server and the operator rather than the controller-manager's client throttle.
   */
  kcmQps?: number;
  kcmConcurrentSyncs?: number;
  /**
   * Also start a real node (test/cluster/realnode): kubelet, containerd, kube-proxy and a default
   * StorageClass in a network namespace of their own. The kwok nodes are then tainted so that
   * only pods tolerating KWOK_TAINT land on them.
   */
  realNode?: boolean;
}

/** Ranges that cannot collide with anything on the host: no Pod or Service traffic is real. */
export const DEFAULT_SERVICE_CIDR = '10.0.0.0/24';
const POD_CIDR = '10.244.0.0/16';

/** An IPv4 CIDR's first host address (the kubernetes Service's ClusterIP, in the API server's certificate). */
export function firstServiceIp(cidr: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  const octets = m ? m.slice(1, 5).map(Number) : [];
  const bits = m ? Number(m[5]) : NaN;
  if (!m || octets.some((o) => o > 255) || !(bits >= 8 && bits <= 30)) throw new Error(`service CIDR ${cidr} is not an IPv4 range between /8 and /30`);
  const value = octets.reduce((a, o) => a * 256 + o, 0);
  const size = 2 ** (32 - bits);
  const first = value - (value % size) + 1;
  return [24, 16, 8, 0].map((s) => Math.floor(first / 2 ** s) % 256).join('.');
}

/** The controller-manager's extra flags for UpOptions.kcmQps / kcmConcurrentSyncs. */
export function kcmTuningFlags(opts: Pick<UpOptions, 'kcmQps' | 'kcmConcurrentSyncs'>): string[] {
  const flags: string[] = [];
  if (opts.kcmQps !== undefined) flags.push(`--kube-api-qps=${opts.kcmQps}`, `--kube-api-burst=${opts.kcmQps * 2}`);
  const n = opts.kcmConcurrentSyncs;
  if (n !== undefined) {
    flags.push(
      `--concurrent-deployment-syncs=${n}`, `--concurrent-replicaset-syncs=${n}`,
      `--concurrent-endpoint-syncs=${n}`, `--concurrent-service-endpoint-syncs=${n}`,
    );
  }
  return flags;
}

/** Timeouts sized for a loaded 2-core CI machine, where kube-apiserver alone takes ~15 s. */
const TIMEOUTS = { etcd: 30_000, apiserver: 120_000, component: 90_000, nodes: 90_000 };

async function tlsFiles(state: ClusterState, withClientCert: boolean): Promise<TlsFiles> {
  const ca = await readFile(state.ca.cert);
  if (!withClientCert) return { ca };
  const kc = new KubeConfig();
  kc.loadFromFile(state.kubeconfig);
  const user = kc.getCurrentUser();
  return { ca, cert: Buffer.from(user?.certData ?? '', 'base64'), key: Buffer.from(user?.keyData ?? '', 'base64') };
}

/** Waits for an HTTP(S) endpoint to answer 200, failing fast if the process serving it dies. */
async function waitHealthy(p: ComponentProcess, url: string, tls: TlsFiles | undefined, timeoutMs: number): Promise<void> {
  await waitUntil(`${p.name} at ${url}`, timeoutMs, async () => {
    if (!isRunning(p)) throw new Error(`${p.name} exited`);
    return (await get(url, tls)).status === 200;
  });
}

async function describeFailure(err: unknown, started: ComponentProcess[]): Promise<Error> {
  const message = err instanceof Error ? err.message : String(err);
  const dead = started.filter((p) => !isRunning(p));
  // The most useful log is the one of the component that died; else the last one started.
  const culprits = dead.length ? dead : started.slice(-1);
  const tails = await Promise.all(culprits.map(async (p) => `--- ${p.name} (${p.log}) ---\n${await logTail(p)}`));
  return new Error([message, ...tails].join('\n'));
}

/**
 * Starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok with fake Nodes,
 * all on free ports of 127.0.0.1 (with a real node, the API server on the node's veth instead),
 * and returns once the nodes are Ready.
 */
export async function up(opts: UpOptions): Promise<ClusterState> {
  const log = opts.log ?? (() => undefined);
  const dir = path.resolve(opts.dir);
  const existing = await readState(dir);
  if (existing?.processes.some(isRunning)) {
    throw new Error(`a cluster already runs from ${dir} (kubeconfig ${existing.kubeconfig}); stop it with: npm run cluster -- down`);
  }
  if (existing) {
    if (existing.realNode) await teardownRealNode(existing.realNode);
    await removeState(existing);
  }
  if (!(await binariesCurrent({ realNode: opts.realNode ?? false }))) {
    log('binaries missing or built for other versions: building (first time: 20-40 min on 2 cores)');
    await buildAll({ log });
  }

  const logs = path.join(dir, 'logs');
  const pki = path.join(dir, 'pki');
  await mkdir(logs, { recursive: true });
  const etcdDataDir = await mkdtemp(path.join(os.tmpdir(), 'visionops-etcd-'));
  const state: ClusterState = {
    dir, kubeconfig: path.join(dir, 'kubeconfig'), server: '', ca: { cert: '', key: '' }, etcdDataDir, processes: [], nodes: [],
    startedAt: new Date().toISOString(),
    ...(opts.ownerPid !== undefined ? { ownerPid: opts.ownerPid } : {}),
  };
  // The real node's network comes first: the API server also listens on the host end of its veth.
  let net: NodeNetwork | undefined;
  if (opts.realNode) {
    try {
      net = await createNodeNetwork(
        (i) => opts.serviceCidr ?? realNodeServiceCidr(i),
        async (claimed) => {
          state.realNode = initialNodeState(claimed, path.join(dir, 'node'));
          await writeState(state);
        },
      );
    } catch (err) {
      if (state.realNode) await teardownRealNode(state.realNode).catch(() => undefined);
      await removeState(state, true);
      throw err;
    }
    log(`node network ${net.netns}: host ${net.hostIp}, node ${net.nodeIp}, pods ${net.podCidr}`);
  }
  const serviceCidr = opts.serviceCidr ?? (net ? realNodeServiceCidr(net.index) : DEFAULT_SERVICE_CIDR);
  const kubernetesServiceIp = firstServiceIp(serviceCidr);
  const [etcdPort, apiPort, kcmPort, schedulerPort] = (await freePorts(4)) as [number, number, number, number];
  // With a real node the API server listens only on the veth's host end: the host reaches it
  // there like any local address, and the node's kubelet and pods can reach nothing else.
  const apiHost = net?.hostIp ?? '127.0.0.1';
  const server = `https://${apiHost}:${apiPort}`;

  const ca = await createCertificateAuthority(pki);
  const [sa, apiServing, kcmServing, schedServing, admin, kcmUser, schedUser, kwokUser, kubeletClient] = await Promise.all([
    createServiceAccountKey(pki),
    issueServingCert(ca, pki, 'kube-apiserver', [
      '127.0.0.1', 'localhost', ...(net ? [net.hostIp] : []), kubernetesServiceIp, 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local',
    ]),
    issueServingCert(ca, pki, 'kube-controller-manager', ['127.0.0.1', 'localhost']),
    issueServingCert(ca, pki, 'kube-scheduler', ['127.0.0.1', 'localhost']),
    issueClientCert(ca, pki, 'admin', ['system:masters']),
    // The names the bootstrap RBAC policy already grants each component's permissions to.
    issueClientCert(ca, pki, 'system:kube-controller-manager'),
    issueClientCert(ca, pki, 'system:kube-scheduler'),
    issueClientCert(ca, pki, 'kwok-controller', ['system:masters']),
    // The API server's identity towards kubelets (logs, exec, port-forward).
    issueClientCert(ca, pki, 'kube-apiserver-kubelet-client', ['system:masters']),
  ]);
  const kubeconfig = state.kubeconfig;
  const kcmKubeconfig = path.join(pki, 'kube-controller-manager.kubeconfig');
  const schedKubeconfig = path.join(pki, 'kube-scheduler.kubeconfig');
  const kwokKubeconfig = path.join(pki, 'kwok.kubeconfig');
  await Promise.all([
    writeKubeconfig(kubeconfig, server, ca.cert, admin, 'admin'),
    writeKubeconfig(kcmKubeconfig, server, ca.cert, kcmUser, 'system:kube-controller-manager'),
    writeKubeconfig(schedKubeconfig, server, ca.cert, schedUser, 'system:kube-scheduler'),
    writeKubeconfig(kwokKubeconfig, server, ca.cert, kwokUser, 'kwok-controller'),
  ]);

  state.server = server;
  state.ca = ca;
  const track = async (p: ComponentProcess): Promise<void> => {
    state.processes.push(p);
    // Saved after every start so that `down` can clean up whatever a failed `up` left running.
    await writeState(state);
  };
  const start = async (name: string, args: string[]): Promise<ComponentProcess> => {
    const p = startComponent(name, binPath(name), args, path.join(logs, `${name}.log`));
    await track(p);
    log(`started ${name} (pid ${p.pid})`);
    return p;
  };

  try {
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const etcd = await start('etcd', [
      `--data-dir=${etcdDataDir}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      // Port 0: a single member never talks to peers, and a fixed port would clash side by side.
      '--listen-peer-urls=http://localhost:0',
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ]);
    await waitHealthy(etcd, `${etcdUrl}/health`, undefined, TIMEOUTS.etcd);

    const apiserver = await start('kube-apiserver', [
      `--etcd-servers=${etcdUrl}`,
      `--bind-address=${apiHost}`,
      `--advertise-address=${apiHost}`,
      `--secure-port=${apiPort}`,
      `--tls-cert-file=${apiServing.cert}`,
      `--tls-private-key-file=${apiServing.key}`,
      `--client-ca-file=${ca.cert}`,
      // A kubelet is authorized as its node (Node) and limited to its own objects (NodeRestriction).
      `--authorization-mode=${net ? 'Node,RBAC' : 'RBAC'}`,
      ...(net
        ? [
            '--enable-admission-plugins=NodeRestriction',
            `--kubelet-client-certificate=${kubeletClient.cert}`,
            `--kubelet-client-key=${kubeletClient.key}`,
            // The node's name resolves nowhere (no DNS here): logs, exec and port-forward dial its IP.
            '--kubelet-preferred-address-types=InternalIP',
          ]
        : []),
      `--service-cluster-ip-range=${serviceCidr}`,
      `--service-account-issuer=${server}/`,
      `--service-account-key-file=${sa.publicKey}`,
      `--service-account-signing-key-file=${sa.privateKey}`,
      '--allow-privileged=true',
      // Since 1.37 the default (lease) reconciler refuses a loopback advertise address, and this
      // API server is only reachable on loopback; nothing here needs the kubernetes Service's
      // endpoints, so do not publish them. With a real node it advertises the veth's host end,
      // and the default reconciler points the kubernetes Service there for in-cluster clients.
      ...(net ? [] : ['--endpoint-reconciler-type=none']),
      // Leave the default admission chain (ServiceAccount included) on: the controller-manager
      // runs, so unlike envtest nothing needs switching off.
      '--v=1',
    ]);
    const adminTls = await tlsFiles(state, true);
    await waitHealthy(apiserver, `${server}/readyz`, adminTls, TIMEOUTS.apiserver);

    const caTls = await tlsFiles(state, false);
    const componentFlags = (kubeconfigFile: string, port: number, serving: { cert: string; key: string }): string[] => [
      `--kubeconfig=${kubeconfigFile}`,
      `--authentication-kubeconfig=${kubeconfigFile}`,
      `--authorization-kubeconfig=${kubeconfigFile}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${port}`,
      `--tls-cert-file=${serving.cert}`,
      `--tls-private-key-file=${serving.key}`,
      // One replica: skipping the election saves its 15 s lease wait on every start.
      '--leader-elect=false',
      '--v=1',
    ];
    const kcm = await start('kube-controller-manager', [
      ...componentFlags(kcmKubeconfig, kcmPort, kcmServing),
      `--service-account-private-key-file=${sa.privateKey}`,
      `--root-ca-file=${ca.cert}`,
      // Each controller acts as its own service account, so RBAC is exercised as in production.
      '--use-service-account-credentials=true',
      `--cluster-signing-cert-file=${ca.cert}`,
      `--cluster-signing-key-file=${ca.key}`,
      `--service-cluster-ip-range=${serviceCidr}`,
      ...kcmTuningFlags(opts),
    ]);
    const scheduler = await start('kube-scheduler', componentFlags(schedKubeconfig, schedulerPort, schedServing));
    const kwok = await start('kwok', [
      `--kubeconfig=${kwokKubeconfig}`,
      `--config=${binPath(KWOK_STAGES_FILE)}`,
      '--manage-all-nodes=false',
      `--manage-nodes-with-annotation-selector=${KWOK_NODE_ANNOTATION}=fake`,
      '--node-lease-duration-seconds=40',
      `--cidr=${POD_CIDR}`,
    ]);
    await Promise.all([
      waitHealthy(kcm, `https://127.0.0.1:${kcmPort}/healthz`, caTls, TIMEOUTS.component),
      waitHealthy(scheduler, `https://127.0.0.1:${schedulerPort}/healthz`, caTls, TIMEOUTS.component),
    ]);
    if (!isRunning(kwok)) throw new Error('kwok exited');

    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    state.nodes = await createKwokNodes(kc, opts.nodes ?? 3, TIMEOUTS.nodes, { tainted: net !== undefined });
    if (net && state.realNode) {
      await startRealNode({
        state: state.realNode, net, server, ca, kubeConfig: kc, log, track,
        imageCache: path.join(REPO_ROOT, '.cache', 'node-images'),
      });
      state.nodes.push(NODE_NAME);
    }
    // The token and service-account controllers working is what lets Pods be admitted at all.
    const core = kc.makeApiClient(CoreV1Api);
    await waitUntil('the default ServiceAccount', TIMEOUTS.component, () =>
      core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' }).then(() => true, () => false),
    );
    await writeState(state);
    return state;
  } catch (err) {
    const error = await describeFailure(err, state.processes);
    await stopAll(state);
    await removeState(state, true);
    throw new Error(`${error.message}\n(logs kept in ${logs})`);
  }
}

async function stopAll(state: ClusterState): Promise<void> {
  // Reverse start order: clients before the API server, the API server before etcd; the node's
  // daemons came last, so they go first, and then whatever they left (containers, shims, mounts).
  for (const p of [...state.processes].reverse()) await stopComponent(p);
  if (state.realNode) await teardownRealNode(state.realNode);
}

/** Removes only what `up` created, so a state dir shared with other files (like .cluster/) survives. */
async function removeState(state: ClusterState, keepLogs = false): Promise<void> {
  await rm(state.etcdDataDir, { recursive: true, force: true });
  const owned = ['pki', 'kubeconfig', STATE_FILE, ...(keepLogs ? [] : ['logs'])];
  await Promise.all(owned.map((f) => rm(path.join(state.dir, f), { recursive: true, force: true })));
  if (!keepLogs && (await readdir(state.dir).catch(() => ['?'])).length === 0) await rmdir(state.dir).catch(() => undefined);
}

/** Stops every component of the cluster in `dir` and removes its state; false if none was there. */
export async function down(dir: string, opts: { keepLogs?: boolean } = {}): Promise<boolean> {
  const state = await readState(path.resolve(dir));
  if (!state) return false;
  await stopAll(state);
  await removeState(state, opts.keepLogs);
  return true;
}

export interface ComponentStatus {
  name: string;
  pid: number;
  running: boolean;
  log: string;
}

export interface ClusterStatus {
  state: ClusterState;
  components: ComponentStatus[];
  /** kube-apiserver's /readyz answer, e.g. "ok". */
  readyz: string;
  nodes: { name: string; ready: boolean }[];
}

export async function status(dir: string): Promise<ClusterStatus | undefined> {
  const state = await readState(path.resolve(dir));
  if (!state) return undefined;
  const components = state.processes.map((p) => ({ name: p.name, pid: p.pid, running: isRunning(p), log: p.log }));
  const api = await get(`${state.server}/readyz`, await tlsFiles(state, true).catch(() => undefined), 3000);
  let nodes: ClusterStatus['nodes'] = [];
  if (api.status === 200) {
    const kc = new KubeConfig();
    kc.loadFromFile(state.kubeconfig);
    const { items } = await kc.makeApiClient(CoreV1Api).listNode({});
    nodes = items.map((n) => ({
      name: n.metadata?.name ?? '?',
      ready: n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    }));
  }
  return { state, components, readyz: api.status === 200 ? api.body.trim() : `unreachable (${api.status || api.body})`, nodes };
}
