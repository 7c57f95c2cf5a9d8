import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The real server as a child process (`visionops-server` from sources), for tests that need its pid, signals or exit code. */

export const CLI = join(import.meta.dirname, '..', '..', 'inference-server', 'cli.ts');

export interface Proc {
  child: ChildProcess;
  /** stdout and stderr lines, JSON parsed where they are JSON */
  lines: Record<string, unknown>[];
  stderr: string[];
  exit: Promise<number | null>;
}

export function run(args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return watch(child);
}

export function watch(child: ChildProcess): Proc {
  const lines: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  const collect = (into: (l: string) => void) => (chunk: Buffer) => chunk.toString().split('\n').filter(Boolean).forEach(into);
  child.stdout?.on('data', collect((l) => {
    try {
      lines.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      lines.push({ raw: l });
    }
  }));
  child.stderr?.on('data', collect((l) => {
    stderr.push(l);
    try {
      lines.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      /* plain text on stderr */
    }
  }));
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  return { child, lines, stderr, exit };
}

export async function waitFor<T>(what: string, f: () => T | undefined | Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits for the "listening" line and a ready /readyz; the server's base URL. */
export async function ready(p: Proc, ms = 60_000): Promise<string> {
  const port = await waitFor('listening', () => p.lines.find((l) => l.message === 'listening')?.port as number | undefined, ms);
  const base = `http://127.0.0.1:${port}`;
  await waitFor('ready', async () => ((await fetch(`${base}/readyz`).catch(() => undefined))?.ok ? true : undefined), ms);
  return base;
}

/** Resident set size of a process, from /proc (bytes). */
export function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/** Samples a process's RSS until stopped; the peak seen. */
export function sampleRss(pid: number, everyMs = 25): { stop(): number; peak(): number } {
  let peak = rssOf(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssOf(pid));
    } catch {
      /* exited */
    }
  }, everyMs);
  return {
    peak: () => peak,
    stop: () => {
      clearInterval(timer);
      return peak;
    },
  };
}

export const MiB = 2 ** 20;
