/**
 * Smoke test of a deployed visionops inference server, logged to MLflow (the monitor stage).
 *
 *   node --experimental-strip-types ci/smoke.ts --url https://plates.staging.example.com
 *
 * It waits for /readyz, reads the model from /v1/models, sends a sample image a few times and checks
 * every answer: HTTP 200, the server's sha256 and size of the image match what was sent, every box
 * lies inside the image with a score in [0, 1] and a class the model has, and the answers agree with
 * each other (the same image must give the same detections). Optional expectations about the content
 * (a class, a text, a minimum number of detections, a latency bound) come from the environment's CI
 * variables, because they depend on the model that environment serves.
 *
 * The result goes to MLflow through its REST API (no Python in the job): one run per smoke test in
 * the experiment MLFLOW_EXPERIMENT_NAME, with latencies and counts as metrics, what was tested as
 * params, and FINISHED or FAILED as the run status. When the server serves a registry version
 * (/v1/models says `source: models:/<name>/<version>`), the run names that version and the version
 * gets the tag `visionops.smoke/<environment>` with the latest result, so the registry shows how
 * each version did where it serves.
 *
 * One self-contained file with only erasable TypeScript (no enums, no parameter properties, no
 * relative imports) so Node 22 runs it as it is, without npm ci: the monitor job needs nothing but
 * the node image. Tests import it under tsx.
 *
 * Exit codes: 0 passed and logged, 1 a check failed, 2 bad usage, 3 passed but MLflow logging failed.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';

export interface SmokeOptions {
  /** Base URL of the inference server, e.g. http://plate-reader.staging.svc.cluster.local. */
  url: string;
  imagePath: string;
  /** `read` (detection + OCR) or `detect`. */
  endpoint: 'read' | 'detect';
  runs: number;
  readyTimeoutMs: number;
  requestTimeoutMs: number;
  expectClass?: string;
  expectText?: string;
  minDetections: number;
  /** Bound on the median client-side latency; the first request may include lazy work. */
  maxLatencyMs?: number;
}

export interface SmokeResult {
  passed: boolean;
  failures: string[];
  url: string;
  endpoint: string;
  image: { path: string; sha256: string; bytes: number; width?: number; height?: number; contentType: string };
  model?: { name: string; version: string; classes: string[]; source?: string };
  /** Client-side wall time of each request, in order. */
  latenciesMs: number[];
  /** The server's own timings.totalMs of each answer. */
  serverTotalMs: number[];
  detections: number;
  classes: string[];
  texts: string[];
  startedAt: number;
  finishedAt: number;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

type Env = Record<string, string | undefined>;

const FLAGS: Record<string, string> = {
  '--url': 'SMOKE_URL',
  '--image': 'SMOKE_IMAGE',
  '--endpoint': 'SMOKE_ENDPOINT',
  '--runs': 'SMOKE_RUNS',
  '--ready-timeout-ms': 'SMOKE_READY_TIMEOUT_MS',
  '--request-timeout-ms': 'SMOKE_REQUEST_TIMEOUT_MS',
  '--expect-class': 'SMOKE_EXPECT_CLASS',
  '--expect-text': 'SMOKE_EXPECT_TEXT',
  '--min-detections': 'SMOKE_MIN_DETECTIONS',
  '--max-latency-ms': 'SMOKE_MAX_LATENCY_MS',
  '--experiment': 'MLFLOW_EXPERIMENT_NAME',
  '--require-mlflow': 'SMOKE_REQUIRE_MLFLOW',
};

export const USAGE = `usage: node --experimental-strip-types ci/smoke.ts --url URL [options]
  --url URL                 inference server base URL            (SMOKE_URL, required)
  --image FILE              sample image (PNG/JPEG/WebP)         (SMOKE_IMAGE, default ci/smoke/plate.jpg)
  --endpoint read|detect                                         (SMOKE_ENDPOINT, default read)
  --runs N                  requests to send                     (SMOKE_RUNS, default 3)
  --ready-timeout-ms MS     wait this long for /readyz           (SMOKE_READY_TIMEOUT_MS, default 120000)
  --request-timeout-ms MS                                        (SMOKE_REQUEST_TIMEOUT_MS, default 30000)
  --expect-class NAME       some detection has this class        (SMOKE_EXPECT_CLASS)
  --expect-text TEXT        some detection reads this text       (SMOKE_EXPECT_TEXT)
  --min-detections N                                             (SMOKE_MIN_DETECTIONS, default 0)
  --max-latency-ms MS       bound on the median latency          (SMOKE_MAX_LATENCY_MS)
  --experiment NAME         MLflow experiment                    (MLFLOW_EXPERIMENT_NAME, default visionops-smoke)
  --require-mlflow          fail (exit 2) without MLFLOW_TRACKING_URI (SMOKE_REQUIRE_MLFLOW=true)
MLflow: MLFLOW_TRACKING_URI, and MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD.`;

/** Flags override the environment; the environment is how CI passes everything. */
export function settingsFrom(argv: readonly string[], env: Env): Env {
  const out: Env = { ...env };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const key = FLAGS[flag];
    if (!key) throw new UsageError(`unknown option ${arg}`);
    if (flag === '--require-mlflow') {
      out[key] = inline ?? 'true';
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`${flag} needs a value`);
    out[key] = value;
  }
  return out;
}

function positiveInt(env: Env, key: string, fallback: number, min = 1): number {
  const raw = env[key]?.trim();
  if (!raw) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${key}=${raw} is not an integer >= ${min}`);
  return n;
}

export function optionsFrom(env: Env): SmokeOptions {
  const url = env.SMOKE_URL?.trim();
  if (!url) throw new UsageError('SMOKE_URL (or --url) is required: the base URL of the deployed inference server');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`SMOKE_URL=${url} is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UsageError(`SMOKE_URL=${url} is not http(s)`);
  const endpoint = env.SMOKE_ENDPOINT?.trim() || 'read';
  if (endpoint !== 'read' && endpoint !== 'detect') throw new UsageError(`SMOKE_ENDPOINT=${endpoint} is not read or detect`);
  const maxLatency = env.SMOKE_MAX_LATENCY_MS?.trim() ? positiveInt(env, 'SMOKE_MAX_LATENCY_MS', 0) : undefined;
  return {
    url: url.replace(/\/+$/, ''),
    imagePath: env.SMOKE_IMAGE?.trim() || 'ci/smoke/plate.jpg',
    endpoint,
    runs: positiveInt(env, 'SMOKE_RUNS', 3),
    readyTimeoutMs: positiveInt(env, 'SMOKE_READY_TIMEOUT_MS', 120_000, 0),
    requestTimeoutMs: positiveInt(env, 'SMOKE_REQUEST_TIMEOUT_MS', 30_000),
    ...(env.SMOKE_EXPECT_CLASS?.trim() ? { expectClass: env.SMOKE_EXPECT_CLASS.trim() } : {}),
    ...(env.SMOKE_EXPECT_TEXT?.trim() ? { expectText: env.SMOKE_EXPECT_TEXT.trim() } : {}),
    minDetections: positiveInt(env, 'SMOKE_MIN_DETECTIONS', 0, 0),
    ...(maxLatency !== undefined ? { maxLatencyMs: maxLatency } : {}),
  };
}

/** Width and height from the file header (PNG IHDR, JPEG SOFn); undefined for other formats. */
export function imageSize(bytes: Uint8Array): { width: number; height: number } | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length >= 24 && view.getUint32(0) === 0x89504e47 && view.getUint32(12) === 0x49484452) {
    return { width: view.getUint32(16), height: view.getUint32(20) };
  }
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8) {
    let i = 2;
    while (i + 9 < bytes.length) {
      if (bytes[i] !== 0xff) return undefined;
      const marker = bytes[i + 1]!;
      if (marker === 0xff) {
        i++;
        continue;
      }
      const length = view.getUint16(i + 2);
      // SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { height: view.getUint16(i + 5), width: view.getUint16(i + 7) };
      }
      i += 2 + length;
    }
  }
  return undefined;
}

export function contentTypeOf(bytes: Uint8Array): string {
  if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'image/png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (Buffer.from(bytes.subarray(0, 4)).toString('latin1') === 'RIFF' && Buffer.from(bytes.subarray(8, 12)).toString('latin1') === 'WEBP') return 'image/webp';
  throw new UsageError('the sample image is not PNG, JPEG or WebP');
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface Detection {
  class: string;
  score: number;
  box: { x1: number; y1: number; x2: number; y2: number };
  text?: string;
}

interface Answer {
  sha256?: string;
  width?: number;
  height?: number;
  model?: { name: string; version: string };
  detections?: Detection[];
  timings?: { totalMs?: number };
}

async function fetchWithTimeout(url: string, init: RequestInit, timeoutMs: number): Promise<Response> {
  return fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
}

async function waitReady(opts: SmokeOptions): Promise<string | undefined> {
  const deadline = Date.now() + opts.readyTimeoutMs;
  let last = 'no answer';
  for (;;) {
    try {
      const res = await fetchWithTimeout(`${opts.url}/readyz`, {}, Math.min(opts.requestTimeoutMs, 10_000));
      const body = await res.text();
      if (res.ok) return undefined;
      last = `HTTP ${res.status}: ${body.slice(0, 300)}`;
    } catch (err) {
      last = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    }
    if (Date.now() >= deadline) return `not ready after ${opts.readyTimeoutMs} ms (${last})`;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** A stable fingerprint of an answer: classes and boxes rounded to a tenth of a pixel. */
function fingerprint(detections: readonly Detection[]): string {
  return detections
    .map((d) => `${d.class}@${[d.box.x1, d.box.y1, d.box.x2, d.box.y2].map((v) => v.toFixed(1)).join(',')}`)
    .sort()
    .join(';');
}

export async function runSmoke(opts: SmokeOptions): Promise<SmokeResult> {
  const startedAt = Date.now();
  const bytes = new Uint8Array(await readFile(opts.imagePath));
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const size = imageSize(bytes);
  const contentType = contentTypeOf(bytes);
  const result: SmokeResult = {
    passed: false,
    failures: [],
    url: opts.url,
    endpoint: opts.endpoint,
    image: { path: opts.imagePath, sha256, bytes: bytes.length, ...size, contentType },
    latenciesMs: [],
    serverTotalMs: [],
    detections: 0,
    classes: [],
    texts: [],
    startedAt,
    finishedAt: startedAt,
  };
  const fail = (message: string): void => {
    result.failures.push(message);
  };
  const finish = (): SmokeResult => {
    result.finishedAt = Date.now();
    result.passed = result.failures.length === 0;
    return result;
  };

  const notReady = await waitReady(opts);
  if (notReady) {
    fail(`/readyz: ${notReady}`);
    return finish();
  }

  try {
    const res = await fetchWithTimeout(`${opts.url}/v1/models`, {}, opts.requestTimeoutMs);
    const list = (await res.json()) as { models?: { name: string; version: string; ready: boolean; classes?: string[]; source?: string }[] };
    const m = list.models?.[0];
    if (!res.ok || !m) fail(`/v1/models: HTTP ${res.status}, no model listed`);
    else {
      result.model = { name: m.name, version: m.version, classes: m.classes ?? [], ...(m.source ? { source: m.source } : {}) };
      if (!m.ready) fail(`/v1/models: model ${m.name} is not ready`);
    }
  } catch (err) {
    fail(`/v1/models: ${err instanceof Error ? err.message : String(err)}`);
  }

  const fingerprints = new Set<string>();
  for (let i = 0; i < opts.runs; i++) {
    const t0 = performance.now();
    let res: Response;
    let text: string;
    try {
      res = await fetchWithTimeout(`${opts.url}/v1/${opts.endpoint}`, { method: 'POST', headers: { 'Content-Type': contentType }, body: bytes }, opts.requestTimeoutMs);
      text = await res.text();
    } catch (err) {
      fail(`request ${i + 1}: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
      continue;
    }
    result.latenciesMs.push(performance.now() - t0);
    if (res.status !== 200) {
      fail(`request ${i + 1}: HTTP ${res.status}: ${text.slice(0, 300)}`);
      continue;
    }
    let answer: Answer;
    try {
      answer = JSON.parse(text) as Answer;
    } catch {
      fail(`request ${i + 1}: the body is not JSON`);
      continue;
    }
    if (typeof answer.timings?.totalMs === 'number') result.serverTotalMs.push(answer.timings.totalMs);
    if (answer.sha256 !== sha256) fail(`request ${i + 1}: sha256 ${answer.sha256} is not the sample's ${sha256}`);
    const w = answer.width ?? NaN;
    const h = answer.height ?? NaN;
    // The server applies EXIF orientation, so a rotated JPEG may come back with the sides swapped.
    if (size && !((w === size.width && h === size.height) || (contentType === 'image/jpeg' && w === size.height && h === size.width))) {
      fail(`request ${i + 1}: the server saw ${w}x${h}, the sample is ${size.width}x${size.height}`);
    }
    if (!Array.isArray(answer.detections)) {
      fail(`request ${i + 1}: no detections array`);
      continue;
    }
    for (const d of answer.detections) {
      const b = d.box;
      const inside = b && b.x1 >= 0 && b.y1 >= 0 && b.x1 <= b.x2 && b.y1 <= b.y2 && b.x2 <= w + 0.5 && b.y2 <= h + 0.5;
      if (!inside) fail(`request ${i + 1}: box ${JSON.stringify(b)} of ${d.class} is not inside ${w}x${h}`);
      if (!(d.score >= 0 && d.score <= 1)) fail(`request ${i + 1}: score ${d.score} of ${d.class} is not in [0, 1]`);
      if (result.model?.classes.length && !result.model.classes.includes(d.class)) fail(`request ${i + 1}: class ${d.class} is not one of the model's`);
    }
    fingerprints.add(fingerprint(answer.detections));
    result.detections = answer.detections.length;
    result.classes = [...new Set(answer.detections.map((d) => d.class))].sort();
    result.texts = answer.detections.flatMap((d) => (d.text ? [d.text] : []));
  }
  if (fingerprints.size > 1) fail(`the same image gave ${fingerprints.size} different answers`);

  if (result.failures.length === 0) {
    if (opts.expectClass && !result.classes.includes(opts.expectClass)) fail(`expected a ${opts.expectClass}, found ${result.classes.join(', ') || 'nothing'}`);
    if (opts.expectText && !result.texts.includes(opts.expectText)) fail(`expected the text ${opts.expectText}, read ${result.texts.join(', ') || 'nothing'}`);
    if (result.detections < opts.minDetections) fail(`expected at least ${opts.minDetections} detections, found ${result.detections}`);
    const p50 = median(result.latenciesMs);
    if (opts.maxLatencyMs !== undefined && p50 > opts.maxLatencyMs) fail(`median latency ${p50.toFixed(0)} ms is over ${opts.maxLatencyMs} ms`);
  }
  return finish();
}

/** A minimal client of MLflow's tracking REST API (/api/2.0/mlflow). */
export class MlflowClient {
  readonly baseUrl: string;
  private readonly headers: Record<string, string>;

  constructor(trackingUri: string, auth: { token?: string; username?: string; password?: string } = {}) {
    this.baseUrl = trackingUri.replace(/\/+$/, '');
    this.headers = { 'Content-Type': 'application/json' };
    if (auth.token) this.headers.Authorization = `Bearer ${auth.token}`;
    else if (auth.username) this.headers.Authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password ?? ''}`).toString('base64')}`;
  }

  static fromEnv(env: Env): MlflowClient | undefined {
    const uri = env.MLFLOW_TRACKING_URI?.trim();
    if (!uri) return undefined;
    if (!/^https?:\/\//.test(uri)) throw new UsageError(`MLFLOW_TRACKING_URI=${uri} must be an http(s) tracking server`);
    return new MlflowClient(uri, { token: env.MLFLOW_TRACKING_TOKEN, username: env.MLFLOW_TRACKING_USERNAME, password: env.MLFLOW_TRACKING_PASSWORD });
  }

  async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const url = `${this.baseUrl}/api/2.0/mlflow/${path}`;
    const res = await fetch(url, { method, headers: this.headers, signal: AbortSignal.timeout(30_000), ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    const text = await res.text();
    if (!res.ok) {
      let code = `HTTP ${res.status}`;
      let message = text.slice(0, 300);
      try {
        const err = JSON.parse(text) as { error_code?: string; message?: string };
        code = err.error_code ?? code;
        message = err.message ?? message;
      } catch {
        // Not MLflow's JSON error (a proxy's page): keep the raw text.
      }
      throw new MlflowError(`${method} ${path}: ${code}: ${message}`, code);
    }
    return (text ? JSON.parse(text) : {}) as T;
  }

  /** The experiment's id, created on first use. */
  async experimentId(name: string): Promise<string> {
    const byName = () => this.call<{ experiment: { experiment_id: string } }>('GET', `experiments/get-by-name?experiment_name=${encodeURIComponent(name)}`);
    try {
      return (await byName()).experiment.experiment_id;
    } catch (err) {
      if (!(err instanceof MlflowError) || err.code !== 'RESOURCE_DOES_NOT_EXIST') throw err;
    }
    try {
      return (await this.call<{ experiment_id: string }>('POST', 'experiments/create', { name })).experiment_id;
    } catch (err) {
      // Another job created it between our two calls.
      if (err instanceof MlflowError && err.code === 'RESOURCE_ALREADY_EXISTS') return (await byName()).experiment.experiment_id;
      throw err;
    }
  }
}

export class MlflowError extends Error {
  override name = 'MlflowError';
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.code = code;
  }
}

/** Who ran the smoke test and against what: GitLab's predefined variables, when present. */
export function runContext(env: Env): { runName: string; tags: Record<string, string> } {
  const environment = env.CI_ENVIRONMENT_NAME ?? 'local';
  const sha = env.CI_COMMIT_SHA ?? '';
  const tags: Record<string, string> = {
    'mlflow.source.type': env.CI ? 'JOB' : 'LOCAL',
    'mlflow.source.name': env.CI_JOB_URL ?? 'ci/smoke.ts',
    environment,
  };
  if (sha) tags['mlflow.source.git.commit'] = sha;
  if (env.GITLAB_USER_LOGIN) tags['mlflow.user'] = env.GITLAB_USER_LOGIN;
  if (env.CI_PIPELINE_URL) tags.pipeline_url = env.CI_PIPELINE_URL;
  if (env.CI_PIPELINE_SOURCE) tags.pipeline_source = env.CI_PIPELINE_SOURCE;
  return { runName: `smoke ${environment}${sha ? ` ${sha.slice(0, 8)}` : ''}`, tags };
}

const kv = (o: Record<string, string>) => Object.entries(o).map(([key, value]) => ({ key, value }));

/** `models:/<name>/<version>` as the operator writes it into the server config; undefined for anything else. */
export function registryVersion(source: string | undefined): { name: string; version: string } | undefined {
  const m = /^models:\/([A-Za-z0-9][A-Za-z0-9_.-]*)\/([1-9][0-9]*)$/.exec(source ?? '');
  return m ? { name: m[1]!, version: m[2]! } : undefined;
}

/**
 * The smoke result on the registry version that served it: tag `visionops.smoke/<environment>`,
 * e.g. "passed 2026-11-30T10:00:00Z run 1a2b...". Needs edit permission on the registered model.
 */
export async function tagServedVersion(client: MlflowClient, result: SmokeResult, environment: string, runId: string): Promise<string | undefined> {
  const v = registryVersion(result.model?.source);
  if (!v) return undefined;
  const value = `${result.passed ? 'passed' : 'failed'} ${new Date(result.finishedAt).toISOString().replace(/\.\d{3}Z$/, 'Z')} run ${runId}`;
  await client.call('POST', 'model-versions/set-tag', { name: v.name, version: v.version, key: `visionops.smoke/${environment}`, value });
  return `models:/${v.name}/${v.version}`;
}

/** One MLflow run per smoke test: runs/create, runs/log-batch, runs/update. */
export async function logSmoke(client: MlflowClient, experiment: string, result: SmokeResult, context: { runName: string; tags: Record<string, string> }): Promise<{ experimentId: string; runId: string }> {
  const experimentId = await client.experimentId(experiment);
  const tags = { ...context.tags, 'mlflow.note.content': result.passed ? 'passed' : `failed: ${result.failures.join('; ')}`.slice(0, 5000) };
  const created = await client.call<{ run: { info: { run_id: string } } }>('POST', 'runs/create', {
    experiment_id: experimentId,
    run_name: context.runName,
    start_time: result.startedAt,
    tags: kv(tags),
  });
  const runId = created.run.info.run_id;
  const t = result.finishedAt;
  const metric = (key: string, value: number, step = 0) => ({ key, value, timestamp: t, step });
  const finite = (key: string, value: number) => (Number.isFinite(value) ? [metric(key, value)] : []);
  const metrics = [
    metric('passed', result.passed ? 1 : 0),
    metric('failures', result.failures.length),
    metric('requests', result.latenciesMs.length),
    metric('detections', result.detections),
    ...finite('latency_ms_p50', median(result.latenciesMs)),
    ...finite('latency_ms_max', result.latenciesMs.length ? Math.max(...result.latenciesMs) : NaN),
    ...finite('server_total_ms_p50', median(result.serverTotalMs)),
    // Every request as a series, so a slow first request (lazy work after a rollout) shows.
    ...result.latenciesMs.map((v, i) => metric('latency_ms', v, i)),
  ];
  const params: Record<string, string> = {
    url: result.url,
    endpoint: result.endpoint,
    image: result.image.path,
    image_sha256: result.image.sha256,
    requests: String(result.latenciesMs.length),
  };
  if (result.model) {
    params.model_name = result.model.name;
    params.model_version = result.model.version;
  }
  const registered = registryVersion(result.model?.source);
  if (registered) {
    params.registered_model_name = registered.name;
    params.registered_model_version = registered.version;
  }
  const runTags: Record<string, string> = { classes: result.classes.join(',') };
  if (result.model?.source) runTags.model_source = result.model.source;
  if (result.texts.length) runTags.texts = result.texts.join(',').slice(0, 5000);
  await client.call('POST', 'runs/log-batch', { run_id: runId, metrics, params: kv(params), tags: kv(runTags) });
  await client.call('POST', 'runs/update', { run_id: runId, status: result.passed ? 'FINISHED' : 'FAILED', end_time: t });
  return { experimentId, runId };
}

export async function main(argv: readonly string[], env: Env, out: (line: string) => void = console.log, err: (line: string) => void = console.error): Promise<number> {
  let opts: SmokeOptions;
  let client: MlflowClient | undefined;
  let settings: Env;
  try {
    settings = settingsFrom(argv, env);
    opts = optionsFrom(settings);
    client = MlflowClient.fromEnv(settings);
    if (!client && /^(1|true|yes)$/i.test(settings.SMOKE_REQUIRE_MLFLOW ?? '')) throw new UsageError('MLFLOW_TRACKING_URI is required (SMOKE_REQUIRE_MLFLOW)');
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`smoke: ${e.message}\n${USAGE}`);
    return 2;
  }
  const result = await runSmoke(opts);
  const { startedAt: _s, finishedAt: _f, ...summary } = result;
  out(JSON.stringify({ smoke: result.passed ? 'passed' : 'failed', ...summary }));
  for (const f of result.failures) err(`smoke: FAILED: ${f}`);

  if (!client) {
    err('smoke: MLFLOW_TRACKING_URI is not set: the result is not logged');
    return result.passed ? 0 : 1;
  }
  try {
    const experiment = settings.MLFLOW_EXPERIMENT_NAME?.trim() || 'visionops-smoke';
    const context = runContext(settings);
    const { experimentId, runId } = await logSmoke(client, experiment, result, context);
    out(`smoke: logged to ${client.baseUrl}/#/experiments/${experimentId}/runs/${runId}`);
    // The run is what counts; a token without edit permission on the model only loses the tag.
    await tagServedVersion(client, result, context.tags.environment ?? 'local', runId).then(
      (tagged) => tagged && out(`smoke: tagged ${tagged} visionops.smoke/${context.tags.environment}`),
      (e: unknown) => err(`smoke: could not tag the served registry version: ${e instanceof Error ? e.message : String(e)}`),
    );
  } catch (e) {
    err(`smoke: logging to MLflow failed: ${e instanceof Error ? e.message : String(e)}`);
    return result.passed ? 3 : 1;
  }
  return result.passed ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2), process.env);
}
