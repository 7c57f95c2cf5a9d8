import { LAYOUTS, type DocumentType } from './mrz.js';
import type { PositionRead } from './mrz-correct.js';
import { mrzName } from './viz.js';

/**
 * No check digit covers an MRZ's names, so a valid MRZ can still carry a misread letter there
 * (KARIN read KARIA, D'ARTAGNAN's D read B). The visual zone prints the same names, read by another
 * reader from other pixels. Where the visual zone's names, written as the MRZ writes them, differ
 * from the MRZ's in at most MAX_FUSED letters, and at each of those the MRZ reader itself offered
 * the visual zone's letter as an alternative with at least FUSE_MIN_P, two readers agree on it and
 * it is taken. Anything else is left as the MRZ reads it, and is reported as a mismatch. Pure.
 */

/** Letters of the names one fusion may change: more than that is another name, or a misplaced read. */
export const MAX_FUSED = 2;
/** What the MRZ reader must have given the visual zone's letter, at that position, for it to be taken. */
export const FUSE_MIN_P = 0.02;

export interface NameTexts {
  surname?: string;
  givenNames?: string;
}

/**
 * The names field the visual zone's texts make, as far as they say (the given names' part only when
 * they were read): `SURNAME<<GIVEN<NAMES` padded with fillers, or cut, to the field's length.
 */
function vizNamesField(surname: string, givenNames: string | undefined, length: number): { field: string; known: number } {
  const sur = surname.replace(/ /g, '<');
  if (givenNames === undefined) {
    // only the surname and the `<<` after it are known
    const field = `${sur}<<`.slice(0, length);
    return { field, known: field.length };
  }
  const field = `${sur}<<${givenNames.replace(/ /g, '<')}`.slice(0, length).padEnd(length, '<');
  return { field, known: length };
}

/**
 * The MRZ lines with the names fused with the visual zone's (see above), and how many letters
 * changed. `positions` are the reader's alternatives for each character of `lines`.
 */
export function fuseNames(type: DocumentType, lines: string[], positions: PositionRead[][], viz: NameTexts): { lines: string[]; changed: number } {
  const span = LAYOUTS[type].names;
  const line = lines[span.line];
  const reads = positions[span.line];
  if (!viz.surname || line === undefined || !reads || reads.length !== line.length) return { lines, changed: 0 };
  const mrzField = line.slice(span.start, span.end);
  let best: { field: string; diffs: number[] } | undefined;
  // ICAO's transliteration (Ä -> AE) or the diacritic simply dropped, as some states write it
  for (const simple of [false, true]) {
    const surname = mrzName(viz.surname, simple);
    const given = viz.givenNames ? mrzName(viz.givenNames, simple) : undefined;
    if (!surname) continue;
    const { field, known } = vizNamesField(surname, given, mrzField.length);
    const diffs: number[] = [];
    for (let i = 0; i < known; i++) if (field[i] !== mrzField[i]) diffs.push(i);
    if (!best || diffs.length < best.diffs.length) best = { field, diffs };
  }
  if (!best || best.diffs.length === 0 || best.diffs.length > MAX_FUSED) return { lines, changed: 0 };
  const offered = (i: number) => {
    const want = best!.field[i]!;
    return (reads[span.start + i] ?? []).some((c) => c.ch === want && c.p >= FUSE_MIN_P);
  };
  if (!best.diffs.every(offered)) return { lines, changed: 0 };
  const chars = [...line];
  for (const i of best.diffs) chars[span.start + i] = best.field[i]!;
  const out = [...lines];
  out[span.line] = chars.join('');
  return { lines: out, changed: best.diffs.length };
}
