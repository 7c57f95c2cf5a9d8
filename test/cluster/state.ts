import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ComponentProcess } from './processes.js';
import type { RealNodeState } from './realnode/node.js';

/** What `up` leaves behind for `status`, `down` and the test harness. */
export interface ClusterState {
  dir: string;
  kubeconfig: string;
  server: string;
  /** Client CA: the harness signs per-test users with it. */
  ca: { cert: string; key: string };
  etcdDataDir: string;
  processes: ComponentProcess[];
  nodes: string[];
  /** Set when a test run started the cluster, so a later run can reap it if that run was killed. */
  ownerPid?: number;
  startedAt: string;
  /** Present with `up --real-node`: what `down` must undo besides the processes. */
  realNode?: RealNodeState;
}

export const STATE_FILE = 'state.json';

export function statePath(dir: string): string {
  return path.join(dir, STATE_FILE);
}

export async function readState(dir: string): Promise<ClusterState | undefined> {
  try {
    return JSON.parse(await readFile(statePath(dir), 'utf8')) as ClusterState;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export async function writeState(state: ClusterState): Promise<void> {
  await writeFile(statePath(state.dir), JSON.stringify(state, null, 2) + '\n');
}
