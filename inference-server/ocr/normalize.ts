import type { OcrClassConfig, OcrMode } from '../../contract/server-config.js';

/** Tesseract page-segmentation modes for the configured reading modes. */
export const PSM_FOR_MODE: Record<OcrMode, string> = { line: '7', word: '8', block: '6', auto: '3' };

/** Applies a class's normalising rule: drop the strip characters, collapse whitespace, fold case. */
export function normalizeText(raw: string, rule: OcrClassConfig['normalize']): string {
  let text = raw.replace(/\s+/g, ' ').trim();
  if (rule.strip.length > 0) {
    const strip = new Set(rule.strip);
    text = [...text].filter((ch) => !strip.has(ch)).join('');
  }
  return rule.uppercase ? text.toUpperCase() : text;
}

/**
 * Expands a charset such as "A-Z0-9" into tesseract's whitelist ("ABC...789"); a literal '-' is
 * kept when it is first or last.
 */
export function expandCharset(charset: string): string {
  const out = new Set<string>();
  const chars = [...charset];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    const next = chars[i + 2];
    if (chars[i + 1] === '-' && next !== undefined) {
      const from = c.codePointAt(0)!;
      const to = next.codePointAt(0)!;
      if (to < from) throw new RangeError(`charset range ${c}-${next} is reversed`);
      for (let cp = from; cp <= to; cp++) out.add(String.fromCodePoint(cp));
      i += 2;
    } else out.add(c);
  }
  return [...out].join('');
}
