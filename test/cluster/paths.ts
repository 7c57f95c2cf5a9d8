import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root: this file lives in <root>/test/cluster/. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Wrapper Go modules, one per tool, so each tool resolves its own dependency graph. */
export const GOMOD_DIR = path.join(REPO_ROOT, 'test', 'cluster', 'gomod');

/**
 * Built binaries. Overridable so several checkouts on one machine can share one build.
 */
export function binDir(): string {
  return process.env.VISIONOPS_CLUSTER_BIN_DIR ?? path.join(REPO_ROOT, '.cache', 'bin');
}

/** Default state directory of `npm run cluster -- up` (kubeconfig, pki, logs, etcd data). */
export function defaultStateDir(): string {
  return process.env.VISIONOPS_CLUSTER_DIR ?? path.join(REPO_ROOT, '.cluster');
}
