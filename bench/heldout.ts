/**
 * The project's held-out plate sets and how reads are scored against them: shared by `npm run eval`
 * and `npm run bench:server` (which scores the seed's stack on the same images).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../inference-server/project-root.js';

const root = projectRoot();

export interface Plate {
  text: string;
  system: string;
  lines: number;
  font: string;
  box: [number, number, number, number];
  area: number;
}
export interface Row {
  file: string;
  width: number;
  height: number;
  plates: Plate[];
}
export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}
export interface Detection {
  class: string;
  score: number;
  box: Box;
  text?: string;
  rawText?: string;
  textConfidence?: number;
  textUncertain?: boolean;
  textFormat?: string;
}

/** Python with numpy, opencv and pillow for training/synth.py: $PYTHON, else .venv/bin/python, else python3. */
export function python(): string {
  if (process.env.PYTHON) return process.env.PYTHON;
  const venv = join(root, '.venv', 'bin', 'python');
  return existsSync(venv) ? venv : 'python3';
}

/**
 * A plate set: `dir` with plates.jsonl (training/synth.py's layout; a real set in the same layout
 * works too), or the synthetic held-out set of `seed`, generated when missing.
 */
export function plateSet(opts: { dir?: string; seed: number; n: number }): { dir: string; rows: Row[] } {
  let dir = opts.dir;
  if (!dir) {
    dir = join(root, 'training', 'data', `eval-s${opts.seed}-n${opts.n}`);
    if (opts.seed === 1 || opts.seed === 2) console.warn(`warning: seed ${opts.seed} is a training/validation seed, not held out`);
    const r = spawnSync(python(), [join(root, 'training', 'synth.py'), '--out', dir, '--n', String(opts.n), '--seed', String(opts.seed),
      '--font-cache', join(root, 'training', 'data', 'fonts')], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`training/synth.py failed (${r.status ?? r.signal}); is ${python()} set up? see training/README.md`);
  }
  const rows = readFileSync(join(dir, 'plates.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Row);
  for (const r of rows) for (const p of r.plates) p.system ??= (p as unknown as { format?: string }).format ?? 'unknown';
  return { dir, rows };
}

export function iou(a: Box, b: Box): number {
  const w = Math.max(0, Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1));
  const h = Math.max(0, Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1));
  const inter = w * h;
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return union > 0 ? inter / union : 0;
}

export const toBox = (b: [number, number, number, number]): Box => ({ x1: b[0], y1: b[1], x2: b[2], y2: b[3] });

/** Greedy matching in descending score: each detection takes the unmatched ground truth it overlaps most (IoU >= thr). */
export function match(dets: { score: number; box: Box }[], gts: Box[], thr = 0.5): { tp: boolean[]; gtOf: number[] } {
  const order = dets.map((_, i) => i).sort((i, j) => dets[j]!.score - dets[i]!.score);
  const used = new Array<boolean>(gts.length).fill(false);
  const tp = new Array<boolean>(dets.length).fill(false);
  const gtOf = new Array<number>(dets.length).fill(-1);
  for (const i of order) {
    let best = -1;
    let bestIou = thr;
    gts.forEach((g, k) => {
      const v = iou(dets[i]!.box, g);
      if (!used[k] && v >= bestIou) {
        best = k;
        bestIou = v;
      }
    });
    if (best >= 0) {
      used[best] = true;
      tp[i] = true;
      gtOf[i] = best;
    }
  }
  return { tp, gtOf };
}

/** Plate size buckets, by share of the image's area. */
export const SIZE_BUCKETS = [
  { name: '<0.3%', max: 0.003 },
  { name: '0.3-1%', max: 0.01 },
  { name: '1-3%', max: 0.03 },
  { name: '3-10%', max: 0.1 },
  { name: '10-30%+', max: Infinity },
] as const;

export function sizeBucket(area: number): string {
  return SIZE_BUCKETS.find((b) => area < b.max)!.name;
}

/** Exact matches of one image's reads: ground-truth plates whose matched box (IoU >= 0.5) reads their text. */
export function exactReads(dets: Detection[], plates: Plate[]): { exact: number; detected: number } {
  const m = match(dets, plates.map((p) => toBox(p.box)));
  let exact = 0;
  let detected = 0;
  m.gtOf.forEach((k, i) => {
    if (k < 0) return;
    detected++;
    if (dets[i]!.text === plates[k]!.text) exact++;
  });
  return { exact, detected };
}
