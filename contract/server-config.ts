import { z } from 'zod';
import { MODEL_FORMATS, OCR_MODES, SHARED_DEFAULTS as D } from './defaults.js';
import { parseTemplate, TemplateError } from './text-layout.js';

/**
 * The inference server's configuration: the contract between the server, which validates its
 * config.yaml with this schema at start-up, and the operator, which writes that file into a
 * ConfigMap typed by ServerConfigInput. The operator imports only the types (`import type`), so
 * zod stays out of its bundle.
 */

const byteSize = z.union([
  z.number().int().nonnegative(),
  z
    .string()
    .regex(/^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$/i, 'expected a byte size such as 20MiB or 1048576')
    .transform(parseByteSize),
]);

const units: Record<string, number> = {
  B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30, TIB: 2 ** 40,
};

export function parseByteSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  if (!m) throw new Error(`not a byte size: ${text}`);
  const unit = (m[2] || 'B').toUpperCase();
  const factor = units[unit];
  if (factor === undefined) throw new Error(`unknown byte unit ${m[2]}`);
  return Math.round(Number(m[1]) * factor);
}

export const thresholdsSchema = z
  .object({
    confidence: z.number().min(0).max(1).default(D.thresholds.confidence).describe('minimum score (objectness x class) to keep a box'),
    iou: z.number().min(0).max(1).default(D.thresholds.iou).describe('IoU above which a lower-scored box of the same class is suppressed'),
    maxDetections: z.number().int().min(1).max(D.maxDetectionsLimit).default(D.thresholds.maxDetections).describe('most boxes returned per image'),
  })
  .strict();

export const tilesSchema = z
  .object({
    grid: z.number().int().min(1).max(D.tiles.maxGrid).default(D.tiles.grid).describe('a second look in grid x grid overlapping tiles, each at the full model input, for objects too small for the whole image (1: off)'),
    overlap: z.number().min(0).max(0.5).default(D.tiles.overlap).describe("share of a tile's side shared with its neighbour: objects up to this size are seen whole in some tile"),
  })
  .strict()
  .describe('slicing-aided detection of small objects: costs grid x grid more model runs per image larger than the input');

export const ocrModeSchema = z.enum(OCR_MODES);

export const ocrClassSchema = z
  .object({
    mode: ocrModeSchema.default(D.ocr.mode).describe('page segmentation: line (PSM 7), word (8), block (6), auto (3)'),
    charset: z.string().min(1).optional().describe('characters OCR may return (tesseract whitelist; the recognizer keeps its best alternative inside it)'),
    normalize: z
      .object({
        strip: z.string().default(D.ocr.strip).describe('characters removed from the text'),
        uppercase: z.boolean().default(D.ocr.uppercase),
      })
      .strict()
      .prefault({}),
    margin: z.number().min(0).max(1).default(D.ocr.margin).describe('crop margin as a fraction of the box size'),
    minHeight: z.number().int().min(8).max(1024).default(D.ocr.minHeight).describe('crops lower than this are upscaled to it'),
    formats: z
      .array(z.string().min(1).superRefine(checkTemplate))
      .min(1)
      .optional()
      .describe(
        "opt-in layouts the text follows, e.g. LL-DDD-LL: L letter, D digit, A either, 'XY' fixed characters, anything else a " +
          'separator (optional in the read); the read is corrected to the template that fits it best (confusable ' +
          'glyphs such as O/0, S/5, B/8 substituted per position; a character is never dropped or added) and is left ' +
          'as read when none fits',
      ),
    retry: z
      .boolean()
      .default(D.ocr.retry)
      .describe(
        'with formats: when the read does not fit a template as read, look again (line evened out for perspective, ' +
          'smaller scale, word segmentation, plain crop) until a read does, and keep the best-fitting one; extra ' +
          'tesseract jobs for those detections only',
      ),
    recognizer: z
      .object({
        model: z.string().min(1).describe('ONNX file of a CTC text recognizer exported by training/reader.py (e.g. models/plate-reader.onnx)'),
        fallback: z
          .boolean()
          .default(D.ocr.recognizerFallback)
          .describe('with formats: when its read does not fit a template as read, tesseract reads the crop too and the better-fitting read is kept (off by default: tesseract stays off the path)'),
        views: z
          .number()
          .int()
          .min(1)
          .max(4)
          .default(D.ocr.recognizerViews)
          .describe('crops read per box in the same batch (the box, then slightly shorter, taller, wider); the best read is kept'),
      })
      .strict()
      .optional()
      .describe('read this class with a trained text recognizer instead of tesseract (one batched run per image)'),
    uncertainBelow: z
      .number()
      .min(0)
      .max(1)
      .default(D.ocr.uncertainBelow)
      .describe('a read whose textConfidence is below this is returned with textUncertain: true'),
  })
  .strict();

function checkTemplate(source: string, ctx: z.RefinementCtx): void {
  try {
    parseTemplate(source);
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    ctx.addIssue({ code: 'custom', message: err.message });
  }
}

export const serverConfigSchema = z
  .object({
    server: z
      .object({
        host: z.string().default('0.0.0.0'),
        port: z.number().int().min(0).max(65535).default(D.server.port),
        bodyLimit: byteSize.default(D.server.bodyLimitBytes).describe('largest accepted request body'),
        requestTimeoutMs: z.number().int().min(100).max(600_000).default(D.server.requestTimeoutMs),
        maxQueue: z.number().int().min(0).max(100_000).default(D.server.maxQueue).describe('requests waiting for a worker before 503'),
        shutdownTimeoutMs: z.number().int().min(0).max(600_000).default(D.server.shutdownTimeoutMs),
        drainDelayMs: z
          .number().int().min(0).max(600_000).default(D.server.drainDelayMs)
          .describe('after SIGTERM: fail readiness and keep serving this long before closing the listener (endpoint propagation)'),
        healthPort: z
          .number().int().min(0).max(65535).optional()
          .describe('also serve /healthz, /readyz and /metrics on this port, so probes never queue behind client connections'),
        headersTimeoutMs: z.number().int().min(100).max(600_000).default(D.server.headersTimeoutMs).describe('the request line and headers must arrive within this (408)'),
        bodyTimeoutMs: z.number().int().min(100).max(3_600_000).default(D.server.bodyTimeoutMs).describe('the whole request, body included, must arrive within this (408)'),
        basePath: z
          .string()
          .regex(/^\/[^\s?#]*$/, 'a path starting with /')
          .default('/')
          .describe('path prefix the API is also served under (an Ingress routing a prefix keeps it in the request)'),
        exitOnModelError: z
          .boolean()
          .default(false)
          .describe('exit (code 3, the reason in /dev/termination-log) when the model cannot be served, instead of staying unready'),
      })
      .strict()
      .refine((s) => !s.healthPort || s.healthPort !== s.port, { path: ['healthPort'], message: 'must differ from server.port (the probes need a port of their own)' })
      .prefault({}),
    model: z
      .object({
        path: z.string().min(1).describe('path of the ONNX file'),
        name: z.string().regex(/^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$/i, 'letters, digits, - _ .').default('model'),
        version: z.string().min(1).default('1'),
        source: z.string().min(1).optional().describe('where the model came from, e.g. models:/plate-detector/7 (reported by /v1/models)'),
        format: z.enum(MODEL_FORMATS).default(D.model.format),
        classes: z.array(z.string().min(1)).min(1).optional().describe('class names; else the model metadata'),
        inputSize: z.number().int().min(32).max(4096).optional().describe('square input side for dynamic models'),
        thresholds: thresholdsSchema.prefault({}),
        tiles: tilesSchema.prefault({}),
      })
      .strict(),
    inference: z
      .object({
        workers: z.number().int().min(1).max(64).default(1).describe('worker threads, one ONNX session each'),
        intraOpThreads: z.number().int().min(1).max(256).optional().describe('default: usable CPUs / workers'),
      })
      .strict()
      .prefault({}),
    budget: z
      .object({
        ocrMaxBoxes: z.number().int().min(0).max(D.maxDetectionsLimit).default(D.budget.ocrMaxBoxes).describe('detections read per request, highest scores first; the rest are returned without text'),
        ocrMinScore: z.number().min(0).max(1).optional().describe('detections scoring under this are not read (default: model.thresholds.confidence, whatever a request asks for)'),
        recognizerBatch: z.number().int().min(1).max(1024).default(D.budget.recognizerBatch).describe('crops per text-recognizer run'),
        cropsInFlight: z.number().int().min(1).max(256).default(D.budget.cropsInFlight).describe('tesseract crops one request prepares and holds at once'),
        memoryHeadroom: byteSize.default(D.budget.memoryHeadroomBytes).describe('RSS the process may grow by over its idle RSS before it refuses work with 503'),
        maxRss: byteSize.optional().describe('absolute RSS bound instead of idle + memoryHeadroom'),
        memoryLimitRatio: z.number().gt(0).max(1).default(D.budget.memoryLimitRatio).describe("the bound never exceeds this share of the container's memory limit (cgroup)"),
      })
      .strict()
      .prefault({})
      .describe('what one request may cost: OCR boxes, batch sizes, crops in memory, and the memory bound of the process'),
    image: z
      .object({
        maxPixels: z.number().int().min(1).default(D.image.maxPixels).describe('decompression-bomb guard, from the header'),
      })
      .strict()
      .prefault({}),
    ocr: z
      .object({
        enabled: z.boolean().default(true),
        workers: z.number().int().min(1).max(32).default(D.ocr.workers),
        language: z.string().regex(/^[a-z_]{3,8}(\+[a-z_]{3,8})*$/).default(D.ocr.language),
        langPath: z.string().optional().describe('folder of <lang>.traineddata.gz; default: @tesseract.js-data'),
        recycleAfterJobs: z.number().int().min(1).default(D.ocr.recycleAfterJobs).describe('tesseract memory only grows: restart workers'),
        classes: z.record(z.string(), ocrClassSchema).default({}),
      })
      .strict()
      .prefault({}),
    documents: z
      .object({
        mrzReader: z.string().min(1).describe('ONNX of the MRZ line reader (training/documents/recognizer.py --task mrz), e.g. models/mrz-reader.onnx'),
        fieldReader: z
          .string()
          .min(1)
          .optional()
          .describe('ONNX of the visual-zone field reader (--task field); absent: the MRZ alone is read'),
        maxDocuments: z.number().int().min(1).max(8).default(D.documents.maxDocuments).describe('documents read per photo, most confident first'),
        zoneConfidence: z.number().min(0).max(1).default(D.documents.zoneConfidence).describe('score a zone needs on the rectified document'),
        archive: z
          .boolean()
          .default(false)
          .describe('identity documents are personal data: their images go to the archive only when this is true (and archive is set)'),
      })
      .strict()
      .optional()
      .describe(
        'read identity documents (ICAO 9303 TD1/TD2/TD3) with a document detector (model.path, e.g. models/document-detector.onnx): ' +
          '/v1/read answers `documents` with their fields, the MRZ and its checks',
      ),
    archive: z
      .object({
        dir: z.string().min(1).describe('store every accepted image here (content-addressed)'),
        retentionDays: z.number().min(0).default(D.archive.retentionDays),
        maxBytes: byteSize.default(D.archive.maxBytes),
        sweepIntervalMs: z.number().int().min(1000).default(D.archive.sweepIntervalMs),
      })
      .strict()
      .optional(),
    logging: z
      .object({
        level: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
      })
      .strict()
      .prefault({}),
  })
  .strict();

/** What a file (or the operator) writes: defaults may be left out. */
export type ServerConfigInput = z.input<typeof serverConfigSchema>;
/** What the server runs with: every default filled in. */
export type ServerConfig = z.output<typeof serverConfigSchema>;
export type Thresholds = z.output<typeof thresholdsSchema>;
export type OcrClassConfig = z.output<typeof ocrClassSchema>;
export type OcrMode = z.output<typeof ocrModeSchema>;
export type DocumentsConfig = NonNullable<ServerConfig['documents']>;
