/**
 * Server image startup: from `podman run` to /readyz 200 (model loaded and warmed up by a real
 * inference, OCR workers up), run as pods run it (read-only root, uid 1000, no capabilities). The
 * baseline, measured in the same run and interleaved with it, is the same server started from the
 * working tree's build with the machine's node: the ratio is what the container costs. Also the
 * floor (a container that runs /bin/true: what podman and runc cost by themselves), the CPU
 * seconds each start burns until ready (less noisy than wall time on a shared machine: divided
 * by the cores that were free, it is the wall time of an idle machine), the RSS at ready, and the
 * time from SIGTERM to exit.
 *
 *   npm run images && npm run build && npm run bench:images -- [--runs 5] [--priority=-10]
 *
 * The CPUs are shared the same way for both: the container runs in a cgroup (podman's parent
 * cgroup has the default weight, 1024), the native server in a session of its own, hence in an
 * autogroup of its own (weight 1024, as every other session on the machine). --priority=N gives
 * both the weight of nice N (root only): the container a parent cgroup `visionops-bench` of that
 * weight, the native server's autogroup that nice value. With -10 a start gets most of a loaded
 * machine, which estimates the start on an idle one.
 *
 * Target: ready within 5 s of the start (issue 11), judged on the median.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../test/cluster/paths.js';
import { type BuiltImages, Container, podman, RESTRICTED } from '../test/images/podman.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, priority: { type: 'string' } } });
const RUNS = Number(values.runs);
const PRIORITY = values.priority === undefined ? undefined : Number(values.priority);
const TARGET_READY_S = 5;
const log = (line: string) => console.error(`[bench] ${line}`);

interface Sample {
  readyS: number;
  cpuS: number;
  rssMb: number;
  stopS: number;
}

/** The nice value of the autogroup (session) `pid` belongs to; see --priority. */
function prioritize(pid: number): void {
  if (PRIORITY !== undefined) writeFileSync(`/proc/${pid}/autogroup`, String(PRIORITY));
}
/** The scheduler's weight of a nice value (about 1.25 times per step; 1024 at 0). */
const cpuShares = (nice: number) => Math.round(1024 * 1.25 ** -nice);

const BENCH_CGROUP = 'visionops-bench';
const V2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
/** A parent cgroup with the weight of nice PRIORITY for the bench's containers; podman adds the rest. */
function benchCgroup(): string[] {
  if (PRIORITY === undefined) return [];
  const dir = V2 ? `/sys/fs/cgroup/${BENCH_CGROUP}` : `/sys/fs/cgroup/cpu/${BENCH_CGROUP}`;
  mkdirSync(dir, { recursive: true });
  // cgroup v2's cpu.weight is 100 where v1's cpu.shares is 1024.
  if (V2) writeFileSync(`${dir}/cpu.weight`, String(Math.min(10_000, Math.round((cpuShares(PRIORITY) * 100) / 1024))));
  else writeFileSync(`${dir}/cpu.shares`, String(cpuShares(PRIORITY)));
  return ['--cgroup-parent', `/${BENCH_CGROUP}`];
}
function removeBenchCgroup(): void {
  if (PRIORITY === undefined) return;
  const dirs = V2 ? [`/sys/fs/cgroup/${BENCH_CGROUP}`] : readdirSync('/sys/fs/cgroup').map((c) => `/sys/fs/cgroup/${c}/${BENCH_CGROUP}`);
  // Depth first: podman leaves a `conmon` child behind. A cgroup still in use stays (and says so).
  const remove = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) remove(path.join(d, e.name));
    try {
      rmdirSync(d);
    } catch (err) {
      log(`could not remove ${d}: ${(err as Error).message}`);
    }
  };
  for (const d of dirs) if (existsSync(d)) remove(d);
}

const ticks = 100; // USER_HZ on Linux
/** CPU seconds of a process and all its threads (node's workers are threads), from /proc. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticks;
}
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function untilReady(url: string, alive: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + 120_000;
  for (;;) {
    const res = await fetch(`${url}/readyz`).catch(() => undefined);
    if (res?.ok) return;
    if (!(await alive())) throw new Error('the server exited before it was ready');
    if (performance.now() > deadline) throw new Error('not ready after 120 s');
    await sleep(50);
  }
}

/** The image: tini (PID 1 of the container) runs node; node's pid on the host is tini's child. */
async function containerStart(image: string, port: number): Promise<Sample> {
  const c = new Container();
  try {
    const t0 = performance.now();
    await c.start([...RESTRICTED, ...benchCgroup(), '--read-only-tmpfs=false', '--tmpfs', '/tmp:rw,size=64m,mode=1777', '--publish', `127.0.0.1:${port}:8080`], image);
    const tini = Number((await podman('inspect', '--format', '{{.State.Pid}}', c.name)).trim());
    await untilReady(`http://127.0.0.1:${port}`, async () => (await c.state()).Running);
    const readyS = (performance.now() - t0) / 1000;
    const node = Number(readFileSync(`/proc/${tini}/task/${tini}/children`, 'utf8').trim().split(/\s+/)[0]);
    const sample = { readyS, cpuS: cpuSeconds(node), rssMb: rssMb(node) };
    const t1 = performance.now();
    await podman('kill', '--signal', 'TERM', c.name);
    const code = await c.exited(60_000);
    if (code !== 0) throw new Error(`exit code ${code} after SIGTERM`);
    return { ...sample, stopS: (performance.now() - t1) / 1000 };
  } finally {
    await c.remove();
  }
}

async function nativeStart(port: number): Promise<Sample> {
  const t0 = performance.now();
  const child: ChildProcess = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'inference-server', 'cli.js'), 'serve'], {
    cwd: REPO_ROOT,
    env: { ...process.env, PORT: String(port), NODE_ENV: 'production', MALLOC_ARENA_MAX: '2', ORT_DISABLE_TELEMETRY: '1' },
    stdio: 'ignore',
    // Its own session, hence its own autogroup: as the container (conmon calls setsid).
    detached: true,
  });
  prioritize(child.pid!);
  let exited: number | null | undefined;
  const done = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve((exited = code))));
  try {
    await untilReady(`http://127.0.0.1:${port}`, async () => exited === undefined);
    const readyS = (performance.now() - t0) / 1000;
    const sample = { readyS, cpuS: cpuSeconds(child.pid!), rssMb: rssMb(child.pid!) };
    const t1 = performance.now();
    child.kill('SIGTERM');
    const code = await done;
    if (code !== 0) throw new Error(`exit code ${code} after SIGTERM`);
    return { ...sample, stopS: (performance.now() - t1) / 1000 };
  } finally {
    if (exited === undefined) child.kill('SIGKILL');
  }
}

async function floorStart(image: string): Promise<number> {
  const t0 = performance.now();
  await podman('run', '--rm', ...RESTRICTED, '--entrypoint', '/bin/true', image);
  return (performance.now() - t0) / 1000;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const buildJson = path.join(REPO_ROOT, '.cache', 'images', 'build.json');
  if (!existsSync(buildJson)) throw new Error('no images: run `npm run images` first');
  const built = JSON.parse(readFileSync(buildJson, 'utf8')) as BuiltImages;
  const image = built.images.server?.ref;
  if (!image) throw new Error(`${buildJson} has no server image: run \`npm run images\``);
  if (!existsSync(path.join(REPO_ROOT, 'dist', 'inference-server', 'cli.js'))) throw new Error('no dist/: run `npm run build` first (the baseline)');

  const port = 18_000 + Math.floor(Math.random() * 2000);
  const load0 = loadavg()[0]!;
  log(`${image}, ${RUNS} runs each, interleaved; load average ${load0.toFixed(1)}${PRIORITY === undefined ? '' : `; weight of nice ${PRIORITY}`}`);
  const inImage: Sample[] = [];
  const native: Sample[] = [];
  const floor: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    floor.push(await floorStart(image));
    inImage.push(await containerStart(image, port));
    native.push(await nativeStart(port + 1));
    log(`run ${i + 1}: image ${inImage.at(-1)!.readyS.toFixed(2)} s, native ${native.at(-1)!.readyS.toFixed(2)} s, floor ${floor.at(-1)!.toFixed(2)} s`);
  }
  const load1 = loadavg()[0]!;

  const row = (name: string, s: Sample[]) =>
    `${name.padEnd(22)} ${median(s.map((x) => x.readyS)).toFixed(2).padStart(8)} ${Math.min(...s.map((x) => x.readyS)).toFixed(2).padStart(8)} ` +
    `${median(s.map((x) => x.cpuS)).toFixed(2).padStart(8)} ${median(s.map((x) => x.rssMb)).toFixed(0).padStart(8)} ${median(s.map((x) => x.stopS)).toFixed(2).padStart(8)}`;
  console.log(`\n${'start → /readyz 200'.padEnd(22)} ${'median s'.padStart(8)} ${'min s'.padStart(8)} ${'CPU s'.padStart(8)} ${'RSS MB'.padStart(8)} ${'stop s'.padStart(8)}`);
  console.log(row('server image (podman)', inImage));
  console.log(row('same server, native', native));
  console.log(`${'floor: /bin/true'.padEnd(22)} ${median(floor).toFixed(2).padStart(8)} ${Math.min(...floor).toFixed(2).padStart(8)}`);
  const ratio = median(inImage.map((x) => x.readyS)) / median(native.map((x) => x.readyS));
  const readyMedian = median(inImage.map((x) => x.readyS));
  console.log(`\nimage / native (wall): ${ratio.toFixed(2)}; load average ${load0.toFixed(1)} → ${load1.toFixed(1)} on this machine's cores`);
  console.log(`ready median ${readyMedian.toFixed(2)} s: ${readyMedian <= TARGET_READY_S ? 'within' : 'OVER'} the ${TARGET_READY_S} s target`);
}

try {
  await main();
} finally {
  removeBenchCgroup();
}
