import { createHash } from 'node:crypto';
import { access, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCommand } from './command.js';
import { goEnv, isPinned, pin, readWrapperFiles, wrapperDir } from './gomod.js';
import { withBuildLock } from './build-lock.js';
import { KWOK_STAGES_FILE, writeKwokStages } from './kwok-stages.js';
import { binDir } from './paths.js';
import { TOOLS, binaryName, kwok, type Tool } from './tools.js';

export interface BuildOptions {
  /** Print progress lines (the CLI does; a test run prints only when it actually has to build). */
  log?: (line: string) => void;
}

/** Path of a built binary, e.g. binPath('kube-apiserver'). */
export function binPath(name: string): string {
  return path.join(binDir(), name);
}

/** Where a tool's binary lives (CNI plugins in a subdirectory of the bin dir). */
export function toolBinPath(tool: Tool, pkg: string): string {
  return path.join(binDir(), tool.subdir ?? '', binaryName(pkg));
}

/** The directory of the CNI plugins, for containerd's CRI config. */
export function cniBinDir(): string {
  return path.join(binDir(), 'cni');
}

function toolsFor(realNode: boolean): Tool[] {
  return TOOLS.filter((t) => realNode || !t.node);
}

/** Every file `up` needs from the build (`up --real-node` also needs the node's). */
export function requiredBinaries(realNode = false): string[] {
  return toolsFor(realNode).flatMap((t) => t.packages.map((p) => toolBinPath(t, p)));
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/**
 * What a tool's binaries depend on: the Go toolchain, the wrapper module with its go.sum, and the
 * link flags. Anything else (the module cache, the build cache) only affects speed.
 */
async function stampFor(tool: Tool, ldflags: string): Promise<string> {
  const goVersion = await runCommand('go', ['env', 'GOVERSION', 'GOOS', 'GOARCH'], { env: goEnv() });
  const hash = createHash('sha256').update(goVersion).update(await readWrapperFiles(tool)).update(ldflags);
  return `${stampHeader(tool)}\n${hash.digest('hex')}\n`;
}

function stampHeader(tool: Tool): string {
  return `${tool.dir} ${tool.module}@${tool.version}`;
}

function stampPath(tool: Tool): string {
  return path.join(binDir(), `.stamp-${tool.dir}`);
}

async function upToDate(tool: Tool, stamp: string): Promise<boolean> {
  const current = await readFile(stampPath(tool), 'utf8').catch(() => '');
  if (current !== stamp) return false;
  const present = await Promise.all(tool.packages.map((p) => exists(toolBinPath(tool, p))));
  return present.every(Boolean);
}

async function buildTool(tool: Tool, log: (line: string) => void): Promise<void> {
  if (!tool.local && !(await isPinned(tool))) {
    log(`pinning ${tool.module}@${tool.version} in ${path.relative(process.cwd(), wrapperDir(tool))} (commit go.mod and go.sum)`);
    await pin(tool);
  }
  const ldflags = ['-s', '-w', ...(await tool.ldflags())].join(' ');
  const stamp = await stampFor(tool, ldflags);
  if (await upToDate(tool, stamp)) {
    log(`${tool.dir}: up to date (${tool.version})`);
    return;
  }
  // Build next to the final place and rename, so an interrupted build never leaves a binary that
  // a stale stamp would vouch for.
  const tmp = path.join(binDir(), `.tmp-${tool.dir}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await rm(stampPath(tool), { force: true });
  for (const pkg of tool.packages) {
    const name = binaryName(pkg);
    const started = Date.now();
    log(`${tool.dir}: building ${name} ${tool.version} ...`);
    await runCommand(
      'go',
      ['build', '-trimpath', '-buildvcs=false', `-ldflags=${ldflags}`, '-o', path.join(tmp, name), pkg],
      { cwd: wrapperDir(tool), env: goEnv({ CGO_ENABLED: '0' }), streamStderr: true },
    );
    log(`${tool.dir}: built ${name} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
  for (const pkg of tool.packages) {
    const dest = toolBinPath(tool, pkg);
    await mkdir(path.dirname(dest), { recursive: true });
    await rename(path.join(tmp, binaryName(pkg)), dest);
  }
  await rm(tmp, { recursive: true, force: true });
  await writeFile(stampPath(tool), stamp);
}

/** Builds whatever is missing or out of date; a no-op (a few `go` queries) when all is current. */
export async function buildAll(opts: BuildOptions = {}): Promise<void> {
  const log = opts.log ?? (() => undefined);
  await mkdir(binDir(), { recursive: true });
  await withBuildLock(binDir(), log, async () => {
    for (const tool of TOOLS) await buildTool(tool, log);
    await writeKwokStages(kwok, binDir());
  });
}

/**
 * Cheap check for test runs (no `go` invocation): every binary exists and was built for the
 * versions pinned now. CI runs the full `build` beforehand, which also notices go.sum changes.
 */
export async function binariesCurrent(opts: { realNode?: boolean } = {}): Promise<boolean> {
  const realNode = opts.realNode ?? false;
  for (const tool of toolsFor(realNode)) {
    const stamp = await readFile(stampPath(tool), 'utf8').catch(() => '');
    if (stamp.split('\n')[0] !== stampHeader(tool)) return false;
  }
  const files = [...requiredBinaries(realNode), binPath(KWOK_STAGES_FILE)];
  return (await Promise.all(files.map(exists))).every(Boolean);
}
