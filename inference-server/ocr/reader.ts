import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createWorker, OEM, PSM, type Worker } from 'tesseract.js';
import type { OcrClassConfig, OcrMode } from '../../contract/server-config.js';
import { parseTemplate, type PlateTemplate } from '../../contract/text-layout.js';
import { alphabetOf, matchFormats, readFromHocr, readFromText, type Alphabet, type ReadChar } from './formats.js';
import { PSM_FOR_MODE, expandCharset, normalizeText } from './normalize.js';
import { bestText } from './ctc.js';

/**
 * A pool of tesseract.js workers. tesseract.js's own Scheduler hands jobs to any idle worker, but
 * page-segmentation mode and whitelist are per-worker parameters, so a plate (single line, A-Z0-9)
 * and an ID card (block, any text) could not share it. Here each job carries its parameters and a
 * worker is re-parameterised only when they change. Workers are replaced after `recycleAfterJobs`
 * because tesseract's WASM heap never shrinks.
 */

export interface OcrResult {
  /** normalised text; corrected to the matched template when the class has formats */
  text: string;
  rawText: string;
  confidence: number;
  /** the class's template the read was corrected to */
  format?: string;
  /** cost of that correction (0: the read fitted as it was) */
  formatCost?: number;
}

interface ClassRules {
  whitelist: string;
  templates?: PlateTemplate[];
  alphabet: Alphabet;
}

/** Parsed once per class configuration object. */
const rulesCache = new WeakMap<OcrClassConfig, ClassRules>();

function rulesOf(cfg: OcrClassConfig): ClassRules {
  let r = rulesCache.get(cfg);
  if (!r) {
    const whitelist = cfg.charset ? expandCharset(cfg.charset) : '';
    r = {
      whitelist,
      alphabet: alphabetOf(whitelist || undefined),
      ...(cfg.formats ? { templates: cfg.formats.map(parseTemplate) } : {}),
    };
    rulesCache.set(cfg, r);
  }
  return r;
}

export interface OcrOptions {
  workers: number;
  language: string;
  langPath?: string;
  recycleAfterJobs: number;
}

/** What reading needs of an OcrReader (readDetection takes this, so a request can bind its deadline). */
export type OcrJobs = Pick<OcrReader, 'read'>;

interface Slot {
  worker: Worker;
  params: string;
  jobs: number;
  busy: boolean;
}

/** The language data shipped by @tesseract.js-data/<lang> (LSTM "best_int"): nothing is downloaded. */
export function bundledLangPath(language: string): string {
  const require = createRequire(import.meta.url);
  const first = language.split('+')[0]!;
  const pkg = require.resolve(`@tesseract.js-data/${first}/package.json`);
  return join(dirname(pkg), '4.0.0_best_int');
}

export class OcrReader {
  private slots: Slot[] = [];
  private waiting: ((slot: Slot) => void)[] = [];
  private closed = false;
  jobsDone = 0;
  recycled = 0;

  constructor(private readonly opts: OcrOptions) {}

  async start(): Promise<void> {
    const workers = await Promise.all(Array.from({ length: this.opts.workers }, () => this.newWorker()));
    this.slots = workers.map((worker) => ({ worker, params: '', jobs: 0, busy: false }));
  }

  get ready(): boolean {
    return this.slots.length === this.opts.workers && !this.closed;
  }

  get busyWorkers(): number {
    return this.slots.filter((s) => s.busy).length;
  }

  /**
   * Reads one prepared crop. With formats, tesseract also reports its per-character alternatives
   * (hOCR, lstm_choice_mode 2) and the read is corrected to the best-fitting template. `mode`
   * overrides the class's page segmentation (a second pass).
   */
  async read(png: Buffer, cfg: OcrClassConfig, mode: OcrMode = cfg.mode, signal?: AbortSignal): Promise<OcrResult> {
    const rules = rulesOf(cfg);
    const slot = await this.acquire(signal);
    try {
      const params = {
        tessedit_pageseg_mode: PSM_FOR_MODE[mode] as PSM,
        tessedit_char_whitelist: rules.whitelist,
        // Crops carry no DPI; without one tesseract guesses and warns on every job.
        user_defined_dpi: '300',
        lstm_choice_mode: rules.templates ? '2' : '0',
      };
      const key = JSON.stringify(params);
      if (slot.params !== key) {
        await slot.worker.setParameters(params);
        slot.params = key;
      }
      const { data } = await slot.worker.recognize(png, {}, rules.templates ? { text: true, hocr: true } : { text: true });
      slot.jobs++;
      this.jobsDone++;
      signal?.throwIfAborted();
      const rawText = data.text.trim();
      if (!rules.templates) return { rawText, text: normalizeText(rawText, cfg.normalize), confidence: data.confidence / 100 };
      return correct(rawText, data.hocr ?? '', data.confidence / 100, cfg, rules);
    } finally {
      this.release(slot);
    }
  }

  /** This reader with every job tied to `signal`: a job still waiting for a worker when it aborts never runs. */
  bound(signal: AbortSignal): OcrJobs {
    return { read: (png, cfg, mode) => this.read(png, cfg, mode, signal) };
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate().catch(() => undefined)));
    this.slots = [];
  }

  private newWorker(): Promise<Worker> {
    return createWorker(this.opts.language, OEM.LSTM_ONLY, {
      langPath: this.opts.langPath ?? bundledLangPath(this.opts.language),
      gzip: true,
      // Cached traineddata would be written next to the process; the container root is read-only.
      cacheMethod: 'none',
    });
  }

  private acquire(signal?: AbortSignal): Promise<Slot> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    const idle = this.slots.find((s) => !s.busy);
    if (idle) {
      idle.busy = true;
      return Promise.resolve(idle);
    }
    return new Promise((resolve, reject) => {
      const take = (slot: Slot) => {
        signal?.removeEventListener('abort', leave);
        resolve(slot);
      };
      const leave = () => {
        const i = this.waiting.indexOf(take);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal!.reason as Error);
      };
      signal?.addEventListener('abort', leave, { once: true });
      this.waiting.push(take);
    });
  }

  private release(slot: Slot): void {
    if (!this.closed && slot.jobs >= this.opts.recycleAfterJobs) {
      void this.recycle(slot);
      return;
    }
    this.handOver(slot);
  }

  private handOver(slot: Slot): void {
    const next = this.waiting.shift();
    if (next) next(slot);
    else slot.busy = false;
  }

  private async recycle(slot: Slot): Promise<void> {
    const old = slot.worker;
    try {
      slot.worker = await this.newWorker();
      slot.params = '';
      slot.jobs = 0;
      this.recycled++;
      await old.terminate().catch(() => undefined);
    } catch {
      // Keep serving with the old worker rather than losing capacity.
      slot.jobs = 0;
    }
    if (this.closed) {
      await slot.worker.terminate().catch(() => undefined);
      return;
    }
    this.handOver(slot);
  }
}

/**
 * The read corrected to the class's best-fitting template, or normalised as read when none fits.
 * Confidence: the mean of the characters' own confidences from hOCR. tesseract's word confidence is
 * its least certain character's, so one doubtful glyph in a right read gave 0 for the whole plate.
 */
function correct(rawText: string, hocr: string, wordConfidence: number, cfg: OcrClassConfig, rules: ClassRules): OcrResult {
  const fold = (t: string) => (cfg.normalize.uppercase ? t.toUpperCase() : t);
  const fromHocr = readFromHocr(hocr);
  const read = (fromHocr ?? readFromText(rawText)).map((c) => ({ choices: c.choices.map((x) => ({ ch: fold(x.ch), conf: x.conf })) }));
  const confidence = fromHocr && fromHocr.length > 0 ? fromHocr.reduce((a, c) => a + (c.choices[0]?.conf ?? 0), 0) / fromHocr.length : wordConfidence;
  const m = matchFormats(read, rules.templates!, rules.alphabet);
  if (!m) return { rawText, text: normalizeText(rawText, cfg.normalize), confidence };
  return { rawText, text: normalizeText(m.text, cfg.normalize), format: m.template, formatCost: m.cost, confidence };
}

/**
 * A recognizer's read (characters with alternatives) as an OCR result under the class's rules:
 * alternatives outside the class's charset dropped (as tesseract's whitelist would), then corrected
 * to the best-fitting template when the class has formats.
 */
export function resultFromRead(read: ReadChar[], confidence: number, cfg: OcrClassConfig): OcrResult {
  const rules = rulesOf(cfg);
  const fold = (t: string) => (cfg.normalize.uppercase ? t.toUpperCase() : t);
  const allowed = rules.whitelist ? new Set(rules.whitelist) : undefined;
  const kept = read
    .map((c) => ({ choices: c.choices.map((x) => ({ ch: fold(x.ch), conf: x.conf })).filter((x) => !allowed || allowed.has(x.ch)) }))
    .filter((c) => c.choices.length > 0);
  const rawText = bestText(kept);
  const m = rules.templates ? matchFormats(kept, rules.templates, rules.alphabet) : undefined;
  if (!m) return { rawText, text: normalizeText(rawText, cfg.normalize), confidence };
  return { rawText, text: normalizeText(m.text, cfg.normalize), format: m.template, formatCost: m.cost, confidence };
}
