import { setTimeout as sleep } from 'node:timers/promises';
import { apiBase, artifactProxyPath, HASH_TAG, MLFLOW_ENV, parseModelsUri } from '../../contract/mlflow.js';
import { download, FetchError } from './model-fetch.js';

/**
 * The init container's job for a registry model (`models:/<name>/<version>`, pinned by the
 * operator): ask the tracking server where the version's artifacts are, list that directory
 * through the server's artifact proxy, take its one .onnx file, and download it with the same
 * retries, hash check and atomic write as any other model. Credentials are MLflow's own
 * environment variables, which the pod takes from the Secret (never from its spec).
 */

export interface RegistryCredentials {
  token?: string;
  username?: string;
  password?: string;
}

export interface RegistryFetchOptions {
  /** `models:/<name>/<version>`; an alias is refused: the operator pins versions. */
  uri: string;
  trackingUri: string;
  credentials?: RegistryCredentials;
  dest: string;
  sha256?: string;
  retries?: number;
  timeoutMs?: number;
  maxBytes?: number;
  backoffMs?: number;
  log?: (line: string) => void;
}

export interface RegistryFetchResult {
  bytes: number;
  sha256: string;
  attempts: number;
  /** The file taken from the version's artifacts. */
  file: string;
  artifactUri: string;
}

/** MLflow's variables from the environment, as the mlflow client reads them. */
export function credentialsFromEnv(env: Record<string, string | undefined>): RegistryCredentials {
  const token = env[MLFLOW_ENV.token];
  const username = env[MLFLOW_ENV.username];
  const password = env[MLFLOW_ENV.password];
  return { ...(token ? { token } : {}), ...(username ? { username } : {}), ...(password ? { password } : {}) };
}

function authHeaders(c: RegistryCredentials | undefined): Record<string, string> {
  if (c?.token) return { Authorization: `Bearer ${c.token}` };
  if (c?.username) return { Authorization: `Basic ${Buffer.from(`${c.username}:${c.password ?? ''}`).toString('base64')}` };
  return {};
}

/** A non-2xx answer as one line: MLflow's error_code and message when the body is MLflow's JSON. */
async function httpError(what: string, res: Response, trackingUri: string): Promise<FetchError> {
  const text = await res.text().catch(() => '');
  let detail = text.replace(/\s+/g, ' ').trim().slice(0, 200);
  let code = '';
  try {
    const body = JSON.parse(text) as { error_code?: string; message?: string };
    code = body.error_code ?? '';
    detail = body.message ?? detail;
  } catch {
    // A proxy's page or nothing: keep the raw text.
  }
  if (res.status === 401 || res.status === 403) {
    return new FetchError(
      `${what}: the tracking server ${trackingUri} refused the credentials (HTTP ${res.status}${detail ? `: ${detail}` : ''}); ` +
        `check ${MLFLOW_ENV.token} or ${MLFLOW_ENV.username}/${MLFLOW_ENV.password} in the credentials Secret`,
      false,
    );
  }
  const retryable = res.status >= 500 || res.status === 408 || res.status === 429;
  return new FetchError(`${what}: HTTP ${res.status}${code ? ` ${code}` : ''}${detail ? `: ${detail}` : ''}`, retryable);
}

async function getJson<T>(url: string, what: string, o: RegistryFetchOptions): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, { headers: authHeaders(o.credentials), signal: AbortSignal.timeout(Math.min(o.timeoutMs ?? 30_000, 30_000)) });
  } catch (err) {
    throw new FetchError(`${what}: the tracking server ${o.trackingUri} is unreachable (${causeOf(err)})`, true);
  }
  if (!res.ok) throw await httpError(what, res, o.trackingUri);
  return (await res.json()) as T;
}

function causeOf(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}

/** Runs one step, retrying what may pass on a second try; the retry budget is shared by all steps of a fetch. */
async function retrying<T>(o: RegistryFetchOptions, step: () => Promise<T>, failed: { n: number }): Promise<T> {
  const retries = o.retries ?? 4;
  for (;;) {
    try {
      return await step();
    } catch (err) {
      const e = err instanceof FetchError ? err : new FetchError(`model ${o.uri}: ${(err as Error).message}`, true);
      failed.n++;
      if (!e.retryable || failed.n > retries) throw e;
      const wait = (o.backoffMs ?? 1000) * 2 ** (failed.n - 1);
      o.log?.(`attempt ${failed.n} failed (${e.message}); retrying in ${wait} ms`);
      await sleep(wait);
    }
  }
}

export async function fetchRegistryModel(o: RegistryFetchOptions): Promise<RegistryFetchResult> {
  const ref = parseModelsUri(o.uri);
  if (!ref) throw new FetchError(`model uri ${o.uri} is not models:/<name>/<version>`, false);
  if (ref.version === undefined) {
    throw new FetchError(`model uri ${o.uri} names an alias: the init container fetches a pinned version (models:/${ref.name}/<version>), which the operator resolves`, false);
  }
  if (!/^https?:\/\//.test(o.trackingUri)) throw new FetchError(`tracking server ${o.trackingUri || '(none)'} is not an http(s) URL; set ${MLFLOW_ENV.trackingUri}`, false);
  const expected = o.sha256?.toLowerCase();
  if (expected !== undefined && !/^[0-9a-f]{64}$/.test(expected)) throw new FetchError(`--sha256 ${o.sha256} is not 64 hex digits`, false);

  const base = apiBase(o.trackingUri);
  const q = new URLSearchParams({ name: ref.name, version: ref.version });
  const failed = { n: 0 };
  // Asking the registry (not reusing what the operator saw) keeps the pod spec free of storage paths.
  const { artifact_uri: artifactUri } = await retrying(o, () => getJson<{ artifact_uri: string }>(`${base}/mlflow/model-versions/get-download-uri?${q}`, o.uri, o), failed);
  const path = artifactProxyPath(artifactUri);
  if (path === undefined) {
    throw new FetchError(
      `${o.uri}: its artifacts are at ${artifactUri}, which the tracking server does not serve; ` +
        'run `mlflow server` with proxied artifacts (--artifacts-destination, the default) so pods fetch through it',
      false,
    );
  }
  const listing = await retrying(
    o,
    () => getJson<{ files?: { path: string; is_dir?: boolean }[] }>(`${base}/mlflow-artifacts/artifacts?${new URLSearchParams({ path })}`, `${o.uri}: listing ${artifactUri}`, o),
    failed,
  );
  const files = (listing.files ?? []).filter((f) => !f.is_dir).map((f) => f.path.split('/').pop() ?? f.path);
  const onnx = files.filter((f) => f.toLowerCase().endsWith('.onnx'));
  if (onnx.length !== 1) {
    const found = files.length ? files.join(', ') : 'nothing';
    throw new FetchError(
      onnx.length === 0
        ? `${o.uri}: no .onnx file in its artifacts (${artifactUri}); found ${found}`
        : `${o.uri}: ${onnx.length} .onnx files in its artifacts (${onnx.join(', ')}); expected exactly one`,
      false,
    );
  }
  const file = onnx[0]!;
  const url = new URL(`${base}/mlflow-artifacts/artifacts/${path.split('/').map(encodeURIComponent).join('/')}/${encodeURIComponent(file)}`);
  const got = await retrying(
    o,
    async () => {
      let r: { bytes: number; sha256: string };
      try {
        r = await download(url, { dest: o.dest, ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}), ...(o.maxBytes ? { maxBytes: o.maxBytes } : {}), ...(expected ? { sha256: expected } : {}) }, authHeaders(o.credentials));
      } catch (err) {
        if (err instanceof FetchError) {
          if (/HTTP 40[13]/.test(err.message)) throw new FetchError(`${o.uri}: ${err.message}: the tracking server refused the credentials`, false);
          throw err;
        }
        throw new FetchError(`${o.uri}: ${file}: ${causeOf(err)}`, true);
      }
      if (expected && r.sha256 !== expected) {
        throw new FetchError(`${o.uri}: ${file} has sha256 ${r.sha256}, expected ${expected} (the version's ${HASH_TAG} tag)`, false);
      }
      return r;
    },
    failed,
  );
  return { ...got, attempts: failed.n + 1, file, artifactUri };
}
