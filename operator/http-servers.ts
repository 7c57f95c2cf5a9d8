import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** "host:port" as kubebuilder's --metrics-bind-address takes it; ":8080" is every interface, "0" turns the endpoint off. */
export function parseBindAddress(value: string): { host: string | undefined; port: number } | undefined {
  if (value === '0') return undefined;
  const i = value.lastIndexOf(':');
  const host = i > 0 ? value.slice(0, i).replace(/^\[|\]$/g, '') : undefined;
  const port = Number(value.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid bind address ${value}: expected [host]:port or 0`);
  return { host, port };
}

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

async function listen(handler: http.RequestListener, bind: string): Promise<RunningServer | undefined> {
  const addr = parseBindAddress(bind);
  if (!addr) return undefined;
  const server = http.createServer(handler);
  // Probes and scrapes are short; idle keep-alive sockets would only delay close().
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${addr.host && addr.host !== '0.0.0.0' && addr.host !== '::' ? addr.host : '127.0.0.1'}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function serveMetrics(registry: Registry, bind: string): Promise<RunningServer | undefined> {
  return listen((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404).end('not found\n');
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(body),
      (err: unknown) => res.writeHead(500).end(`${String(err)}\n`),
    );
  }, bind);
}

export interface HealthChecks {
  /** The process works (the event loop answers); a failure makes the kubelet restart it. */
  healthz(): string | undefined;
  /** Ready to do its job (caches synced); undefined means ok, a string says why not. */
  readyz(): string | undefined;
}

export function serveHealth(checks: HealthChecks, bind: string): Promise<RunningServer | undefined> {
  return listen((req, res) => {
    const path = req.url?.split('?')[0];
    const check = path === '/healthz' ? checks.healthz : path === '/readyz' ? checks.readyz : undefined;
    if (!check) {
      res.writeHead(404).end('not found\n');
      return;
    }
    const problem = check();
    res.writeHead(problem ? 503 : 200, { 'Content-Type': 'text/plain' }).end(problem ? `${problem}\n` : 'ok\n');
  }, bind);
}
