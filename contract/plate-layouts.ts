/**
 * Licence-plate layouts by country, in the template grammar of text-layout.ts, for deployments that
 * opt into layout correction (ModelService spec.ocr.countries; server config: formats). Plates read
 * by the recognizer are never forced into a layout by default: these only correct confusable glyphs
 * (O/0, S/5, B/8 ...) of a read that has the layout's length, one for one. The systems are those of
 * training/synth.py (generator v2). Pure data.
 */

const repeat = (s: string, n: number) => s.repeat(n);
const range = (lo: number, hi: number) => Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);

export const PLATE_LAYOUTS = {
  FR: ['LL-DDD-LL'],
  // district (1-3 letters), 1-2 letters, 1-4 digits, at most 8 characters
  DE: range(1, 3).flatMap((a) => range(1, 2).flatMap((b) => range(1, 4).filter((d) => a + b + d <= 8).map((d) => `${repeat('L', a)} ${repeat('L', b)} ${repeat('D', d)}`))),
  IT: ['LL DDDLL'],
  ES: ['DDDD LLL'],
  NL: ['DD-LLL-D', 'L-DDD-LL', 'LL-DDD-L', 'DD-LL-LL', 'LLL-DD-L'],
  BE: ['D-LLL-DDD'],
  PL: ['LL DDDDD', 'LLL DDDD', 'LL DDDLL', 'LLL DDLL'],
  PT: ['LL-DD-LL'],
  SE: ['LLL DDD', 'LLL DDL'],
  CZ: ['DLD DDDD'],
  IE: range(1, 2).flatMap((c) => range(1, 6).map((d) => `DDD-${repeat('L', c)}-${repeat('D', d)}`)),
  GB: ['LLDD LLL'],
  CH: range(1, 6).map((d) => `LL ${repeat('D', d)}`),
  US: ['DLLLDDD', 'LLL-DDDD', 'DLL-DDDD', 'LLL LDD', 'LLLL DD', 'DDD LLL'],
  TN: ["DDD 'TU' DDDD"],
  MA: range(3, 5).flatMap((n) => range(1, 2).map((r) => `${repeat('D', n)} L ${repeat('D', r)}`)),
  BR: ['LLLDLDD', 'LLL-DDDD'],
  AR: ['LL DDD LL', 'LLL DDD'],
  RU: ['LDDDLL DD', 'LDDDLL DDD'],
  IN: ['LL DD LL DDDD', 'LL DD L DDDD'],
} as const satisfies Record<string, readonly string[]>;

export type PlateCountry = keyof typeof PLATE_LAYOUTS;
export const PLATE_COUNTRIES = Object.keys(PLATE_LAYOUTS) as PlateCountry[];

/** The templates of these countries, in order, without repeats. */
export function layoutsFor(countries: readonly PlateCountry[]): string[] {
  return [...new Set(countries.flatMap((c) => PLATE_LAYOUTS[c]))];
}
