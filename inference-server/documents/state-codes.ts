import isoCountries from 'i18n-iso-countries';

/**
 * The codes an MRZ's issuing state and nationality may hold (ICAO 9303 part 3): ISO 3166-1
 * alpha-3, and the codes ICAO adds to it. No check digit covers these fields, so a misread code
 * (HLD for NLD) is only caught by not being one.
 */
const ICAO_CODES = [
  'D', // Germany
  'GBD', 'GBN', 'GBO', 'GBP', 'GBS', // British nationality classes
  'EUE', // European Union
  'UNO', 'UNA', 'UNK', // United Nations
  'XBA', 'XIM', 'XCC', 'XCE', 'XCO', 'XEC', 'XPO', 'XES', 'XMP', 'XOM', 'XDC', // international organisations
  'XXA', 'XXB', 'XXC', 'XXX', // stateless, refugee, unspecified
  'RKS', // Kosovo
  'UTO', // Utopia: ICAO's specimens
];

export const STATE_CODES: ReadonlySet<string> = new Set([...Object.keys(isoCountries.getAlpha3Codes()), ...ICAO_CODES]);

/** Whether a field as the MRZ writes it (three characters, fillers after a shorter code) is a known code. */
export function isStateCode(field: string): boolean {
  const m = /^([A-Z]{1,3})<*$/.exec(field);
  return !!m && m[0].length === field.length && STATE_CODES.has(m[1]!);
}
