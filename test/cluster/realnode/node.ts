/**
 * `up --real-node`: one real node beside the kwok ones. containerd, kubelet, kube-proxy and the
 * hostpath provisioner run in the node's network namespace (network.ts) and in a mount namespace
 * of their own, made by a holder process: its /run is a private tmpfs, so sockets, runtime state
 * and every mount the node makes (container root filesystems, volumes, pod netns) exist only
 * there and disappear with it. The host keeps nothing but the node directory and the cgroup
 * subtree, which `teardownRealNode` removes.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, StorageV1Api, type KubeConfig } from '@kubernetes/client-node';
import { binPath, cniBinDir } from '../build.js';
import { issueClientCert, type CertificateAuthority } from '../certs.js';
import { runCommand } from '../command.js';
import { writeKubeconfig } from '../kubeconfig.js';
import { waitUntil } from '../probe.js';
import { isAlive } from '../process-util.js';
import type { ComponentProcess } from '../processes.js';
import {
  CONTAINERD_SOCKET, NODE_LABEL, NODE_LABEL_VALUE, NODE_NAME, cniConflist, containerdConfig, kubeProxyConfig, kubeletConfig,
  type NodePaths,
} from './configs.js';
import { SANDBOX_IMAGE, podmanArchive, podmanHas, projectImageSources, singleFileImageArchive } from './images.js';
import { netnsPids, removeNodeNetwork, type NodeNetwork } from './network.js';

export { NODE_LABEL, NODE_LABEL_VALUE, NODE_NAME };

/** The StorageClass the node's provisioner serves, marked the cluster's default. */
export const STORAGE_CLASS = 'visionops-hostpath';
const PROVISIONER_NAME = 'visionops.io/hostpath';

/** What `down` needs to undo the node, saved in the cluster's state.json. */
export interface RealNodeState {
  index: number;
  netns: string;
  hostVeth: string;
  nodeIp: string;
  hostIp: string;
  dir: string;
  cgroupRoot: string;
  /** The process that owns the node's mount namespace. */
  holderPid: number;
  /** Host directories `up` had to create as mount points (removed again if still empty). */
  createdMountPoints: string[];
}

/**
 * Kernel settings the kubelet would otherwise rewrite for the whole machine (it insists on
 * vm.overcommit_memory=1, kernel.panic=10, kernel.panic_on_oops=1). Inside the node's mount
 * namespace each differing file is covered by a file holding the value the kubelet wants, so it
 * reads what it expects and writes nothing; the host keeps its own settings.
 */
const KUBELET_SYSCTLS: Record<string, number> = {
  'vm/overcommit_memory': 1,
  'vm/panic_on_oom': 0,
  'kernel/panic': 10,
  'kernel/panic_on_oops': 1,
  'kernel/keys/root_maxkeys': 1000000,
  'kernel/keys/root_maxbytes': 25000000,
};

/** Host paths that kubelet writes without a setting to move them; covered by tmpfs in the node's namespace. */
const COVERED_HOST_DIRS = ['/var/log/containers'];

/** The record of a node whose network exists but whose processes have not started yet. */
export function initialNodeState(net: NodeNetwork, dir: string): RealNodeState {
  return {
    index: net.index, netns: net.netns, hostVeth: net.hostVeth, nodeIp: net.nodeIp, hostIp: net.hostIp,
    dir, cgroupRoot: `/${net.netns}`, holderPid: 0, createdMountPoints: [],
  };
}

export interface RealNodeOptions {
  /** Filled in as the node starts (holder, mount points); saved by `track`. */
  state: RealNodeState;
  net: NodeNetwork;
  server: string;
  ca: CertificateAuthority;
  kubeConfig: KubeConfig;
  log: (line: string) => void;
  /** Called right after each process starts, so a failed `up` can still stop what it started. */
  track: (p: ComponentProcess) => Promise<void>;
  /** Where podman archives of the project images are cached between runs. */
  imageCache: string;
}

function nodePaths(dir: string): NodePaths {
  return {
    dir,
    containerdRoot: path.join(dir, 'containerd'),
    kubeletRoot: path.join(dir, 'kubelet'),
    podLogs: path.join(dir, 'pod-logs'),
    volumes: path.join(dir, 'volumes'),
    cniConfDir: path.join(dir, 'cni'),
    cniBinDir: cniBinDir(),
  };
}

/** Starts `bin` inside the holder's network and mount namespaces; its pid is the binary's (nsenter execs). */
function startInNode(name: string, holderPid: number, bin: string, args: readonly string[], log: string, env?: NodeJS.ProcessEnv): ComponentProcess {
  const fd = openSync(log, 'a');
  try {
    const child = spawn('nsenter', [`--target=${holderPid}`, '--net', '--mount', '--', bin, ...args], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: env ?? process.env,
    });
    if (child.pid === undefined) throw new Error(`could not start ${name}`);
    child.unref();
    return { name, pid: child.pid, bin, log };
  } finally {
    closeSync(fd);
  }
}

/** Runs a command in the node's namespaces to completion (ctr, iptables-save in tests). */
export function runInNode(holderPid: number, cmd: string, args: readonly string[]): Promise<string> {
  return runCommand('nsenter', [`--target=${holderPid}`, '--net', '--mount', '--', cmd, ...args]);
}

async function which(cmd: string): Promise<string> {
  return (await runCommand('sh', ['-c', `command -v ${cmd}`]).catch(() => '')).trim();
}

/** The commands the node needs from the host (Debian: runc, iptables, iproute2, util-linux, tar). */
export async function checkHostTools(): Promise<void> {
  const needed = ['runc', 'iptables', 'iptables-restore', 'ip', 'nsenter', 'unshare', 'mount', 'tar'];
  const missing = [];
  for (const c of needed) if (!(await which(c))) missing.push(c);
  if (missing.length) throw new Error(`--real-node needs ${missing.join(', ')} (Debian: apt-get install runc iptables iproute2 util-linux tar)`);
}

/**
 * The holder: enters the node's netns, unshares a mount namespace (slave: host mounts still show
 * inside, nothing made inside leaks out), covers /run, the kubelet's fixed host paths and the
 * kernel settings it would rewrite, then sleeps. Everything else of the node joins it.
 */
async function startHolder(net: NodeNetwork, paths: NodePaths, logFile: string): Promise<{ pid: number; createdMountPoints: string[] }> {
  const sysctlDir = path.join(paths.dir, 'sysctl');
  await mkdir(sysctlDir, { recursive: true });
  const lines = ['set -e', 'mount -t tmpfs -o mode=0755 visionops-node /run'];
  for (const [key, want] of Object.entries(KUBELET_SYSCTLS)) {
    const have = Number((await readFile(`/proc/sys/${key}`, 'utf8')).trim());
    if (have === want) continue;
    const file = path.join(sysctlDir, key.replace(/\//g, '.'));
    await writeFile(file, `${want}\n`);
    lines.push(`mount --bind ${file} /proc/sys/${key}`);
  }
  const createdMountPoints: string[] = [];
  for (const dir of COVERED_HOST_DIRS) {
    const existed = await readdir(dir).then(() => true, () => false);
    if (!existed) {
      await mkdir(dir, { recursive: true });
      createdMountPoints.push(dir);
    }
    lines.push(`mount -t tmpfs -o mode=0755 visionops-node ${dir}`);
  }
  lines.push('exec sleep infinity');
  const script = path.join(paths.dir, 'holder.sh');
  await writeFile(script, lines.join('\n') + '\n');
  const fd = openSync(logFile, 'a');
  let pid: number | undefined;
  try {
    const child = spawn('nsenter', [`--net=/run/netns/${net.netns}`, '--', 'unshare', '--mount', '--propagation', 'slave', '--', 'sh', script], {
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    pid = child.pid;
    child.unref();
  } finally {
    closeSync(fd);
  }
  if (pid === undefined) throw new Error('could not start the node namespace holder');
  const holder = pid;
  // Ready once it sleeps: its /proc/<pid>/cmdline turns into `sleep infinity` after the mounts.
  await waitUntil('the node namespace holder', 10_000, async () => {
    if (!isAlive(holder)) throw new Error(`the node namespace holder exited: ${await readFile(logFile, 'utf8').catch(() => '')}`);
    return (await readFile(`/proc/${holder}/cmdline`, 'utf8').catch(() => '')).startsWith('sleep\0');
  }, 50);
  return { pid: holder, createdMountPoints };
}

async function waitContainerd(holderPid: number, p: ComponentProcess): Promise<void> {
  await waitUntil('containerd', 60_000, async () => {
    if (!isAlive(p.pid)) throw new Error('containerd exited');
    return runInNode(holderPid, binPath('ctr'), ['--address', CONTAINERD_SOCKET, 'version']).then(() => true, () => false);
  }, 250);
}

/** Imports an image archive into the CRI's namespace (k8s.io), where the kubelet looks. */
export async function importImages(holderPid: number, archive: string): Promise<void> {
  await runInNode(holderPid, binPath('ctr'), ['--address', CONTAINERD_SOCKET, '-n', 'k8s.io', 'images', 'import', '--no-unpack=false', archive]);
}

/** Lists the image names the node has (`ctr -n k8s.io images ls -q`). */
export async function nodeImages(holderPid: number): Promise<string[]> {
  const out = await runInNode(holderPid, binPath('ctr'), ['--address', CONTAINERD_SOCKET, '-n', 'k8s.io', 'images', 'ls', '-q']);
  return out.split('\n').map((l) => l.trim()).filter(Boolean);
}

export async function startRealNode(opts: RealNodeOptions): Promise<void> {
  const { net, log, state } = opts;
  await checkHostTools();
  const paths = nodePaths(state.dir);
  const logs = path.join(path.dirname(state.dir), 'logs');
  const pki = path.join(state.dir, 'pki');
  await Promise.all([paths.containerdRoot, paths.kubeletRoot, paths.podLogs, paths.volumes, paths.cniConfDir, pki, logs].map((d) => mkdir(d, { recursive: true })));
  const { cgroupRoot } = state;

  const holder = await startHolder(net, paths, path.join(logs, 'node-holder.log'));
  state.holderPid = holder.pid;
  state.createdMountPoints = holder.createdMountPoints;
  await opts.track({ name: 'node-holder', pid: holder.pid, bin: 'sleep', log: path.join(logs, 'node-holder.log') });

  // Identities: the kubelet as system:node:<name> (Node authorizer + NodeRestriction), kube-proxy
  // as the user its bootstrap ClusterRoleBinding names, the provisioner as an admin of the test cluster.
  const [kubeletUser, proxyUser, provisionerUser] = await Promise.all([
    issueClientCert(opts.ca, pki, `system:node:${NODE_NAME}`, ['system:nodes']),
    issueClientCert(opts.ca, pki, 'system:kube-proxy'),
    issueClientCert(opts.ca, pki, 'visionops:hostpath-provisioner', ['system:masters']),
  ]);
  const kubeletKubeconfig = path.join(pki, 'kubelet.kubeconfig');
  const proxyKubeconfig = path.join(pki, 'kube-proxy.kubeconfig');
  const provisionerKubeconfig = path.join(pki, 'provisioner.kubeconfig');
  await Promise.all([
    writeKubeconfig(kubeletKubeconfig, opts.server, opts.ca.cert, kubeletUser, `system:node:${NODE_NAME}`),
    writeKubeconfig(proxyKubeconfig, opts.server, opts.ca.cert, proxyUser, 'system:kube-proxy'),
    writeKubeconfig(provisionerKubeconfig, opts.server, opts.ca.cert, provisionerUser, 'visionops:hostpath-provisioner'),
  ]);

  const containerdToml = path.join(state.dir, 'containerd.toml');
  const kubeletYaml = path.join(state.dir, 'kubelet.yaml');
  const proxyYaml = path.join(state.dir, 'kube-proxy.yaml');
  await Promise.all([
    writeFile(containerdToml, containerdConfig(paths, SANDBOX_IMAGE)),
    writeFile(path.join(paths.cniConfDir, '10-visionops.conflist'), cniConflist(net)),
    writeFile(kubeletYaml, kubeletConfig(paths, { clientCaFile: opts.ca.cert, cgroupRoot }, net)),
    writeFile(proxyYaml, kubeProxyConfig(proxyKubeconfig, net)),
  ]);

  // containerd finds its shim on PATH; iptables and runc come from the host.
  const env = { ...process.env, PATH: `${path.dirname(binPath('containerd'))}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}` };
  const start = async (name: string, bin: string, args: string[]): Promise<ComponentProcess> => {
    const p = startInNode(name, holder.pid, bin, args, path.join(logs, `${name}.log`), env);
    await opts.track(p);
    log(`started ${name} (pid ${p.pid}) in ${net.netns}`);
    return p;
  };

  const containerd = await start('containerd', binPath('containerd'), ['--config', containerdToml, '--log-level', 'warn']);
  await waitContainerd(holder.pid, containerd);
  const started = Date.now();
  const sandboxArchive = path.join(state.dir, 'pause.tar');
  await singleFileImageArchive({ ref: SANDBOX_IMAGE, binary: binPath('pause'), name: 'pause', user: '65535:65535' }, sandboxArchive);
  await importImages(holder.pid, sandboxArchive);
  const sources = projectImageSources();
  const present = await podmanHas(sources.map((s) => s.source));
  if (present.length) {
    await importImages(holder.pid, await podmanArchive(present, opts.imageCache));
    for (const { source, name } of sources.filter((s) => present.includes(s.source) && s.source !== s.name)) {
      await runInNode(holder.pid, binPath('ctr'), ['--address', CONTAINERD_SOCKET, '-n', 'k8s.io', 'images', 'tag', '--force', source, name]);
    }
  }
  const missing = sources.filter((s) => !present.includes(s.source)).map((s) => s.source);
  log(`imported ${[SANDBOX_IMAGE, ...present].join(', ')} in ${((Date.now() - started) / 1000).toFixed(1)} s` +
    (missing.length ? `; not in podman's storage (run npm run images): ${missing.join(', ')}` : ''));

  await createCgroupRoot(cgroupRoot);
  const kubelet = await start('kubelet', binPath('kubelet'), [
    `--config=${kubeletYaml}`,
    `--kubeconfig=${kubeletKubeconfig}`,
    `--hostname-override=${NODE_NAME}`,
    `--node-ip=${net.nodeIp}`,
    `--node-labels=${NODE_LABEL}=${NODE_LABEL_VALUE}`,
    `--root-dir=${paths.kubeletRoot}`,
    '--v=1',
  ]);
  const proxy = await start('kube-proxy', binPath('kube-proxy'), [`--config=${proxyYaml}`, '--v=1']);
  const provisioner = await start('hostpath-provisioner', binPath('hostpath-provisioner'), [
    `--kubeconfig=${provisionerKubeconfig}`, `--root=${paths.volumes}`, `--node=${NODE_NAME}`, `--provisioner=${PROVISIONER_NAME}`,
  ]);

  const storage = opts.kubeConfig.makeApiClient(StorageV1Api);
  await storage.createStorageClass({
    body: {
      metadata: { name: STORAGE_CLASS, annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
      provisioner: PROVISIONER_NAME,
      reclaimPolicy: 'Delete',
      // Bind when a pod needs the claim: the pod's scheduling decides, and the volume follows.
      volumeBindingMode: 'WaitForFirstConsumer',
    },
  });

  const core = opts.kubeConfig.makeApiClient(CoreV1Api);
  await waitUntil(`node ${NODE_NAME} to be Ready`, 120_000, async () => {
    for (const p of [containerd, kubelet, proxy, provisioner]) {
      if (!isAlive(p.pid)) throw new Error(`${p.name} exited (log: ${p.log})`);
    }
    const node = await core.readNode({ name: NODE_NAME }).catch(() => undefined);
    const ready = node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    const tainted = (node?.spec?.taints ?? []).some((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute');
    return ready && !tainted;
  }, 500);
}

/**
 * The kubelet wants its cgroup root to exist in every hierarchy. A new cpuset cgroup starts with
 * no CPUs and no memory nodes (cgroup v1), which no task may join: give it the root's.
 */
async function createCgroupRoot(cgroupRoot: string): Promise<void> {
  for (const h of await readdir('/sys/fs/cgroup')) {
    const dir = path.join('/sys/fs/cgroup', h, cgroupRoot);
    await mkdir(dir, { recursive: true });
    if (h === 'cpuset') {
      for (const f of ['cpuset.cpus', 'cpuset.mems']) await writeFile(path.join(dir, f), await readFile(path.join('/sys/fs/cgroup/cpuset', f), 'utf8'));
    }
  }
}

/** Every process in the node's cgroup subtree (the pods' containers and their pause processes). */
async function cgroupPids(cgroupRoot: string): Promise<number[]> {
  const pids = new Set<number>();
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    const procs = await readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
    for (const p of procs.split('\n').filter(Boolean)) pids.add(Number(p));
    await Promise.all(entries.filter((e) => e.isDirectory()).map((e) => walk(path.join(dir, e.name))));
  };
  // Every container joins the pids hierarchy (and all the others); one hierarchy is enough to find them.
  for (const hierarchy of ['pids', 'memory', 'cpu', 'unified']) await walk(path.join('/sys/fs/cgroup', hierarchy, cgroupRoot));
  return [...pids];
}

/** Removes a cgroup subtree in every hierarchy, deepest first (cgroup dirs go with rmdir only). */
async function removeCgroups(cgroupRoot: string): Promise<string[]> {
  const left: string[] = [];
  const hierarchies = await readdir('/sys/fs/cgroup').catch(() => [] as string[]);
  const removeTree = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => undefined);
    if (!entries) return;
    for (const e of entries) if (e.isDirectory()) await removeTree(path.join(dir, e.name));
    for (let attempt = 0; ; attempt++) {
      try {
        await rmdir(dir);
        return;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return;
        // EBUSY while the last task's exit is still being accounted.
        if (attempt >= 50) {
          left.push(dir);
          return;
        }
        await sleep(100);
      }
    }
  };
  for (const h of hierarchies) await removeTree(path.join('/sys/fs/cgroup', h, cgroupRoot));
  return left;
}

function kill(pids: readonly number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // Gone already.
    }
  }
}

/**
 * Undoes `startRealNode` and `createNodeNetwork`: stops the daemons, kills what they left
 * (shims, containers: found by the node's netns and cgroup subtree, so nothing else is touched),
 * which ends the mount namespace and every mount in it, then removes cgroups, the veth, the
 * namespace and the node directory. Safe to run twice and after a half-finished `up`.
 */
export async function teardownRealNode(node: RealNodeState): Promise<void> {
  for (let round = 0; round < 50; round++) {
    // The holder is in the netns too; nothing here is found by a recorded pid that may be reused.
    const pids = [...(await cgroupPids(node.cgroupRoot)), ...(await netnsPids(node.netns))].filter((p) => p > 1 && p !== process.pid);
    const alive = pids.filter(isAlive);
    if (alive.length === 0) break;
    kill(alive, round === 0 ? 'SIGTERM' : 'SIGKILL');
    await sleep(round === 0 ? 500 : 100);
  }
  const left = await removeCgroups(node.cgroupRoot);
  await removeNodeNetwork({ netns: node.netns, hostVeth: node.hostVeth });
  for (const dir of node.createdMountPoints) await rmdir(dir).catch(() => undefined);
  await rm(node.dir, { recursive: true, force: true });
  if (left.length) throw new Error(`cgroups still busy after the node stopped: ${left.join(', ')}`);
}
