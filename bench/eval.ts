/**
 * Held-out evaluation of the bundled plate detector, end to end through the real inference server.
 *
 *   npm run eval -- [--model models/plate-detector.onnx] [--n 400] [--seed 3] [--concurrency 2]
 *                   [--out reports/eval.json] [--check] [--plain-ocr | --single-pass | --tesseract-only]
 *                   [--reader models/plate-reader.onnx]
 *
 * 1. Generates (or reuses) a synthetic held-out set with training/synth.py and a seed the training
 *    never saw (train 1, val 2, eval 3). Needs Python with numpy, opencv and pillow: $PYTHON, else
 *    .venv/bin/python, else python3 (see training/README.md).
 * 2. Starts the server in-process (loadConfig + startServer, the same OCR rule as `npm start`:
 *    class plate, line mode, A-Z0-9 without I O Q, strip ' -', uppercase, corrected to the five
 *    plate layouts of the generator, reading again when a read does not fit; --plain-ocr: without
 *    the layouts; --single-pass: with them, without reading again) on a free port. Plates are read by
 *    the bundled plate reader (a CRNN, training/reader.py) when models/plate-reader.onnx exists, with
 *    tesseract as the fallback for reads that fit no layout; --tesseract-only: tesseract alone.
 * 3. POSTs every image to /v1/detect at confidence 0.001 (for mAP50) and to /v1/read at the
 *    server's default thresholds (precision/recall at the operating point, and plate text).
 * 4. Reports detector P/R at IoU 0.5 and mAP50 (all-point interpolated AP, as yolov5 computes it),
 *    end-to-end exact match (a ground-truth plate counts when a returned box overlaps it at IoU >= 0.5
 *    and its normalised text equals the plate's), OCR accuracy on the detected plates, what the
 *    format correction changed (and how often rightly), tesseract jobs per plate box, and
 *    breakdowns by plate format and size. --check exits 1 when recall < 0.98 or exact match < 95 %.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../inference-server/config/load.js';
import { startServer } from '../inference-server/server.js';
import { normalizeText } from '../inference-server/ocr/normalize.js';
import { demoPlateOcr, plateOcr } from '../inference-server/ocr/plate-rule.js';
import { projectRoot } from '../inference-server/project-root.js';

const root = projectRoot();
const { values } = parseArgs({
  options: {
    model: { type: 'string', default: join(root, 'models', 'plate-detector.onnx') },
    n: { type: 'string', default: '400' },
    seed: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '2' },
    out: { type: 'string', default: join(root, 'reports', 'eval.json') },
    check: { type: 'boolean', default: false },
    failures: { type: 'string', default: '25' },
    'plain-ocr': { type: 'boolean', default: false },
    'single-pass': { type: 'boolean', default: false },
    reader: { type: 'string', default: join(root, 'models', 'plate-reader.onnx') },
    'tesseract-only': { type: 'boolean', default: false },
  },
});
const n = Number(values.n);
const seed = Number(values.seed);
const RECALL_TARGET = 0.98;
const EXACT_TARGET = 0.95;

interface Plate { text: string; printed: string; format: string; font: string; box: [number, number, number, number]; area: number }
interface Row { file: string; width: number; height: number; jpegQuality: number; plates: Plate[] }
interface Box { x1: number; y1: number; x2: number; y2: number }
interface Detection { class: string; score: number; box: Box; text?: string; rawText?: string; textConfidence?: number; textFormat?: string }

function python(): string {
  if (process.env.PYTHON) return process.env.PYTHON;
  const venv = join(root, '.venv', 'bin', 'python');
  return existsSync(venv) ? venv : 'python3';
}

function heldOutSet(): { dir: string; rows: Row[] } {
  const dir = join(root, 'training', 'data', `eval-s${seed}-n${n}`);
  if (seed === 1 || seed === 2) console.warn(`warning: seed ${seed} is a training/validation seed, not held out`);
  const r = spawnSync(python(), [join(root, 'training', 'synth.py'), '--out', dir, '--n', String(n), '--seed', String(seed),
    '--font-cache', join(root, 'training', 'data', 'fonts')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`training/synth.py failed (${r.status ?? r.signal}); is ${python()} set up? see training/README.md`);
  const rows = readFileSync(join(dir, 'plates.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Row);
  return { dir, rows };
}

function iou(a: Box, b: Box): number {
  const w = Math.max(0, Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1));
  const h = Math.max(0, Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1));
  const inter = w * h;
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return union > 0 ? inter / union : 0;
}

const toBox = (b: [number, number, number, number]): Box => ({ x1: b[0], y1: b[1], x2: b[2], y2: b[3] });

/** Greedy matching in descending score: each detection takes the unmatched ground truth it overlaps most. */
function match(dets: Detection[], gts: Box[], thr = 0.5): { tp: boolean[]; gtOf: number[] } {
  const order = dets.map((_, i) => i).sort((i, j) => dets[j]!.score - dets[i]!.score);
  const used = new Array<boolean>(gts.length).fill(false);
  const tp = new Array<boolean>(dets.length).fill(false);
  const gtOf = new Array<number>(dets.length).fill(-1);
  for (const i of order) {
    let best = -1;
    let bestIou = thr;
    gts.forEach((g, k) => {
      const v = iou(dets[i]!.box, g);
      if (!used[k] && v >= bestIou) { best = k; bestIou = v; }
    });
    if (best >= 0) { used[best] = true; tp[i] = true; gtOf[i] = best; }
  }
  return { tp, gtOf };
}

/** yolov5 compute_ap: precision envelope, integrated over recall (continuous / all-point). */
function averagePrecision(scored: { score: number; tp: boolean }[], nGt: number): number {
  if (nGt === 0) return NaN;
  const s = [...scored].sort((a, b) => b.score - a.score);
  let tp = 0;
  let fp = 0;
  const rec: number[] = [0];
  const prec: number[] = [1];
  for (const d of s) {
    if (d.tp) tp++; else fp++;
    rec.push(tp / nGt);
    prec.push(tp / (tp + fp));
  }
  rec.push(rec[rec.length - 1]! + 0.01 > 1 ? 1 : rec[rec.length - 1]! + 0.01);
  prec.push(0);
  for (let i = prec.length - 2; i >= 0; i--) prec[i] = Math.max(prec[i]!, prec[i + 1]!);
  let ap = 0;
  for (let i = 1; i < rec.length; i++) ap += (rec[i]! - rec[i - 1]!) * prec[i]!;
  return ap;
}

async function post(url: string, body: Buffer): Promise<{ detections: Detection[]; timings: Record<string, number> }> {
  const res = await fetch(url, { method: 'POST', body, headers: { 'Content-Type': 'image/jpeg' } });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as { detections: Detection[]; timings: Record<string, number> };
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const { dir, rows } = heldOutSet();
  const reader = values['tesseract-only'] || values['plain-ocr'] || !existsSync(values.reader) ? undefined : resolve(values.reader);
  const rule = values['plain-ocr'] ? plateOcr() : { ...demoPlateOcr(reader), retry: !values['single-pass'] };
  const config = loadConfig({
    env: {},
    defaults: {
      server: { host: '127.0.0.1', port: 0 },
      model: { path: resolve(values.model), name: 'plate-detector', version: 'eval' },
      // the same OCR rule as the demo default of `npm start`; --plain-ocr: without its plate layouts
      ocr: { classes: { plate: rule } },
      logging: { level: 'warn' },
    },
  });
  const server = await startServer(config);
  const conf = config.model.thresholds.confidence;
  console.log(`server ${server.url}, model ${values.model}, reader ${reader ?? '(tesseract only)'}, operating confidence ${conf}, ${rows.length} images`);

  const lowConf: { score: number; tp: boolean }[] = [];
  let nGt = 0, tpOp = 0, fpOp = 0, detectedGt = 0, exact = 0, ocrOnDetected = 0;
  // format correction on the detected plates: reads that fit a layout, and reads it changed
  const correction = { fitted: 0, changed: 0, changedRight: 0, rightAsRead: 0 };
  const byFormat: Record<string, { n: number; detected: number; exact: number }> = {};
  const bySize: Record<string, { n: number; detected: number; exact: number }> = {};
  const failures: { file: string; format: string; area: number; expected: string; got: string | null; raw?: string; score?: number }[] = [];
  const ocrMs: number[] = [];
  let next = 0;
  let done = 0;

  const sizeBucket = (a: number) => (a < 0.02 ? '1-2%' : a < 0.05 ? '2-5%' : a < 0.1 ? '5-10%' : '10-30%');

  async function worker(): Promise<void> {
    while (next < rows.length) {
      const row = rows[next++]!;
      const body = readFileSync(join(dir, row.file));
      const [det, read] = [await post(`${server.url}/v1/detect?confidence=0.001`, body), await post(`${server.url}/v1/read`, body)];
      const gts = row.plates.map((p) => toBox(p.box));
      nGt += gts.length;
      const low = det.detections.filter((d) => d.class === 'plate');
      const m = match(low, gts);
      low.forEach((d, i) => lowConf.push({ score: d.score, tp: m.tp[i]! }));
      const op = read.detections.filter((d) => d.class === 'plate');
      const mo = match(op, gts);
      if (read.timings.ocrMs !== undefined) ocrMs.push(read.timings.ocrMs);
      mo.tp.forEach((t) => (t ? tpOp++ : fpOp++));
      row.plates.forEach((p, k) => {
        const fmt = (byFormat[p.format] ??= { n: 0, detected: 0, exact: 0 });
        const sz = (bySize[sizeBucket(p.area)] ??= { n: 0, detected: 0, exact: 0 });
        fmt.n++; sz.n++;
        const i = mo.gtOf.indexOf(k);
        if (i < 0) {
          failures.push({ file: row.file, format: p.format, area: p.area, expected: p.text, got: null });
          return;
        }
        detectedGt++; fmt.detected++; sz.detected++;
        const d = op[i]!;
        const asRead = normalizeText(d.rawText ?? '', rule.normalize);
        if (d.textFormat !== undefined) correction.fitted++;
        if (asRead === p.text) correction.rightAsRead++;
        if (d.text !== asRead) {
          correction.changed++;
          if (d.text === p.text) correction.changedRight++;
        }
        if (d.text === p.text) {
          exact++; ocrOnDetected++; fmt.exact++; sz.exact++;
        } else {
          failures.push({ file: row.file, format: p.format, area: p.area, expected: p.text, got: d.text ?? '', raw: d.rawText ?? '', score: d.score });
        }
      });
      if (++done % 50 === 0) console.log(`  ${done}/${rows.length}`);
    }
  }
  let ocrJobs = 0;
  try {
    await Promise.all(Array.from({ length: Number(values.concurrency) }, () => worker()));
    ocrJobs = server.service.ocrJobs;
  } finally {
    await server.shutdown();
  }

  const precision = tpOp / Math.max(1, tpOp + fpOp);
  const recall = detectedGt / Math.max(1, nGt);
  const mAP50 = averagePrecision(lowConf, nGt);
  const exactMatch = exact / Math.max(1, nGt);
  const ocrAccuracy = ocrOnDetected / Math.max(1, detectedGt);
  const med = (a: number[]) => (a.length ? [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]! : NaN);
  const report = {
    model: resolve(values.model), reader: reader ?? null, set: { dir, seed, images: rows.length, plates: nGt },
    operatingConfidence: conf, precision, recall, mAP50, exactMatch, ocrAccuracyOnDetected: ocrAccuracy,
    formats: 'formats' in rule ? rule.formats : null, correction,
    targets: { recall: RECALL_TARGET, exactMatch: EXACT_TARGET, met: recall >= RECALL_TARGET && exactMatch >= EXACT_TARGET },
    byFormat, bySize, medianOcrMsPerImage: med(ocrMs), ocrJobsPerPlateRead: ocrJobs / Math.max(1, tpOp + fpOp),
    seconds: Math.round((Date.now() - t0) / 1000),
    failures,
  };
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(values.out, JSON.stringify(report, null, 1));

  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  console.log(`\nheld-out set: seed ${seed}, ${rows.length} images, ${nGt} plates`);
  console.log(`detector @conf ${conf}, IoU 0.5:  precision ${precision.toFixed(4)}  recall ${recall.toFixed(4)}  mAP50 ${mAP50.toFixed(4)}`);
  console.log(`end to end exact match: ${pct(exactMatch)} (${exact}/${nGt}); OCR accuracy on detected plates ${pct(ocrAccuracy)}`);
  if ('formats' in rule) {
    console.log(`format correction: ${correction.fitted}/${detectedGt} detected plates fit a layout; ${correction.changed} reads changed, ` +
      `${correction.changedRight} of them to the right text; ${correction.rightAsRead} were right as read`);
  }
  for (const [name, t] of [['format', byFormat], ['size (area)', bySize]] as const) {
    console.log(`by ${name}: ` + Object.entries(t).sort().map(([k, v]) => `${k} det ${pct(v.detected / v.n)} exact ${pct(v.exact / v.n)} (n=${v.n})`).join('; '));
  }
  const shown = failures.slice(0, Number(values.failures));
  if (shown.length) {
    console.log(`failures (${failures.length}, first ${shown.length}):`);
    for (const f of shown) console.log(`  ${f.file} ${f.format} area ${(100 * f.area).toFixed(1)}%: expected ${f.expected}, got ${f.got === null ? '(no box)' : JSON.stringify(f.got)}${f.raw !== undefined ? ` raw ${JSON.stringify(f.raw)}` : ''}`);
  }
  console.log(`OCR: median ${report.medianOcrMsPerImage.toFixed(0)} ms per image, ${report.ocrJobsPerPlateRead.toFixed(2)} tesseract jobs per plate box read`);
  console.log(`targets (recall >= ${RECALL_TARGET}, exact match >= ${pct(EXACT_TARGET)}): ${report.targets.met ? 'met' : 'NOT met'}; report ${values.out}; ${report.seconds}s`);
  if (values.check && !report.targets.met) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(2);
});
