import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import express, { type NextFunction, type Request, type Response } from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import swaggerUi from 'swagger-ui-express';
import { ClientGoneError, type RequestBudget } from '../budget/request-budget.js';
import { ApiError } from '../errors.js';
import { requestContext, type Logger } from '../logging.js';
import type { Metrics } from '../metrics.js';
import type { VisionService } from '../service.js';
import { multipartBody } from './multipart.js';
import { probeRoutes, readinessOf } from './probes.js';
import { openApiDocument } from './openapi.js';
import { INFER_PATHS, oipRoutes } from '../oip/routes.js';
import type { Thresholds } from '../../contract/server-config.js';

export interface AppOptions {
  service: VisionService;
  log: Logger;
  metrics: Metrics;
  version: string;
  /** Makes the validator check every response against the document too (tests turn it on). */
  validateResponses?: boolean;
  /** Set while draining on SIGTERM: readiness goes false so the Service stops routing here. */
  isShuttingDown?: () => boolean;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function createApp(opts: AppOptions): express.Express {
  const { service, log, metrics } = opts;
  const config = service.config;
  const doc = openApiDocument(opts.version, { name: config.model.name, version: config.model.version });
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  // Behind an Ingress that routes a path prefix (spec.ingress.path) the requests keep it: strip
  // it here, so /plates/v1/read is /v1/read to everything below. Unprefixed paths still work
  // (probes and in-cluster clients call the pod and the Service directly).
  const basePath = config.server.basePath.replace(/\/+$/, '');
  if (basePath) {
    app.use((req, _res, next) => {
      const url = req.url;
      if (url.startsWith(basePath) && (url.length === basePath.length || '/?'.includes(url[basePath.length]!))) {
        req.url = url.slice(basePath.length) || '/';
        if (req.url.startsWith('?')) req.url = `/${req.url}`;
        // The request validator matches originalUrl against the OpenAPI paths.
        req.originalUrl = req.url;
      }
      next();
    });
  }

  // Request id first, so every later log line and error body carries it.
  app.use((req, res, next) => {
    const given = req.get('x-request-id');
    const requestId = given && REQUEST_ID.test(given) ? given : randomUUID();
    res.locals.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    // Draining: keep-alive clients reconnect (to another pod) for their next request.
    if (opts.isShuttingDown?.()) res.setHeader('Connection', 'close');
    const start = performance.now();
    res.on('finish', () => {
      const route = routeLabel(req);
      const labels = { route, method: req.method, status: String(res.statusCode) };
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, (performance.now() - start) / 1000);
      if (route !== '/healthz' && route !== '/readyz' && route !== '/metrics') {
        log.info('request', { requestId, method: req.method, path: req.path, status: res.statusCode, ms: Math.round(performance.now() - start) });
      }
    });
    requestContext.run({ requestId }, next);
  });

  app.get('/openapi.json', (_req, res) => {
    res.json(doc);
  });
  app.use('/docs', swaggerUi.serve, swaggerUi.setup(doc, { customSiteTitle: 'visionops inference API' }));

  // Before any body is read: the request's budget, its body's memory reserved (503 past the bound).
  const admit = (kind: 'image' | 'json') => (req: Request, res: Response, next: NextFunction) => {
    // Shed load before reading and decoding a body that would be refused at the queue anyway:
    // under a flood that work alone kept the event loop from answering health probes.
    const pool = service.inferencePool;
    if (pool?.full) throw new ApiError(503, 'queue_full', pool.fullError().message, { 'Retry-After': '1' });
    const declared = Number(req.get('content-length'));
    const bytes = Number.isFinite(declared) && declared >= 0 ? Math.min(declared, config.server.bodyLimit) : config.server.bodyLimit;
    const budget = service.budgets.open(bytes, kind);
    res.locals.budget = budget;
    res.on('close', () => {
      // Nobody will read the answer: stop the work. Its memory is returned when the work ends.
      if (!res.writableFinished) budget.abort(new ClientGoneError());
      if (!res.locals.working) budget.close();
    });
    next();
  };
  app.post(['/v1/detect', '/v1/read'], admit('image'));
  app.post(INFER_PATHS, admit('json'));

  app.use(
    express.raw({ type: ['image/jpeg', 'image/png', 'image/webp'], limit: config.server.bodyLimit }),
  );
  app.use(multipartBody({ fileSize: config.server.bodyLimit }));
  app.use(
    OpenApiValidator.middleware({
      apiSpec: doc as never,
      validateRequests: { allowUnknownQueryParameters: false },
      validateResponses: opts.validateResponses ?? false,
      // multipartBody() parsed the forms already.
      fileUploader: false,
      // Open Inference Protocol /infer takes any content type (tritonclient sends none; binary
      // tensor data is not JSON) and checks its own body, answering errors in the protocol's shape.
      ignorePaths: /^\/v2\/models\/[^/]+(\/versions\/[^/]+)?\/infer$/,
    }),
  );

  const readiness = readinessOf(service, opts.isShuttingDown);
  probeRoutes(app, readiness, metrics);

  app.get('/v1/models', (_req, res) => {
    const m = service.model;
    const entry: Record<string, unknown> = {
      name: config.model.name,
      version: config.model.version,
      ...(config.model.source ? { source: config.model.source } : {}),
      ready: service.readiness().ready,
      thresholds: config.model.thresholds,
      ocrClasses: service.ocrClasses,
    };
    if (m) {
      Object.assign(entry, {
        format: m.shape.layout,
        inputShape: [1, 3, m.shape.inputSize, m.shape.inputSize],
        outputShape: m.shape.outputDims,
        classes: m.classes,
        sha256: m.sha256,
      });
    } else if (service.modelError) entry.reason = service.modelError;
    res.json({ models: [entry] });
  });

  app.use(oipRoutes({ service, version: opts.version, ready: () => readiness().ready }));

  const inference = (withOcr: boolean) => async (req: Request, res: Response) => {
    const budget = res.locals.budget as RequestBudget;
    const bytes = imageBytes(req);
    budget.startDeadline(config.server.requestTimeoutMs);
    metrics.inFlight.inc();
    res.locals.working = true;
    const work = service.detect(bytes, res.locals.requestId as string, thresholdOverrides(req), withOcr, budget);
    // The reservation goes back when the work really stops, which may be after a timed-out answer.
    void work.finally(() => budget.close()).catch(() => undefined);
    try {
      res.json(await Promise.race([work, budget.aborted]));
    } finally {
      metrics.inFlight.dec();
    }
  };
  app.post('/v1/detect', inference(false));
  app.post('/v1/read', inference(true));

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const api = toApiError(err);
    if (api.status >= 500 && api.code === 'internal') {
      log.error('unhandled error', { err: err instanceof Error ? err.stack : String(err), path: req.path });
    } else if (api.status !== 404) {
      metrics.rejected.inc({ code: api.code });
    }
    for (const [k, v] of Object.entries(api.headers)) res.setHeader(k, v);
    // Open Inference Protocol routes answer errors in its shape; the request id is in X-Request-Id.
    if (req.path === '/v2' || req.path.startsWith('/v2/')) res.status(api.status).json({ error: api.message });
    else res.status(api.status).json({ error: { code: api.code, message: api.message, requestId: res.locals.requestId } });
  });
  return app;
}

function routeLabel(req: Request): string {
  const route = req.route as { path?: string } | undefined;
  if (route?.path) return (req.baseUrl || '') + route.path;
  if (req.path.startsWith('/docs')) return '/docs';
  return 'unmatched';
}

function imageBytes(req: Request): Buffer {
  const files = req.files as Express.Multer.File[] | undefined;
  if (req.is('multipart/form-data')) {
    const file = files?.find((f) => f.fieldname === 'image');
    if (!file) throw new ApiError(400, 'missing_image', 'the multipart form has no file in field "image"');
    return file.buffer;
  }
  if (!Buffer.isBuffer(req.body) || req.body.length === 0) {
    throw new ApiError(400, 'empty_body', 'the request has no image: the body is empty');
  }
  return req.body;
}

function thresholdOverrides(req: Request): Partial<Thresholds> {
  const q = req.query as Record<string, unknown>;
  const out: Partial<Thresholds> = {};
  if (q.confidence !== undefined) out.confidence = Number(q.confidence);
  if (q.iou !== undefined) out.iou = Number(q.iou);
  if (q.maxDetections !== undefined) out.maxDetections = Number(q.maxDetections);
  return out;
}

/** Maps every failure (ours, body-parser's, multer's, the OpenAPI validator's) to one error shape. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof ClientGoneError) return new ApiError(400, 'request_aborted', err.message);
  const e = err as { status?: number; statusCode?: number; type?: string; code?: string; message?: string; errors?: { path?: string; message?: string }[] };
  if (e?.type === 'entity.too.large' || e?.code === 'LIMIT_FILE_SIZE') {
    return new ApiError(413, 'body_too_large', `the body is larger than the ${(err as { limit?: number }).limit ?? ''} byte limit`.replace('the  byte', 'the byte'));
  }
  if (e?.type === 'request.aborted') return new ApiError(400, 'request_aborted', 'the client closed the request before the body arrived');
  if (e?.code && /^LIMIT_/.test(e.code)) return new ApiError(400, 'invalid_multipart', `multipart form rejected: ${e.message}`);
  const status = e?.status ?? e?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const detail = e.errors?.map((x) => `${x.path ?? ''} ${x.message ?? ''}`.trim()).join('; ');
    const code =
      status === 404 ? 'not_found'
      : status === 405 ? 'method_not_allowed'
      : status === 415 ? 'unsupported_media_type'
      : status === 413 ? 'body_too_large'
      : 'invalid_request';
    const message =
      status === 415 ? `unsupported content type; send image/jpeg, image/png, image/webp or multipart/form-data with field "image"`
      : detail || e.message || 'invalid request';
    return new ApiError(status, code, message);
  }
  return new ApiError(500, 'internal', 'internal server error');
}
