import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ServerConfig } from '../contract/server-config.js';
import { createApp } from './http/app.js';
import { listen } from './http/listen.js';
import { createProbeApp, readinessOf } from './http/probes.js';
import { createLogger, type Logger } from './logging.js';
import { createMetrics } from './metrics.js';
import { packageVersion } from './project-root.js';
import { VisionService } from './service.js';

export interface RunningServer {
  server: Server;
  service: VisionService;
  url: string;
  /** The probes' own listener (server.healthPort), when configured. */
  healthUrl?: string;
  log: Logger;
  /**
   * Fails readiness at once and keeps serving for the drain delay (endpoints stop routing here
   * meanwhile), then stops accepting, lets in-flight requests finish (up to the shutdown timeout)
   * and frees the workers. `drainDelayMs` overrides server.drainDelayMs.
   */
  shutdown(opts?: { drainDelayMs?: number }): Promise<void>;
  /** Ends a drain delay in progress now (a second Ctrl-C). */
  skipDrainDelay(): void;
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
  Object.assign(metrics.sources, {
    memoryBound: () => service.budgets.memory.bound,
    memoryReserved: () => service.budgets.memory.reserved,
    tesseractJobs: () => service.ocrJobs,
  });
  let shuttingDown = false;
  const app = createApp({
    service, log, metrics, version: packageVersion(),
    ...(opts.validateResponses !== undefined ? { validateResponses: opts.validateResponses } : {}),
    isShuttingDown: () => shuttingDown,
  });
  const starting = service.start();
  if (!opts.listenBeforeReady) await starting;

  let server: Server | undefined;
  let health: Server | undefined;
  try {
    server = await listen(app, config, log);
    if (config.server.healthPort !== undefined) {
      health = await listen(createProbeApp(readinessOf(service, () => shuttingDown), metrics), config, log, 'health');
    }
  } catch (err) {
    server?.close();
    // No waiting for the model to load: the CLI exits on this at once.
    void starting.then(() => service.close(), () => undefined);
    throw err;
  }
  const api = server;
  const addr = api.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${addr.port}`;
  const healthPort = health ? (health.address() as AddressInfo).port : undefined;
  const healthUrl = healthPort === undefined ? undefined : url.replace(/:\d+$/, `:${healthPort}`);
  log.info('listening', { url, port: addr.port, pid: process.pid, ...(healthUrl ? { healthUrl, healthPort } : {}) });

  let closing: Promise<void> | undefined;
  let endDelay: (() => void) | undefined;
  const shutdown = (opts: { drainDelayMs?: number } = {}) =>
    (closing ??= (async () => {
      shuttingDown = true;
      const delay = opts.drainDelayMs ?? config.server.drainDelayMs;
      if (delay > 0) {
        // Readiness fails from now on; until the endpoints catch up, traffic still arrives and is served.
        log.info('shutting down: readiness fails, still serving during the drain delay', { drainDelayMs: delay });
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          endDelay = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      log.info('shutting down: no new connections; draining in-flight requests');
      const closed = new Promise<void>((resolve) => api.close(() => resolve()));
      api.closeIdleConnections();
      const timeout = new Promise<void>((resolve) => setTimeout(resolve, config.server.shutdownTimeoutMs).unref());
      await Promise.race([closed, timeout]);
      api.closeAllConnections();
      // Probes answer until the end (readiness false): the kubelet sees a draining pod, not a dead one.
      if (health) {
        health.close();
        health.closeAllConnections();
      }
      await starting.catch(() => undefined);
      await service.close();
      log.info('shutdown complete');
    })());
  return { server: api, service, url, ...(healthUrl ? { healthUrl } : {}), log, shutdown, skipDrainDelay: () => endDelay?.(), loaded: starting.catch(() => undefined) };
}
