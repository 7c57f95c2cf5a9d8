/**
 * The text-layout grammar: how a ModelService (spec.ocr.formats) and the server's config
 * (ocr.classes.<class>.formats) write the layouts a class's text follows. The operator parses
 * templates to refuse a bad one as InvalidSpec; the server parses them to correct reads
 * (inference-server/ocr/formats.ts). Pure code, no dependencies.
 *
 *   L        one letter  (the letters of the class charset; A-Z without one)
 *   D        one digit   (the digits of the class charset; 0-9 without one)
 *   A        one letter or digit
 *   'TU'     fixed characters, quoted: they are part of the text and always the same
 *   anything else (space, '-', '.', '/', ...) a separator: printed between groups, optional in the
 *            read (a recognizer often drops it, or the whitelist leaves it out)
 *
 * e.g. "LL-DDD-LL" (France), "DDD 'TU' DDDD" (Tunisia), "DLLLDDD" (California).
 */

export type SlotKind = 'letter' | 'digit' | 'any';

export type TemplateToken =
  | { kind: 'slot'; slot: SlotKind }
  | { kind: 'fixed'; ch: string }
  | { kind: 'sep'; ch: string };

export interface PlateTemplate {
  source: string;
  tokens: TemplateToken[];
  /** slots + fixed characters: how many characters of text the template has */
  length: number;
}

export class TemplateError extends Error {}

const SLOT_LETTERS: Record<string, SlotKind> = { L: 'letter', D: 'digit', A: 'any' };

/** Parses a template; throws TemplateError for an unterminated quote or a template without characters. */
export function parseTemplate(source: string): PlateTemplate {
  const tokens: TemplateToken[] = [];
  const chars = [...source];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === "'") {
      const end = chars.indexOf("'", i + 1);
      if (end < 0) throw new TemplateError(`template ${JSON.stringify(source)}: unterminated quote`);
      if (end === i + 1) throw new TemplateError(`template ${JSON.stringify(source)}: empty quotes`);
      for (const f of chars.slice(i + 1, end)) tokens.push({ kind: 'fixed', ch: f });
      i = end;
    } else if (SLOT_LETTERS[c]) tokens.push({ kind: 'slot', slot: SLOT_LETTERS[c] });
    else if (/[\p{L}\p{N}]/u.test(c)) {
      throw new TemplateError(`template ${JSON.stringify(source)}: '${c}' is neither L, D, A nor a separator; quote fixed characters ('${c}')`);
    } else tokens.push({ kind: 'sep', ch: c });
  }
  const length = tokens.filter((t) => t.kind !== 'sep').length;
  if (length === 0) throw new TemplateError(`template ${JSON.stringify(source)} has no characters`);
  return { source, tokens, length };
}
