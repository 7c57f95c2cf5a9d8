import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { ApiError } from '../errors.js';
import type { RequestBudget } from '../budget/request-budget.js';
import type { VisionService } from '../service.js';
import { checkRequestedOutputs, DATATYPES, encodeInferResponse, OipError, parseInferRequest, type ModelInput } from './tensors.js';

/**
 * The Open Inference Protocol (KServe V2) REST endpoints: health, server and model metadata,
 * readiness, and inference on the client's own tensors. Errors on these routes are the protocol's
 * `{"error": "..."}` (the error handler answers so for every path under /v2).
 */

export interface OipOptions {
  service: VisionService;
  version: string;
  /** readiness as /readyz sees it (false while draining) */
  ready: () => boolean;
}

export const OIP_EXTENSIONS = ['binary_tensor_data'];
export const INFER_PATHS = ['/v2/models/:name/infer', '/v2/models/:name/versions/:version/infer'];

export function oipRoutes(opts: OipOptions): Router {
  const { service } = opts;
  const config = service.config;
  const r = express.Router();

  r.get('/v2', (_req, res) => {
    res.json({ name: 'visionops', version: opts.version, extensions: OIP_EXTENSIONS });
  });
  r.get('/v2/health/live', (_req, res) => {
    res.json({ live: true });
  });
  r.get('/v2/health/ready', (_req, res) => {
    const ready = opts.ready();
    res.status(ready ? 200 : 503).json({ ready });
  });

  const knownModel = (req: Request) => {
    const { name, version } = req.params as { name: string; version?: string };
    if (name !== config.model.name) throw new ApiError(404, 'model_not_found', `no model named ${name}; this server serves ${config.model.name}`);
    if (version !== undefined && version !== config.model.version) {
      throw new ApiError(404, 'model_not_found', `model ${name} has no version ${version}; this server serves version ${config.model.version}`);
    }
  };
  const modelInput = (): ModelInput => {
    const m = service.model;
    if (!m) throw new ApiError(503, 'not_ready', service.modelError ?? 'the model is loading', { 'Retry-After': '5' });
    return { name: m.shape.inputName, datatype: 'FP32', shape: [1, 3, m.shape.inputSize, m.shape.inputSize] };
  };

  r.get(['/v2/models/:name', '/v2/models/:name/versions/:version'], (req, res) => {
    knownModel(req);
    const input = modelInput();
    const m = service.model!;
    res.json({
      name: config.model.name,
      versions: [config.model.version],
      platform: 'onnxruntime_onnx',
      inputs: [input],
      outputs: m.shape.outputs.map((o) => ({ name: o.name, datatype: DATATYPES[o.type] ?? o.type.toUpperCase(), shape: o.dims })),
    });
  });
  r.get(['/v2/models/:name/ready', '/v2/models/:name/versions/:version/ready'], (req, res) => {
    knownModel(req);
    const ready = opts.ready();
    res.status(ready ? 200 : 503).json({ name: config.model.name, ready });
  });

  // Any content type: tritonclient sends none, and binary tensor data is not JSON.
  const body = express.raw({ type: () => true, limit: config.server.bodyLimit });
  r.post(INFER_PATHS, body, async (req: Request, res: Response, next: NextFunction) => {
    try {
      knownModel(req);
      const budget = res.locals.budget as RequestBudget;
      const bytes = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const parsed = parseInferRequest(bytes, req.get('inference-header-content-length'), modelInput());
      checkRequestedOutputs(parsed, service.model!.shape.outputs.map((o) => o.name));
      budget.startDeadline(config.server.requestTimeoutMs);
      res.locals.working = true;
      const work = service.inferRaw({ data: parsed.input.data, dims: parsed.input.shape }, budget);
      void work.finally(() => budget.close()).catch(() => undefined);
      const result = await Promise.race([work, budget.aborted]);
      const out = encodeInferResponse(
        { name: config.model.name, version: config.model.version },
        parsed,
        result.outputs.map((o) => ({ name: o.name, datatype: DATATYPES[o.type] ?? o.type.toUpperCase(), shape: o.dims, data: o.data })),
      );
      if (out.headerLength !== undefined) {
        res.setHeader('Inference-Header-Content-Length', String(out.headerLength));
        res.type('application/octet-stream');
      } else res.type('application/json');
      res.send(out.body);
    } catch (err) {
      next(err instanceof OipError ? new ApiError(err.status, 'invalid_inference_request', err.message) : err);
    }
  });
  // The validator, which answers 405 on the other routes, does not look at these.
  r.all(INFER_PATHS, (req) => {
    throw new ApiError(405, 'method_not_allowed', `${req.method} is not allowed here; POST an inference request`, { Allow: 'POST' });
  });
  return r;
}
