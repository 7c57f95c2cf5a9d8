import express from 'express';
import type { Metrics } from '../metrics.js';
import type { VisionService } from '../service.js';

/**
 * The kubelet's endpoints: /healthz (the process answers), /readyz (model warm, OCR up, not
 * draining) and /metrics. On the API port, and, with server.healthPort, on a port of their own:
 * a flood of client connections queues in the API port's accept backlog (the event loop accepts
 * one connection per turn), and a probe waiting behind it fails, and a liveness failure restarts
 * a pod that was only busy.
 */

export interface Readiness {
  ready: boolean;
  checks: Record<string, { ok: boolean; reason?: string }>;
}

export function readinessOf(service: VisionService, isShuttingDown?: () => boolean): () => Readiness {
  return () => {
    const r = service.readiness();
    if (isShuttingDown?.()) return { ready: false, checks: { ...r.checks, shutdown: { ok: false, reason: 'the server is shutting down' } } };
    return r;
  };
}

export function probeRoutes(app: express.Express, readiness: () => Readiness, metrics: Metrics): void {
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    const r = readiness();
    res.status(r.ready ? 200 : 503).json(r);
  });
  app.get('/metrics', async (_req, res) => {
    res.set('Content-Type', metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}

/** The probes alone, for the health port: nothing else is served there. */
export function createProbeApp(readiness: () => Readiness, metrics: Metrics): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  probeRoutes(app, readiness, metrics);
  app.use((req, res) => {
    res.status(404).json({ error: { code: 'not_found', message: `${req.method} ${req.path}: this port serves only /healthz, /readyz and /metrics` } });
  });
  return app;
}
