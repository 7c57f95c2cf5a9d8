/**
 * Overload benchmark: is the event loop free while the server is saturated? The real server
 * (child process, `npm start`'s configuration: the bundled detector, plate reader and tesseract)
 * gets `--connections` (200) concurrent POST /v1/read of the smoke-test plate for `--seconds`,
 * while a probe asks /healthz every 20 ms, on a new connection each time as the kubelet does. /healthz does no work, so its
 * latency is the event loop's: anything above a millisecond or two is the loop being busy with
 * something else. The baseline is the same probe against the same server idle, in the same run.
 * The server also listens on a health port of its own (server.healthPort, as the operator's pods
 * do), probed the same way at the same time: there a probe does not queue behind the 200 client
 * connections in the API port's accept backlog.
 *
 *   npm run bench:overload -- [--connections 200] [--seconds 20] [--cpu-prof DIR] [--root DIR]
 *
 * --root DIR runs the server of another checkout (the same bench against an older revision:
 * `git archive REV | tar -x -C DIR && ln -s $PWD/node_modules DIR/`), for before/after on one machine.
 *
 * --cpu-prof DIR writes the server's CPU profiles (main thread and workers) into DIR, to find
 * what blocks the loop (open them in Chrome DevTools, or see --top).
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { projectRoot } from '../inference-server/project-root.js';

const root = projectRoot();
const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '20' },
    'cpu-prof': { type: 'string' },
    /** another checkout's server (e.g. `git archive REV | tar -x -C DIR`, node_modules linked) to compare with */
    root: { type: 'string' },
    top: { type: 'string', default: '25' },
  },
});
const connections = Number(values.connections);
const seconds = Number(values.seconds);
const image = readFileSync(join(root, 'ci', 'smoke', 'plate.jpg'));

/** CPU seconds the process's main thread (the event loop) has used: contention slows it, but does not inflate this. */
function mainThreadCpu(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of stat, in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * Seconds the main thread spent runnable but waiting for a CPU (schedstat's run-queue time): lag
 * that is not the loop's own work but the machine's (or the process's other threads') load.
 */
function mainThreadRunQueueWait(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9;
}

async function startServer(): Promise<{ url: string; healthUrl?: string; pid: number; stop: () => Promise<void> }> {
  const prof = values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', values['cpu-prof']] : [];
  const serverRoot = values.root ?? root;
  const child = spawn(process.execPath, [...prof, '--import', 'tsx', join(serverRoot, 'inference-server', 'cli.ts'), '--port', '0'], {
    cwd: serverRoot,
    // (no drain delay to wait for at the end; older revisions do not know the setting)
    env: { ...process.env, LOG_LEVEL: 'info', VISIONOPS__SERVER__HOST: '127.0.0.1', ...(values.root ? {} : { VISIONOPS__SERVER__DRAIN_DELAY_MS: '0', VISIONOPS__SERVER__HEALTH_PORT: '0' }) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const { port, healthPort } = await new Promise<{ port: number; healthPort?: number }>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (line.includes('"listening"')) resolve(JSON.parse(line) as { port: number; healthPort?: number });
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 1200; i++) {
    if ((await fetch(`${url}/readyz`).catch(() => undefined))?.ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    ...(healthPort !== undefined ? { healthUrl: `http://127.0.0.1:${healthPort}` } : {}),
    pid: child.pid!,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

/**
 * GET /healthz every 20 ms for `ms`, each on a new connection as the kubelet's probes are; the
 * latencies in ms. In a process of its own: autocannon's 200 connections keep this one's event loop
 * busy too, and that must not count as the server's.
 */
function probe(url: string, ms: number): Promise<number[]> {
  const script = `
    const http = require('node:http');
    const out = [];
    const end = Date.now() + ${ms};
    (async () => {
      while (Date.now() < end) {
        const t0 = performance.now();
        await new Promise((resolve) => http.get(${JSON.stringify(`${url}/healthz`)}, { agent: false }, (res) => { res.resume(); res.on('end', resolve); }).on('error', resolve));
        out.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 20));
      }
      process.stdout.write(JSON.stringify(out));
    })();`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (b: Buffer) => (text += b.toString()));
    child.on('exit', () => {
      try {
        resolve(JSON.parse(text) as number[]);
      } catch (err) {
        reject(err as Error);
      }
    });
  });
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
}

const f = (n: number) => n.toFixed(1);

async function main(): Promise<void> {
  const server = await startServer();
  try {
    // Warm up: JIT, allocators, OCR workers.
    await autocannon({ url: `${server.url}/v1/read`, connections: 4, duration: 3, method: 'POST', body: image, headers: { 'content-type': 'image/jpeg' } });
    const idle = await probe(server.url, 5000);
    const idleHealth = server.healthUrl ? await probe(server.healthUrl, 5000) : undefined;

    const load = autocannon({
      url: `${server.url}/v1/read`, connections, duration: seconds, method: 'POST', body: image,
      headers: { 'content-type': 'image/jpeg' }, timeout: 60,
    });
    const cpu0 = mainThreadCpu(server.pid);
    const wait0 = mainThreadRunQueueWait(server.pid);
    const busy = probe(server.url, seconds * 1000);
    const busyHealth = server.healthUrl ? probe(server.healthUrl, seconds * 1000) : undefined;
    const result = await load;
    const cpu = mainThreadCpu(server.pid) - cpu0;
    const waited = mainThreadRunQueueWait(server.pid) - wait0;
    const health = await busy;
    const healthPort = await busyHealth;
    const lag = (await (await fetch(`${server.url}/metrics`)).text()).match(/^nodejs_eventloop_lag_(p99|max)_seconds [\d.e+-]+$/gm) ?? [];

    const codes = Object.entries(result.statusCodeStats ?? {}).map(([k, v]) => `${k}: ${(v as { count: number }).count}`).join(', ');
    console.log(`POST /v1/read x ${connections} connections for ${seconds} s: ${result.requests.total} answered (${codes}), ${result.errors} errors, ${result.timeouts} timeouts; read p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms`);
    console.log('\n| /healthz probe | n | p50 ms | p99 ms | max ms |');
    console.log('|---|---|---|---|---|');
    const row = (what: string, xs: number[]) => console.log(`| ${what} | ${xs.length} | ${f(pct(xs, 50))} | ${f(pct(xs, 99))} | ${f(Math.max(...xs))} |`);
    row('API port, idle (baseline)', idle);
    row(`API port, under ${connections} concurrent reads`, health);
    if (idleHealth) row('health port, idle', idleHealth);
    if (healthPort) row(`health port, under ${connections} concurrent reads`, healthPort);
    const served = result.requests.total;
    console.log(`\nserver main thread: ${f(cpu)} CPU s over the ${seconds} s of load = ${f((cpu * 1000) / Math.max(1, served))} ms per answered request (the event loop's cost of one; CPU contention does not inflate it); it waited ${f(waited)} s for a CPU while runnable (load: ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${availableParallelism()} CPUs)`);
    console.log(`/healthz p99 under load / idle: ${f(pct(health, 99) / pct(idle, 99))}x on the API port${healthPort ? `, ${f(pct(healthPort, 99) / pct(idle, 99))}x on the health port` : ''}; server's own event-loop lag: ${lag.join(', ')}`);
  } finally {
    await server.stop();
  }
  if (values['cpu-prof']) topOfProfile(values['cpu-prof']);
}

/** Self time by function in the main thread's profile (the largest .cpuprofile is usually a worker's; the main one has express in it). */
function topOfProfile(dir: string): void {
  interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }
  for (const file of readdirSync(dir).filter((n) => n.endsWith('.cpuprofile'))) {
    const prof = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
    if (!prof.nodes.some((n) => n.callFrame.url.includes('express'))) continue;
    const byId = new Map(prof.nodes.map((n) => [n.id, n]));
    const self = new Map<string, number>();
    prof.samples.forEach((id, i) => {
      const n = byId.get(id)!;
      const key = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*node_modules\//, '').replace(root, '')}:${n.callFrame.lineNumber + 1}`;
      self.set(key, (self.get(key) ?? 0) + (prof.timeDeltas[i] ?? 0) / 1000);
    });
    const total = [...self.values()].reduce((a, b) => a + b, 0);
    console.log(`\nmain thread ${file}: ${f(total)} ms sampled; top self time:`);
    for (const [k, ms] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) console.log(`  ${f(ms).padStart(8)} ms  ${(100 * ms / total).toFixed(1).padStart(5)} %  ${k}`);
  }
}

await main();
