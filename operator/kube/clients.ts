import {
  ApiException,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  createConfiguration,
  CustomObjectsApi,
  HttpMethod,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  RequestContext,
  ResponseContext,
  ServerConfiguration,
  wrapHttpLibrary,
} from '@kubernetes/client-node';
import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';

/** Called once per API request with its HTTP method, the path, the status (0 for a network error, then `error` says which) and its duration. */
export type RequestObserver = (method: string, path: string, status: number, seconds: number, error?: unknown) => void;

export interface KubeClients {
  core: CoreV1Api;
  apps: AppsV1Api;
  custom: CustomObjectsApi;
  coordination: CoordinationV1Api;
  /** Generic access by apiVersion/kind (discovers the resource name on first use). */
  objects: KubernetesObjectApi;
  /** JSON in, JSON out, for the hot paths: applies, deletes and informer lists. */
  raw: RawClient;
  /** Closes the pooled connections (the process can exit without waiting for idle sockets). */
  close(): void;
}

export interface ClientOptions {
  observe?: RequestObserver;
  /** Upper bound on parallel connections to the API server. */
  maxSockets?: number;
  /** A request whose connection stays silent this long fails (and the reconcile is retried). */
  timeoutMs?: number;
}

/** Collection path of a resource, e.g. /apis/apps/v1/namespaces/x/deployments. */
export function collectionPath(apiVersion: string, plural: string, namespace?: string): string {
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return namespace ? `${base}/namespaces/${encodeURIComponent(namespace)}/${plural}` : `${base}/${plural}`;
}

export function objectPath(apiVersion: string, plural: string, namespace: string, name: string, subresource?: string): string {
  return `${collectionPath(apiVersion, plural, namespace)}/${encodeURIComponent(name)}${subresource ? `/${subresource}` : ''}`;
}

/**
 * The operator's hot paths without client-node's typed layer: the typed API turns every response
 * into class instances (a second copy of each object, all garbage a moment later) and
 * KubernetesObjectApi first asks discovery for a resource name the operator already knows.
 * Errors are ApiException, as from the typed API.
 */
export interface RawClient {
  /** Server-side apply under `fieldManager`, forcing conflicts (the operator owns these fields). */
  apply<T extends KubernetesObject>(path: string, body: object, fieldManager: string): Promise<T>;
  delete(path: string, options?: object): Promise<void>;
  list<T extends KubernetesObject>(path: string, labelSelector?: string): Promise<KubernetesListObject<T>>;
  /** A plain GET (e.g. /version, which every authenticated client may read). */
  get<T>(path: string): Promise<T>;
}

/**
 * One request over node's own http(s) client and the operator's connection pool (`agent`, for
 * https servers). client-node's default transport builds a new connection pool for every request
 * (see makeClients); 1.x also went through node-fetch 2, whose check for truncated chunked
 * responses misfired on kept-alive sockets ("Premature close" on complete responses).
 */
function send(request: RequestContext, timeoutMs: number, agent: https.Agent | undefined): Promise<ResponseContext> {
  const url = new URL(request.getUrl());
  const body = request.getBody();
  if (body !== undefined && typeof body !== 'string') return Promise.reject(new Error('only string request bodies are supported'));
  const signal = request.getSignal();
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).request(
      url,
      { method: String(request.getHttpMethod()), headers: request.getHeaders(), ...(agent && url.protocol === 'https:' ? { agent } : {}), ...(signal ? { signal } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const data = Buffer.concat(chunks);
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
          resolve(new ResponseContext(res.statusCode ?? 0, headers, { text: async () => data.toString('utf8'), binary: async () => data, stream: () => null }));
        });
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no response from ${url.host} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * API clients over one keep-alive connection pool. client-node builds a new agent for every
 * request (1.x an https.Agent, 2.x an undici Agent), so each call pays a TCP and TLS handshake
 * (with a client certificate, a few ms of CPU on both ends): with thousands of applies that, not
 * the API server, sets the pace. Authentication headers (bearer tokens, exec plugins) still come
 * from the KubeConfig per request; only the TLS material is fixed when the pool is made.
 */
export async function makeClients(kc: KubeConfig, opts: ClientOptions = {}): Promise<KubeClients> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const tls: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(tls);
  const agent = new https.Agent({
    keepAlive: true,
    maxSockets: opts.maxSockets ?? 32,
    ...(tls.ca ? { ca: tls.ca } : {}),
    ...(tls.cert ? { cert: tls.cert } : {}),
    ...(tls.key ? { key: tls.key } : {}),
    ...(tls.rejectUnauthorized !== undefined ? { rejectUnauthorized: tls.rejectUnauthorized } : {}),
    ...(cluster.tlsServerName ? { servername: cluster.tlsServerName } : {}),
  });

  const auth = {
    getName: () => 'kubeconfig over a shared keep-alive agent',
    async applySecurityAuthentication(context: RequestContext): Promise<void> {
      // Headers only: send() ignores the dispatcher this also sets and uses the pool.
      await kc.applySecurityAuthentication(context);
    },
  };
  const observe = opts.observe;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const httpApi = wrapHttpLibrary({
    async send(request: RequestContext): Promise<ResponseContext> {
      const method = String(request.getHttpMethod());
      const started = performance.now();
      const seconds = () => (performance.now() - started) / 1000;
      try {
        const response = await send(request, timeoutMs, agent);
        observe?.(method, new URL(request.getUrl()).pathname, response.httpStatusCode, seconds());
        return response;
      } catch (err) {
        observe?.(method, new URL(request.getUrl()).pathname, 0, seconds(), err);
        throw err;
      }
    },
  });
  const configuration = createConfiguration({ baseServer: new ServerConfiguration(cluster.server, {}), authMethods: { default: auth }, httpApi });

  const request = async <T>(method: HttpMethod, path: string, query: Record<string, string>, body?: object, contentType = 'application/json'): Promise<T> => {
    const url = new URL(cluster.server.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const ctx = new RequestContext(url.toString(), method);
    ctx.setHeaderParam('Accept', 'application/json');
    if (body !== undefined) {
      ctx.setHeaderParam('Content-Type', contentType);
      ctx.setBody(JSON.stringify(body));
    }
    await auth.applySecurityAuthentication(ctx);
    const response = await httpApi.send(ctx).toPromise();
    const text = await response.body.text();
    if (response.httpStatusCode >= 300) throw new ApiException(response.httpStatusCode, `HTTP ${response.httpStatusCode} from ${method} ${path}`, text, response.headers);
    return (text ? JSON.parse(text) : undefined) as T;
  };
  const raw: RawClient = {
    apply: (path, body, fieldManager) => request(HttpMethod.PATCH, path, { fieldManager, force: 'true' }, body, PatchStrategy.ServerSideApply),
    delete: async (path, options) => void (await request(HttpMethod.DELETE, path, {}, options)),
    list: (path, labelSelector) => request(HttpMethod.GET, path, labelSelector ? { labelSelector } : {}),
    get: (path) => request(HttpMethod.GET, path, {}),
  };

  return {
    core: new CoreV1Api(configuration),
    apps: new AppsV1Api(configuration),
    custom: new CustomObjectsApi(configuration),
    coordination: new CoordinationV1Api(configuration),
    // Every child carries its namespace, so the kubeconfig's default namespace never applies.
    objects: new KubernetesObjectApi(configuration),
    raw,
    close: () => agent.destroy(),
  };
}

/**
 * The resource a request path addresses, e.g. "deployments", "modelservices/status", "leases":
 * enough to tell reconcile writes from leader-election renewals in the metrics.
 */
export function resourceOfPath(path: string): string {
  const parts = path.split('/').filter(Boolean);
  // /api/v1/... or /apis/<group>/<version>/...
  let rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  if (rest[0] === 'namespaces' && rest.length > 2) rest = rest.slice(2);
  const [resource, , sub] = rest;
  if (!resource) return parts[0] === 'api' || parts[0] === 'apis' ? 'discovery' : 'other';
  return sub ? `${resource}/${sub}` : resource;
}
