import type { PositionRead } from './mrz-correct.js';

/**
 * Decoding a CTC recognizer's output when the text's length is known, as an MRZ line's is (30, 36
 * or 44 characters): the most probable alignment path that emits exactly that many characters
 * (Viterbi over frames x characters emitted x grammar state x current symbol). When the
 * unconstrained best path already has that length it is the answer; when it drops or doubles a
 * filler in a long `<<<<<` run, the constraint puts it right. With a grammar (a finite automaton
 * over the line's positions, from the MRZ's layout) a path may only place a character where the
 * layout allows it: a stray mark before the line's first letter, or a digit the reader saw in a
 * name, cannot shift the rest of the line by one, and a name cannot go on after its fillers. Each
 * character keeps the recognizer's alternatives from the frame where it was most certain, for the
 * check-digit correction.
 */

export interface FixedRead {
  positions: PositionRead[];
  /** log probability of the path */
  logProb: number;
}

/**
 * A finite automaton over a line of known length: `next[(n * states + g) * classes + k]` is the
 * state after class k is the n-th character (0-based) in state g, or -1 where it may not be. The
 * start state is 0; every state may end the line.
 */
export interface LineGrammar {
  states: number;
  next: Int16Array;
}

/** The character of class k of a CTC output whose other classes are `alphabet` in order. */
export function classChar(alphabet: string, blank: number, k: number): string {
  return alphabet[k < blank ? k : k - 1]!;
}

/**
 * Scratch for the decoding, kept between calls and grown to the largest line seen: the back-pointer
 * table of a names line is steps x 45 positions x 7 states x 38 classes (4.6 MB), and a document
 * whose candidates fail their checks decodes dozens of lines. Decoding is synchronous, so one set
 * serves every request.
 */
const scratch = { back: new Int32Array(0), score: new Float64Array(0), lp: new Float64Array(0) };
function scratchFor(backLen: number, scoreLen: number, lpLen: number) {
  if (scratch.back.length < backLen) scratch.back = new Int32Array(backLen);
  if (scratch.score.length < 2 * scoreLen) scratch.score = new Float64Array(2 * scoreLen);
  if (scratch.lp.length < lpLen) scratch.lp = new Float64Array(lpLen);
  return scratch;
}

/**
 * probs: [steps][classes] softmax rows; blank: the blank's index; alphabet: the characters of the
 * other classes in order. Null when the line cannot have that many characters (too few frames) or
 * the grammar admits no path.
 */
export function decodeFixedLength(probs: Float32Array, steps: number, classes: number, alphabet: string, length: number, blank = 0, topK = 4, grammar?: LineGrammar): FixedRead | null {
  if (length * 1 > steps || length <= 0) return null;
  const C = classes;
  const G = grammar?.states ?? 1;
  if (grammar && grammar.next.length !== length * G * C) throw new Error(`grammar: ${grammar.next.length} transitions, not ${length} positions x ${G} states x ${C} classes`);
  // the state after class k becomes the n-th character in state g (-1: not allowed); without a grammar every class keeps state 0
  const next = grammar?.next;
  const N = length + 1;
  const S = N * G * C;
  const at = (n: number, g: number, c: number) => (n * G + g) * C + c;
  const NEG = -Infinity;
  const mem = scratchFor(steps * S, S, steps * C);
  const lp = mem.lp;
  for (let i = 0; i < steps * C; i++) lp[i] = Math.log(Math.max(probs[i]!, 1e-30));
  // per (n, g) of the previous frame: the best symbol of all, and the best two non-blank ones (a new
  // character must differ from the one before it unless a blank came between)
  const bestAll = new Float64Array(N * G);
  const bestAllC = new Int32Array(N * G);
  const b1s = new Float64Array(N * G);
  const b1cs = new Int32Array(N * G);
  const b2s = new Float64Array(N * G);
  const b2cs = new Int32Array(N * G);
  // score[t][n][g][c], back[t][n][g][c] = the previous state, packed as at(). back is not cleared:
  // the walk back only visits states scored in this call, and every one of those was written.
  let prev = mem.score.subarray(0, S).fill(NEG);
  let cur = mem.score.subarray(S, 2 * S).fill(NEG);
  const back = mem.back;
  prev[at(0, 0, blank)] = lp[blank]!;
  for (let k = 0; k < C; k++) {
    if (k === blank || N <= 1) continue;
    const g = next ? next[k]! : 0;
    if (g >= 0) prev[at(1, g, k)] = lp[k]!;
  }
  for (let t = 1; t < steps; t++) {
    cur.fill(NEG);
    const row = t * C;
    const from = t * S;
    // Only n that can still be reached by t and still reach `length` by the last frame (one new
    // character a frame at most); the others stay -Infinity.
    const nLo = Math.max(0, length - (steps - 1 - t));
    const nHi = Math.min(length, t + 1);
    // one pass over the previous frame's symbols of each (n, g) that this frame can extend
    for (let ng = Math.max(0, nLo - 1) * G; ng < (nHi + 1) * G; ng++) {
      let ba = NEG;
      let bac = -1;
      let b1 = NEG;
      let b1c = -1;
      let b2 = NEG;
      let b2c = -1;
      const base = ng * C;
      for (let c = 0; c < C; c++) {
        const v = prev[base + c]!;
        if (v === NEG) continue;
        if (v > ba) {
          ba = v;
          bac = c;
        }
        if (c === blank) continue;
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
      bestAll[ng] = ba;
      bestAllC[ng] = bac;
      b1s[ng] = b1;
      b1cs[ng] = b1c;
      b2s[ng] = b2;
      b2cs[ng] = b2c;
    }
    for (let n = nLo; n <= nHi; n++) {
      for (let g = 0; g < G; g++) {
        const ng = n * G + g;
        // blank at t: from any symbol at (t-1, n, g)
        const bestPrev = bestAll[ng]!;
        // no path is in (n, g) at t-1: nothing to extend (most (n, g) of a names line are dead)
        if (bestPrev === NEG) continue;
        const here = ng * C;
        cur[here + blank] = bestPrev + lp[row + blank]!;
        back[from + here + blank] = here + bestAllC[ng]!;
        if (n === 0) continue;
        // the same character continues (same state)
        for (let k = 0; k < C; k++) {
          if (k === blank) continue;
          const v = prev[here + k]!;
          if (v > NEG) {
            cur[here + k] = v + lp[row + k]!;
            back[from + here + k] = here + k;
          }
        }
      }
      if (n === 0) continue;
      // a new n-th character k from (t-1, n-1, g): after a blank, or after a different character
      for (let g = 0; g < G; g++) {
        const pg = (n - 1) * G + g;
        const b1 = b1s[pg]!;
        const b1c = b1cs[pg]!;
        const b2 = b2s[pg]!;
        const b2c = b2cs[pg]!;
        const fromBlank = prev[pg * C + blank]!;
        if (fromBlank === NEG && b1 === NEG) continue;
        for (let k = 0; k < C; k++) {
          if (k === blank) continue;
          const g2 = next ? next[pg * C + k]! : 0;
          if (g2 < 0) continue;
          let best = fromBlank;
          let arg = pg * C + blank;
          const other = b1c !== k ? b1 : b2;
          const otherC = b1c !== k ? b1c : b2c;
          if (otherC >= 0 && other > best) {
            best = other;
            arg = pg * C + otherC;
          }
          if (best === NEG) continue;
          const v = best + lp[row + k]!;
          const idx = (n * G + g2) * C + k;
          if (v > cur[idx]!) {
            cur[idx] = v;
            back[from + idx] = arg;
          }
        }
      }
    }
    [prev, cur] = [cur, prev];
  }
  let end = -1;
  let endScore = NEG;
  for (let g = 0; g < G; g++) {
    for (let c = 0; c < C; c++) {
      const v = prev[at(length, g, c)]!;
      if (v > endScore) {
        endScore = v;
        end = at(length, g, c);
      }
    }
  }
  if (end < 0 || endScore === NEG) return null;
  // walk back: the symbol of every frame
  const symbols = new Int32Array(steps);
  let state = end;
  for (let t = steps - 1; t >= 0; t--) {
    symbols[t] = state % C;
    if (t > 0) state = back[t * S + state]!;
  }
  // characters: runs of one non-blank symbol; each from its most certain frame
  const positions: PositionRead[] = [];
  const charOf = (k: number) => classChar(alphabet, blank, k);
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
