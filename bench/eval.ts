/**
 * Held-out evaluation of the bundled plate detector and plate reader, end to end through the real
 * inference server.
 *
 *   npm run eval -- [--model models/plate-detector.onnx] [--reader models/plate-reader.onnx]
 *                   [--n 400] [--seed 3] [--set DIR] [--countries FR,DE] [--tesseract-only]
 *                   [--concurrency 2] [--tiles 2] [--overlap 0.25] [--views 1-4] [--out reports/eval.json] [--check]
 *
 * 1. The set: the synthetic held-out set of `--seed` (generated with training/synth.py; training
 *    uses seed 1, validation 2, so 3 is never seen), or `--set DIR`, any set in synth.py's layout
 *    (plates.jsonl + images/), e.g. licensed real photos. Needs Python with numpy, opencv and
 *    pillow for the synthetic one: $PYTHON, else .venv/bin/python, else python3.
 * 2. Starts the server in-process (loadConfig + startServer) with the OCR rule of `npm start`: class
 *    plate read by the plate reader, every box of an image in one batch, no layouts, no tesseract;
 *    `--countries` opts into those countries' layouts (contract/plate-layouts.ts);
 *    `--tesseract-only` reads with tesseract instead (PSM 7, A-Z0-9).
 * 3. POSTs every image to /v1/detect at confidence 0.001 (mAP50) and to /v1/read at the server's
 *    default thresholds.
 * 4. Reports, overall, per plate system and per size bucket (plate area / image area): detector
 *    precision and recall at IoU 0.5, end-to-end exact match (a plate counts when a returned box
 *    overlaps it at IoU >= 0.5 and its text equals the plate's), and the confidence calibration:
 *    accuracy of the reads by textConfidence bin, and of the reads scored >= 0.9 (target: right
 *    >= 95 % of the time). --check exits 1 when exact match < 95 % or the >= 0.9 reads are right
 *    < 95 % of the time.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { layoutsFor, PLATE_COUNTRIES, type PlateCountry } from '../contract/plate-layouts.js';
import { loadConfig } from '../inference-server/config/load.js';
import { startServer } from '../inference-server/server.js';
import { plateOcr } from '../inference-server/ocr/plate-rule.js';
import { projectRoot } from '../inference-server/project-root.js';
import { match, plateSet, SIZE_BUCKETS, sizeBucket, toBox, type Detection } from './heldout.js';

const root = projectRoot();
const { values } = parseArgs({
  options: {
    model: { type: 'string', default: join(root, 'models', 'plate-detector.onnx') },
    reader: { type: 'string', default: join(root, 'models', 'plate-reader.onnx') },
    n: { type: 'string', default: '400' },
    seed: { type: 'string', default: '3' },
    set: { type: 'string' },
    countries: { type: 'string' },
    'tesseract-only': { type: 'boolean', default: false },
    concurrency: { type: 'string', default: '2' },
    out: { type: 'string', default: join(root, 'reports', 'eval.json') },
    check: { type: 'boolean', default: false },
    failures: { type: 'string', default: '25' },
    tiles: { type: 'string', default: '1' },
    overlap: { type: 'string' },
    // crops read per box (ocr.classes.plate.recognizer.views); unset: the server's default
    views: { type: 'string' },
  },
});
const EXACT_TARGET = 0.95;
const CONFIDENT = 0.9;
const CONFIDENT_TARGET = 0.95;
const CONF_BINS = [0, 0.5, 0.7, 0.9, 0.95, 1.0001];

interface Tally {
  plates: number;
  detected: number;
  exact: number;
  tp: number;
  fp: number;
}
const tally = (): Tally => ({ plates: 0, detected: 0, exact: 0, tp: 0, fp: 0 });

async function post(url: string, body: Buffer): Promise<{ detections: Detection[]; timings: Record<string, number> }> {
  const res = await fetch(url, { method: 'POST', body, headers: { 'Content-Type': 'image/jpeg' } });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as { detections: Detection[]; timings: Record<string, number> };
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
    if (d.tp) tp++;
    else fp++;
    rec.push(tp / nGt);
    prec.push(tp / (tp + fp));
  }
  rec.push(Math.min(1, rec[rec.length - 1]! + 0.01));
  prec.push(0);
  for (let i = prec.length - 2; i >= 0; i--) prec[i] = Math.max(prec[i]!, prec[i + 1]!);
  let ap = 0;
  for (let i = 1; i < rec.length; i++) ap += (rec[i]! - rec[i - 1]!) * prec[i]!;
  return ap;
}

function parseCountries(list: string | undefined): PlateCountry[] {
  if (!list) return [];
  return list.split(',').map((c) => {
    const code = c.trim().toUpperCase();
    if (!(PLATE_COUNTRIES as string[]).includes(code)) throw new Error(`--countries: ${code} is not one of ${PLATE_COUNTRIES.join(', ')}`);
    return code as PlateCountry;
  });
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const seed = Number(values.seed);
  const { dir, rows } = plateSet({ ...(values.set ? { dir: values.set } : {}), seed, n: Number(values.n) });
  const reader = values['tesseract-only'] || !existsSync(values.reader) ? undefined : resolve(values.reader);
  const formats = layoutsFor(parseCountries(values.countries));
  const base = plateOcr(reader);
  const recognizer = base.recognizer && values.views ? { ...base.recognizer, views: Number(values.views) } : base.recognizer;
  const rule = { ...base, ...(recognizer ? { recognizer } : {}), ...(formats.length ? { formats, retry: true } : {}) };
  const config = loadConfig({
    env: {},
    defaults: {
      server: { host: '127.0.0.1', port: 0 },
      model: {
        path: resolve(values.model), name: 'plate-detector', version: 'eval',
        tiles: { grid: Number(values.tiles), ...(values.overlap ? { overlap: Number(values.overlap) } : {}) },
      },
      ocr: { classes: { plate: rule } },
      logging: { level: 'warn' },
    },
  });
  const server = await startServer(config);
  const conf = config.model.thresholds.confidence;
  const tiles = config.model.tiles;
  console.log(`server ${server.url}, detector ${values.model}${tiles.grid > 1 ? ` + ${tiles.grid}x${tiles.grid} tiles (overlap ${tiles.overlap})` : ''}, reader ${reader ?? '(tesseract only)'}, layouts ${values.countries ?? 'none'}, ${rows.length} images`);

  const lowConf: { score: number; tp: boolean }[] = [];
  const all = tally();
  const bySystem: Record<string, Tally> = {};
  const bySize: Record<string, Tally> = Object.fromEntries(SIZE_BUCKETS.map((b) => [b.name, tally()]));
  const byLines: Record<string, Tally> = {};
  const calib = CONF_BINS.slice(0, -1).map((lo, i) => ({ lo, hi: Math.min(1, CONF_BINS[i + 1]!), n: 0, right: 0 }));
  let uncertain = 0;
  let read = 0;
  const failures: { file: string; system: string; area: number; expected: string; got: string | null; confidence?: number }[] = [];
  const ocrMs: number[] = [];
  const detectMs: number[] = [];
  let next = 0;
  let done = 0;

  async function worker(): Promise<void> {
    while (next < rows.length) {
      const row = rows[next++]!;
      const body = readFileSync(join(dir, row.file));
      const det = await post(`${server.url}/v1/detect?confidence=0.001`, body);
      const res = await post(`${server.url}/v1/read`, body);
      const gts = row.plates.map((p) => toBox(p.box));
      const low = det.detections.filter((d) => d.class === 'plate');
      match(low, gts).tp.forEach((tp, i) => lowConf.push({ score: low[i]!.score, tp }));
      const op = res.detections.filter((d) => d.class === 'plate');
      const mo = match(op, gts);
      if (res.timings.ocrMs !== undefined) ocrMs.push(res.timings.ocrMs);
      detectMs.push((res.timings.letterboxMs ?? 0) + (res.timings.inferenceMs ?? 0) + (res.timings.postprocessMs ?? 0));
      op.forEach((d, i) => {
        const area = ((d.box.x2 - d.box.x1) * (d.box.y2 - d.box.y1)) / (row.width * row.height);
        const t = mo.tp[i] ? 'tp' : 'fp';
        all[t]++;
        bySize[sizeBucket(area)]![t]++;
        if (mo.tp[i]) {
          const p = row.plates[mo.gtOf[i]!]!;
          (bySystem[p.system] ??= tally()).tp++;
          (byLines[`${p.lines}-line`] ??= tally()).tp++;
        }
      });
      row.plates.forEach((p, k) => {
        const tallies = [all, (bySystem[p.system] ??= tally()), bySize[sizeBucket(p.area)]!, (byLines[`${p.lines}-line`] ??= tally())];
        for (const t of tallies) t.plates++;
        const i = mo.gtOf.indexOf(k);
        if (i < 0) {
          failures.push({ file: row.file, system: p.system, area: p.area, expected: p.text, got: null });
          return;
        }
        for (const t of tallies) t.detected++;
        const d = op[i]!;
        const right = d.text === p.text;
        if (right) for (const t of tallies) t.exact++;
        else failures.push({ file: row.file, system: p.system, area: p.area, expected: p.text, got: d.text ?? '', confidence: d.textConfidence ?? 0 });
        read++;
        if (d.textUncertain) uncertain++;
        const c = d.textConfidence ?? 0;
        const bin = calib.find((b) => c >= b.lo && c < b.hi) ?? calib[calib.length - 1]!;
        bin.n++;
        if (right) bin.right++;
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

  const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)} %` : '-');
  // A false box has no plate system or line count: precision is only defined overall and per size.
  const summarize = (t: Tally, withPrecision = true) => ({
    plates: t.plates,
    precision: withPrecision ? t.tp / Math.max(1, t.tp + t.fp) : NaN,
    recall: t.detected / Math.max(1, t.plates),
    exactMatch: t.exact / Math.max(1, t.plates),
    ocrOnDetected: t.exact / Math.max(1, t.detected),
  });
  const confident = calib.filter((b) => b.lo >= CONFIDENT);
  const confidentN = confident.reduce((a, b) => a + b.n, 0);
  // no read scored >= 0.9: nothing claimed, nothing wrong (NaN: reported as '-', the target holds vacuously)
  const confidentRight = confidentN > 0 ? confident.reduce((a, b) => a + b.right, 0) / confidentN : NaN;
  const med = (a: number[]) => (a.length ? [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]! : NaN);
  const overall = summarize(all);
  const report = {
    detector: resolve(values.model),
    reader: reader ?? null,
    readerViews: config.ocr.classes.plate?.recognizer?.views ?? null,
    layouts: values.countries ?? null,
    set: { dir, seed: values.set ? null : seed, images: rows.length, plates: all.plates },
    operatingConfidence: conf,
    ...overall,
    mAP50: averagePrecision(lowConf, all.plates),
    calibration: {
      bins: calib.map((b) => ({ range: `${b.lo}-${b.hi}`, reads: b.n, right: b.n ? b.right / b.n : null })),
      confidentShare: confidentN / Math.max(1, read),
      confidentRight,
      uncertainShare: uncertain / Math.max(1, read),
    },
    targets: {
      exactMatch: EXACT_TARGET,
      confidentRight: CONFIDENT_TARGET,
      met: overall.exactMatch >= EXACT_TARGET && (confidentN === 0 || confidentRight >= CONFIDENT_TARGET),
    },
    bySystem: Object.fromEntries(Object.entries(bySystem).sort().map(([k, t]) => [k, summarize(t, false)])),
    bySize: Object.fromEntries(Object.entries(bySize).map(([k, t]) => [k, summarize(t)])),
    byLines: Object.fromEntries(Object.entries(byLines).sort().map(([k, t]) => [k, summarize(t, false)])),
    medianOcrMsPerImage: med(ocrMs),
    medianDetectionMsPerImage: med(detectMs),
    tiles,
    tesseractJobs: ocrJobs,
    seconds: Math.round((Date.now() - t0) / 1000),
    failures,
  };
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(values.out, JSON.stringify(report, null, 1));

  console.log(`\nset ${values.set ?? `synthetic seed ${seed}`}: ${rows.length} images, ${all.plates} plates`);
  console.log(`detector @conf ${conf}, IoU 0.5: precision ${overall.precision.toFixed(4)} recall ${overall.recall.toFixed(4)} mAP50 ${report.mAP50.toFixed(4)}`);
  console.log(`end to end exact match: ${pct(overall.exactMatch)} (${all.exact}/${all.plates}); reader on detected plates ${pct(overall.ocrOnDetected)}`);
  const table = (name: string, t: Record<string, ReturnType<typeof summarize>>) => {
    console.log(`\n| ${name} | plates | precision | recall | exact | exact of detected |\n|---|---|---|---|---|---|`);
    for (const [k, v] of Object.entries(t)) console.log(`| ${k} | ${v.plates} | ${pct(v.precision)} | ${pct(v.recall)} | ${pct(v.exactMatch)} | ${pct(v.ocrOnDetected)} |`);
  };
  table('system', report.bySystem);
  table('size (plate/image area)', report.bySize);
  table('lines', report.byLines);
  console.log('\n| textConfidence | reads | right |\n|---|---|---|');
  for (const b of report.calibration.bins) console.log(`| ${b.range} | ${b.reads} | ${b.right === null ? '-' : pct(b.right)} |`);
  console.log(`reads scored >= ${CONFIDENT}: ${pct(report.calibration.confidentShare)} of the reads (${confidentN}), right ${pct(confidentRight)} (target >= ${pct(CONFIDENT_TARGET)}); flagged textUncertain: ${pct(report.calibration.uncertainShare)}`);
  const shown = failures.slice(0, Number(values.failures));
  if (shown.length) {
    console.log(`\nfailures (${failures.length}, first ${shown.length}):`);
    for (const f of shown) {
      console.log(`  ${f.file} ${f.system} area ${(100 * f.area).toFixed(2)}%: expected ${f.expected}, got ${f.got === null ? '(no box)' : `${JSON.stringify(f.got)} (${f.confidence?.toFixed(2)})`}`);
    }
  }
  console.log(`\nOCR: median ${report.medianOcrMsPerImage.toFixed(1)} ms per image, ${ocrJobs} tesseract jobs; detection: median ${report.medianDetectionMsPerImage.toFixed(1)} ms per image`);
  console.log(`targets (exact >= ${pct(EXACT_TARGET)}, reads >= ${CONFIDENT} right >= ${pct(CONFIDENT_TARGET)}): ${report.targets.met ? 'met' : 'NOT met'}; report ${values.out}; ${report.seconds}s`);
  if (values.check && !report.targets.met) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(2);
});
