import { classChar, type LineGrammar } from './ctc-fixed.js';
import { fits, LAYOUTS, slots, type DocumentType } from './mrz.js';

/**
 * The MRZ's layout as automata over its lines, for the MRZ reader's fixed-length decoding
 * (ctc-fixed.ts): what each position may hold (mrz.ts slots) and, on the names line, ICAO's order.
 */

const GRAMMARS = new Map<string, LineGrammar[]>();
/**
 * Names (ICAO 9303-3 4.6): the primary identifier, `<<`, the secondary identifier; the parts of each
 * separated by one `<`; fillers to the end. States: 0 not begun, 1 in a surname part, 2 one filler
 * after it, 3 the `<<` separator, 4 in a given name, 5 one filler after it, 6 the closing fillers.
 */
const NAME_STATES = 7;
function nameStep(g: number, ch: string): number {
  const letter = ch !== '<';
  switch (g) {
    case 0: return letter ? 1 : -1;
    case 1: return letter ? 1 : 2;
    case 2: return letter ? 1 : 3;
    case 3: return letter ? 4 : 6;
    case 4: return letter ? 4 : 5;
    case 5: return letter ? 4 : 6;
    default: return letter ? -1 : 6;
  }
}

/**
 * Optional data (ICAO 9303): written from its first position, fillers after it, so a field
 * that begins with a filler is empty (mrz.ts parseMrz rejects anything else). States: 0 anywhere
 * else or in a field that began with a character, 1 in a field that began with a filler.
 */
const OPTIONAL_STATES = 2;
function optionalStep(g: number, ch: string, first: boolean, inside: boolean): number {
  // outside optional data (and on lines without any, whose one state is 0)
  if (!inside) return 0;
  if (first) return ch === '<' ? 1 : 0;
  return g === 1 && ch !== '<' ? -1 : g;
}

/**
 * Per line, the automaton of what the MRZ's layout allows at each position (mrz.ts slots, the
 * names' own order where the line holds them, and empty optional data kept empty), for the
 * fixed-length decoding.
 */
export function mrzGrammar(type: DocumentType, alphabet: string, blank: number): LineGrammar[] {
  const key = `${type}:${alphabet}:${blank}`;
  let grammars = GRAMMARS.get(key);
  if (!grammars) {
    const C = alphabet.length + 1;
    const charOf = (k: number) => classChar(alphabet, blank, k);
    const { names, optional } = LAYOUTS[type];
    grammars = slots(type).map((line, l) => {
      // no MRZ has optional data on its names line, so each line needs one automaton or the other
      const spans = optional.filter((o) => o.line === l);
      const G = l === names.line ? NAME_STATES : spans.length > 0 ? OPTIONAL_STATES : 1;
      const next = new Int16Array(line.length * G * C).fill(-1);
      line.forEach((slot, n) => {
        const inNames = l === names.line && n >= names.start && n < names.end;
        const span = spans.find((o) => n >= o.start && n < o.end);
        for (let g = 0; g < G; g++) {
          for (let k = 0; k < C; k++) {
            if (k === blank || !fits(slot, charOf(k))) continue;
            next[(n * G + g) * C + k] = inNames ? nameStep(g, charOf(k)) : optionalStep(g, charOf(k), n === span?.start, span !== undefined);
          }
        }
      });
      return { states: G, next };
    });
    GRAMMARS.set(key, grammars);
  }
  return grammars;
}

