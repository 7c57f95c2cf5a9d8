import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive, runsBinary } from './process-util.js';

export interface ComponentProcess {
  name: string;
  pid: number;
  bin: string;
  log: string;
}

/**
 * Starts a component in its own process group with stdout and stderr in `log`. Detached and
 * unreferenced, so `npm run cluster -- up` can exit and leave the cluster running.
 */
export function startComponent(name: string, bin: string, args: readonly string[], log: string, env?: NodeJS.ProcessEnv): ComponentProcess {
  const fd = openSync(log, 'a');
  try {
    const child = spawn(bin, args, { detached: true, stdio: ['ignore', fd, fd], env: env ?? process.env });
    if (child.pid === undefined) throw new Error(`could not start ${name} (${bin})`);
    child.unref();
    return { name, pid: child.pid, bin, log };
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(fd);
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopComponent(p: ComponentProcess, graceMs = 5000): Promise<void> {
  if (!runsBinary(p.pid, p.bin)) return;
  signalGroup(p.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(p.pid) && Date.now() < deadline) await sleep(50);
  if (isAlive(p.pid)) {
    signalGroup(p.pid, 'SIGKILL');
    while (isAlive(p.pid)) await sleep(20);
  }
}

export function isRunning(p: ComponentProcess): boolean {
  return runsBinary(p.pid, p.bin);
}

/** For process 'exit' handlers, where nothing asynchronous runs any more. */
export function killComponentSync(p: ComponentProcess): void {
  if (runsBinary(p.pid, p.bin)) signalGroup(p.pid, 'SIGKILL');
}

/** The end of a component's log, for error messages that say why it did not come up. */
export async function logTail(p: ComponentProcess, lines = 25): Promise<string> {
  const text = await readFile(p.log, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
