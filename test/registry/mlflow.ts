/**
 * A real MLflow tracking server for the registry tests: the pinned PyPI `mlflow` (with its
 * basic-auth app, so credentials are checked by MLflow itself), a sqlite store and proxied
 * artifacts in a temporary directory. One per mocha process, shared by the suites that need it
 * (starting one takes half a minute on a loaded machine), stopped by the root hook after the run.
 *
 * In front of it, when a suite asks: a TLS proxy (certificate from a throwaway CA) that counts the
 * requests it forwards and can be taken down and brought back, which is how the tests make the
 * registry unreachable and count what the operator asks.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createCertificateAuthority, issueServingCert } from '../cluster/certs.js';
import { REPO_ROOT } from '../cluster/paths.js';
import { freePorts } from '../cluster/ports.js';
import { waitUntil } from '../cluster/probe.js';
import { registerTeardown } from '../cluster/teardown.js';
import { MLFLOW, pythonTool } from '../delivery/python-tools.js';

export const ADMIN = { username: 'admin', password: 'visionops-admin-pw' };

export interface MlflowServer {
  url: string;
  dir: string;
  bin: string;
  log(): string;
}

let shared: Promise<MlflowServer> | undefined;

/** The process's MLflow server (basic-auth app, admin ADMIN), started on first use. */
export function sharedMlflow(): Promise<MlflowServer> {
  shared ??= startMlflow().catch((e: unknown) => {
    shared = undefined;
    throw e;
  });
  return shared;
}

async function startMlflow(): Promise<MlflowServer> {
  const bin = await pythonTool(MLFLOW);
  const dir = mkdtempSync(path.join(tmpdir(), 'visionops-registry-'));
  const [port] = await freePorts(1);
  const ini = path.join(dir, 'basic_auth.ini');
  writeFileSync(
    ini,
    [
      '[mlflow]',
      'default_permission = READ',
      `database_uri = sqlite:///${dir}/basic_auth.db`,
      `admin_username = ${ADMIN.username}`,
      `admin_password = ${ADMIN.password}`,
      'authorization_function = mlflow.server.auth:authenticate_request_basic_auth',
      // Without it every request pays a PBKDF2 check of the password: on a busy 2-core machine
      // the single worker then answers a couple of requests per second.
      'auth_cache_ttl_seconds = 60',
      '',
    ].join('\n'),
  );
  const url = `http://127.0.0.1:${port}`;
  const proc: ChildProcess = spawn(
    path.join(bin, 'mlflow'),
    ['server', '--app-name', 'basic-auth', '--host', '127.0.0.1', '--port', String(port), '--workers', '1',
      '--backend-store-uri', `sqlite:///${dir}/mlflow.db`, '--artifacts-destination', path.join(dir, 'artifacts')],
    // Its own process group: the server forks workers, and all of them must go at the end.
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MLFLOW_AUTH_CONFIG_PATH: ini, MLFLOW_FLASK_SERVER_SECRET_KEY: randomBytes(16).toString('hex') } },
  );
  let log = '';
  const keep = (b: Buffer) => {
    log = (log + b.toString()).slice(-20_000);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  registerTeardown(async () => {
    if (proc.pid && proc.exitCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      process.kill(-proc.pid, 'SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (proc.exitCode === null) process.kill(-proc.pid, 'SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  });
  try {
    await waitUntil('mlflow server /health', 180_000, async () => {
      if (proc.exitCode !== null) throw new Error(`mlflow server exited with ${proc.exitCode}`);
      return fetch(`${url}/health`).then((r) => r.ok, () => false);
    }, 500);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${log.slice(-3000)}`);
  }
  return { url, dir, bin, log: () => log };
}

export interface VersionSpec {
  name: string;
  /** Files logged under the run's model/ directory. */
  files: string[];
  /** onnx_sha256 tag: the file's hash (auto, the default), none, or this value. */
  hashTag?: 'auto' | 'none' | string;
}

export interface Registered {
  name: string;
  version: string;
  runId: string;
  source: string;
  sha256: string;
}

/** Registers versions the way training/tracking.py does (test/registry/register_versions.py, in the pinned venv). */
export async function registerVersions(server: MlflowServer, versions: VersionSpec[]): Promise<Registered[]> {
  const python = path.join(server.bin, 'python');
  const input = JSON.stringify({ trackingUri: server.url, versions });
  return new Promise((resolve, reject) => {
    const child = spawn(python, [path.join(REPO_ROOT, 'test/registry/register_versions.py')], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, MLFLOW_TRACKING_USERNAME: ADMIN.username, MLFLOW_TRACKING_PASSWORD: ADMIN.password, MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR: 'false' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`register_versions.py exited ${code}:\n${err.slice(-3000)}`));
      // MLflow prints run links to stdout too; the JSON is the last line.
      const last = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as Registered[]);
      } catch {
        reject(new Error(`register_versions.py printed no JSON:\n${out}\n${err}`));
      }
    });
    child.stdin.end(input);
  });
}

/** MLflow's REST API as a person would use it, with the admin's credentials unless told otherwise. */
export class MlflowRest {
  constructor(
    private readonly url: string,
    private readonly auth: { username: string; password: string } = ADMIN,
  ) {}

  async call<T>(method: 'GET' | 'POST' | 'DELETE' | 'PATCH', endpoint: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}/api/2.0/mlflow/${endpoint}`, {
      method,
      headers: { 'Content-Type': 'application/json', Authorization: `Basic ${Buffer.from(`${this.auth.username}:${this.auth.password}`).toString('base64')}` },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${endpoint}: HTTP ${res.status}: ${text.slice(0, 300)}`);
    return (text ? JSON.parse(text) : {}) as T;
  }

  setAlias(name: string, alias: string, version: string): Promise<unknown> {
    return this.call('POST', 'registered-models/alias', { name, alias, version });
  }

  deleteAlias(name: string, alias: string): Promise<unknown> {
    return this.call('DELETE', 'registered-models/alias', { name, alias });
  }

  async tags(name: string, version: string): Promise<Record<string, string>> {
    const r = await this.call<{ model_version: { tags?: { key: string; value: string }[] } }>('GET', `model-versions/get?name=${encodeURIComponent(name)}&version=${version}`);
    return Object.fromEntries((r.model_version.tags ?? []).map((t) => [t.key, t.value]));
  }

  createUser(username: string, password: string): Promise<unknown> {
    return this.call('POST', 'users/create', { username, password });
  }
}

/**
 * An HTTPS front for the tracking server: forwards everything, counts requests by API path, and
 * can be taken down (connections refused) and brought back on the same port.
 */
export class RegistryFront {
  readonly requests: { method: string; path: string; query: string; atMs: number }[] = [];
  url = '';
  caPem = '';
  private server: https.Server | undefined;
  private port = 0;
  private readonly sockets = new Set<Socket>();
  private tls: { key: Buffer; cert: Buffer } | undefined;

  /** `host`: the address to listen on (and to name in the certificate), 127.0.0.1 unless told. */
  constructor(
    private readonly upstream: string,
    private readonly host = '127.0.0.1',
  ) {}

  async start(): Promise<void> {
    if (!this.tls) {
      const dir = mkdtempSync(path.join(tmpdir(), 'visionops-front-'));
      const ca = await createCertificateAuthority(dir);
      const pair = await issueServingCert(ca, dir, 'mlflow-front', [...new Set([this.host, '127.0.0.1', 'localhost'])]);
      this.tls = { key: readFileSync(pair.key), cert: readFileSync(pair.cert) };
      this.caPem = readFileSync(ca.cert, 'utf8');
      rmSync(dir, { recursive: true, force: true });
    }
    const upstream = new URL(this.upstream);
    const server = https.createServer(this.tls, (req, res) => {
      const [p, q] = (req.url ?? '').split('?');
      this.requests.push({ method: req.method ?? '', path: p!, query: q ?? '', atMs: Date.now() });
      const fwd = http.request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      fwd.on('error', () => {
        res.writeHead(502).end();
      });
      req.pipe(fwd);
    });
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.url = `https://${this.host}:${this.port}`;
    this.server = server;
  }

  /** Refuses connections from now on (and drops the open ones) until start() again. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise((r) => server.close(r));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /** Requests to one REST endpoint (e.g. registered-models/get) since `sinceMs`, optionally only those with this query parameter. */
  count(endpoint: string, sinceMs = 0, param?: [string, string]): number {
    return this.requests.filter(
      (r) => r.atMs >= sinceMs && r.path.endsWith(`/${endpoint}`) && (!param || new URLSearchParams(r.query).get(param[0]) === param[1]),
    ).length;
  }
}
