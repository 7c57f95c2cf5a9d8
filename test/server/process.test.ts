import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { MODELS } from './helpers.js';

const CLI = join(import.meta.dirname, '..', '..', 'inference-server', 'cli.ts');

interface Proc {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  stderr: string[];
  exit: Promise<number | null>;
}

function run(args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  const collect = (into: (l: string) => void) => (chunk: Buffer) => chunk.toString().split('\n').filter(Boolean).forEach(into);
  child.stdout!.on('data', collect((l) => {
    try {
      lines.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      lines.push({ raw: l });
    }
  }));
  child.stderr!.on('data', collect((l) => {
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

async function waitFor<T>(what: string, f: () => T | undefined | Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('visionops-server process', function () {
  this.timeout(60_000);

  it('SIGTERM: stops accepting, drains the request in flight, exits 0', async () => {
    // The dynamic-input fixture at 4096 makes one inference take a few hundred ms.
    const p = run(['--model', join(MODELS, 'yolov5-dynamic.onnx'), '--port', '0'], {
      VISIONOPS__OCR__ENABLED: 'false', VISIONOPS__SERVER__HOST: '127.0.0.1', VISIONOPS__MODEL__INPUT_SIZE: '4096',
    });
    try {
      const port = await waitFor('listening', () => p.lines.find((l) => l.message === 'listening')?.port as number | undefined);
      const base = `http://127.0.0.1:${port}`;
      await waitFor('ready', async () => ((await fetch(`${base}/readyz`)).ok ? true : undefined));
      const big = await sharp({ create: { width: 7000, height: 6000, channels: 3, background: '#4a6' } }).jpeg().toBuffer();
      const inFlight = fetch(`${base}/v1/detect`, { method: 'POST', body: big, headers: { 'content-type': 'image/jpeg' } });
      await waitFor('request in flight', async () => {
        const m = await (await fetch(`${base}/metrics`)).text();
        return /visionops_http_requests_in_flight 1/.test(m) ? true : undefined;
      });
      p.child.kill('SIGTERM');
      const res = await inFlight;
      expect(res.status).to.equal(200);
      expect(((await res.json()) as { width: number }).width).to.equal(7000);
      expect(await p.exit).to.equal(0);
      let refused = false;
      await fetch(`${base}/healthz`).catch(() => {
        refused = true;
      });
      expect(refused).to.equal(true);
      expect(p.lines.some((l) => l.message === 'shutdown complete')).to.equal(true);
    } finally {
      p.child.kill('SIGKILL');
    }
  });

  it('logs JSON lines that carry the request id', async () => {
    const p = run(['--model', join(MODELS, 'yolov5-const.onnx'), '--port', '0'], { VISIONOPS__OCR__ENABLED: 'false', VISIONOPS__SERVER__HOST: '127.0.0.1' });
    try {
      const port = await waitFor('listening', () => p.lines.find((l) => l.message === 'listening')?.port as number | undefined);
      await waitFor('ready', async () => ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok ? true : undefined));
      await fetch(`http://127.0.0.1:${port}/v1/detect`, { method: 'POST', body: 'junk', headers: { 'content-type': 'image/png', 'x-request-id': 'trace-42' } });
      const line = await waitFor('request log', () => p.lines.find((l) => l.requestId === 'trace-42'));
      expect(line).to.include({ level: 'info', status: 415, path: '/v1/detect' });
      expect(line.timestamp).to.be.a('string');
    } finally {
      p.child.kill('SIGKILL');
    }
  });

  it('refuses an invalid configuration file with exit code 2, naming the field', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'visionops-cli-'));
    const cfg = join(dir, 'server.yaml');
    await writeFile(cfg, 'model:\n  path: m.onnx\ninference:\n  workers: 0\n');
    const p = run(['--config', cfg]);
    expect(await p.exit).to.equal(2);
    expect(p.stderr.join('\n')).to.include('inference.workers');
  });

  it('server.exitOnModelError: a file that is not a model makes it exit 3 saying why; without it, it stays up unready', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'visionops-cli-'));
    const model = join(dir, 'not-a-model.onnx');
    await writeFile(model, 'this is a text file, not an ONNX protobuf\n');
    const cfg = join(dir, 'server.yaml');
    await writeFile(cfg, `model:\n  path: ${model}\nserver:\n  port: 0\n  exitOnModelError: true\nocr:\n  enabled: false\n`);
    const p = run(['--config', cfg]);
    expect(await p.exit).to.equal(3);
    const exiting = p.lines.find((l) => l.message === 'the model cannot be served: exiting');
    expect(exiting?.reason).to.be.a('string').and.to.include(`cannot serve ${model}`);

    await writeFile(cfg, `model:\n  path: ${model}\nserver:\n  port: 0\nocr:\n  enabled: false\n`);
    const stays = run(['--config', cfg]);
    try {
      await waitFor('the load failure log', () => stays.lines.find((l) => l.message === 'model failed to load; the server stays unready'));
      const early = await Promise.race([stays.exit, new Promise((r) => setTimeout(() => r('running'), 1000))]);
      expect(early).to.equal('running');
    } finally {
      stays.child.kill('SIGKILL');
    }
  });

  it('fetch exits 2 with one clear line when the model cannot be fetched', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'visionops-cli-'));
    const p = run(['fetch', '--uri', 'http://127.0.0.1:9/model.onnx', '--dest', join(dir, 'm.onnx'), '--retries', '0']);
    expect(await p.exit).to.equal(2);
    expect(p.stderr.join('\n')).to.match(/^model fetch failed: .*127\.0\.0\.1:9/m);
  });
});
