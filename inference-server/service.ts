import { access, readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import type { ServerConfig, Thresholds } from '../contract/server-config.js';
import { ApiError } from './errors.js';
import { decodeImage, type ImageFormat } from './pipeline/decode.js';
import { parseClassNames } from './pipeline/model-metadata.js';
import { decodeOnnxMetadata } from './inference/onnx-metadata.js';
import { InferenceTimeoutError, QueueFullError, WorkerCrashedError, WorkerPool, type RawInput, type RawResult } from './inference/worker-pool.js';
import type { ModelShape } from './inference/protocol.js';
import { usableCpus } from './inference/cpus.js';
import { OcrReader, resultFromRead, type OcrResult } from './ocr/reader.js';
import { better, readDetection } from './ocr/read-detection.js';
import { RecognizerThread as TextRecognizer } from './ocr/recognizer-thread.js';
import { betterView, viewBoxes } from './ocr/recognizer-views.js';
import { ImageArchive, sha256Async } from './archive/store.js';
import { DocumentPipeline } from './documents/pipeline.js';
import type { DocumentOut } from './documents/document-reader.js';
import type { Logger } from './logging.js';
import type { Metrics } from './metrics.js';
import { Budgets, pixelEstimate } from './budget/budgets.js';
import type { RequestBudget } from './budget/request-budget.js';

/**
 * The server's work, without HTTP: model and OCR lifecycle, readiness, and one request through
 * decode -> worker (letterbox, ONNX, NMS, mapping) -> OCR -> archive.
 */

export interface DetectionOut {
  class: string;
  classId: number;
  score: number;
  box: { x1: number; y1: number; x2: number; y2: number };
  text?: string;
  rawText?: string;
  textConfidence?: number;
  /** textConfidence is below the class's uncertainBelow */
  textUncertain?: boolean;
  /** the OCR class's template the text was corrected to (classes with formats) */
  textFormat?: string;
}

export interface DetectResult {
  requestId: string;
  model: { name: string; version: string };
  width: number;
  height: number;
  format: ImageFormat;
  sha256: string;
  archived?: boolean;
  detections: DetectionOut[];
  /** /v1/read with the document pipeline (config `documents`) */
  documents?: DocumentOut[];
  timings: Record<string, number>;
  /** /v1/read: detections of OCR classes the request's budget left unread (see budget.ocrMaxBoxes, ocrMinScore) */
  ocrSkipped?: number;
}

interface Check {
  ok: boolean;
  reason?: string;
}

export interface ModelInfo {
  shape: ModelShape;
  classes: string[];
  sha256: string;
}

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;
/** The document pipeline considers document boxes down to this score (reported only when their MRZ is valid). */
const DOCUMENT_CANDIDATE_CONFIDENCE = 0.1;

export class VisionService {
  model?: ModelInfo;
  modelError?: string;
  warmedUp = false;
  private pool?: WorkerPool;
  private ocr?: OcrReader;
  private ocrError?: string;
  /** by model path: classes may share one */
  private recognizers = new Map<string, TextRecognizer>();
  private recognizerErrors = new Map<string, string>();
  private archive?: ImageArchive;
  private sweepTimer?: NodeJS.Timeout;
  private documents?: DocumentPipeline;
  readonly budgets: Budgets;

  constructor(
    readonly config: ServerConfig,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {
    if (config.documents) this.documents = new DocumentPipeline(config.documents, log);
    this.budgets = new Budgets(config);
  }

  get ocrClasses(): string[] {
    return this.config.ocr.enabled ? Object.keys(this.config.ocr.classes) : [];
  }

  /** Settles once the model is loaded or has failed to (OCR may still be starting); set by start(). */
  modelAttempt: Promise<void> = Promise.resolve();

  /** Loads everything; never throws: a failure is kept and reported by readiness instead. */
  async start(): Promise<void> {
    this.modelAttempt = this.startModel();
    const jobs: Promise<void>[] = [this.modelAttempt];
    if (this.config.ocr.enabled && this.ocrClasses.length > 0) jobs.push(this.startRecognizers());
    if (this.needsTesseract) jobs.push(this.startOcr());
    if (this.config.archive) jobs.push(this.startArchive());
    if (this.documents) jobs.push(this.documents.start());
    await Promise.all(jobs);
    if (this.model && this.documents) this.documents.checkClasses(this.model.classes);
    if (this.model) await this.warmUp();
    const memory = this.budgets.memory.calibrate();
    this.log.info('memory bound set', { idleRss: memory.idle, bound: memory.bound });
    this.metrics.modelReady.set(this.readiness().ready ? 1 : 0);
  }

  readiness(): { ready: boolean; checks: Record<string, Check> } {
    const checks: Record<string, Check> = {
      model: this.model ? { ok: true } : { ok: false, reason: this.modelError ?? 'model is loading' },
      warmup: this.warmedUp ? { ok: true } : { ok: false, reason: this.model ? 'warm-up inference has not finished' : 'waiting for the model' },
    };
    if (this.config.ocr.enabled && this.ocrClasses.length > 0) {
      if (this.needsTesseract) checks.ocr = this.ocr?.ready ? { ok: true } : { ok: false, reason: this.ocrError ?? 'OCR workers are starting' };
      const paths = this.recognizerPaths();
      if (paths.length > 0) {
        const missing = paths.filter((p) => !this.recognizers.has(p));
        checks.recognizer =
          missing.length === 0
            ? { ok: true }
            : { ok: false, reason: missing.map((p) => this.recognizerErrors.get(p) ?? `recognizer ${p} is loading`).join('; ') };
      }
    }
    if (this.documents) checks.documents = this.documents.readiness();
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  }

  /** tesseract jobs run so far (a detection may take more than one: OCR classes with formats); for benchmarks. */
  get ocrJobs(): number {
    return this.ocr?.jobsDone ?? 0;
  }

  /** The inference threads; exposed for benchmarks and tests that need to saturate them. */
  get inferencePool(): WorkerPool | undefined {
    return this.pool;
  }

  get queueDepth(): number {
    return this.pool?.queueDepth ?? 0;
  }

  async detect(
    bytes: Buffer,
    requestId: string,
    overrides: Partial<Thresholds>,
    withOcr: boolean,
    budget: RequestBudget = this.budgets.internal(),
  ): Promise<DetectResult> {
    if (!this.model || !this.pool || !this.warmedUp) {
      throw new ApiError(503, 'not_ready', `the model is not ready: ${this.readiness().checks.model?.reason ?? 'warming up'}`, { 'Retry-After': '5' });
    }
    if (withOcr && this.needsTesseract && !this.ocr?.ready) {
      throw new ApiError(503, 'not_ready', `OCR is not ready: ${this.ocrError ?? 'starting'}`, { 'Retry-After': '5' });
    }
    if (withOcr && this.ocrClasses.length > 0 && this.recognizers.size < this.recognizerPaths().length) {
      throw new ApiError(503, 'not_ready', `OCR is not ready: ${this.readiness().checks.recognizer?.reason ?? 'starting'}`, { 'Retry-After': '5' });
    }
    if (withOcr && this.documents && !this.documents.readiness().ok) {
      throw new ApiError(503, 'not_ready', `document reading is not ready: ${this.documents.readiness().reason}`, { 'Retry-After': '5' });
    }
    return this.run(bytes, requestId, overrides, withOcr, true, budget);
  }

  /** The model on a client's own tensor (Open Inference Protocol /infer): its outputs as it produced them. */
  async inferRaw(raw: RawInput, budget: RequestBudget): Promise<RawResult> {
    if (!this.model || !this.pool || !this.warmedUp) {
      throw new ApiError(503, 'not_ready', `the model is not ready: ${this.readiness().checks.model?.reason ?? 'warming up'}`, { 'Retry-After': '5' });
    }
    try {
      return await this.pool.runRaw(raw, budget.signal);
    } catch (err) {
      throw this.inferenceError(err);
    }
  }

  private async run(
    bytes: Buffer,
    requestId: string,
    overrides: Partial<Thresholds>,
    withOcr: boolean,
    archive: boolean,
    budget: RequestBudget,
  ): Promise<DetectResult> {
    const model = this.model!;
    const pool = this.pool!;
    const t0 = performance.now();
    const image = await decodeImage(bytes, this.config.image.maxPixels, (h) =>
      budget.reservation?.grow(pixelEstimate(h.width, h.height), `a ${h.width}x${h.height} image`),
    );
    budget.check();
    const t1 = performance.now();
    const thresholds = { ...this.config.model.thresholds, ...overrides };
    // The document pipeline also looks at documents scored under the request's confidence (it
    // reports them only when their MRZ proves them): the detector runs at the lower of the two,
    // and the response keeps the boxes over the request's.
    const readsDocuments = withOcr && this.documents !== undefined;
    const inferThresholds = readsDocuments ? { ...thresholds, confidence: Math.min(thresholds.confidence, DOCUMENT_CANDIDATE_CONFIDENCE) } : thresholds;
    let out;
    try {
      out = await pool.infer({ pixels: image.pixels, width: image.width, height: image.height, thresholds: inferThresholds, tiles: this.config.model.tiles }, budget.signal);
    } catch (err) {
      throw this.inferenceError(err);
    }
    budget.check();
    const all: DetectionOut[] = out.detections.map((d) => ({
      class: model.classes[d.classId] ?? String(d.classId),
      classId: d.classId,
      score: round(d.score, 5),
      box: { x1: round(d.x1, 2), y1: round(d.y1, 2), x2: round(d.x2, 2), y2: round(d.y2, 2) },
    }));
    const detections = readsDocuments ? all.filter((d) => d.score > thresholds.confidence) : all;
    for (const d of detections) this.metrics.detections.inc({ class: d.class });
    const timings: Record<string, number> = {
      decodeMs: t1 - t0,
      queueMs: out.timings.queueMs,
      letterboxMs: out.timings.letterboxMs,
      inferenceMs: out.timings.inferenceMs,
      postprocessMs: out.timings.postprocessMs,
    };
    let ocrSkipped: number | undefined;
    if (withOcr) {
      const t2 = performance.now();
      ocrSkipped = await this.readTexts(detections, out.pixels, image.width, image.height, budget);
      timings.ocrMs = performance.now() - t2;
      budget.check();
    }
    let documents: DocumentOut[] | undefined;
    if (withOcr && this.documents) {
      const t2 = performance.now();
      documents = await this.readDocuments(out.pixels, image.width, image.height, all, thresholds.confidence, budget);
      timings.documentsMs = performance.now() - t2;
      budget.check();
    }
    const result: DetectResult = {
      requestId,
      model: { name: this.config.model.name, version: this.config.model.version },
      width: image.width,
      height: image.height,
      format: image.format,
      sha256: await sha256Async(bytes),
      detections,
      ...(documents ? { documents } : {}),
      timings,
      ...(ocrSkipped !== undefined ? { ocrSkipped } : {}),
    };
    // identity documents are personal data: archived only when the document pipeline opts in
    if (this.archive && archive && (!this.documents || this.documents.archiveAllowed)) {
      const t3 = performance.now();
      try {
        await this.archive.store(bytes, image.format, { requestId, detections, ...(documents ? { documents } : {}), model: result.model }, result.sha256);
        result.archived = true;
      } catch (err) {
        // The answer is still right; a full or broken volume must not fail inference.
        result.archived = false;
        this.metrics.archiveFailures.inc();
        this.log.error('archiving the image failed', { err: (err as Error).message, sha256: result.sha256 });
      }
      timings.archiveMs = performance.now() - t3;
    }
    timings.totalMs = performance.now() - t0;
    for (const [k, v] of Object.entries(timings)) {
      if (k !== 'totalMs') this.metrics.stageDuration.observe({ stage: k.replace(/Ms$/, '') }, v / 1000);
      timings[k] = round(v, 3);
    }
    return result;
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    await Promise.all([this.pool?.close(), this.ocr?.close(), this.documents?.close(), ...[...this.recognizers.values()].map((r) => r.close())]);
  }

  /** The document pipeline's second look: the detector again, on each document warped upright. */
  private async readDocuments(pixels: Uint8Array, width: number, height: number, detections: DetectionOut[], minScore: number, budget: RequestBudget): Promise<DocumentOut[]> {
    const classes = this.model!.classes;
    const thresholds = this.config.model.thresholds;
    return this.documents!.read(pixels, width, height, detections, async (px, w, h, confidence) => {
      let out;
      try {
        // each document's view is one more detector run: the request's budget bounds them too
        budget.check();
        out = await this.pool!.infer({ pixels: px, width: w, height: h, thresholds: { ...thresholds, confidence } }, budget.signal);
      } catch (err) {
        throw this.inferenceError(err);
      }
      const found = out.detections.map((d) => ({ class: classes[d.classId] ?? String(d.classId), score: d.score, box: { x1: d.x1, y1: d.y1, x2: d.x2, y2: d.y2 } }));
      return { found, pixels: out.pixels };
    }, minScore);
  }

  /** tesseract workers are started only for classes without a recognizer or with its tesseract fallback. */
  private get needsTesseract(): boolean {
    return this.ocrClasses.some((c) => {
      const rec = this.config.ocr.classes[c]?.recognizer;
      return !rec || rec.fallback;
    });
  }

  private recognizerPaths(): string[] {
    const paths = new Set<string>();
    for (const c of this.ocrClasses) {
      const model = this.config.ocr.classes[c]?.recognizer?.model;
      if (model) paths.add(model);
    }
    return [...paths];
  }

  /**
   * Reads the text of every detection of an OCR class. Classes with a recognizer are read by it, all
   * boxes of the image in one run; with `fallback`, a read that does not fit the class's formats as
   * read is read by tesseract too (its own second looks included) and the better fit is kept.
   */
  private async readTexts(detections: DetectionOut[], pixels: Uint8Array, width: number, height: number, budget: RequestBudget): Promise<number> {
    const classes = this.config.ocr.classes;
    const recognized = new Map<DetectionOut, OcrResult>();
    const batches = new Map<TextRecognizer, DetectionOut[]>();
    const ofOcrClass = detections.filter((d) => classes[d.class]);
    const picked = budget.pickForOcr(ofOcrClass);
    detections = detections.filter((d) => picked.has(d));
    for (const d of detections) {
      const model = classes[d.class]?.recognizer?.model;
      const rec = model ? this.recognizers.get(model) : undefined;
      if (rec) batches.set(rec, [...(batches.get(rec) ?? []), d]);
    }
    await Promise.all(
      [...batches].map(async ([rec, ds]) => {
        const views = ds.map((d) => viewBoxes(d.box, classes[d.class]!.recognizer!.views));
        const reads = await budget.inBatches(views.flat(), (boxes) => rec.recognize(pixels, width, height, boxes));
        let at = 0;
        ds.forEach((d, i) => {
          let best: OcrResult | undefined;
          for (const _ of views[i]!) {
            const r = reads[at++]!;
            const result = resultFromRead(r.read, r.confidence, classes[d.class]!);
            if (!best || betterView(result, best)) best = result;
          }
          recognized.set(d, best!);
        });
      }),
    );
    await Promise.all(
      detections.map(async (d) => {
        const cfg = classes[d.class];
        if (!cfg) return;
        let r = recognized.get(d);
        const ocr = this.ocr;
        const fallback = !r || (cfg.recognizer?.fallback && cfg.formats && r.formatCost !== 0);
        if (fallback && ocr) {
          const t = await budget.withCrop(() => readDetection(ocr.bound(budget.signal), pixels, width, height, d.box, cfg));
          if (t && (!r || better(t, r))) r = t;
        }
        if (!r) {
          d.text = '';
          d.rawText = '';
          d.textConfidence = 0;
          d.textUncertain = true;
          return;
        }
        d.text = r.text;
        d.rawText = r.rawText;
        d.textConfidence = round(r.confidence, 4);
        d.textUncertain = r.confidence < cfg.uncertainBelow;
        if (r.format !== undefined) d.textFormat = r.format;
      }),
    );
    return ofOcrClass.length - picked.size;
  }

  private inferenceError(err: unknown): Error {
    if (err instanceof QueueFullError) return new ApiError(503, 'queue_full', err.message, { 'Retry-After': '1' });
    if (err instanceof InferenceTimeoutError) return new ApiError(503, 'inference_timeout', err.message, { 'Retry-After': '2' });
    if (err instanceof WorkerCrashedError) return new ApiError(503, 'worker_unavailable', err.message, { 'Retry-After': '2' });
    return err as Error;
  }

  private async startModel(): Promise<void> {
    const cfg = this.config.model;
    try {
      try {
        await access(cfg.path);
      } catch {
        throw new Error(`model file ${cfg.path} does not exist or cannot be read`);
      }
      const bytes = await readFile(cfg.path);
      const meta = decodeOnnxMetadata(bytes);
      const namesFromModel = meta.props.names ? parseClassNames(meta.props.names) : undefined;
      const classes = cfg.classes ?? namesFromModel;
      const cpus = usableCpus();
      const workers = this.config.inference.workers;
      const intraOpThreads = this.config.inference.intraOpThreads ?? Math.max(1, Math.floor(cpus / workers));
      this.pool = new WorkerPool({
        workers,
        maxQueue: this.config.server.maxQueue,
        timeoutMs: this.config.server.requestTimeoutMs,
        init: {
          modelPath: cfg.path,
          intraOpThreads,
          format: cfg.format,
          ...(classes ? { classCount: classes.length } : {}),
          ...(cfg.inputSize ? { inputSize: cfg.inputSize } : {}),
        },
      });
      this.pool.on('depth', () => this.metrics.queueDepth.set(this.pool?.queueDepth ?? 0));
      this.pool.on('worker-error', (err: Error) => this.log.error('inference worker could not be replaced', { err: err.message }));
      const shape = await this.pool.start();
      this.model = {
        shape,
        classes: classes ?? Array.from({ length: shape.classes }, (_, i) => `class${i}`),
        sha256: await sha256Async(bytes),
      };
      this.log.info('model loaded', {
        path: cfg.path, format: shape.layout, inputSize: shape.inputSize, outputDims: shape.outputDims,
        classes: this.model.classes, workers, intraOpThreads, cpus,
      });
    } catch (err) {
      this.modelError = `cannot serve ${cfg.path}: ${(err as Error).message}`;
      this.log.error('model failed to load; the server stays unready', { reason: this.modelError });
      await this.pool?.close();
      this.pool = undefined;
    }
  }

  private async startOcr(): Promise<void> {
    const o = this.config.ocr;
    try {
      this.ocr = new OcrReader({
        workers: o.workers, language: o.language, recycleAfterJobs: o.recycleAfterJobs,
        ...(o.langPath ? { langPath: o.langPath } : {}),
      });
      await this.ocr.start();
      this.log.info('OCR workers ready', { workers: o.workers, language: o.language, classes: this.ocrClasses });
    } catch (err) {
      this.ocrError = `OCR could not start: ${(err as Error).message}`;
      this.log.error(this.ocrError);
    }
  }

  private async startRecognizers(): Promise<void> {
    await Promise.all(
      this.recognizerPaths().map(async (path) => {
        try {
          const rec = await TextRecognizer.load(path);
          this.recognizers.set(path, rec);
          this.log.info('text recognizer loaded', { path, input: `${rec.spec.height}x${rec.spec.width}`, alphabet: rec.spec.alphabet });
        } catch (err) {
          const reason = (err as Error).message;
          this.recognizerErrors.set(path, reason);
          this.log.error('text recognizer failed to load; the server stays unready', { reason });
        }
      }),
    );
  }

  private async startArchive(): Promise<void> {
    const a = this.config.archive!;
    this.archive = new ImageArchive({ dir: a.dir, retentionDays: a.retentionDays, maxBytes: a.maxBytes });
    const leftovers = await this.archive.init();
    if (leftovers.tempFiles + leftovers.loneSidecars > 0) this.log.warn('removed what interrupted archive writes left', { dir: a.dir, ...leftovers });
    const sweep = () =>
      this.archive!.sweep().then(
        (r) => r.removed > 0 && this.log.info('archive retention sweep', r),
        (err: Error) => this.log.error('archive sweep failed', { err: err.message }),
      );
    void sweep();
    this.sweepTimer = setInterval(sweep, a.sweepIntervalMs).unref();
  }

  /** A real inference through the whole path, so the first request does not pay for lazy init. */
  private async warmUp(): Promise<void> {
    try {
      const size = this.model!.shape.inputSize;
      const png = await sharp({ create: { width: size, height: Math.round(size * 0.75), channels: 3, background: { r: 128, g: 128, b: 128 } } })
        .png()
        .toBuffer();
      const t0 = performance.now();
      await this.run(png, 'warm-up', {}, false, false, this.budgets.internal());
      this.warmedUp = true;
      this.log.info('warm-up inference done', { ms: round(performance.now() - t0, 1) });
    } catch (err) {
      this.modelError = `warm-up inference failed: ${(err as Error).message}`;
      this.log.error(this.modelError);
    }
  }
}
