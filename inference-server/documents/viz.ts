import { mrzDate } from './mrz.js';

/**
 * The visual inspection zone's texts, as a field recognizer reads them, turned into the values an
 * MRZ would hold, so the two can be compared and one can stand in for the other: names
 * transliterated as ICAO 9303 part 3 (section 6) writes them in an MRZ, dates in the formats
 * documents print them, nationality words to their codes. Pure.
 */

/** ICAO 9303 part 3 transliteration of Latin letters with diacritics (the recommended forms). */
const TRANSLIT: Record<string, string> = {
  Ä: 'AE', Å: 'AA', Æ: 'AE', Ö: 'OE', Ø: 'OE', Ü: 'UE', ß: 'SS', ẞ: 'SS', Þ: 'TH', Œ: 'OE', Ĳ: 'IJ', Ð: 'D', Đ: 'D', Ł: 'L', Ħ: 'H', Ŀ: 'L', ı: 'I',
};

/** A name as an MRZ writes it: A-Z only, words separated by one space (the MRZ's `<`). */
export function mrzName(text: string, simple = false): string {
  let out = '';
  for (const ch of text.toUpperCase()) {
    if (!simple && TRANSLIT[ch]) {
      out += TRANSLIT[ch];
      continue;
    }
    const base = ch.normalize('NFD')[0]!;
    if (base >= 'A' && base <= 'Z') out += base;
    else if (ch === 'ß' || ch === 'ẞ') out += 'SS';
    else if (/[\s,\-/]/.test(ch)) out += ' ';
    // apostrophes and other marks vanish (D'ARTAGNAN -> DARTAGNAN)
  }
  return out.replace(/\s+/g, ' ').trim();
}

/**
 * Whether a visual-zone name and an MRZ name are the same person's: equal after transliteration
 * (the recommended ÄÖÜ -> AE OE UE, or simply dropping the diacritic, which some states do), or the
 * MRZ's a truncation of it (long names are cut to fit).
 */
export function sameName(viz: string, mrz: string): boolean {
  const m = mrz.trim();
  if (m.length === 0) return viz.trim().length === 0;
  for (const v of [mrzName(viz), mrzName(viz, true)]) {
    if (v === m) return true;
    if (m.length >= 10 && v.startsWith(m)) return true;
    if (v.replace(/ /g, '') === m.replace(/ /g, '')) return true;
  }
  return false;
}

/** Month abbreviations (and full names) in the languages documents print them in, to month numbers. */
const MONTHS: Record<string, number> = {};
const MONTH_NAMES = [
  ['JAN', 'JANUARY', 'JANV', 'JANVIER', 'JÄN', 'JANUAR', 'ENE', 'ENERO', 'GEN', 'GENNAIO', 'JANEIRO', 'JANUARI', 'STY'],
  ['FEB', 'FEBRUARY', 'FÉV', 'FEV', 'FÉVRIER', 'FEVRIER', 'FEBRUAR', 'FEBRERO', 'FEBBRAIO', 'FEVEREIRO', 'FEBRUARI', 'LUT'],
  ['MAR', 'MARCH', 'MARS', 'MÄR', 'MÄRZ', 'MAERZ', 'MARZO', 'MARÇO', 'MARCO', 'MAART', 'MRT'],
  ['APR', 'APRIL', 'AVR', 'AVRIL', 'ABR', 'ABRIL', 'APRILE', 'KWI'],
  ['MAY', 'MAI', 'MAG', 'MAGGIO', 'MAYO', 'MAIO', 'MEI', 'MAJ'],
  ['JUN', 'JUNE', 'JUIN', 'JUNI', 'JUNIO', 'GIU', 'GIUGNO', 'JUNHO', 'CZE'],
  ['JUL', 'JULY', 'JUIL', 'JUILLET', 'JULI', 'JULIO', 'LUG', 'LUGLIO', 'JULHO', 'LIP'],
  ['AUG', 'AUGUST', 'AOÛT', 'AOUT', 'AGO', 'AGOSTO', 'AUGUSTUS', 'SIE'],
  ['SEP', 'SEPT', 'SEPTEMBER', 'SEPTEMBRE', 'SEPTIEMBRE', 'SET', 'SETTEMBRE', 'SETEMBRO', 'WRZ'],
  ['OCT', 'OCTOBER', 'OCTOBRE', 'OKT', 'OKTOBER', 'OCTUBRE', 'OTT', 'OTTOBRE', 'OUT', 'OUTUBRO', 'PAŹ', 'PAZ'],
  ['NOV', 'NOVEMBER', 'NOVEMBRE', 'NOVIEMBRE', 'NOVEMBRO', 'LIS'],
  ['DEC', 'DECEMBER', 'DÉC', 'DÉCEMBRE', 'DECEMBRE', 'DEZ', 'DEZEMBER', 'DIC', 'DICIEMBRE', 'DICEMBRE', 'DEZEMBRO', 'GRU'],
];
MONTH_NAMES.forEach((names, i) => names.forEach((n) => (MONTHS[n] = i + 1)));

function iso(y: number, m: number, d: number): string | null {
  const dt = new Date(Date.UTC(y, m - 1, d));
  if (m < 1 || m > 12 || dt.getUTCFullYear() !== y || dt.getUTCMonth() !== m - 1 || dt.getUTCDate() !== d) return null;
  return `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

/**
 * A printed date to ISO 8601: 12.03.1985, 12 03 1985, 12/03/1985, 12-03-1985, 1985-03-12,
 * 12 MAR 1985, 12 MARS/MAR 1985 (bilingual; the first month is used), with two-digit years
 * (ICAO's specimen prints 12 AUG/AOUT 74) given a century as in the MRZ. Null when unreadable.
 */
export function parseVizDate(text: string, kind: 'birth' | 'expiry', today: Date = new Date()): string | null {
  const t = text.toUpperCase().replace(/\s+/g, ' ').trim();
  const withYear = (d: number, m: number, y: string): string | null => {
    if (y.length === 4) return iso(Number(y), m, d);
    if (y.length !== 2) return null;
    const full = mrzDate(`${y}${String(m).padStart(2, '0')}${String(d).padStart(2, '0')}`, kind, today);
    return full && full.length === 10 ? full : null;
  };
  let m = /^(\d{4})[-./ ](\d{1,2})[-./ ](\d{1,2})$/.exec(t);
  if (m) return iso(Number(m[1]), Number(m[2]), Number(m[3]));
  m = /^(\d{1,2}) ?[-./ ] ?(\d{1,2}) ?[-./ ] ?(\d{2}|\d{4})$/.exec(t);
  if (m) return withYear(Number(m[1]), Number(m[2]), m[3]!);
  m = /^(\d{1,2})[ .-]?([\p{L}]{3,10})\.?(?: ?\/ ?[\p{L}]{3,10}\.?)?[ .-]?(\d{2}|\d{4})$/u.exec(t);
  if (m) {
    const month = MONTHS[m[2]!];
    return month ? withYear(Number(m[1]), month, m[3]!) : null;
  }
  return null;
}

/** M, F or X from what a document prints (F/F, M/H, X); null when it is none of them. */
export function parseVizSex(text: string): 'M' | 'F' | 'X' | null {
  const t = text.toUpperCase().replace(/[^A-Z/]/g, '');
  const first = t.split('/')[0] ?? '';
  if (first === 'M' || first === 'F' || first === 'X') return first;
  return null;
}

/** Nationality words the documents print, to their ICAO codes (D is Germany's). */
const NATIONALITY_WORDS: Record<string, string> = {
  UTOPIAN: 'UTO', DEUTSCH: 'D', DEUTSCHE: 'D', GERMAN: 'D', FRANÇAISE: 'FRA', FRANCAISE: 'FRA', FRANÇAIS: 'FRA', FRENCH: 'FRA',
  ESPAÑOLA: 'ESP', ESPANOLA: 'ESP', ESPAÑOL: 'ESP', SPANISH: 'ESP', NEDERLANDSE: 'NLD', DUTCH: 'NLD', SVENSK: 'SWE', SWEDISH: 'SWE',
  POLSKIE: 'POL', POLSKA: 'POL', POLISH: 'POL', PORTUGUESA: 'PRT', PORTUGUESE: 'PRT', ITALIANA: 'ITA', ITALIAN: 'ITA',
  'ČESKÁ REPUBLIKA': 'CZE', 'CESKA REPUBLIKA': 'CZE', CZECH: 'CZE',
};

/** A three-letter code (or D) as printed, or a nationality word this reader knows; null otherwise. */
export function parseVizNationality(text: string): string | null {
  const t = text.toUpperCase().replace(/\s+/g, ' ').trim();
  if (/^([A-Z]{3}|D)$/.test(t)) return t;
  return NATIONALITY_WORDS[t] ?? NATIONALITY_WORDS[t.normalize('NFD').replace(/\p{M}/gu, '')] ?? null;
}

/** A document number as printed (spaces and separators dropped, upper case). */
export function parseVizNumber(text: string): string | null {
  const t = text.toUpperCase().replace(/[\s\-.]/g, '');
  return /^[A-Z0-9]{4,20}$/.test(t) ? t : null;
}
