import type { PositionRead } from './mrz-correct.js';

/**
 * Decoding a CTC recognizer's output when the text's length is known, as an MRZ line's is (30, 36
 * or 44 characters): the most probable alignment path that emits exactly that many characters
 * (Viterbi over frames x characters emitted x current symbol). When the unconstrained best path
 * already has that length it is the answer; when it drops or doubles a filler in a long `<<<<<`
 * run, the constraint puts it right. With `allowed` (a class mask per character position, from
 * the MRZ's grammar) a path may only place a character where the layout allows it: a stray mark
 * before the line's first letter, or a digit the reader saw in a name, cannot shift the rest of
 * the line by one. Each character keeps the recognizer's alternatives from the frame where it was
 * most certain, for the check-digit correction.
 */

export interface FixedRead {
  positions: PositionRead[];
  /** log probability of the path */
  logProb: number;
}

/**
 * probs: [steps][classes] softmax rows; blank: the blank's index; alphabet: the characters of the
 * other classes in order. Null when the line cannot have that many characters (too few frames).
 */
export function decodeFixedLength(probs: Float32Array, steps: number, classes: number, alphabet: string, length: number, blank = 0, topK = 4, allowed?: readonly Uint8Array[]): FixedRead | null {
  if (length * 1 > steps || length <= 0) return null;
  if (allowed && allowed.length !== length) throw new Error(`allowed: ${allowed.length} position masks for a length of ${length}`);
  // may class k be the n-th character (0-based)?
  const may = (n: number, k: number) => !allowed || allowed[n]![k] === 1;
  const C = classes;
  const N = length + 1;
  const NEG = -Infinity;
  const lp = new Float64Array(steps * C);
  for (let i = 0; i < lp.length; i++) lp[i] = Math.log(Math.max(probs[i]!, 1e-30));
  // score[t][n][c], back[t][n][c] = previous (n, c) packed
  let prev = new Float64Array(N * C).fill(NEG);
  let cur = new Float64Array(N * C).fill(NEG);
  const back = new Int32Array(steps * N * C).fill(-1);
  prev[0 * C + blank] = lp[blank]!;
  for (let k = 0; k < C; k++) if (k !== blank && N > 1 && may(0, k)) prev[1 * C + k] = lp[k]!;
  for (let t = 1; t < steps; t++) {
    cur.fill(NEG);
    const row = t * C;
    for (let n = 0; n < N; n++) {
      // blank at t: from any symbol at (t-1, n)
      let bestPrev = NEG;
      let bestPrevC = -1;
      for (let c = 0; c < C; c++) {
        const v = prev[n * C + c]!;
        if (v > bestPrev) {
          bestPrev = v;
          bestPrevC = c;
        }
      }
      if (bestPrevC >= 0 && bestPrev > NEG) {
        cur[n * C + blank] = bestPrev + lp[row + blank]!;
        back[(t * N + n) * C + blank] = n * C + bestPrevC;
      }
      if (n === 0) continue;
      // best and second best character at (t-1, n-1), for "a new character different from the last"
      let b1 = NEG;
      let b1c = -1;
      let b2 = NEG;
      let b2c = -1;
      for (let c = 0; c < C; c++) {
        if (c === blank) continue;
        const v = prev[(n - 1) * C + c]!;
        if (v > b1) {
          b2 = b1;
          b2c = b1c;
          b1 = v;
          b1c = c;
        } else if (v > b2) {
          b2 = v;
          b2c = c;
        }
      }
      const fromBlank = prev[(n - 1) * C + blank]!;
      for (let k = 0; k < C; k++) {
        if (k === blank) continue;
        let best = prev[n * C + k]!; // the same character continues
        let arg = n * C + k;
        if (!may(n - 1, k)) {
          // only a continuation: k was allowed where it began, or this is -Infinity already
          if (best > NEG) {
            cur[n * C + k] = best + lp[row + k]!;
            back[(t * N + n) * C + k] = arg;
          }
          continue;
        }
        if (fromBlank > best) {
          best = fromBlank;
          arg = (n - 1) * C + blank;
        }
        const other = b1c !== k ? b1 : b2;
        const otherC = b1c !== k ? b1c : b2c;
        if (otherC >= 0 && other > best) {
          best = other;
          arg = (n - 1) * C + otherC;
        }
        if (best > NEG) {
          cur[n * C + k] = best + lp[row + k]!;
          back[(t * N + n) * C + k] = arg;
        }
      }
    }
    [prev, cur] = [cur, prev];
  }
  let end = -1;
  let endScore = NEG;
  for (let c = 0; c < C; c++) {
    const v = prev[length * C + c]!;
    if (v > endScore) {
      endScore = v;
      end = length * C + c;
    }
  }
  if (end < 0 || endScore === NEG) return null;
  // walk back: the symbol of every frame
  const symbols = new Int32Array(steps);
  let state = end;
  for (let t = steps - 1; t >= 0; t--) {
    symbols[t] = state % C;
    if (t > 0) state = back[(t * N + Math.floor(state / C)) * C + (state % C)]!;
  }
  // characters: runs of one non-blank symbol; each from its most certain frame
  const positions: PositionRead[] = [];
  const charOf = (k: number) => alphabet[k < blank ? k : k - 1]!;
  let t = 0;
  while (t < steps) {
    const k = symbols[t]!;
    if (k === blank) {
      t++;
      continue;
    }
    let peak = t;
    while (t < steps && symbols[t] === k) {
      if (probs[t * C + k]! > probs[peak * C + k]!) peak = t;
      t++;
    }
    const row = probs.subarray(peak * C, (peak + 1) * C);
    const ranked = Array.from(row, (p, c) => ({ c, p }))
      .filter((e) => e.c !== blank)
      .sort((x, y) => y.p - x.p)
      .slice(0, topK);
    // the path's own character first, whatever its rank at the peak
    const own = { ch: charOf(k), p: row[k]! };
    positions.push([own, ...ranked.filter((e) => e.c !== k).map((e) => ({ ch: charOf(e.c), p: e.p }))]);
  }
  return positions.length === length ? { positions, logProb: endScore } : null;
}
