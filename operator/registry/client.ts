import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { apiBase } from '../../contract/mlflow.js';

/**
 * The few calls the operator makes to an MLflow tracking server's REST API (no Python, no MLflow
 * client): read a registered model (its aliases), read a version (source, run, tags), set and
 * delete a version's tags. One keep-alive agent per server and credentials; a CA bundle, when
 * given, is trusted besides the public roots.
 */

/** How a request failed, as the ModelService conditions name it. */
export type RegistryErrorKind = 'Unreachable' | 'Unauthorized' | 'NotFound' | 'Refused';

export class RegistryError extends Error {
  override name = 'RegistryError';
  constructor(
    message: string,
    readonly kind: RegistryErrorKind,
    readonly status = 0,
  ) {
    super(message);
  }
}

export type Credentials = { token: string } | { username: string; password: string };

/** Everything needed to talk to one tracking server as one identity. */
export interface Connection {
  trackingUri: string;
  credentials?: Credentials;
  /** PEM bundle trusted besides the public roots. */
  ca?: string;
}

export interface ModelVersionInfo {
  name: string;
  version: string;
  runId: string;
  source: string;
  /** READY, PENDING_REGISTRATION or FAILED_REGISTRATION. */
  status: string;
  tags: Record<string, string>;
}

/** Called once per request: endpoint (e.g. registered-models/get) and outcome (HTTP status, or "error"). */
export type RegistryObserver = (endpoint: string, outcome: string) => void;

export interface RegistryClientOptions {
  timeoutMs?: number;
  observe?: RegistryObserver;
}

interface MlflowErrorBody {
  error_code?: string;
  message?: string;
}

export class RegistryClient {
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;

  constructor(
    readonly connection: Connection,
    private readonly opts: RegistryClientOptions = {},
  ) {
    this.base = new URL(apiBase(connection.trackingUri));
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    const secure = this.base.protocol === 'https:';
    // Few sockets: one request per model and poll, and tag writes now and then.
    const common = { keepAlive: true, maxSockets: 4 };
    this.agent = secure ? new https.Agent({ ...common, ...(connection.ca ? { ca: [...tls.rootCertificates, connection.ca] } : {}) }) : new http.Agent(common);
    this.headers = { Accept: 'application/json' };
    const c = connection.credentials;
    if (c && 'token' in c) this.headers.Authorization = `Bearer ${c.token}`;
    else if (c) this.headers.Authorization = `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
  }

  close(): void {
    this.agent.destroy();
  }

  /** The aliases of a registered model, alias -> version. */
  async aliases(name: string): Promise<Map<string, string>> {
    const body = await this.call<{ registered_model?: { aliases?: { alias: string; version: string }[] } }>('GET', 'registered-models/get', { name });
    return new Map((body.registered_model?.aliases ?? []).map((a) => [a.alias, String(a.version)]));
  }

  async modelVersion(name: string, version: string): Promise<ModelVersionInfo> {
    const body = await this.call<{ model_version?: { name: string; version: string; run_id?: string; source?: string; status?: string; tags?: { key: string; value: string }[] } }>(
      'GET',
      'model-versions/get',
      { name, version },
    );
    const mv = body.model_version;
    if (!mv) throw new RegistryError(`model-versions/get ${name}/${version}: no model_version in the answer`, 'Refused');
    return {
      name: mv.name,
      version: String(mv.version),
      runId: mv.run_id ?? '',
      source: mv.source ?? '',
      status: mv.status ?? 'READY',
      tags: Object.fromEntries((mv.tags ?? []).map((t) => [t.key, t.value])),
    };
  }

  async setVersionTag(name: string, version: string, key: string, value: string): Promise<void> {
    await this.call('POST', 'model-versions/set-tag', undefined, { name, version, key, value });
  }

  async deleteVersionTag(name: string, version: string, key: string): Promise<void> {
    try {
      await this.call('DELETE', 'model-versions/delete-tag', undefined, { name, version, key });
    } catch (err) {
      // Gone already (or the version was deleted): what we wanted.
      if (!(err instanceof RegistryError && err.kind === 'NotFound')) throw err;
    }
  }

  private call<T>(method: 'GET' | 'POST' | 'DELETE', endpoint: string, query?: Record<string, string>, body?: unknown): Promise<T> {
    const url = new URL(`${this.base.pathname.replace(/\/$/, '')}/mlflow/${endpoint}`, this.base);
    for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const where = `${this.connection.trackingUri} (${endpoint})`;
    return new Promise<T>((resolve, reject) => {
      const fail = (err: RegistryError) => {
        this.opts.observe?.(endpoint, err.status ? String(err.status) : 'error');
        reject(err);
      };
      const req = (url.protocol === 'https:' ? https : http).request(
        url,
        {
          method,
          agent: this.agent,
          headers: { ...this.headers, ...(payload !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            // A registered model's answer is small; anything huge is not MLflow.
            if (size > 8 * 2 ** 20) req.destroy(new Error('answer larger than 8 MiB'));
            else chunks.push(c);
          });
          res.on('error', (err) => fail(new RegistryError(`${where}: ${err.message}`, 'Unreachable')));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            const text = Buffer.concat(chunks).toString('utf8');
            if (status >= 200 && status < 300) {
              this.opts.observe?.(endpoint, String(status));
              try {
                resolve((text ? JSON.parse(text) : {}) as T);
              } catch {
                fail(new RegistryError(`${where}: the answer is not JSON (is this an MLflow tracking server?)`, 'Refused', status));
              }
              return;
            }
            fail(classify(status, text, where));
          });
        },
      );
      req.setTimeout(this.timeoutMs, () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', (err: NodeJS.ErrnoException) => fail(new RegistryError(`${where}: ${err.code ?? err.message}${err.code && err.message && !err.message.includes(err.code) ? ` ${err.message}` : ''}`, 'Unreachable')));
      req.end(payload);
    });
  }
}

/** HTTP status and MLflow's error body to a kind: what can be retried, what needs a person. */
export function classify(status: number, text: string, where: string): RegistryError {
  let body: MlflowErrorBody = {};
  try {
    body = JSON.parse(text) as MlflowErrorBody;
  } catch {
    // A proxy's or load balancer's page.
  }
  const detail = (body.message ?? text.replace(/\s+/g, ' ').trim()).slice(0, 300);
  const msg = `${where}: HTTP ${status}${body.error_code ? ` ${body.error_code}` : ''}${detail ? `: ${detail}` : ''}`;
  if (status === 401 || status === 403 || body.error_code === 'PERMISSION_DENIED' || body.error_code === 'UNAUTHENTICATED') return new RegistryError(msg, 'Unauthorized', status);
  if (body.error_code === 'RESOURCE_DOES_NOT_EXIST') return new RegistryError(msg, 'NotFound', status);
  // The server or something in front of it is in trouble (or overloaded): like being unreachable.
  if (status >= 500 || status === 408 || status === 429) return new RegistryError(msg, 'Unreachable', status);
  return new RegistryError(msg, 'Refused', status);
}
