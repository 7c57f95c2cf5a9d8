import client from 'prom-client';

/** Prometheus metrics of one server instance; a registry of its own so tests can run several apps. */
export function createMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
  return {
    registry,
    httpRequests: new client.Counter({
      name: 'visionops_http_requests_total',
      help: 'HTTP requests by route, method and status',
      labelNames: ['route', 'method', 'status'] as const,
      registers: [registry],
    }),
    httpDuration: new client.Histogram({
      name: 'visionops_http_request_duration_seconds',
      help: 'HTTP request latency by route, method and status',
      labelNames: ['route', 'method', 'status'] as const,
      buckets: latencyBuckets,
      registers: [registry],
    }),
    stageDuration: new client.Histogram({
      name: 'visionops_pipeline_stage_duration_seconds',
      help: 'Time spent in each pipeline stage (decode, queue, letterbox, inference, postprocess, ocr, archive)',
      labelNames: ['stage'] as const,
      buckets: latencyBuckets,
      registers: [registry],
    }),
    queueDepth: new client.Gauge({
      name: 'visionops_inference_queue_depth',
      help: 'Requests waiting for an inference worker',
      registers: [registry],
    }),
    inFlight: new client.Gauge({
      name: 'visionops_http_requests_in_flight',
      help: 'Inference requests being served now',
      registers: [registry],
    }),
    detections: new client.Counter({
      name: 'visionops_detections_total',
      help: 'Objects detected, by class',
      labelNames: ['class'] as const,
      registers: [registry],
    }),
    rejected: new client.Counter({
      name: 'visionops_requests_rejected_total',
      help: 'Requests refused before inference, by error code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    archiveFailures: new client.Counter({
      name: 'visionops_archive_failures_total',
      help: 'Images that could not be written to the archive',
      registers: [registry],
    }),
    modelReady: new client.Gauge({
      name: 'visionops_model_ready',
      help: '1 when the model is loaded and warmed up',
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
