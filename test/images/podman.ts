/**
 * The built images, run with podman as a cluster would run them. `builtImages()` runs
 * `ci/images.sh` once per test process (layers are cached, so an unchanged tree rebuilds in
 * seconds) and returns what it built; `Container` wraps one `podman run -d` and removes it after.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { REPO_ROOT } from '../cluster/paths.js';
import { waitUntil } from '../cluster/probe.js';

export interface BuiltImages {
  engine: string;
  base: { ref: string; size: number };
  images: Record<'operator' | 'server', { ref: string; size: number; buildSeconds: number }>;
}

const BUILD_JSON = path.join(REPO_ROOT, '.cache', 'images', 'build.json');
const BUILD_LOG = path.join(REPO_ROOT, '.cache', 'images', 'build.log');

/**
 * podman's default runtime (crun) cannot start containers on a cgroup v1 or hybrid host without
 * CAP_SYS_RESOURCE; ci/containers.conf (runc, lower ulimits) is what ci/images.sh also picks there.
 */
export function podmanEnv(): NodeJS.ProcessEnv {
  if (process.env.CONTAINERS_CONF || existsSync('/sys/fs/cgroup/cgroup.controllers')) return process.env;
  return { ...process.env, CONTAINERS_CONF: path.join(REPO_ROOT, 'ci', 'containers.conf') };
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command; never rejects on a non-zero exit (callers assert on it). */
export function run(cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: REPO_ROOT, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', (e) => reject(new Error(`${cmd}: ${e.message}`)));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

export async function podman(...args: string[]): Promise<string> {
  const r = await run('podman', args, { env: podmanEnv(), timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`podman ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

let built: Promise<BuiltImages> | undefined;

/** Both images, built from the working tree by `ci/images.sh` (once per test process). */
export function builtImages(): Promise<BuiltImages> {
  built ??= (async () => {
    const which = await run('sh', ['-c', 'command -v podman']);
    if (which.code !== 0) throw new Error('podman is not installed: apt-get install -y podman buildah runc debootstrap (see README, "Images")');
    const started = Date.now();
    // Two hours at most: a cold build on a fresh, loaded 2-core machine makes the base first.
    const r = await run(path.join(REPO_ROOT, 'ci', 'images.sh'), [], { timeoutMs: 2 * 3600_000 });
    await mkdir(path.dirname(BUILD_LOG), { recursive: true });
    await writeFile(BUILD_LOG, r.stderr);
    if (r.code !== 0) throw new Error(`ci/images.sh exited ${r.code} (log: ${BUILD_LOG}):\n${r.stderr.split('\n').slice(-30).join('\n')}`);
    // The size table: what CI logs show for every run.
    console.log(`[images] built in ${((Date.now() - started) / 1000).toFixed(0)} s (log: ${path.relative(REPO_ROOT, BUILD_LOG)})${r.stdout.replace(/^\n?/, '\n')}`);
    return JSON.parse(readFileSync(BUILD_JSON, 'utf8')) as BuiltImages;
  })().catch((err: unknown) => {
    built = undefined;
    throw err;
  });
  return built;
}

/** The package version: both images are tagged with it, and the operator's default server image names it. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/** One detached container; `remove()` in an after hook. */
export class Container {
  readonly name = `visionops-test-${randomBytes(4).toString('hex')}`;
  private started = false;

  /** `podman run -d` with these options, then the image and its arguments. */
  async start(options: string[], image: string, args: string[] = []): Promise<this> {
    this.started = true;
    await podman('run', '--detach', '--name', this.name, ...options, image, ...args);
    return this;
  }

  async logs(): Promise<string> {
    const r = await run('podman', ['logs', this.name], { env: podmanEnv() });
    return r.stdout + r.stderr;
  }

  /** What `podman inspect` says of the container (State.Status, State.ExitCode). */
  async state(): Promise<{ Status: string; Running: boolean; ExitCode: number }> {
    return JSON.parse(await podman('inspect', '--format', '{{json .State}}', this.name)) as { Status: string; Running: boolean; ExitCode: number };
  }

  /** The container's exit code, once it has exited. */
  async exited(timeoutMs: number): Promise<number> {
    let code = -1;
    await waitUntil(`${this.name} to exit`, timeoutMs, async () => {
      const s = await this.state();
      code = s.ExitCode;
      return !s.Running && s.Status !== 'running' && s.Status !== 'stopping';
    });
    return code;
  }

  exec(...command: string[]): Promise<Run> {
    return run('podman', ['exec', this.name, ...command], { env: podmanEnv(), timeoutMs: 60_000 });
  }

  /** Paths `podman diff` lists as added, changed or deleted in the container's root filesystem. */
  async diff(): Promise<string[]> {
    return (await podman('diff', this.name)).split('\n').filter(Boolean).sort();
  }

  async remove(): Promise<void> {
    if (this.started) await run('podman', ['rm', '--force', '--time', '0', this.name], { env: podmanEnv() });
  }
}

/** What pods get from the operator's securityContext (restricted Pod Security Standard). */
export const RESTRICTED = ['--read-only', '--user', '1000:1000', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges'];
