import type { MrzFields, ParsedMrz } from './mrz.js';
import { mrzName, parseVizDate, parseVizNationality, parseVizNumber, parseVizSex, sameName } from './viz.js';

/**
 * The fields of a document from its two zones: the MRZ's when its check digits prove the read,
 * the visual zone's otherwise; and where a proven MRZ and the visual zone disagree, a mismatch
 * (a misread field, or a document whose zones were not printed together).
 */

export const FIELD_NAMES = ['documentNumber', 'surname', 'givenNames', 'nationality', 'birthDate', 'sex', 'expiryDate', 'issuingState'] as const;
export type FieldName = (typeof FIELD_NAMES)[number];
export type Fields = Record<FieldName, string | null>;
export type Source = 'mrz' | 'viz';

export interface Mismatch {
  field: FieldName;
  mrz: string;
  viz: string;
}

/** The visual zone's texts as read, by field (raw; what a field recognizer returned). */
export type VizTexts = Partial<Record<FieldName, string>>;

/**
 * A visual-zone read stands in for a field, or contradicts the MRZ, only when the field reader was
 * sure of it and the detector sure of its box. Held-out seed 3 (document-detector v3, field-reader
 * v1): of 1,033 reads 18 % were wrong (a misread, or the right text of a neighbouring field's box);
 * with both gates 9 %, and wrong-form reads (a date in the number's box) are dropped too.
 */
export const VIZ_MIN_CONFIDENCE = 0.9;
export const VIZ_MIN_BOX_SCORE = 0.5;

/** Whether `text` can be what `field` prints: a name has no digit; a document number has one and is no date. */
export function hasFieldForm(field: FieldName, text: string): boolean {
  if (field === 'surname' || field === 'givenNames') return !/\d/.test(text);
  if (field === 'documentNumber') return /\d/.test(text) && !/^[\d\s./-]+$/.test(text) && !/[a-z]/.test(text);
  return true;
}

/** One field as the field reader read it from the detector's box. */
export interface VizRead {
  field: FieldName;
  text: string;
  /** the field reader's confidence in the text */
  confidence: number;
  /** the detector's score of the box */
  boxScore: number;
}

/** The texts of `reads`, and those of them trusted as above. */
export function trustedViz(reads: VizRead[]): { texts: VizTexts; trusted: VizTexts } {
  const texts: VizTexts = {};
  const trusted: VizTexts = {};
  for (const r of reads) {
    texts[r.field] = r.text;
    if (r.confidence >= VIZ_MIN_CONFIDENCE && r.boxScore >= VIZ_MIN_BOX_SCORE && hasFieldForm(r.field, r.text)) trusted[r.field] = r.text;
  }
  return { texts, trusted };
}

/** Each visual-zone text as the value an MRZ would hold (names transliterated, dates ISO, codes). */
export function vizValues(texts: VizTexts, today: Date): Fields {
  const t = (k: FieldName) => texts[k]?.trim() || undefined;
  const name = (k: FieldName) => {
    const v = t(k);
    return v ? mrzName(v) || null : null;
  };
  return {
    documentNumber: t('documentNumber') ? parseVizNumber(t('documentNumber')!) : null,
    surname: name('surname'),
    givenNames: name('givenNames'),
    nationality: t('nationality') ? parseVizNationality(t('nationality')!) : null,
    birthDate: t('birthDate') ? parseVizDate(t('birthDate')!, 'birth', today) : null,
    sex: t('sex') ? parseVizSex(t('sex')!) : null,
    expiryDate: t('expiryDate') ? parseVizDate(t('expiryDate')!, 'expiry', today) : null,
    issuingState: t('issuingState') ? parseVizNationality(t('issuingState')!) : null,
  };
}

function mrzValues(f: MrzFields): Fields {
  return {
    documentNumber: f.documentNumber || null, surname: f.surname || null, givenNames: f.givenNames || null, nationality: f.nationality || null,
    birthDate: f.birthDate, sex: f.sex, expiryDate: f.expiryDate, issuingState: f.issuingState || null,
  };
}

/**
 * The visual zone's fonts draw O, Q and 0 alike, and the field reader cannot tell them apart there
 * (held-out seeds 3 and 4: 9 of 350 document numbers read with O for 0 or Q), while the MRZ's
 * check digit tells them apart (O counts 24, Q 26, 0 nothing); so a document number that differs
 * only there is no mismatch.
 */
const foldRound = (v: string) => v.replace(/[OQ]/g, '0');

function agree(field: FieldName, mrz: string, viz: string, vizText: string | undefined): boolean {
  if (field === 'surname' || field === 'givenNames') return sameName(vizText ?? viz, mrz);
  if (field === 'documentNumber') return foldRound(mrz) === foldRound(viz);
  return mrz === viz;
}

export interface Merged {
  fields: Fields;
  sources: Record<FieldName, Source | null>;
  mismatches: Mismatch[];
}

export function mergeFields(mrz: ParsedMrz | undefined, texts: VizTexts, today: Date): Merged {
  const viz = vizValues(texts, today);
  const fields = {} as Fields;
  const sources = {} as Record<FieldName, Source | null>;
  const mismatches: Mismatch[] = [];
  if (mrz?.valid) {
    const m = mrzValues(mrz.fields);
    for (const k of FIELD_NAMES) {
      fields[k] = m[k];
      sources[k] = m[k] === null ? null : 'mrz';
      const v = viz[k];
      if (m[k] !== null && v !== null && !agree(k, m[k]!, v, texts[k])) mismatches.push({ field: k, mrz: m[k]!, viz: v });
    }
    return { fields, sources, mismatches };
  }
  // no proven MRZ: the visual zone, and the MRZ's dates and number where their own check digit holds
  const m = mrz ? mrzValues(mrz.fields) : undefined;
  const proven: Partial<Record<FieldName, boolean>> = mrz
    ? { documentNumber: mrz.checks.documentNumber, birthDate: mrz.checks.birthDate, expiryDate: mrz.checks.expiryDate }
    : {};
  for (const k of FIELD_NAMES) {
    if (viz[k] !== null) {
      fields[k] = viz[k];
      sources[k] = 'viz';
    } else if (m && proven[k] && m[k] !== null) {
      fields[k] = m[k];
      sources[k] = 'mrz';
    } else {
      fields[k] = null;
      sources[k] = null;
    }
  }
  return { fields, sources, mismatches };
}
