import { isStateCode } from './state-codes.js';

/**
 * Machine-readable zones of ICAO 9303 travel documents (part 4 passports TD3, part 5 TD1 cards,
 * part 6 TD2 cards): layout of each line, check digits, and the parse into the fields a claimant's
 * document is read for. Pure; the reading side (recognizer, correction) is in mrz-correct.ts.
 */

export type DocumentType = 'TD1' | 'TD2' | 'TD3';

export const MRZ_SHAPES: Record<DocumentType, { lines: number; length: number }> = {
  TD1: { lines: 3, length: 30 },
  TD2: { lines: 2, length: 36 },
  TD3: { lines: 2, length: 44 },
};

export const MRZ_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<';

/** A: letter, N: digit, X: letter or digit; each may also be the filler `<` where `filler` says so. */
export type SlotKind = 'A' | 'N' | 'X' | 'S';

export interface Slot {
  kind: SlotKind;
  /** the filler `<` is allowed here */
  filler: boolean;
  /** the only characters allowed here, when fewer than the kind's */
  only?: string;
}

/** A document code's first character (ICAO 9303-4 4.2.2, 9303-5 4.2.2, 9303-6 4.2.2): P for a passport, A, C or I for a card. */
export const DOCUMENT_CODE_FIRST: Record<DocumentType, string> = { TD1: 'ACI', TD2: 'ACI', TD3: 'P' };

/** The value of a character in a check digit (ICAO 9303 part 3, 4.9): digits, A=10..Z=35, `<`=0. */
export function charValue(ch: string): number {
  const c = ch.charCodeAt(0);
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 90) return c - 55;
  if (ch === '<') return 0;
  throw new Error(`not an MRZ character: ${JSON.stringify(ch)}`);
}

/** Check digit of a string: weights 7, 3, 1 repeating, sum modulo 10. */
export function checkDigit(s: string): string {
  let sum = 0;
  for (let i = 0; i < s.length; i++) sum += charValue(s[i]!) * [7, 3, 1][i % 3]!;
  return String(sum % 10);
}

/** A span of one line: [start, end) on line `line`. */
interface Span {
  line: number;
  start: number;
  end: number;
}

/** Where the fields of each type are (0-based, end exclusive). */
interface Layout {
  code: Span;
  state: Span;
  number: Span;
  numberCheck: Span;
  birth: Span;
  birthCheck: Span;
  sex: Span;
  expiry: Span;
  expiryCheck: Span;
  nationality: Span;
  names: Span;
  /** optional data fields, in line order (TD1: two; TD2: one; TD3: the personal number) */
  optional: Span[];
  /** TD3 only: the personal number's check digit */
  optionalCheck?: Span;
  composite: Span;
  /** the spans the composite check digit covers, in order */
  compositeCovers: Span[];
}

const s = (line: number, start: number, end: number): Span => ({ line, start, end });

export const LAYOUTS: Record<DocumentType, Layout> = {
  TD1: {
    code: s(0, 0, 2), state: s(0, 2, 5), number: s(0, 5, 14), numberCheck: s(0, 14, 15), optional: [s(0, 15, 30), s(1, 18, 29)],
    birth: s(1, 0, 6), birthCheck: s(1, 6, 7), sex: s(1, 7, 8), expiry: s(1, 8, 14), expiryCheck: s(1, 14, 15), nationality: s(1, 15, 18),
    composite: s(1, 29, 30), compositeCovers: [s(0, 5, 30), s(1, 0, 7), s(1, 8, 15), s(1, 18, 29)], names: s(2, 0, 30),
  },
  TD2: {
    code: s(0, 0, 2), state: s(0, 2, 5), names: s(0, 5, 36), number: s(1, 0, 9), numberCheck: s(1, 9, 10), nationality: s(1, 10, 13),
    birth: s(1, 13, 19), birthCheck: s(1, 19, 20), sex: s(1, 20, 21), expiry: s(1, 21, 27), expiryCheck: s(1, 27, 28), optional: [s(1, 28, 35)],
    composite: s(1, 35, 36), compositeCovers: [s(1, 0, 10), s(1, 13, 20), s(1, 21, 35)],
  },
  TD3: {
    code: s(0, 0, 2), state: s(0, 2, 5), names: s(0, 5, 44), number: s(1, 0, 9), numberCheck: s(1, 9, 10), nationality: s(1, 10, 13),
    birth: s(1, 13, 19), birthCheck: s(1, 19, 20), sex: s(1, 20, 21), expiry: s(1, 21, 27), expiryCheck: s(1, 27, 28), optional: [s(1, 28, 42)],
    optionalCheck: s(1, 42, 43), composite: s(1, 43, 44), compositeCovers: [s(1, 0, 10), s(1, 13, 20), s(1, 21, 43)],
  },
};

/**
 * What each position may hold. Document numbers and optional data are letters, digits or fillers;
 * dates and check digits digits (a check digit may be `<` where ICAO allows it: the document
 * number's in TD1/TD2 when the number overflows into the optional data, the TD3 personal number's
 * when that is empty; birth dates may have `<` for an unknown day or month).
 */
export function slots(type: DocumentType): Slot[][] {
  return (SLOTS[type] ??= buildSlots(type));
}

const SLOTS: Partial<Record<DocumentType, Slot[][]>> = {};

function buildSlots(type: DocumentType): Slot[][] {
  const { lines, length } = MRZ_SHAPES[type];
  const L = LAYOUTS[type];
  const out: Slot[][] = Array.from({ length: lines }, () => Array.from({ length }, () => ({ kind: 'X' as SlotKind, filler: true })));
  const set = (sp: Span, kind: SlotKind, filler: boolean) => {
    for (let i = sp.start; i < sp.end; i++) out[sp.line]![i] = { kind, filler };
  };
  set(L.code, 'A', true);
  out[L.code.line]![L.code.start] = { kind: 'A', filler: false, only: DOCUMENT_CODE_FIRST[type] };
  set(L.state, 'A', true);
  set(L.number, 'X', true);
  set(L.numberCheck, 'N', type !== 'TD3');
  set(L.birth, 'N', true);
  set(L.birthCheck, 'N', false);
  set(L.sex, 'S', true);
  set(L.expiry, 'N', false);
  set(L.expiryCheck, 'N', false);
  set(L.nationality, 'A', true);
  set(L.names, 'A', true);
  for (const o of L.optional) set(o, 'X', true);
  if (L.optionalCheck) set(L.optionalCheck, 'N', true);
  set(L.composite, 'N', false);
  return out;
}

export function fits(slot: Slot, ch: string): boolean {
  if (ch === '<') return slot.filler;
  if (slot.only !== undefined) return slot.only.includes(ch);
  const digit = ch >= '0' && ch <= '9';
  const letter = ch >= 'A' && ch <= 'Z';
  switch (slot.kind) {
    case 'A': return letter;
    case 'N': return digit;
    case 'X': return letter || digit;
    case 'S': return ch === 'M' || ch === 'F' || ch === 'X';
  }
}

export interface MrzChecks {
  documentNumber: boolean;
  birthDate: boolean;
  expiryDate: boolean;
  /** TD3: the personal number's check digit; TD1 and TD2 have none (null) */
  optional: boolean | null;
  composite: boolean;
}

export interface MrzFields {
  documentCode: string;
  issuingState: string;
  documentNumber: string;
  surname: string;
  givenNames: string;
  nationality: string;
  /** ISO 8601 (YYYY-MM-DD, or YYYY-MM / YYYY when the MRZ leaves the day or month unknown); null if not a date */
  birthDate: string | null;
  sex: 'M' | 'F' | 'X';
  expiryDate: string | null;
  optionalData: string[];
}

export interface ParsedMrz {
  type: DocumentType;
  lines: string[];
  fields: MrzFields;
  checks: MrzChecks;
  /** every check digit (and the composite) right, and every position holds what it may */
  valid: boolean;
  /** what is wrong, for diagnosis: "birth date check digit", "line 2: 'O' where a digit belongs" */
  problems: string[];
}

const part = (lines: string[], sp: Span) => lines[sp.line]!.slice(sp.start, sp.end);
const strip = (v: string) => v.replace(/<+$/, '').replace(/^<+/, '');

/** The type whose shape the lines have, or undefined. */
export function typeOf(lines: string[]): DocumentType | undefined {
  for (const t of ['TD1', 'TD2', 'TD3'] as const) {
    const { lines: n, length } = MRZ_SHAPES[t];
    if (lines.length === n && lines.every((l) => l.length === length)) return t;
  }
  return undefined;
}

/**
 * Furthest an expiry date lies ahead of today. Passports, identity cards and residence permits are
 * issued for at most ten years (fifteen in a few countries); a read further ahead is a misread, and
 * a check digit passes one misread in ten: held-out seed 2 and 4 photos once came out valid with
 * expiries in 2060 and 2062 after the check-digit correction.
 */
export const EXPIRY_AHEAD_YEARS = 20;

/**
 * ISO 8601 date of an MRZ YYMMDD. The MRZ drops the century: a birth date is the latest one not
 * after today; an expiry date the latest one at most EXPIRY_AHEAD_YEARS after today (expired
 * documents are still shown). Null when it is no calendar date.
 */
export function mrzDate(yymmdd: string, kind: 'birth' | 'expiry', today: Date): string | null {
  if (!/^\d{2}(\d{2}|<<)(\d{2}|<<)$/.test(yymmdd)) return null;
  const yy = Number(yymmdd.slice(0, 2));
  const mmRaw = yymmdd.slice(2, 4);
  const ddRaw = yymmdd.slice(4, 6);
  if (mmRaw === '<<' && ddRaw !== '<<') return null;
  const thisYear = today.getUTCFullYear();
  const mm = mmRaw === '<<' ? 1 : Number(mmRaw);
  const dd = ddRaw === '<<' ? 1 : Number(ddRaw);
  let year: number;
  if (kind === 'birth') {
    year = 2000 + yy;
    if (Date.UTC(year, mm - 1, dd) > today.getTime()) year -= 100;
  } else {
    year = 2000 + yy;
    if (year - thisYear > EXPIRY_AHEAD_YEARS) year -= 100;
  }
  const d = new Date(Date.UTC(year, mm - 1, dd));
  if (mm < 1 || mm > 12 || d.getUTCMonth() !== mm - 1 || d.getUTCDate() !== dd) return null;
  const y = String(year).padStart(4, '0');
  if (mmRaw === '<<') return y;
  const m = String(mm).padStart(2, '0');
  return ddRaw === '<<' ? `${y}-${m}` : `${y}-${m}-${String(dd).padStart(2, '0')}`;
}

/** SURNAME<<GIVEN<NAMES -> ["SURNAME", "GIVEN NAMES"]; fillers inside a name are spaces. */
export function splitNames(field: string): { surname: string; givenNames: string } {
  const at = field.indexOf('<<');
  const words = (v: string) => v.split('<').filter((w) => w.length > 0).join(' ');
  if (at < 0) return { surname: words(field), givenNames: '' };
  return { surname: words(field.slice(0, at)), givenNames: words(field.slice(at + 2)) };
}

/**
 * The document number, with ICAO's overflow rule for TD1/TD2: a number longer than nine characters
 * puts `<` in the check digit position and continues in the optional data, followed by its check
 * digit (part 5, note j). Returns the number, its check digit and what is left of the optional data.
 */
function documentNumber(type: DocumentType, lines: string[]): { number: string; check: string; checked: string; optional: string } {
  const L = LAYOUTS[type];
  const nine = part(lines, L.number);
  const cd = part(lines, L.numberCheck);
  const opt = part(lines, L.optional[0]!);
  if (type !== 'TD3' && cd === '<' && /^[A-Z0-9]/.test(opt)) {
    const end = opt.indexOf('<');
    const ext = end < 0 ? opt : opt.slice(0, end);
    if (ext.length >= 2) {
      const number = nine + ext.slice(0, -1);
      return { number: strip(number), check: ext.slice(-1), checked: number, optional: end < 0 ? '' : opt.slice(end) };
    }
  }
  return { number: strip(nine), check: cd, checked: nine, optional: opt };
}

export function parseMrz(lines: string[], today: Date = new Date()): ParsedMrz {
  const type = typeOf(lines);
  if (!type) throw new Error(`not an MRZ: ${lines.length} lines of ${lines.map((l) => l.length).join('/')} characters`);
  const L = LAYOUTS[type];
  const problems: string[] = [];
  const sl = slots(type);
  lines.forEach((line, i) => {
    [...line].forEach((ch, j) => {
      if (!MRZ_ALPHABET.includes(ch)) problems.push(`line ${i + 1}: ${JSON.stringify(ch)} is no MRZ character`);
      else if (!fits(sl[i]![j]!, ch)) problems.push(`line ${i + 1}, position ${j + 1}: ${JSON.stringify(ch)} does not belong there`);
    });
  });
  const safeCheck = (v: string) => (/^[0-9A-Z<]*$/.test(v) ? checkDigit(v) : '?');
  const num = documentNumber(type, lines);
  const birth = part(lines, L.birth);
  const expiry = part(lines, L.expiry);
  const optional = L.optional.map((o) => part(lines, o));
  const personal = optional[0]!;
  let optionalCheck: boolean | null = null;
  if (L.optionalCheck) {
    const cd = part(lines, L.optionalCheck);
    optionalCheck = cd === safeCheck(personal) || (/^<*$/.test(personal) && (cd === '<' || cd === '0'));
  }
  const checks: MrzChecks = {
    documentNumber: num.check === safeCheck(num.checked),
    birthDate: part(lines, L.birthCheck) === safeCheck(birth),
    expiryDate: part(lines, L.expiryCheck) === safeCheck(expiry),
    optional: optionalCheck,
    composite: part(lines, L.composite) === safeCheck(L.compositeCovers.map((c) => part(lines, c)).join('')),
  };
  const named: [keyof MrzChecks, string][] = [
    ['documentNumber', 'document number check digit'], ['birthDate', 'birth date check digit'], ['expiryDate', 'expiry date check digit'],
    ['optional', 'personal number check digit'], ['composite', 'composite check digit'],
  ];
  for (const [k, what] of named) if (checks[k] === false) problems.push(what);
  const birthDate = mrzDate(birth, 'birth', today);
  const expiryDate = mrzDate(expiry, 'expiry', today);
  // no check digit covers the codes: a read that makes no state of them is no MRZ
  for (const [what, sp] of [['issuing state', L.state], ['nationality', L.nationality]] as const) {
    const code = part(lines, sp);
    if (!isStateCode(code)) problems.push(`${what} ${JSON.stringify(code)} is no state code`);
  }
  // ICAO 9303 writes every data element from its first position, fillers after it: an optional
  // field that starts with a filler is empty. Stray marks read at a line's end (a line located past
  // its last character) otherwise make a personal number such as `<<<<<<<<<<<C<2` whose check
  // digit can hold by chance.
  L.optional.forEach((sp, i) => {
    const v = part(lines, sp);
    if (v.startsWith('<') && !/^<*$/.test(v)) problems.push(`optional data ${i + 1} ${JSON.stringify(v)} does not start at its first position`);
  });
  if (birthDate === null) problems.push('birth date is not a date');
  if (expiryDate === null) problems.push('expiry date is not a date');
  // compared as ISO strings; a birth date may lack its day or month (YYYY or YYYY-MM sorts first)
  if (birthDate !== null && expiryDate !== null && expiryDate < birthDate) problems.push(`expiry date ${expiryDate} is before the birth date ${birthDate}`);
  const sexCh = part(lines, L.sex);
  const fields: MrzFields = {
    documentCode: strip(part(lines, L.code)),
    issuingState: strip(part(lines, L.state)),
    documentNumber: num.number,
    ...splitNames(part(lines, L.names)),
    nationality: strip(part(lines, L.nationality)),
    birthDate,
    sex: sexCh === 'M' || sexCh === 'F' ? sexCh : 'X',
    expiryDate,
    optionalData: (type === 'TD3' ? [personal] : [num.optional, ...optional.slice(1)]).map(strip).filter((v) => v.length > 0),
  };
  return { type, lines, fields, checks, valid: problems.length === 0, problems };
}
