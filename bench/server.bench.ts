/**
 * Inference server benchmark: raw onnxruntime session.run throughput as the baseline, then the
 * real server (child process, same model, same total threads, same image) under autocannon.
 * Prints ratios against the baseline measured in this same run; the machine is shared and noisy,
 * so absolute numbers mean little across runs.
 *
 *   npm run bench:server -- [--model M.onnx] [--image I.jpg] [--seconds 10] [--threads N] [--workers W]
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
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

const root = projectRoot();
const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    image: { type: 'string' },
    seconds: { type: 'string', default: '10' },
    threads: { type: 'string' },
    workers: { type: 'string', default: '1' },
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

async function startServer(model: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'visionops-bench-'));
  const cfg = join(dir, 'server.yaml');
  await writeFile(
    cfg,
    [
      `model: {path: ${JSON.stringify(model)}, name: bench}`,
      `inference: {workers: ${workers}, intraOpThreads: ${Math.max(1, Math.floor(threads / workers))}}`,
      'server: {port: 0, host: 127.0.0.1, maxQueue: 256}',
      'ocr: {workers: 2, classes: {plate: {mode: line, charset: A-Z0-9}}}',
      'logging: {level: warn}',
    ].join('\n'),
  );
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'inference-server', 'cli.ts'), '--config', cfg], {
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
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
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

async function main(): Promise<void> {
  const model = values.model ?? defaultModel();
  const image = await defaultImage();
  const meta = await sharp(image).metadata();
  console.log(`model ${model}\nimage ${meta.width}x${meta.height} ${meta.format}, ${image.length} bytes; threads ${threads} (server: ${workers} worker(s) x ${Math.max(1, Math.floor(threads / workers))}); ${seconds}s per measurement\n`);

  const raw = await rawThroughput(model, image);
  console.log(`raw session.run (input ${raw.inputSize}): ${fmt(raw.rps, 2)} runs/s (${fmt(raw.msPerRun)} ms/run)`);

  const server = await startServer(model);
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

await main();
