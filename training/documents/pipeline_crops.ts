/**
 * The MRZ reader's inputs as the server itself builds them, labelled with the photos' true lines,
 * for training the reader on what it will be given (recognizer.py --pipeline-photos runs this).
 *
 * recognizer.py cuts its training lines from the true zones of a rectified photo. The server reads
 * lines it located itself (mrz-locate.ts), warped by their measured perspective, in two or three
 * views, cut to a shared stretch: a different hand of crops. On held-out photos the reader misread
 * clear letters in those crops (a D read Q at 0.32 against D at 0.18) that it reads in its own.
 *
 *   npx tsx training/documents/pipeline_crops.ts --split DIR --from 0 --to 900 --out PREFIX
 *     [--per-photo 8] [--detector F.onnx] [--mrz-reader F.onnx]
 *
 * Writes PREFIX.u8 (n x height x width bytes: 128 + 32 x the standardised input, clipped) and
 * PREFIX.json (the size, each line's text and photo, counts). A view is kept when it holds as many
 * lines as the document's MRZ and each greedy read is within a fifth of its true line's length in
 * edits: the right lines in the right order, however badly read. At most --per-photo views a photo
 * (a hard photo is read in up to 72 views; most of them alike), chosen by a seeded shuffle.
 *
 * The recording wraps LineReader.run here, in the tool, so that the server has no path that
 * writes out what a document says.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../inference-server/config/load.js';
import { startServer } from '../../inference-server/server.js';
import { LineReader } from '../../inference-server/documents/line-reader.js';
import { bestText, ctcGreedy } from '../../inference-server/ocr/ctc.js';

const { values: a } = parseArgs({
  options: {
    split: { type: 'string' }, from: { type: 'string', default: '0' }, to: { type: 'string' }, out: { type: 'string' },
    'per-photo': { type: 'string', default: '8' }, detector: { type: 'string' }, 'mrz-reader': { type: 'string' },
  },
});
if (!a.split || !a.to || !a.out) throw new Error('usage: --split DIR --from A --to B --out PREFIX');
const root = join(import.meta.dirname, '..', '..');
const perPhoto = Number(a['per-photo']);
const rows = readFileSync(join(a.split, 'documents.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { file: string; mrz: string[] });

function editDistance(x: string, y: string): number {
  let d = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const next = [i];
    for (let j = 1; j <= y.length; j++) next[j] = Math.min(d[j]! + 1, next[j - 1]! + 1, d[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    d = next;
  }
  return d[y.length]!;
}

/** mulberry32: a seeded shuffle that gives the same views on every machine */
function shuffled<T>(xs: T[], seed: number): T[] {
  let s = seed >>> 0;
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** the stored byte of a standardised input value v: OFFSET + SCALE * v, clipped (about -4..4 kept) */
const OFFSET = 128;
const SCALE = 32;

interface View { inputs: Uint8Array[]; reads: string[] }
let views: View[] = [];
let size = { height: 0, width: 0 };
const run = LineReader.prototype.run;
LineReader.prototype.run = async function (inputs) {
  const out = await run.call(this, inputs);
  if (this.spec.task !== 'mrz') return out;
  size = { height: this.spec.height, width: this.spec.width };
  views.push({
    inputs: inputs.map((x) => Uint8Array.from(x, (v) => Math.max(0, Math.min(255, Math.round(OFFSET + SCALE * v))))),
    reads: out.map((p) => bestText(ctcGreedy(p.probs, p.steps, p.classes, this.spec.alphabet, this.spec.blank))),
  });
  return out;
};

const config = loadConfig({
  env: {}, file: join(root, 'examples', 'server', 'id-document.yaml'),
  overrides: {
    server: { host: '127.0.0.1', port: 0 }, logging: { level: 'warn' },
    ...(a.detector ? { model: { path: a.detector, version: 'pipeline-crops' } } : {}),
    ...(a['mrz-reader'] ? { documents: { mrzReader: a['mrz-reader'] } } : {}),
  },
});
const server = await startServer(config);
const kept: { input: Uint8Array; text: string; photo: number }[] = [];
const counts = { photos: 0, views: 0, wrongLineCount: 0, farFromTruth: 0, keptViews: 0, keptLines: 0, misreadLines: 0 };
const t0 = Date.now();
try {
  for (let i = Number(a.from); i < Math.min(Number(a.to), rows.length); i++) {
    const row = rows[i]!;
    views = [];
    const res = await fetch(`${server.url}/v1/read`, { method: 'POST', body: readFileSync(join(a.split, row.file)), headers: { 'Content-Type': 'image/jpeg' } });
    await res.arrayBuffer();
    counts.photos++;
    counts.views += views.length;
    const good: View[] = [];
    for (const v of views) {
      if (v.inputs.length !== row.mrz.length) counts.wrongLineCount++;
      else if (v.reads.some((r, k) => editDistance(r, row.mrz[k]!) > 0.2 * row.mrz[k]!.length)) counts.farFromTruth++;
      else good.push(v);
    }
    for (const v of shuffled(good, i).slice(0, perPhoto)) {
      counts.keptViews++;
      v.inputs.forEach((input, k) => {
        kept.push({ input, text: row.mrz[k]!, photo: i });
        counts.keptLines++;
        if (v.reads[k] !== row.mrz[k]) counts.misreadLines++;
      });
    }
    if (counts.photos % 100 === 0) console.log(`${counts.photos} photos in ${Math.round((Date.now() - t0) / 1000)} s: ${counts.keptLines} lines`);
  }
} finally {
  await server.shutdown();
}
writeFileSync(`${a.out}.u8`, Buffer.concat(kept.map((k) => k.input)));
writeFileSync(`${a.out}.json`, JSON.stringify({ ...size, scale: SCALE, offset: OFFSET, counts, lines: kept.map((k) => ({ text: k.text, photo: k.photo })) }));
console.log(JSON.stringify(counts));
