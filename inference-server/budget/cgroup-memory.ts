import { readFileSync } from 'node:fs';

/**
 * The container's memory limit in bytes (cgroup v2 memory.max, or v1 memory.limit_in_bytes), or
 * undefined when there is none: the kernel kills the process at that limit, so the server's own
 * bound must stay under it whatever the headroom says.
 */
export function cgroupMemoryLimit(readText: (path: string) => string | undefined = tryRead): number | undefined {
  const v2 = readText('/sys/fs/cgroup/memory.max')?.trim();
  if (v2 !== undefined) return v2 === 'max' || !/^\d+$/.test(v2) ? undefined : Number(v2);
  const v1 = readText('/sys/fs/cgroup/memory/memory.limit_in_bytes')?.trim();
  if (v1 === undefined || !/^\d+$/.test(v1)) return undefined;
  const bytes = Number(v1);
  // v1 reports "no limit" as a page-rounded 2^63-1.
  return bytes >= 2 ** 62 ? undefined : bytes;
}

function tryRead(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
