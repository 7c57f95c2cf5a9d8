import { readFileSync } from 'node:fs';

/**
 * True if a process with this id runs. Zombies count as gone: in containers whose init does not
 * reap, a stopped component would otherwise look alive forever.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // Field 3 of /proc/<pid>/stat, after the parenthesised command name.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // No procfs (macOS): trust kill(0).
  }
}

/**
 * True if `pid` still runs `bin`. State files outlive reboots and pids get reused, so `down`
 * must not signal a process just because it has a recorded pid.
 */
export function runsBinary(pid: number, bin: string): boolean {
  if (!isAlive(pid)) return false;
  try {
    const argv0 = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
    return argv0 === bin;
  } catch {
    return true;
  }
}
