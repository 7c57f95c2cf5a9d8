import type { PlateTemplate, SlotKind } from '../../contract/text-layout.js';

/**
 * Format-aware correction of OCR reads (the standard ANPR step after a generic recogniser).
 *
 * A class may list the layouts its texts follow, as templates in the grammar of
 * contract/text-layout.ts (L letter, D digit, A either, 'XY' fixed, anything else a separator).
 *
 * matchFormats() aligns a read (each character with the recogniser's alternatives and their
 * confidences, or plain text) to every template with a small dynamic program: a slot takes the
 * read character when it is of the slot's kind, else the best alternative of that kind the
 * recogniser offered, else a confusable of it (O->0, S->5, 8->B, ...); a fixed character takes a
 * read character in its place; a separator may be missing or extra. Characters are only ever
 * substituted, one for one: none is dropped and none is invented, so a read with a character too
 * many or too few fits no template and is returned as read. The template with the lowest cost wins;
 * the corrected text is written in the template's layout (separators included; the class's
 * normalising rule then strips them as usual).
 */

/** One position of a read: the character tesseract chose first, then its alternatives. */
export interface ReadChar {
  /** best first; conf 0..1 */
  choices: { ch: string; conf: number }[];
}

/** Which characters fill letter and digit slots. */
export interface Alphabet {
  isLetter(ch: string): boolean;
  isDigit(ch: string): boolean;
}

export interface FormatMatch {
  /** the template's source */
  template: string;
  /** the corrected text in the template's layout, e.g. "AB-123-CD" */
  text: string;
  /** total cost of the edits (0: the read already fits) */
  cost: number;
  /** characters changed (coerced, replaced by an alternative, or a fixed character put back) */
  changed: number;
  /** separators of the read left out (characters are never dropped) */
  dropped: number;
}

/** The letters and digits a class may return: those of its expanded charset, or any letter and digit. */
export function alphabetOf(whitelist: string | undefined): Alphabet {
  const isLetter = (ch: string) => /^\p{L}$/u.test(ch);
  const isDigit = (ch: string) => /^\p{Nd}$/u.test(ch);
  if (!whitelist) return { isLetter, isDigit };
  const set = new Set(whitelist);
  return { isLetter: (ch) => set.has(ch) && isLetter(ch), isDigit: (ch) => set.has(ch) && isDigit(ch) };
}

/** A read given as text alone: every character certain. Whitespace runs become one separator. */
export function readFromText(text: string): ReadChar[] {
  return [...text.trim().replace(/\s+/g, ' ')].map((ch) => ({ choices: [{ ch, conf: 1 }] }));
}

/**
 * Glyphs a recogniser confuses across the letter/digit divide, most likely first. Used when
 * tesseract offered no alternative of the slot's kind.
 */
export const TO_DIGIT: Readonly<Record<string, string>> = {
  O: '0', D: '0', Q: '0', U: '0', C: '0',
  I: '1', L: '1', J: '1', T: '71', Y: '7',
  Z: '2', S: '5', B: '83', G: '6', A: '4', E: '8', R: '8', P: '9',
};
export const TO_LETTER: Readonly<Record<string, string>> = {
  '0': 'ODQU', '1': 'ILTJ', '2': 'Z', '3': 'B', '4': 'A', '5': 'S', '6': 'G', '7': 'TZY', '8': 'B', '9': 'P',
};

// Costs, in "edits": a coercion through the confusion table costs 1 (a little more for the less
// likely targets); an alternative tesseract offered costs by how much less confident it was.
const COERCE_COST = 1;
const COERCE_RANK_COST = 0.25;
const ALT_MAX_COST = 1.5;
const SEP_MISSING_COST = 0;
const SEP_EXTRA_COST = 0.3;
const FIXED_REPLACED_COST = 1;

const isSeparator = (ch: string) => !/[\p{L}\p{N}]/u.test(ch);

interface SlotFill {
  ch: string;
  cost: number;
}

function allowed(slot: SlotKind, ch: string, a: Alphabet): boolean {
  return slot === 'letter' ? a.isLetter(ch) : slot === 'digit' ? a.isDigit(ch) : a.isLetter(ch) || a.isDigit(ch);
}

/** The cheapest character of the slot's kind for one read position, or undefined. */
export function fillSlot(r: ReadChar, slot: SlotKind, a: Alphabet): SlotFill | undefined {
  const top = r.choices[0];
  if (!top) return undefined;
  if (allowed(slot, top.ch, a)) return { ch: top.ch, cost: 0 };
  let best: SlotFill | undefined;
  for (const alt of r.choices.slice(1)) {
    if (!allowed(slot, alt.ch, a) || alt.conf <= 0) continue;
    const cost = Math.min(ALT_MAX_COST, Math.log((top.conf + 0.01) / (alt.conf + 0.01)));
    if (!best || cost < best.cost) best = { ch: alt.ch, cost: Math.max(0.05, cost) };
  }
  const table = slot === 'digit' ? TO_DIGIT : slot === 'letter' ? TO_LETTER : undefined;
  const targets = table?.[top.ch] ?? '';
  [...targets].forEach((t, rank) => {
    if (!allowed(slot, t, a)) return;
    // an alternative tesseract listed (even at 0) backs the coercion up
    const listed = r.choices.some((c) => c.ch === t);
    const cost = COERCE_COST + COERCE_RANK_COST * rank - (listed ? 0.2 : 0);
    if (!best || cost < best.cost) best = { ch: t, cost };
  });
  return best;
}

function fixedCost(r: ReadChar, ch: string): number {
  const top = r.choices[0];
  if (!top) return FIXED_REPLACED_COST;
  if (top.ch === ch) return 0;
  const alt = r.choices.find((c) => c.ch === ch);
  if (alt && alt.conf > 0) return Math.max(0.05, Math.min(FIXED_REPLACED_COST, Math.log((top.conf + 0.01) / (alt.conf + 0.01))));
  return FIXED_REPLACED_COST;
}

/** Only a separator of the read may go unmatched: a character is never dropped. */
function dropCost(r: ReadChar): number {
  const top = r.choices[0];
  return !top || isSeparator(top.ch) ? SEP_EXTRA_COST : Infinity;
}

type Step = 'take' | 'drop' | 'skip';

/** The cheapest alignment of a read to one template, or undefined when none exists. */
export function matchTemplate(read: ReadChar[], t: PlateTemplate, a: Alphabet): FormatMatch | undefined {
  const n = read.length;
  const m = t.tokens.length;
  // cost[i][j]: read[0..i) aligned to tokens[0..j)
  const cost = Array.from({ length: n + 1 }, () => new Float64Array(m + 1).fill(Infinity));
  const step: Step[][] = Array.from({ length: n + 1 }, () => new Array<Step>(m + 1).fill('take'));
  const fill: (SlotFill | undefined)[][] = Array.from({ length: n + 1 }, () => new Array<SlotFill | undefined>(m + 1));
  cost[0]![0] = 0;
  for (let i = 0; i <= n; i++) {
    for (let j = 0; j <= m; j++) {
      const here = cost[i]![j]!;
      if (here === Infinity) continue;
      const relax = (ii: number, jj: number, c: number, s: Step, f?: SlotFill) => {
        if (here + c < cost[ii]![jj]! - 1e-12) {
          cost[ii]![jj] = here + c;
          step[ii]![jj] = s;
          fill[ii]![jj] = f;
        }
      };
      const r = read[i];
      const tok = t.tokens[j];
      if (r && dropCost(r) !== Infinity) relax(i + 1, j, dropCost(r), 'drop');
      if (!tok) continue;
      const rTop = r?.choices[0]?.ch;
      if (tok.kind === 'sep') {
        if (r && rTop !== undefined && isSeparator(rTop)) relax(i + 1, j + 1, 0, 'take', { ch: tok.ch, cost: 0 });
        relax(i, j + 1, SEP_MISSING_COST, 'skip', { ch: tok.ch, cost: 0 });
      } else if (tok.kind === 'fixed') {
        if (r && rTop !== undefined && !isSeparator(rTop)) {
          const c = fixedCost(r, tok.ch);
          relax(i + 1, j + 1, c, 'take', { ch: tok.ch, cost: c });
        }
      } else if (r) {
        const f = fillSlot(r, tok.slot, a);
        if (f) relax(i + 1, j + 1, f.cost, 'take', f);
      }
    }
  }
  const total = cost[n]![m]!;
  if (total === Infinity) return undefined;
  let i = n;
  let j = m;
  const out: string[] = [];
  let changed = 0;
  let dropped = 0;
  while (i > 0 || j > 0) {
    const s = step[i]![j]!;
    if (s === 'drop') {
      dropped++;
      i--;
      continue;
    }
    const f = fill[i]![j]!;
    out.push(f.ch);
    const tok = t.tokens[j - 1]!;
    if (tok.kind !== 'sep' && (s === 'skip' || read[i - 1]!.choices[0]!.ch !== f.ch)) changed++;
    if (s === 'take') i--;
    j--;
  }
  return { template: t.source, text: out.reverse().join(''), cost: total, changed, dropped };
}

/**
 * The template that best explains a read, or undefined when none fits or the best fit needs more
 * edits than `maxCost` allows (default: 0.3 per character of the template, at most 2.5: on a synthetic
 * tuning set, no correction costing more than 2 was right).
 */
export function matchFormats(read: ReadChar[], templates: PlateTemplate[], a: Alphabet, maxCost?: number): FormatMatch | undefined {
  let best: FormatMatch | undefined;
  for (const t of templates) {
    const m = matchTemplate(read, t, a);
    if (!m) continue;
    const limit = maxCost ?? Math.min(2.5, 0.3 * t.length);
    if (m.cost > limit + 1e-9) continue;
    if (!best || m.cost < best.cost - 1e-9) best = m;
  }
  return best;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", '#39': "'" };
const decode = (s: string) => s.replace(/&(amp|lt|gt|quot|apos|#39);/g, (_, e: string) => ENTITIES[e]!);

/**
 * The characters and their alternatives from tesseract's hOCR with lstm_choice_mode=2 (one
 * `lstm_choices` group per character, `x_confs` 0..100). Words and lines are joined by a space.
 * A word whose groups do not line up with its text is taken as its text, with the word's confidence.
 * Returns undefined when the hOCR has no words.
 */
export function readFromHocr(hocr: string): ReadChar[] | undefined {
  const out: ReadChar[] = [];
  let found = false;
  for (const chunk of hocr.split("<span class='ocrx_word'").slice(1)) {
    const head = /^[^>]*x_wconf (\d+(?:\.\d+)?)[^>]*>([^<]*)/.exec(chunk);
    if (!head) continue;
    const text = decode(head[2]!.trim());
    if (!text) continue;
    const groups = chunk
      .split("id='lstm_choices")
      .slice(1)
      .map((g) => [...g.matchAll(/title='x_confs (\d+(?:\.\d+)?)'>([^<]*)<\/span>/g)].map((c) => ({ ch: decode(c[2]!), conf: Number(c[1]) / 100 })));
    if (found) out.push({ choices: [{ ch: ' ', conf: 1 }] });
    found = true;
    const chars = [...text];
    if (groups.length === chars.length && groups.every((g, k) => g[0]?.ch === chars[k])) {
      for (const g of groups) out.push({ choices: g });
    } else {
      const conf = Number(head[1]) / 100;
      for (const ch of chars) out.push({ choices: [{ ch, conf }] });
    }
  }
  return found ? out : undefined;
}
