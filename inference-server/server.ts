import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ServerConfig } from '../contract/server-config.js';
import { createApp } from './http/app.js';
import { createLogger, type Logger } from './logging.js';
import { createMetrics } from './metrics.js';
import { packageVersion } from './project-root.js';
import { VisionService } from './service.js';

export interface RunningServer {
  server: Server;
  service: VisionService;
  url: string;
  log: Logger;
  /** Stops accepting, lets in-flight requests finish (up to the shutdown timeout), frees workers. */
  shutdown(): Promise<void>;
  /** Settles when loading is over, served or not (service.modelError says which). */
  loaded: Promise<void>;
}

export interface StartOptions {
  log?: Logger;
  validateResponses?: boolean;
  /** Resolve as soon as the port listens instead of after the model loaded (the CLI wants probes answered early). */
  listenBeforeReady?: boolean;
}

export async function startServer(config: ServerConfig, opts: StartOptions = {}): Promise<RunningServer> {
  const log = opts.log ?? createLogger(config.logging.level);
  const metrics = createMetrics();
  const service = new VisionService(config, log, metrics);
  let shuttingDown = false;
  const app = createApp({
    service, log, metrics, version: packageVersion(),
    ...(opts.validateResponses !== undefined ? { validateResponses: opts.validateResponses } : {}),
    isShuttingDown: () => shuttingDown,
  });
  const starting = service.start();
  if (!opts.listenBeforeReady) await starting;

  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(config.server.port, config.server.host, () => resolve(s));
    s.once('error', reject);
  });
  // Past the body-receive deadline a slow client is cut off instead of holding a socket.
  server.requestTimeout = config.server.requestTimeoutMs + 5_000;
  server.headersTimeout = Math.min(60_000, server.requestTimeout);
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${addr.port}`;
  log.info('listening', { url, port: addr.port });

  let closing: Promise<void> | undefined;
  const shutdown = () =>
    (closing ??= (async () => {
      shuttingDown = true;
      log.info('shutting down: draining in-flight requests');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timeout = new Promise<void>((resolve) => setTimeout(resolve, config.server.shutdownTimeoutMs).unref());
      await Promise.race([closed, timeout]);
      server.closeAllConnections();
      await starting.catch(() => undefined);
      await service.close();
      log.info('shutdown complete');
    })());
  return { server, service, url, log, shutdown, loaded: starting.catch(() => undefined) };
}
