/**
 * Inference server benchmark, two baselines measured in the same run (the machine is shared and
 * noisy, so absolute numbers mean little across runs; ratios do):
 *
 * 1. Detection: raw onnxruntime session.run throughput, then the real server (child process, same
 *    model, same total threads, same image) under autocannon.
 * 2. Plates: the server's /v1/read (the `npm start` rule: the bundled plate reader, no tesseract)
 *    against the seed's stack (bench/seed: FastAPI + uvicorn + onnxruntime + pytesseract, PSM 7,
 *    A-Z0-9, the same detector and threads; its pinned requirements installed into
 *    bench/seed/.venv), on images of the project's held-out synthetic set (seed 3): throughput at
 *    c=1 and c=4 and the ratio visionops/seed, peak RSS of each process tree at c=4, and the exact
 *    match of both on the first --accuracy-n images of that set. Targets: >= 2x the seed's
 *    throughput at >= its accuracy, RSS no higher.
 *
 *   npm run bench:server -- [--model M.onnx] [--reader R.onnx] [--image I.jpg] [--seconds 10]
 *                           [--threads N] [--workers W] [--accuracy-n 100] [--no-seed] [--no-detect]
 *                           [--tiles 2]
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { letterboxParams, letterboxToTensor } from '../inference-server/pipeline/letterbox.js';
import { usableCpus } from '../inference-server/inference/cpus.js';
import { projectRoot } from '../inference-server/project-root.js';
import { plateOcr } from '../inference-server/ocr/plate-rule.js';
import { exactReads, plateSet, type Detection } from './heldout.js';
import { startSeed } from './seed-stack.js';

const root = projectRoot();
// glibc's malloc as the server image runs it (Dockerfile.server): two arenas, not eight per core;
// the seed's processes inherit the same. Peak RSS at c=4 of our server: about 50 MiB lower.
process.env.MALLOC_ARENA_MAX ??= '2';
const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    image: { type: 'string' },
    seconds: { type: 'string', default: '10' },
    threads: { type: 'string' },
    workers: { type: 'string', default: '1' },
    reader: { type: 'string' },
    'accuracy-n': { type: 'string', default: '100' },
    'no-seed': { type: 'boolean', default: false },
    'no-detect': { type: 'boolean', default: false },
    tiles: { type: 'string', default: '1' },
  },
});
const seconds = Number(values.seconds);
const threads = values.threads ? Number(values.threads) : usableCpus();
// The threads are shared out: `workers` sessions of threads/workers each, the same total as the baseline.
const workers = Number(values.workers);

function defaultModel(): string {
  for (const p of [join(root, 'models', 'plate-detector.onnx'), join(root, 'test', 'fixtures', 'golden', 'yolov5n-golden.onnx')]) if (existsSync(p)) return p;
  const golden = join(root, 'test', 'fixtures', 'golden');
  const found = existsSync(golden) ? readdirSync(golden).find((f) => f.endsWith('.onnx')) : undefined;
  if (found) return join(golden, found);
  throw new Error('no model: pass --model');
}

async function defaultImage(): Promise<Buffer> {
  if (values.image) return readFileSync(values.image);
  const dir = join(root, 'test', 'fixtures', 'golden', 'images');
  const jpg = existsSync(dir) ? readdirSync(dir).find((f) => f.endsWith('.jpg')) : undefined;
  if (jpg) return readFileSync(join(dir, jpg));
  return sharp({ create: { width: 1280, height: 720, channels: 3, background: '#6e6e6e', noise: { type: 'gaussian', mean: 110, sigma: 30 } } }).jpeg({ quality: 85 }).toBuffer();
}

async function rawThroughput(model: string, image: Buffer): Promise<{ rps: number; msPerRun: number; inputSize: number }> {
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
  const input = session.inputMetadata[0]!;
  const dims = 'shape' in input ? input.shape : [];
  const size = typeof dims[2] === 'number' ? dims[2] : 640;
  const { data, info } = await sharp(image).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const tensor = new ort.Tensor('float32', letterboxToTensor(new Uint8Array(data), letterboxParams(info.width, info.height, size)), [1, 3, size, size]);
  for (let i = 0; i < 3; i++) await session.run({ [input.name]: tensor });
  let runs = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    await session.run({ [input.name]: tensor });
    runs++;
  }
  const elapsed = (performance.now() - start) / 1000;

  return { rps: runs / elapsed, msPerRun: (elapsed * 1000) / runs, inputSize: size };
}

async function startServer(model: string, reader: string | undefined): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'visionops-bench-'));
  const cfg = join(dir, 'server.yaml');
  await writeFile(
    cfg,
    stringify({
      // --tiles: the second look for small plates (model.tiles), to weigh its cost against the seed
      model: { path: model, name: 'bench', tiles: { grid: Number(values.tiles) } },
      inference: { workers, intraOpThreads: Math.max(1, Math.floor(threads / workers)) },
      server: { port: 0, host: '127.0.0.1', maxQueue: 256 },
      // the `npm start` plate rule: the bundled reader, no tesseract (tesseract when there is no reader)
      ocr: { workers: 2, classes: { plate: plateOcr(reader) } },
      logging: { level: 'warn' },
    }),
  );
  // the server as `npm start` runs it: the compiled dist/, not through tsx (whose loader and
  // esbuild service would count in the server's memory)
  const child = spawn(process.execPath, [serverEntry(), '--config', cfg], {
    env: { ...process.env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (line.includes('"listening"')) resolve((JSON.parse(line) as { port: number }).port);
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    if ((await fetch(`${url}/readyz`).catch(() => undefined))?.ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    pid: child.pid!,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

let built: string | undefined;
/** dist/inference-server/cli.js, compiled once per run from the working tree (`npm run build`). */
function serverEntry(): string {
  if (!built) {
    const r = spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`npm run build failed (${r.status ?? r.signal})`);
    built = join(root, 'dist', 'inference-server', 'cli.js');
  }
  return built;
}

/** Resident memory of a process and all its descendants (tesseract subprocesses count), from /proc. */
function treeRss(pid: number): number {
  let total = 0;
  const visit = (p: number) => {
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      total += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
      for (const task of readdirSync(`/proc/${p}/task`)) {
        for (const c of readFileSync(`/proc/${p}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) visit(Number(c));
      }
    } catch {
      // the process ended meanwhile
    }
  };
  visit(pid);
  return total;
}

interface Closed {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  peakRss: number;
}

/** A closed loop of `c` clients POSTing the images in turn to /v1/read for `secs`, sampling the server's RSS. */
async function readLoad(url: string, pid: number, images: Buffer[], c: number, secs = seconds): Promise<Closed> {
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  let peakRss = treeRss(pid);
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, treeRss(pid))), 100);
  const end = performance.now() + secs * 1000;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (performance.now() < end) {
        const body = images[next++ % images.length]!;
        const t = performance.now();
        const res = await fetch(`${url}/v1/read`, { method: 'POST', body, headers: { 'Content-Type': 'image/jpeg' } }).catch(() => undefined);
        if (!res?.ok) errors++;
        await res?.arrayBuffer();
        latencies.push(performance.now() - t);
      }
    }),
  );
  clearInterval(sampler);
  const elapsed = (performance.now() - start) / 1000;
  const sorted = latencies.sort((a, b) => a - b);
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
  return { rps: (latencies.length - errors) / elapsed, p50: q(0.5), p99: q(0.99), errors, peakRss };
}

/** Exact match of a server's /v1/read on the held-out images (2 requests in flight). */
async function accuracy(url: string, dir: string, rows: ReturnType<typeof plateSet>['rows']): Promise<{ exact: number; plates: number; detected: number }> {
  let exact = 0;
  let plates = 0;
  let detected = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: 2 }, async () => {
      while (next < rows.length) {
        const row = rows[next++]!;
        const res = await fetch(`${url}/v1/read`, { method: 'POST', body: readFileSync(join(dir, row.file)), headers: { 'Content-Type': 'image/jpeg' } });
        if (!res.ok) throw new Error(`${url}: HTTP ${res.status} on ${row.file}`);
        const dets = ((await res.json()) as { detections: Detection[] }).detections.filter((d) => d.class === 'plate');
        const r = exactReads(dets, row.plates);
        exact += r.exact;
        detected += r.detected;
        plates += row.plates.length;
      }
    }),
  );
  return { exact, plates, detected };
}

interface Load {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
}

async function load(url: string, path: string, connections: number, body?: Buffer, secs = seconds): Promise<Load> {
  const r = await autocannon({
    url: url + path,
    connections,
    duration: secs,
    method: body ? 'POST' : 'GET',
    ...(body ? { body, headers: { 'content-type': 'image/jpeg' } } : {}),
  });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx + r.errors + r.timeouts };
}

const fmt = (n: number, d = 1) => n.toFixed(d);

async function detectSection(model: string, reader: string | undefined): Promise<void> {
  const image = await defaultImage();
  const meta = await sharp(image).metadata();
  console.log(`image ${meta.width}x${meta.height} ${meta.format}, ${image.length} bytes\n`);

  const raw = await rawThroughput(model, image);
  console.log(`raw session.run (input ${raw.inputSize}): ${fmt(raw.rps, 2)} runs/s (${fmt(raw.msPerRun)} ms/run)`);

  const server = await startServer(model, reader);
  try {
    await load(server.url, '/v1/detect', 2, image, 2); // warm the JIT and allocators
    const rows: [string, Load][] = [];
    for (const c of [1, 4, 16]) rows.push([`/v1/detect c=${c}`, await load(server.url, '/v1/detect', c, image)]);
    rows.push(['/v1/read c=4', await load(server.url, '/v1/read', 4, image)]);
    const [saturated, health] = await Promise.all([
      load(server.url, '/v1/detect', 16, image),
      load(server.url, '/healthz', 1),
    ]);
    rows.push(['/v1/detect c=16 (with /healthz probe)', saturated]);
    rows.push(['/healthz c=1 while saturated', health]);

    console.log('\n| load | req/s | p50 ms | p99 ms | non-2xx | ratio to raw |');
    console.log('|---|---|---|---|---|---|');
    for (const [name, l] of rows) {
      const ratio = name.startsWith('/v1/detect') ? `${fmt(l.rps / raw.rps, 2)}x` : '';
      console.log(`| ${name} | ${fmt(l.rps, 2)} | ${l.p50} | ${l.p99} | ${l.non2xx} | ${ratio} |`);
    }
    const best = Math.max(...rows.filter(([n]) => n.startsWith('/v1/detect')).map(([, l]) => l.rps));
    console.log(`\ndetect/raw (best concurrency): ${fmt(best / raw.rps, 2)}x  (target >= 0.9x) ${best / raw.rps >= 0.9 ? 'MET' : 'NOT MET'}`);
    console.log(`/healthz p99 while saturated: ${health.p99} ms  (target < 50 ms) ${health.p99 < 50 ? 'MET' : 'NOT MET'}`);
  } finally {
    await server.stop();
  }
}

async function plateSection(model: string, reader: string | undefined): Promise<void> {
  const accuracyN = Number(values['accuracy-n']);
  const set = plateSet({ seed: 3, n: 400 });
  const images = set.rows.slice(0, 24).map((r) => readFileSync(join(set.dir, r.file)));
  const rows = set.rows.slice(0, accuracyN);
  console.log(`\nplates: /v1/read on held-out images (synthetic seed 3, ${set.dir}); ${images.length} images in turn for throughput, ${rows.length} for accuracy`);
  const results: Record<string, { c1: Closed; c4: Closed; acc: Awaited<ReturnType<typeof accuracy>> }> = {};
  const stacks: [string, () => Promise<{ url: string; pid: number; stop: () => Promise<void> }>][] = [
    ['visionops', () => startServer(model, reader)],
    ['seed', () => startSeed(model, threads)],
  ];
  for (const [name, start] of stacks) {
    const s = await start();
    try {
      await readLoad(s.url, s.pid, images, 2, 2); // warm up
      const c1 = await readLoad(s.url, s.pid, images, 1);
      const c4 = await readLoad(s.url, s.pid, images, 4);
      const acc = await accuracy(s.url, set.dir, rows);
      results[name] = { c1, c4, acc };
    } finally {
      await s.stop();
    }
  }
  const v = results.visionops!;
  const sd = results.seed!;
  const mb = (b: number) => `${fmt(b / 2 ** 20, 0)} MiB`;
  const pct = (a: { exact: number; plates: number }) => `${fmt((100 * a.exact) / Math.max(1, a.plates))} % (${a.exact}/${a.plates})`;
  console.log('\n| /v1/read | c=1 req/s | c=1 p50 ms | c=4 req/s | c=4 p50 / p99 ms | errors | peak RSS at c=4 | exact match |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const [name, r] of Object.entries(results)) {
    console.log(`| ${name} | ${fmt(r.c1.rps, 2)} | ${fmt(r.c1.p50, 0)} | ${fmt(r.c4.rps, 2)} | ${fmt(r.c4.p50, 0)} / ${fmt(r.c4.p99, 0)} | ${r.c1.errors + r.c4.errors} | ${mb(r.c4.peakRss)} | ${pct(r.acc)} |`);
  }
  const r1 = v.c1.rps / sd.c1.rps;
  const r4 = v.c4.rps / sd.c4.rps;
  const accOk = v.acc.exact / Math.max(1, v.acc.plates) >= sd.acc.exact / Math.max(1, sd.acc.plates);
  console.log(`\nvisionops/seed throughput: c=1 ${fmt(r1, 2)}x, c=4 ${fmt(r4, 2)}x (target >= 2x) ${Math.min(r1, r4) >= 2 ? 'MET' : 'NOT MET'}`);
  console.log(`exact match: visionops ${pct(v.acc)}, seed ${pct(sd.acc)} (target: visionops >= seed) ${accOk ? 'MET' : 'NOT MET'}`);
  console.log(`peak RSS at c=4: visionops ${mb(v.c4.peakRss)}, seed ${mb(sd.c4.peakRss)} (target: no higher) ${v.c4.peakRss <= sd.c4.peakRss ? 'MET' : 'NOT MET'}`);
}

async function main(): Promise<void> {
  const model = values.model ?? defaultModel();
  const bundledReader = join(root, 'models', 'plate-reader.onnx');
  const reader = values.reader ?? (existsSync(bundledReader) ? bundledReader : undefined);
  console.log(`model ${model}, reader ${reader ?? '(none: tesseract)'}; threads ${threads} (server: ${workers} worker(s) x ${Math.max(1, Math.floor(threads / workers))}); MALLOC_ARENA_MAX=${process.env.MALLOC_ARENA_MAX} (both servers); ${seconds}s per measurement`);
  if (!values['no-detect']) await detectSection(model, reader);
  if (!values['no-seed']) await plateSection(model, reader);
}

await main();
