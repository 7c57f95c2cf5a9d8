import { fits, LAYOUTS, MRZ_SHAPES, parseMrz, slots, type DocumentType, type ParsedMrz, type Slot } from './mrz.js';
import { isStateCode } from './state-codes.js';

/**
 * Reading an MRZ that fails its checks again, the way a border officer's reader does: every position
 * may hold what the recognizer saw there second or third (its top-k from the CTC output), or a glyph
 * the recognizer is known to confuse with it (O/0, I/1, B/8, S/5, Z/2, G/6, `<`/K, ...), as long as
 * it is of the kind the position takes (a digit in a date, a letter in a country code). Among the
 * combinations that make every check digit and the composite right, the most probable is taken, and
 * only when no other combination comes close: a check digit catches one wrong character, not two
 * that cancel, so a close runner-up means the MRZ cannot be trusted. The search is bounded: at most
 * MAX_EDITS changed positions per checked field and MAX_EVALUATIONS tries.
 */

export interface Candidate {
  ch: string;
  /** probability the recognizer gave it, 0..1 */
  p: number;
}

/** The recognizer's alternatives at one position, most likely first. */
export type PositionRead = Candidate[];

/** Glyphs an OCR of OCR-B confuses, in both directions (most likely first). */
export const CONFUSABLE: Record<string, string> = {
  '0': 'ODQU', O: '0DQ', D: '0O', Q: '0O', U: '0V',
  '1': 'ILT', I: '1L', L: '1I', T: '17',
  '2': 'Z', Z: '27',
  '3': 'EB', E: '3F',
  '4': 'AY', A: '4',
  '5': 'S', S: '5',
  '6': 'GB', G: '6C',
  '7': 'TZ',
  '8': 'B', B: '836',
  '9': 'PG', P: '9',
  '<': 'KCL', K: '<X', C: '<G',
  M: 'NW', N: 'MH', H: 'N', W: 'M', V: 'UY', Y: 'V4', X: 'K', F: 'E', R: 'P',
};

/**
 * A confusable the recognizer did not offer gets the probability its glyph is wrong (1 - p) times
 * this share: a glyph read with 0.6 yields its twin far more readily than one read with 0.99.
 */
const CONFUSION_SHARE = 0.3;
/** Alternatives below this probability are not offered. */
const MIN_P = 1e-4;
const MAX_OPTIONS = 4;
export const MAX_EDITS = 3;
export const MAX_EVALUATIONS = 4000;
/**
 * Positions only the composite check digit covers (TD1's optional data, say) are changed only at a
 * cost under ln 10: a wrong change passes one check digit one time in ten, so a correction the
 * recognizer found less likely than that is more likely a coincidence than the fix.
 */
export const COMPOSITE_ONLY_MAX_NATS = Math.log(10);
/** A second valid reading within this many nats of the best makes the correction ambiguous. */
export const AMBIGUITY_NATS = 1.0;

interface Option {
  ch: string;
  /** extra cost over the position's best allowed option */
  delta: number;
}

interface Pos {
  line: number;
  index: number;
  options: Option[];
}

export interface Correction {
  /** the lines as read (best candidate per position) */
  read: string[];
  /** the MRZ after correction (or as read, when no correction was found) */
  parsed: ParsedMrz;
  /** positions whose character differs from the read */
  changed: number;
  /** total cost of the changes in nats (0: as read, coerced to each position's kind for free when the recognizer offered it) */
  cost: number;
  /** a correction was needed and two readings came too close to choose */
  ambiguous: boolean;
}

function options(slot: Slot, read: PositionRead): Option[] {
  const raw = new Map<string, number>();
  const add = (ch: string, cost: number) => {
    if (fits(slot, ch) && (!raw.has(ch) || raw.get(ch)! > cost)) raw.set(ch, cost);
  };
  for (const c of read) if (c.p >= MIN_P) add(c.ch, -Math.log(c.p));
  for (const c of read) {
    if (c.p < MIN_P) continue;
    const p = c.p * (1 - c.p) * CONFUSION_SHARE;
    if (p < MIN_P) continue;
    for (const alt of CONFUSABLE[c.ch] ?? '') add(alt, -Math.log(p));
  }
  const sorted = [...raw].sort((a, b) => a[1] - b[1]).slice(0, MAX_OPTIONS);
  if (sorted.length === 0) return [{ ch: read[0]?.ch ?? '<', delta: 0 }];
  // the read's own character comes first where it fits: the decoder chose it over the whole line
  // (alignment, the names' grammar), though another may have peaked higher in its frame
  const own = read[0]?.ch;
  if (own !== undefined && fits(slot, own)) {
    const ownCost = raw.get(own) ?? -Math.log(Math.max(read[0]!.p, 1e-30));
    return [{ ch: own, delta: 0 }, ...sorted.filter(([ch]) => ch !== own).slice(0, MAX_OPTIONS - 1).map(([ch, cost]) => ({ ch, delta: Math.max(0, cost - ownCost) }))];
  }
  return sorted.map(([ch, cost]) => ({ ch, delta: cost - sorted[0]![1] }));
}

type Group = 'documentNumber' | 'birthDate' | 'expiryDate' | 'optional';

function groupPositions(type: DocumentType, group: Group | 'compositeOnly', base: string[]): { line: number; index: number }[] {
  const L = LAYOUTS[type];
  const span = (sp: { line: number; start: number; end: number }) => Array.from({ length: sp.end - sp.start }, (_, k) => ({ line: sp.line, index: sp.start + k }));
  switch (group) {
    case 'documentNumber': {
      const out = [...span(L.number), ...span(L.numberCheck)];
      // an overflowing number continues in the optional data
      if (type !== 'TD3' && base[L.numberCheck.line]![L.numberCheck.start] === '<') out.push(...span(L.optional[0]!));
      return out;
    }
    case 'birthDate':
      return [...span(L.birth), ...span(L.birthCheck)];
    case 'expiryDate':
      return [...span(L.expiry), ...span(L.expiryCheck)];
    case 'optional':
      return L.optionalCheck ? [...span(L.optional[0]!), ...span(L.optionalCheck)] : [];
    case 'compositeOnly': {
      const taken = new Set([...groupPositions(type, 'documentNumber', base), ...groupPositions(type, 'optional', base)].map((p) => `${p.line}:${p.index}`));
      return [...L.optional.flatMap(span), ...span(L.composite)].filter((p) => !taken.has(`${p.line}:${p.index}`));
    }
  }
}

function withChanges(base: string[], changes: { line: number; index: number; ch: string }[]): string[] {
  if (changes.length === 0) return base;
  const chars = base.map((l) => [...l]);
  for (const c of changes) chars[c.line]![c.index] = c.ch;
  return chars.map((c) => c.join(''));
}

interface Variant {
  changes: { line: number; index: number; ch: string }[];
  cost: number;
}

/**
 * The cheapest sets of changes (at most MAX_EDITS positions, alternatives in cost order) under
 * which `ok` holds, cheapest first: a best-first walk over edit sets where each set only extends to
 * positions after its last edit, so every set is visited once.
 */
function cheapest(positions: Pos[], base: string[], ok: (lines: string[]) => boolean, keep: number, budget: { left: number }): Variant[] {
  interface State { edits: [number, number][]; cost: number }
  const heap: State[] = [{ edits: [], cost: 0 }];
  const push = (s: State) => {
    heap.push(s);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (heap[p]!.cost <= heap[i]!.cost) break;
      [heap[p], heap[i]] = [heap[i]!, heap[p]!];
      i = p;
    }
  };
  const pop = (): State => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && heap[l]!.cost < heap[m]!.cost) m = l;
        if (r < heap.length && heap[r]!.cost < heap[m]!.cost) m = r;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i]!, heap[m]!];
        i = m;
      }
    }
    return top;
  };
  const found: Variant[] = [];
  while (heap.length > 0 && found.length < keep && budget.left > 0) {
    const s = pop();
    budget.left--;
    const changes = s.edits.map(([pi, oi]) => ({ line: positions[pi]!.line, index: positions[pi]!.index, ch: positions[pi]!.options[oi]!.ch }));
    if (ok(withChanges(base, changes))) found.push({ changes, cost: s.cost });
    if (s.edits.length >= MAX_EDITS) continue;
    const from = s.edits.length ? s.edits[s.edits.length - 1]![0] + 1 : 0;
    for (let pi = from; pi < positions.length; pi++) {
      const opts = positions[pi]!.options;
      for (let oi = 1; oi < opts.length; oi++) push({ edits: [...s.edits, [pi, oi]], cost: s.cost + opts[oi]!.delta });
    }
  }
  return found;
}

/**
 * The issuing state and nationality as known codes: a field that is not one takes the most
 * probable combination of its positions' alternatives that is one (at most every position of the
 * field changed), unless a second comes within AMBIGUITY_NATS; else it stays as read.
 */
function correctCodes(type: DocumentType, lines: string[], opts: Option[][][]): string[] {
  let out = lines;
  for (const span of [LAYOUTS[type].state, LAYOUTS[type].nationality]) {
    if (isStateCode(out[span.line]!.slice(span.start, span.end))) continue;
    const positions = Array.from({ length: span.end - span.start }, (_, k) => span.start + k);
    let combos: { chars: string[]; cost: number }[] = [{ chars: [], cost: 0 }];
    for (const index of positions) {
      const here = opts[span.line]![index]!;
      combos = combos.flatMap((c) => here.map((o) => ({ chars: [...c.chars, o.ch], cost: c.cost + o.delta })));
    }
    const known = combos.filter((c) => isStateCode(c.chars.join(''))).sort((a, b) => a.cost - b.cost);
    if (known.length === 0 || (known[1] && known[1].cost - known[0]!.cost < AMBIGUITY_NATS)) continue;
    out = withChanges(out, positions.map((index, k) => ({ line: span.line, index, ch: known[0]!.chars[k]! })));
  }
  return out;
}

/**
 * The most probable reading of the MRZ whose checks all pass, from the recognizer's alternatives
 * per position (reads[line][position]); the read as it is when none is found within the bounds, or
 * when two readings come too close (ambiguous).
 */
export function correctMrz(type: DocumentType, reads: PositionRead[][], today: Date = new Date()): Correction {
  const { lines: n, length } = MRZ_SHAPES[type];
  if (reads.length !== n || reads.some((r) => r.length !== length)) {
    throw new Error(`a ${type} MRZ has ${n} lines of ${length} characters`);
  }
  const read = reads.map((line) => line.map((c) => c[0]?.ch ?? '<').join(''));
  const sl = slots(type);
  const opts: Option[][][] = reads.map((line, i) => line.map((c, j) => options(sl[i]![j]!, c)));
  // the best allowed character at every position: O read in a date is taken as 0 when the recognizer offered it
  const base = opts.map((line) => line.map((o) => o[0]!.ch).join(''));
  const changedFrom = (lines: string[]) => lines.reduce((s, l, i) => s + [...l].filter((ch, j) => ch !== read[i]![j]).length, 0);
  // the states and nationality are corrected on their own: no check digit ties them to the rest
  const coded = (lines: string[]) => correctCodes(type, lines, opts);
  const asRead = coded(base);
  const first = parseMrz(asRead, today);
  if (first.valid) return { read, parsed: first, changed: changedFrom(asRead), cost: 0, ambiguous: false };

  const pos = (ps: { line: number; index: number }[]): Pos[] => ps.map((p) => ({ ...p, options: opts[p.line]![p.index]! }));
  const budget = { left: MAX_EVALUATIONS };
  const checkOf = (lines: string[]) => parseMrz(lines, today);
  const groups: Group[] = ['documentNumber', 'birthDate', 'expiryDate', ...(LAYOUTS[type].optionalCheck ? ['optional' as const] : [])];
  const groupOk: Record<Group, (lines: string[]) => boolean> = {
    documentNumber: (l) => checkOf(l).checks.documentNumber,
    birthDate: (l) => {
      const p = checkOf(l);
      return p.checks.birthDate && p.fields.birthDate !== null;
    },
    expiryDate: (l) => {
      const p = checkOf(l);
      return p.checks.expiryDate && p.fields.expiryDate !== null;
    },
    optional: (l) => checkOf(l).checks.optional === true,
  };
  // each checked field on its own: its cheapest passing variants (the read itself first when it passes)
  const variants: Variant[][] = [];
  for (const g of groups) {
    // a field whose own check digit holds as read stays as read: changing it would be justified by
    // the composite alone, which one wrong change in ten passes
    if (groupOk[g](base)) {
      variants.push([{ changes: [], cost: 0 }]);
      continue;
    }
    const v = cheapest(pos(groupPositions(type, g, base)), base, groupOk[g], 3, budget);
    if (v.length === 0) return { read, parsed: first, changed: changedFrom(asRead), cost: 0, ambiguous: false };
    variants.push(v);
  }
  // then the composite over the combinations, cheapest first, with the optional data only it covers
  const combos: Variant[] = [{ changes: [], cost: 0 }];
  for (const vs of variants) {
    const next: Variant[] = [];
    for (const c of combos) for (const v of vs) next.push({ changes: [...c.changes, ...v.changes], cost: c.cost + v.cost });
    next.sort((a, b) => a.cost - b.cost);
    combos.splice(0, combos.length, ...next.slice(0, 32));
  }
  const solutions: Variant[] = [];
  const compositeOnly = groupPositions(type, 'compositeOnly', base);
  for (const c of combos) {
    if (budget.left <= 0) break;
    const lines = withChanges(base, c.changes);
    const rest = cheapest(pos(compositeOnly), lines, (l) => checkOf(l).valid, 2, budget);
    // one in ten changes makes a single check digit pass by chance: a change only the composite
    // covers is taken only when the recognizer thought it likelier than that
    for (const r of rest) if (r.cost <= COMPOSITE_ONLY_MAX_NATS) solutions.push({ changes: [...c.changes, ...r.changes], cost: c.cost + r.cost });
  }
  solutions.sort((a, b) => a.cost - b.cost);
  const best = solutions[0];
  if (!best) return { read, parsed: first, changed: changedFrom(asRead), cost: 0, ambiguous: false };
  const lines = withChanges(base, best.changes);
  const runnerUp = solutions.find((s) => withChanges(base, s.changes).join('\n') !== lines.join('\n'));
  if (runnerUp && runnerUp.cost - best.cost < AMBIGUITY_NATS) {
    return { read, parsed: first, changed: changedFrom(asRead), cost: 0, ambiguous: true };
  }
  const final = coded(lines);
  return { read, parsed: parseMrz(final, today), changed: changedFrom(final), cost: best.cost, ambiguous: false };
}

