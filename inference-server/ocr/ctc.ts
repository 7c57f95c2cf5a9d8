import type { ReadChar } from './formats.js';

/**
 * Greedy CTC decoding of a recognizer's per-column class probabilities ([T][C], softmax, `blank` the
 * CTC blank): the best class per column, repeats merged, blanks dropped. Each character keeps its
 * alternatives from the column where it was most certain, so the plate-format correction can pick a
 * second choice (a "0" read where the layout wants a letter may have "D" next).
 */
export function ctcGreedy(probs: Float32Array, steps: number, classes: number, alphabet: string, blank = 0, alternatives = 3): ReadChar[] {
  if (probs.length !== steps * classes) throw new Error(`expected ${steps}x${classes} probabilities, got ${probs.length}`);
  if (alphabet.length !== classes - 1) throw new Error(`alphabet of ${alphabet.length} characters for ${classes} classes (one is the blank)`);
  const charOf = (k: number) => alphabet[k < blank ? k : k - 1]!;
  const out: ReadChar[] = [];
  let prev = blank;
  let peak = -1; // column of the current character's highest probability
  const flush = () => {
    if (peak < 0) return;
    const row = probs.subarray(peak * classes, (peak + 1) * classes);
    const ranked = Array.from(row, (p, k) => ({ k, p }))
      .filter((e) => e.k !== blank)
      .sort((a, b) => b.p - a.p)
      .slice(0, alternatives);
    out.push({ choices: ranked.map((e) => ({ ch: charOf(e.k), conf: e.p })) });
    peak = -1;
  };
  for (let t = 0; t < steps; t++) {
    const row = probs.subarray(t * classes, (t + 1) * classes);
    let best = 0;
    for (let k = 1; k < classes; k++) if (row[k]! > row[best]!) best = k;
    if (best !== prev) flush();
    if (best !== blank && (peak < 0 || row[best]! > probs[peak * classes + best]!)) peak = t;
    prev = best;
  }
  flush();
  return out;
}

/** A read's text: each character's first choice. */
export function bestText(read: ReadChar[]): string {
  return read.map((c) => c.choices[0]!.ch).join('');
}

/** Log probability of the greedy path: the sum over columns of the log of the best class's probability. */
export function greedyPathLogProb(probs: Float32Array, steps: number, classes: number): number {
  let sum = 0;
  for (let t = 0; t < steps; t++) {
    let best = 0;
    for (let k = 0; k < classes; k++) best = Math.max(best, probs[t * classes + k]!);
    sum += Math.log(Math.max(best, 1e-12));
  }
  return sum;
}

/** Log probability of a read's least certain character (each at its most certain column). */
export function minCharLogProb(read: ReadChar[]): number {
  if (read.length === 0) return -30;
  return Math.log(Math.max(Math.min(...read.map((c) => c.choices[0]?.conf ?? 0)), 1e-12));
}

/** Geometric mean of the chosen characters' probabilities: one doubtful character shows. */
export function readConfidence(read: ReadChar[]): number {
  if (read.length === 0) return 0;
  let log = 0;
  for (const c of read) log += Math.log(Math.max(c.choices[0]?.conf ?? 0, 1e-9));
  return Math.exp(log / read.length);
}

/**
 * The probability that a read is right, from a logistic regression on the path's and the weakest
 * character's log probabilities, fitted by training/reader.py on its validation crops (metadata
 * `calibration`).
 */
export interface Calibration {
  kind: 'logistic';
  features: ['pathLogProb', 'minCharLogProb'];
  weights: [number, number];
  bias: number;
}

export function calibratedConfidence(cal: Calibration, pathLogProb: number, minCharLog: number): number {
  const z = cal.weights[0] * pathLogProb + cal.weights[1] * minCharLog + cal.bias;
  return 1 / (1 + Math.exp(-z));
}
