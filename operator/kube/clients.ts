import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  createConfiguration,
  CustomObjectsApi,
  IsomorphicFetchHttpLibrary,
  type KubeConfig,
  KubernetesObjectApi,
  type RequestContext,
  type ResponseContext,
  ServerConfiguration,
  wrapHttpLibrary,
} from '@kubernetes/client-node';
import https from 'node:https';

/** Called once per API request with its HTTP method, the path and the status (0 for a network error). */
export type RequestObserver = (method: string, path: string, status: number) => void;

export interface KubeClients {
  core: CoreV1Api;
  apps: AppsV1Api;
  custom: CustomObjectsApi;
  coordination: CoordinationV1Api;
  /** Generic access by apiVersion/kind: server-side apply and delete of every child kind. */
  objects: KubernetesObjectApi;
  /** Closes the pooled connections (the process can exit without waiting for idle sockets). */
  close(): void;
}

export interface ClientOptions {
  observe?: RequestObserver;
  /** Upper bound on parallel connections to the API server. */
  maxSockets?: number;
}

/**
 * API clients over one keep-alive connection pool. client-node 1.x builds a new https.Agent for
 * every request, so each call pays a TCP and TLS handshake (with a client certificate, a few ms of
 * CPU on both ends): with thousands of applies that, not the API server, sets the pace.
 * Authentication headers (bearer tokens, exec plugins) still come from the KubeConfig per request;
 * only the TLS material is fixed when the pool is made.
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
      await kc.applySecurityAuthentication(context);
      // http:// servers (kubectl proxy) keep the agent client-node chose.
      if (cluster.server.startsWith('https:')) context.setAgent(agent);
    },
  };
  const fetchLibrary = new IsomorphicFetchHttpLibrary();
  const observe = opts.observe;
  const httpApi = wrapHttpLibrary({
    async send(request: RequestContext): Promise<ResponseContext> {
      if (!observe) return fetchLibrary.send(request).toPromise();
      const method = String(request.getHttpMethod());
      const path = new URL(request.getUrl()).pathname;
      try {
        const response = await fetchLibrary.send(request).toPromise();
        observe(method, path, response.httpStatusCode);
        return response;
      } catch (err) {
        observe(method, path, 0);
        throw err;
      }
    },
  });
  const configuration = createConfiguration({ baseServer: new ServerConfiguration(cluster.server, {}), authMethods: { default: auth }, httpApi });
  return {
    core: new CoreV1Api(configuration),
    apps: new AppsV1Api(configuration),
    custom: new CustomObjectsApi(configuration),
    coordination: new CoordinationV1Api(configuration),
    // Every child carries its namespace, so the kubeconfig's default namespace never applies.
    objects: new KubernetesObjectApi(configuration),
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
