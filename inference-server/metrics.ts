import client from 'prom-client';

/** Prometheus metrics of one server instance; a registry of its own so tests can run several apps. */
export function createMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  /** What the gauges below read at scrape time; the server points them at its service. */
  const sources = { memoryBound: () => 0, memoryReserved: () => 0, tesseractJobs: () => 0 };
  const finite = (v: number) => (Number.isFinite(v) ? v : 0);
  const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
  return {
    registry,
    sources,
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
    memoryBound: new client.Gauge({
      name: 'visionops_memory_bound_bytes',
      help: 'RSS past which the server refuses new work (503 memory_pressure); see budget.memoryHeadroom',
      registers: [registry],
      collect() {
        this.set(finite(sources.memoryBound()));
      },
    }),
    memoryReserved: new client.Gauge({
      name: 'visionops_memory_reserved_bytes',
      help: 'Memory reserved by the requests in progress (bodies, decoded images)',
      registers: [registry],
      collect() {
        this.set(finite(sources.memoryReserved()));
      },
    }),
    tesseractJobs: new client.Counter({
      name: 'visionops_ocr_tesseract_jobs_total',
      help: 'tesseract jobs run (a detection may take several: second looks, recognizer fallbacks)',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(finite(sources.tesseractJobs()));
      },
    }),
    modelReady: new client.Gauge({
      name: 'visionops_model_ready',
      help: '1 when the model is loaded and warmed up',
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
