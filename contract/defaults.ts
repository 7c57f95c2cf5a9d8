/**
 * Defaults the operator and the inference server must agree on. The server's config schema fills
 * them in when a field is absent; the CRD advertises them (crds/modelservice.ts DEFAULTS); the
 * operator writes them into the ConfigMap. One value each, so a default cannot differ between what
 * `kubectl explain` shows and what the server does.
 *
 * Pure constants: the operator bundle imports this file and nothing heavier.
 */

export const MODEL_FORMATS = ['auto', 'yolov5', 'yolov8'] as const;
export type ModelFormat = (typeof MODEL_FORMATS)[number];

/** What one OCR crop holds; the server maps each to a tesseract page-segmentation mode. */
export const OCR_MODES = ['line', 'word', 'block', 'auto'] as const;
export type OcrModeName = (typeof OCR_MODES)[number];

const GiB = 2 ** 30;
const MiB = 2 ** 20;

export const SHARED_DEFAULTS = {
  model: { format: 'auto' as ModelFormat },
  thresholds: { confidence: 0.25, iou: 0.45, maxDetections: 300 },
  tiles: { grid: 1, overlap: 0.25, maxGrid: 3 },
  /** The bounds of maxDetections, the same for the CRD, the server config and a request's query. */
  maxDetectionsLimit: 10_000,
  server: {
    port: 8080,
    bodyLimitBytes: 20 * MiB,
    requestTimeoutMs: 30_000,
    maxQueue: 64,
    shutdownTimeoutMs: 25_000,
    /** after SIGTERM: readiness fails at once, requests are still served this long (endpoints catch up) */
    drainDelayMs: 5_000,
    /** the request line and headers must arrive within this */
    headersTimeoutMs: 10_000,
    /** the whole request (headers and body) must arrive within this */
    bodyTimeoutMs: 30_000,
  },
  /** What one request may cost; see inference-server/budget/. */
  budget: {
    ocrMaxBoxes: 32,
    recognizerBatch: 32,
    cropsInFlight: 4,
    /** the RSS the server may grow by over its idle RSS (measured after warm-up) before it refuses work */
    memoryHeadroomBytes: 1 * GiB,
    /** share of the container's memory limit (cgroup) the RSS bound never exceeds */
    memoryLimitRatio: 0.85,
  },
  ocr: {
    language: 'eng',
    mode: 'line' as OcrModeName,
    strip: ' -',
    uppercase: true,
    retry: true,
    margin: 0.06,
    minHeight: 96,
    workers: 2,
    recycleAfterJobs: 500,
    /** the recognizer reads every box of its classes; tesseract only where a class asks for it */
    recognizerFallback: false,
    recognizerViews: 3,
    /** reads whose confidence (a calibrated probability of being right) is below this are flagged textUncertain */
    uncertainBelow: 0.9,
  },
  archive: {
    retentionDays: 30,
    maxBytes: 10 * GiB,
    sweepIntervalMs: 600_000,
  },
  image: { maxPixels: 50_000_000 },
  documents: {
    /** documents read per photo (each costs a detector run and two recognizer runs) */
    maxDocuments: 2,
    /** score a zone (MRZ line, field) needs on the rectified document */
    zoneConfidence: 0.25,
  },
} as const;
