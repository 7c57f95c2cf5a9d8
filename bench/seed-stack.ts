/**
 * The seed's stack (bench/seed/server.py: FastAPI + uvicorn + onnxruntime + pytesseract) as a
 * baseline for `npm run bench:server`: its pinned requirements installed into bench/seed/.venv, the
 * Debian tesseract-ocr binary installed with apt-get when missing (as root), and the server started
 * on a free port.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { projectRoot } from '../inference-server/project-root.js';

const root = projectRoot();
const SEED_DIR = join(root, 'bench', 'seed');
const VENV = join(SEED_DIR, '.venv');

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal})`);
}

/** The venv's python, (re)installed when bench/seed/requirements.txt changed. */
export function seedPython(): string {
  const reqs = join(SEED_DIR, 'requirements.txt');
  const digest = createHash('sha256').update(readFileSync(reqs)).digest('hex');
  const stamp = join(VENV, '.requirements.sha256');
  const python = join(VENV, 'bin', 'python');
  if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== digest) {
    console.log(`seed baseline: installing ${reqs} into ${VENV}`);
    run(process.env.PYTHON ?? 'python3', ['-m', 'venv', VENV]);
    run(python, ['-m', 'pip', 'install', '-q', '-r', reqs]);
    writeFileSync(stamp, digest);
  }
  if (spawnSync('tesseract', ['--version']).status !== 0) {
    if (process.getuid?.() !== 0) throw new Error('the seed baseline needs the tesseract binary: apt-get install -y tesseract-ocr');
    console.log('seed baseline: installing tesseract-ocr with apt-get');
    run('apt-get', ['install', '-y', '-q', 'tesseract-ocr']);
  }
  return python;
}

export interface RunningSeed {
  url: string;
  pid: number;
  stop: () => Promise<void>;
}

/** A port free now (the OS's choice), for a server that cannot report the one it bound. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export async function startSeed(model: string, threads: number): Promise<RunningSeed> {
  const python = seedPython();
  const port = await freePort();
  const child = spawn(python, ['-m', 'uvicorn', 'server:app', '--app-dir', SEED_DIR, '--host', '127.0.0.1', '--port', String(port), '--log-level', 'warning'], {
    env: { ...process.env, SEED_MODEL: model, SEED_THREADS: String(threads) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (exited !== undefined) throw new Error(`seed server exited with ${exited}`);
    if ((await fetch(`${url}/healthz`).catch(() => undefined))?.ok) break;
    if (i > 1200) throw new Error('seed server did not answer within 120 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    pid: child.pid!,
    stop: async () => {
      if (exited !== undefined) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
