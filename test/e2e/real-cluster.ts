/**
 * The end-to-end suites' cluster: the local control plane with a real node (`up --real-node`),
 * one per mocha process, started by the first suite that asks and stopped by the root hook (or
 * by the suite that tests `down` itself). Separate from harness.ts's kwok-only cluster: the
 * integration suites create pods with images that do not exist, which on a real node would be
 * real pull failures.
 *
 * With KUBECONFIG pointing at a cluster from `npm run cluster -- up --real-node`, it is reused
 * (fast iteration: the node and its imported images stay up between runs).
 */
import { KubeConfig } from '@kubernetes/client-node';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { binPath } from '../cluster/build.js';
import { runCommand } from '../cluster/command.js';
import { down, up } from '../cluster/controlplane.js';
import { REPO_ROOT } from '../cluster/paths.js';
import { isAlive } from '../cluster/process-util.js';
import { killComponentSync } from '../cluster/processes.js';
import { podmanHas, projectImageSources } from '../cluster/realnode/images.js';
import { builtImages } from '../images/podman.js';
import { readState, type ClusterState } from '../cluster/state.js';
import { registerTeardown } from '../cluster/teardown.js';

const RUN_DIR_PREFIX = 'e2e-run-';
const log = (line: string): void => console.error(`[e2e-cluster] ${line}`);

export interface RealCluster {
  kubeConfig: KubeConfig;
  kubeconfigPath: string;
  state: ClusterState;
  /** True when this run started the cluster (and so may stop it). */
  owned: boolean;
  kubectl(...args: string[]): Promise<string>;
  helm(...args: string[]): Promise<string>;
  /** Stops and removes the cluster now, instead of after the run (the `down` test). */
  stop(): Promise<void>;
}

let cluster: Promise<RealCluster> | undefined;

function make(state: ClusterState, owned: boolean, stop: () => Promise<void>): RealCluster {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(state.kubeconfig);
  const env = { ...process.env, KUBECONFIG: state.kubeconfig, HELM_CACHE_HOME: path.join(state.dir, 'helm', 'cache'), HELM_CONFIG_HOME: path.join(state.dir, 'helm', 'config'), HELM_DATA_HOME: path.join(state.dir, 'helm', 'data') };
  return {
    kubeConfig,
    kubeconfigPath: state.kubeconfig,
    state,
    owned,
    kubectl: (...args) => runCommand(binPath('kubectl'), ['--kubeconfig', state.kubeconfig, ...args], { cwd: REPO_ROOT }),
    helm: (...args) => runCommand(binPath('helm'), ['--kubeconfig', state.kubeconfig, ...args], { cwd: REPO_ROOT, env }),
    stop,
  };
}

async function reused(): Promise<RealCluster | undefined> {
  const file = process.env.KUBECONFIG;
  if (!file || file.includes(path.delimiter)) return undefined;
  const state = await readState(path.dirname(path.resolve(file))).catch(() => undefined);
  if (!state?.realNode || path.resolve(state.kubeconfig) !== path.resolve(file)) return undefined;
  log(`using the real-node cluster in KUBECONFIG=${file}`);
  return make(state, false, () => Promise.resolve());
}

async function reapEarlierRuns(root: string): Promise<void> {
  for (const entry of (await readdir(root).catch(() => [] as string[])).filter((e) => e.startsWith(RUN_DIR_PREFIX))) {
    const owner = Number(entry.slice(RUN_DIR_PREFIX.length));
    if (!owner || isAlive(owner)) continue;
    const dir = path.join(root, entry);
    if (await readState(dir).catch(() => undefined)) {
      log(`stopping the real-node cluster abandoned by test run ${owner} in ${dir}`);
      await down(dir);
    }
    await rm(dir, { recursive: true, force: true });
  }
}

async function start(): Promise<RealCluster> {
  // The node runs the images of this working tree: built (or found unchanged in the layer cache)
  // first, so an edit is never tested against an image of an older tree. A tag of one's own
  // (VISIONOPS_NODE_IMAGE_TAG) names a build made on purpose, which is used as it is.
  if (!process.env.VISIONOPS_NODE_IMAGE_TAG) await builtImages();
  const wanted = projectImageSources().map((s) => s.source);
  const present = await podmanHas(wanted);
  if (present.length !== wanted.length) {
    throw new Error(`the e2e suite runs the project's images: build them first with \`npm run images\` (missing in podman: ${wanted.filter((r) => !present.includes(r)).join(', ')})`);
  }
  const root = path.join(REPO_ROOT, '.cluster');
  await reapEarlierRuns(root);
  const dir = path.join(root, `${RUN_DIR_PREFIX}${process.pid}`);
  const started = Date.now();
  const state = await up({ dir, ownerPid: process.pid, log, realNode: true, nodes: 1 });
  log(`control plane and real node up in ${((Date.now() - started) / 1000).toFixed(1)} s (logs: ${path.join(dir, 'logs')})`);
  const killOnExit = (): void => state.processes.forEach(killComponentSync);
  process.once('exit', killOnExit);
  let stopped = false;
  const stop = async (keepLogs = false): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', killOnExit);
    await down(dir, { keepLogs });
  };
  registerTeardown(async ({ failed }) => {
    await stop(failed);
    if (failed) log(`kept the logs: ${path.join(dir, 'logs')}`);
  });
  return make(state, true, () => stop());
}

/** The run's real-node cluster: reused from $KUBECONFIG, or started on first call. */
export function getRealCluster(): Promise<RealCluster> {
  cluster ??= reused()
    .then((c) => c ?? start())
    .catch((e: unknown) => {
      cluster = undefined;
      throw e;
    });
  return cluster;
}
