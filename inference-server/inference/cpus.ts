import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/**
 * CPUs this process may really use: os.availableParallelism() sees the node's cores, not the
 * container's CFS quota, so read cgroup v2 cpu.max (or v1 cfs_quota/period) as well.
 */
export function usableCpus(readText: (path: string) => string | undefined = tryRead): number {
  const host = availableParallelism();
  const quota = cgroupQuota(readText);
  return Math.max(1, Math.min(host, quota ?? host));
}

export function cgroupQuota(readText: (path: string) => string | undefined): number | undefined {
  const v2 = readText('/sys/fs/cgroup/cpu.max');
  if (v2 !== undefined) {
    const [quota, period] = v2.trim().split(/\s+/);
    if (quota === undefined || quota === 'max' || period === undefined) return undefined;
    return Math.ceil(Number(quota) / Number(period)) || undefined;
  }
  const q = readText('/sys/fs/cgroup/cpu/cpu.cfs_quota_us');
  const p = readText('/sys/fs/cgroup/cpu/cpu.cfs_period_us');
  if (q === undefined || p === undefined || Number(q) <= 0) return undefined;
  return Math.ceil(Number(q) / Number(p)) || undefined;
}

function tryRead(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
