/**
 * Held-out evaluation of the ID-document pipeline, end to end through the real inference server,
 * side by side with a peer: PassportEye (PyPI `passporteye`, tesseract-based MRZ reader).
 *
 *   npm run eval:documents -- [--n 300] [--seed 3] [--peer-n 300] [--no-peer] [--concurrency 1]
 *                             [--out reports/eval-documents.json] [--check]
 *                             [--detector models/document-detector.onnx] [--mrz-reader models/mrz-reader.onnx]
 *                             [--field-reader PATH|none]
 *
 * 1. Generates (or reuses) the held-out photos with training/documents/generate.py and a seed the
 *    training never saw (train 1, validation 2, evaluation 3). Needs Python with numpy, opencv and
 *    pillow: $PYTHON, else .venv/bin/python, else python3 (see training/README.md).
 * 2. Starts the server in-process with examples/server/id-document.yaml's pipeline (the bundled
 *    detector and readers, or the candidates given; `--field-reader none` reads the MRZ alone) and
 *    POSTs every photo to /v1/read.
 * 3. Per photo, the most confident document against the truth: found, type, MRZ valid (every check
 *    digit), each of the eight fields exact, all of them exact; the visual zone's texts as read;
 *    false mismatches (the synthetic zones always agree, so any mismatch is a misread); server time
 *    and process CPU per document.
 * 4. The peer on the same photos (its own venv under .cache/venvs, Debian's tesseract-ocr needed:
 *    apt-get install tesseract-ocr): MRZ fully valid, the same fields from its MRZ (same century
 *    rule), CPU per document including its tesseract subprocesses.
 * --check exits 1 when "MRZ valid and every field exact" is under 95 %.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../inference-server/config/load.js';
import { startServer } from '../inference-server/server.js';
import { mrzDate } from '../inference-server/documents/mrz.js';
import { projectRoot } from '../inference-server/project-root.js';
import { pythonTool } from '../test/delivery/python-tools.js';

const root = projectRoot();
const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '300' },
    seed: { type: 'string', default: '3' },
    'peer-n': { type: 'string' },
    'no-peer': { type: 'boolean', default: false },
    concurrency: { type: 'string', default: '1' },
    out: { type: 'string', default: join(root, 'reports', 'eval-documents.json') },
    check: { type: 'boolean', default: false },
    failures: { type: 'string', default: '15' },
    detector: { type: 'string', default: join(root, 'models', 'document-detector.onnx') },
    'mrz-reader': { type: 'string', default: join(root, 'models', 'mrz-reader.onnx') },
    // a path, or none; unset: the example's (examples/server/id-document.yaml)
    'field-reader': { type: 'string' },
  },
});
const n = Number(values.n);
const models = { detector: resolve(values.detector!), mrzReader: resolve(values['mrz-reader']!) };
const seed = Number(values.seed);
const TARGET = 0.95;
const FIELDS = ['documentNumber', 'surname', 'givenNames', 'nationality', 'birthDate', 'sex', 'expiryDate', 'issuingState'] as const;
type Field = (typeof FIELDS)[number];
const VIZ_KEYS: Record<string, Field> = { number: 'documentNumber', surname: 'surname', given: 'givenNames', nationality: 'nationality', birth: 'birthDate', sex: 'sex', expiry: 'expiryDate', state: 'issuingState' };

interface Row { file: string; type: string; layout: string; pxPerMm: number; fields: Record<Field, string>; viz: Record<string, string>; mrz: string[] }
interface DocOut { type: string; fields: Record<Field, string | null>; mrz: { lines: string[]; valid: boolean; corrected: number } | null; viz: Partial<Record<Field, string>>; mismatches: { field: Field; mrz: string; viz: string }[] }

function python(): string {
  if (process.env.PYTHON) return process.env.PYTHON;
  const venv = join(root, '.venv', 'bin', 'python');
  return existsSync(venv) ? venv : 'python3';
}

function heldOutSet(): { dir: string; rows: Row[] } {
  const dir = join(root, 'training', 'data', 'documents', `eval-s${seed}-n${n}`);
  if (seed === 1 || seed === 2) console.warn(`warning: seed ${seed} is a training/validation seed, not held out`);
  const r = spawnSync(python(), [join(root, 'training', 'documents', 'generate.py'), '--out', dir, '--n', String(n), '--seed', String(seed),
    '--font-cache', join(root, 'training', 'data', 'documents', 'fonts')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`training/documents/generate.py failed (${r.status ?? r.signal}); is ${python()} set up? see training/README.md`);
  return { dir, rows: readFileSync(join(dir, 'documents.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Row) };
}

const FIELD_READER = values['field-reader'];
const PEER = 'passporteye==2.2.2';
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const med = (a: number[]) => (a.length ? [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]! : NaN);

async function ours(dir: string, rows: Row[]) {
  const config = loadConfig({
    env: {},
    file: join(root, 'examples', 'server', 'id-document.yaml'),
    overrides: {
      server: { host: '127.0.0.1', port: 0 },
      model: { path: models.detector, version: 'eval' },
      documents: { mrzReader: models.mrzReader, ...(FIELD_READER && FIELD_READER !== 'none' ? { fieldReader: resolve(FIELD_READER) } : {}) },
      logging: { level: 'warn' },
    },
  });
  if (FIELD_READER === 'none' && config.documents) delete config.documents.fieldReader;
  const server = await startServer(config);
  const results: { row: Row; doc?: DocOut; totalMs: number; documentsMs: number }[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  let next = 0;
  try {
    await Promise.all(Array.from({ length: Number(values.concurrency) }, async () => {
      while (next < rows.length) {
        const row = rows[next++]!;
        const res = await fetch(`${server.url}/v1/read`, { method: 'POST', body: readFileSync(join(dir, row.file)), headers: { 'Content-Type': 'image/jpeg' } });
        if (!res.ok) throw new Error(`${row.file}: HTTP ${res.status} ${await res.text()}`);
        const body = (await res.json()) as { documents?: DocOut[]; timings: Record<string, number> };
        results.push({ row, ...(body.documents?.[0] ? { doc: body.documents[0] } : {}), totalMs: body.timings.totalMs!, documentsMs: body.timings.documentsMs ?? 0 });
        if (results.length % 50 === 0) console.log(`  ${results.length}/${rows.length}`);
      }
    }));
  } finally {
    await server.shutdown();
  }
  const cpu = process.cpuUsage(cpu0);
  return { results, cpuMsPerDoc: (cpu.user + cpu.system) / 1000 / rows.length, wallS: (Date.now() - t0) / 1000, fieldReader: config.documents?.fieldReader ?? null };
}

/** PassportEye's MRZ dict in the server's field form (fillers stripped, ISO dates with the same century rule). */
function peerFields(m: Record<string, unknown>): Record<Field, string | null> {
  const s = (k: string) => (typeof m[k] === 'string' ? (m[k] as string) : '');
  const strip = (v: string) => v.replace(/^<+|<+$/g, '');
  const words = (v: string) => v.split(/[<\s]+/).filter(Boolean).join(' ');
  const sex = s('sex');
  return {
    documentNumber: strip(s('number')) || null,
    surname: words(s('surname')) || null,
    givenNames: words(s('names')) || null,
    nationality: strip(s('nationality')) || null,
    birthDate: mrzDate(s('date_of_birth'), 'birth', new Date()),
    sex: sex === 'M' || sex === 'F' ? sex : sex === '<' || sex === 'X' ? 'X' : null,
    expiryDate: mrzDate(s('expiration_date'), 'expiry', new Date()),
    issuingState: strip(s('country')) || null,
  };
}

async function peer(dir: string, rows: Row[]) {
  const tesseract = spawnSync('tesseract', ['--version']);
  if (tesseract.status !== 0) {
    console.warn('peer skipped: no tesseract (Debian: apt-get install tesseract-ocr)');
    return undefined;
  }
  type PeerRead = { file: string; ms: number; cpuMs: number; mrz: Record<string, unknown> | null };
  // the peer's reads of a set are kept next to it: they do not change with our models, and take
  // minutes of tesseract (delete the file to measure again)
  const cache = join(dir, `peer-${PEER}.jsonl`);
  const files = rows.map((r) => join(dir, r.file));
  if (existsSync(cache)) {
    const kept = new Map(readFileSync(cache, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as PeerRead).map((r) => [r.file, r]));
    if (files.every((f) => kept.has(f))) {
      console.log(`  peer: ${files.length} reads from ${cache}`);
      return { out: files.map((f) => kept.get(f)!), wallS: 0 };
    }
  }
  const bin = await pythonTool({ name: 'passporteye', packages: [PEER] });
  const script = join(root, 'bench', 'peers', 'passporteye_mrz.py');
  const out: PeerRead[] = [];
  const t0 = Date.now();
  for (let at = 0; at < files.length; at += 50) {
    const chunk = files.slice(at, at + 50);
    const text = await new Promise<string>((resolvePromise, reject) => {
      const p = spawn(join(bin, 'python'), [script, ...chunk], { stdio: ['ignore', 'pipe', 'ignore'] });
      let buf = '';
      p.stdout.on('data', (d: Buffer) => (buf += d.toString()));
      p.on('error', reject);
      p.on('close', (code) => (code === 0 ? resolvePromise(buf) : reject(new Error(`passporteye exited ${code}`))));
    });
    out.push(...text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as (typeof out)[number]));
    console.log(`  peer ${out.length}/${files.length}`);
  }
  writeFileSync(cache, out.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return { out, wallS: (Date.now() - t0) / 1000 };
}

function score(rows: Row[], docs: ({ valid: boolean; fields: Record<Field, string | null> } | undefined)[]) {
  const perField = Object.fromEntries(FIELDS.map((f) => [f, 0])) as Record<Field, number>;
  let found = 0;
  let valid = 0;
  let allExact = 0;
  let validAndExact = 0;
  rows.forEach((row, i) => {
    const d = docs[i];
    if (!d) return;
    found++;
    if (d.valid) valid++;
    let all = true;
    for (const f of FIELDS) {
      if (d.fields[f] === row.fields[f]) perField[f]++;
      else all = false;
    }
    if (all) allExact++;
    if (all && d.valid) validAndExact++;
  });
  const k = rows.length;
  return {
    found: found / k, mrzValid: valid / k, everyFieldExact: allExact / k, mrzValidAndEveryFieldExact: validAndExact / k,
    fieldAccuracy: Object.fromEntries(FIELDS.map((f) => [f, perField[f] / k])) as Record<Field, number>,
  };
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const { dir, rows } = heldOutSet();
  console.log(`held-out set: ${rows.length} photos (seed ${seed}) in ${dir}`);
  const o = await ours(dir, rows);
  const byRow = new Map(o.results.map((r) => [r.row.file, r]));
  const docs = rows.map((r) => byRow.get(r.file)?.doc);
  const s = score(rows, docs.map((d) => (d ? { valid: d.mrz?.valid ?? false, fields: d.fields } : undefined)));
  // visual zone as read, against what was printed
  const viz = Object.fromEntries(Object.values(VIZ_KEYS).map((f) => [f, { n: 0, exact: 0 }])) as Record<Field, { n: number; exact: number }>;
  let falseMismatches = 0;
  const mismatchesByField: Partial<Record<Field, number>> = {};
  const mismatchSamples: unknown[] = [];
  const byType: Record<string, { n: number; ok: number }> = {};
  const byLayout: Record<string, { n: number; ok: number }> = {};
  const failures: unknown[] = [];
  rows.forEach((row, i) => {
    const d = docs[i];
    for (const [k, f] of Object.entries(VIZ_KEYS)) {
      if (row.viz[k] === undefined) continue;
      viz[f].n++;
      if (d?.viz[f] === row.viz[k]) viz[f].exact++;
    }
    if (d && d.mismatches.length) {
      falseMismatches++;
      for (const m of d.mismatches) {
        mismatchesByField[m.field] = (mismatchesByField[m.field] ?? 0) + 1;
        const printed = Object.entries(VIZ_KEYS).find(([, f]) => f === m.field)?.[0];
        if (mismatchSamples.length < 40) mismatchSamples.push({ file: row.file, layout: row.layout, ...m, read: d.viz[m.field], printed: printed ? row.viz[printed] : undefined });
      }
    }
    const ok = !!d && (d.mrz?.valid ?? false) && FIELDS.every((f) => d.fields[f] === row.fields[f]);
    for (const [t, key] of [[byType, row.type], [byLayout, row.layout]] as const) {
      const e = (t[key] ??= { n: 0, ok: 0 });
      e.n++;
      if (ok) e.ok++;
    }
    if (!ok) {
      failures.push({
        file: row.file, layout: row.layout, pxPerMm: row.pxPerMm, found: !!d, type: d?.type, mrzValid: d?.mrz?.valid ?? null, corrected: d?.mrz?.corrected,
        wrong: d ? FIELDS.filter((f) => d.fields[f] !== row.fields[f]).map((f) => ({ field: f, expected: row.fields[f], got: d.fields[f] })) : [],
        mrz: d?.mrz?.lines, truth: row.mrz,
      });
    }
  });
  const corrected = o.results.filter((r) => (r.doc?.mrz?.corrected ?? 0) > 0).length;
  // valid MRZs by how many characters the check-digit correction changed, and how many of them had a
  // wrong field: how far a correction can go before "valid" stops meaning right
  const validByCorrected: Record<number, { valid: number; wrong: number }> = {};
  for (const r of o.results) {
    if (!r.doc?.mrz?.valid) continue;
    const e = (validByCorrected[r.doc.mrz.corrected] ??= { valid: 0, wrong: 0 });
    e.valid++;
    if (!FIELDS.every((f) => r.doc!.fields[f] === r.row.fields[f])) e.wrong++;
  }
  let peerReport: Record<string, unknown> | undefined;
  if (!values['no-peer']) {
    const pn = Math.min(rows.length, Number(values['peer-n'] ?? rows.length));
    const sub = rows.slice(0, pn);
    const p = await peer(dir, sub);
    if (p) {
      const byFile = new Map(p.out.map((x) => [x.file, x]));
      const pd = sub.map((r) => {
        const m = byFile.get(join(dir, r.file))?.mrz;
        if (!m) return undefined;
        const valid = m.valid_number === true && m.valid_date_of_birth === true && m.valid_expiration_date === true && m.valid_composite === true &&
          (m.mrz_type !== 'TD3' || m.valid_personal_number === true);
        return { valid, fields: peerFields(m) };
      });
      const ourSub = score(sub, sub.map((r) => byRow.get(r.file)?.doc).map((d) => (d ? { valid: d.mrz?.valid ?? false, fields: d.fields } : undefined)));
      peerReport = {
        photos: pn, passporteye: { ...score(sub, pd), medianMsPerDoc: med(p.out.map((x) => x.ms)), cpuMsPerDoc: p.out.reduce((a, x) => a + x.cpuMs, 0) / pn },
        visionopsSameSubset: ourSub,
      };
    }
  }
  const report = {
    set: { dir, seed, photos: rows.length }, models: { ...models, fieldReader: o.fieldReader }, visionops: { ...s, vizExact: Object.fromEntries(Object.entries(viz).map(([f, v]) => [f, v.n ? v.exact / v.n : null])),
      photosWithFalseMismatches: falseMismatches / rows.length, mismatchesByField, mismatchSamples, photosCorrected: corrected / rows.length, validByCorrected,
      medianTotalMs: med(o.results.map((r) => r.totalMs)), maxTotalMs: Math.max(...o.results.map((r) => r.totalMs)), medianDocumentsMs: med(o.results.map((r) => r.documentsMs)), cpuMsPerDoc: o.cpuMsPerDoc,
      byType, byLayout },
    peer: peerReport ?? null,
    target: { mrzValidAndEveryFieldExact: TARGET, met: s.mrzValidAndEveryFieldExact >= TARGET },
    seconds: Math.round((Date.now() - t0) / 1000), failures,
  };
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(values.out, JSON.stringify(report, null, 1));

  console.log(`\nvisionops on ${rows.length} held-out photos: document found ${pct(s.found)}, MRZ valid ${pct(s.mrzValid)}, every field exact ${pct(s.everyFieldExact)}, ` +
    `MRZ valid and every field exact ${pct(s.mrzValidAndEveryFieldExact)} (target ${pct(TARGET)}: ${report.target.met ? 'met' : 'NOT met'})`);
  console.log(`  fields: ${FIELDS.map((f) => `${f} ${pct(s.fieldAccuracy[f])}`).join(', ')}`);
  console.log(`  visual zone read exactly: ${Object.entries(report.visionops.vizExact).map(([f, v]) => `${f} ${v === null ? '-' : pct(v)}`).join(', ')}`);
  console.log(`  corrected by check digits: ${pct(corrected / rows.length)} of photos; false mismatches on ${pct(falseMismatches / rows.length)}`);
  console.log(`  valid MRZs by characters corrected (valid/with a wrong field): ${Object.entries(validByCorrected).map(([k, v]) => `${k}: ${v.valid}/${v.wrong}`).join(', ')}`);
  console.log(`  by type: ${Object.entries(byType).sort().map(([k, v]) => `${k} ${pct(v.ok / v.n)} (n=${v.n})`).join('; ')}`);
  console.log(`  by layout: ${Object.entries(byLayout).sort().map(([k, v]) => `${k} ${pct(v.ok / v.n)}`).join('; ')}`);
  console.log(`  time per document: median ${report.visionops.medianTotalMs.toFixed(0)} ms in the server (documents stage ${report.visionops.medianDocumentsMs.toFixed(0)} ms), slowest photo ${report.visionops.maxTotalMs.toFixed(0)} ms, ` +
    `${o.cpuMsPerDoc.toFixed(0)} ms CPU (all threads of the process), concurrency ${values.concurrency}`);
  if (peerReport) {
    const pe = peerReport.passporteye as ReturnType<typeof score> & { medianMsPerDoc: number; cpuMsPerDoc: number };
    const us = peerReport.visionopsSameSubset as ReturnType<typeof score>;
    console.log(`\npeer comparison on ${String(peerReport.photos)} photos          visionops   passporteye 2.2.2`);
    console.log(`  MRZ found / read                          ${pct(us.found).padStart(9)}   ${pct(pe.found).padStart(9)}`);
    console.log(`  MRZ fully valid                           ${pct(us.mrzValid).padStart(9)}   ${pct(pe.mrzValid).padStart(9)}`);
    console.log(`  every field exact                         ${pct(us.everyFieldExact).padStart(9)}   ${pct(pe.everyFieldExact).padStart(9)}`);
    console.log(`  MRZ valid and every field exact           ${pct(us.mrzValidAndEveryFieldExact).padStart(9)}   ${pct(pe.mrzValidAndEveryFieldExact).padStart(9)}`);
    for (const f of FIELDS) console.log(`  ${f.padEnd(40)}  ${pct(us.fieldAccuracy[f]).padStart(9)}   ${pct(pe.fieldAccuracy[f]).padStart(9)}`);
    console.log(`  CPU per document                          ${`${o.cpuMsPerDoc.toFixed(0)} ms`.padStart(9)}   ${`${pe.cpuMsPerDoc.toFixed(0)} ms`.padStart(9)}`);
  }
  const shown = failures.slice(0, Number(values.failures));
  if (shown.length) {
    console.log(`\nfailures (${failures.length}, first ${shown.length}):`);
    for (const f of shown) console.log(`  ${JSON.stringify(f)}`);
  }
  console.log(`report ${resolve(values.out)}; ${report.seconds}s`);
  if (values.check && !report.target.met) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(2);
});

