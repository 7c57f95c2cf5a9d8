import type { Box } from '../ocr/crop.js';
import { decodeFixedLength, type FixedRead } from './ctc-fixed.js';
import { FIELD_NAMES, mergeFields, trustedViz, type FieldName, type Fields, type Mismatch, type Source, type VizTexts } from './fields.js';
import { LineReader, type LineProbs } from './line-reader.js';
import { bestText, ctcGreedy } from '../ocr/ctc.js';
import { correctMrz, type PositionRead } from './mrz-correct.js';
import { mrzGrammar } from './mrz-grammar.js';
import { fuseNames } from './name-fusion.js';
import { MRZ_SHAPES, parseMrz, type DocumentType, type MrzChecks, type ParsedMrz } from './mrz.js';
import { evenLineContrast } from './line-contrast.js';
import { blockQuad, commonExtent, lineQuad, locateMrzAll, type LocatedMrz, type MrzLineBand } from './mrz-locate.js';
import { apply, rectify, type Point, type Quad } from './rectify.js';

/**
 * Reads the identity documents of a photo with the document detector (models/document-detector.md)
 * and the two line readers: on the photo, the detector finds each document (by type) and its four
 * corners; the document is warped upright from its corners; on that view the detector finds the
 * MRZ lines and the visual zone's fields; the MRZ reader reads the lines (decoded to the exact line
 * length, corrected through the check digits), the field reader the fields; the two are merged.
 */

/** The detector's classes this pipeline needs (training/documents/views.py CLASSES). */
export const DOCUMENT_CLASSES = ['td1', 'td2', 'td3'] as const;
export const CORNER_CLASSES = ['corner_tl', 'corner_tr', 'corner_br', 'corner_bl'] as const;
export const MRZ_LINE_CLASS = 'mrz_line';
export const FIELD_CLASSES: Record<FieldName, string> = {
  documentNumber: 'document_number', surname: 'surname', givenNames: 'given_names', nationality: 'nationality',
  birthDate: 'birth_date', sex: 'sex', expiryDate: 'expiry_date', issuingState: 'issuing_state',
};
/** The detector's mrz_line boxes on the photo that say where to look for the MRZ. */
export const MRZ_ON_PHOTO_MIN_SCORE = 0.3;
/**
 * Most candidate MRZs read on the photo for one document (each up to two reader runs of two or
 * three lines). Held-out 150, one direction: 6 gave 82.0 % fully right, 12 84.0 %, 24 84.0 %; with
 * the rival directions and each line group's own (mrz-locate.ts locateMrzAll), 12 gave 86.0 %. Only
 * documents whose earlier candidates fail their checks pay for the later ones.
 */
export const MRZ_READS_ON_PHOTO = 12;
/**
 * A valid MRZ read with a log probability per character at least this high ends the search for
 * candidates (MrzChoice). Held-out seed 3, 150 photos: never stopping early on an unsure read took
 * MRZ valid and every field exact from 86.0 to 88.0 % at -0.05 (86.7 % at -0.1); seed 4, 200
 * photos: 83.5 to 86.5 %. CPU per document 792 -> 1,303 ms (median in the server 374 -> 499 ms).
 */
export const MRZ_SURE = -0.05;
/** Output frames per line of the reader MRZ_SURE was chosen with (384 columns, one frame per 4). */
export const MRZ_SURE_FRAMES = 96;
export const REQUIRED_CLASSES = [...DOCUMENT_CLASSES, ...CORNER_CLASSES, MRZ_LINE_CLASS, ...Object.values(FIELD_CLASSES)];

export interface Found {
  class: string;
  score: number;
  box: Box;
}

export interface DocumentOut {
  type: DocumentType;
  score: number;
  box: Box;
  /** top-left, top-right, bottom-right, bottom-left of the document in the photo */
  corners: Point[];
  fields: Fields;
  /** where each field came from: the MRZ, the visual zone, or nowhere (null) */
  sources: Record<FieldName, Source | null>;
  mrz: {
    lines: string[];
    valid: boolean;
    checks: MrzChecks | null;
    /** characters the check-digit correction changed from the recognizer's first choice */
    corrected: number;
    /** letters of the names taken from the visual zone where the MRZ reader saw them too (name-fusion.ts) */
    namesFromVisualZone: number;
  } | null;
  /** the visual zone's texts as read, by field */
  viz: VizTexts;
  mismatches: Mismatch[];
}

export interface DocumentReaderOptions {
  mrzReader: LineReader;
  fieldReader?: LineReader;
  maxDocuments: number;
  zoneConfidence: number;
}

export type InferFn = (pixels: Uint8Array, width: number, height: number, confidence: number) => Promise<{ found: Found[]; pixels: Uint8Array }>;

const area = (b: Box) => Math.max(0, b.x2 - b.x1) * Math.max(0, b.y2 - b.y1);
function iou(a: Box, b: Box): number {
  const inter = area({ x1: Math.max(a.x1, b.x1), y1: Math.max(a.y1, b.y1), x2: Math.min(a.x2, b.x2), y2: Math.min(a.y2, b.y2) });
  return inter / Math.max(1e-9, area(a) + area(b) - inter);
}
const grown = (b: Box, by: number): Box => {
  const gx = (b.x2 - b.x1) * by;
  const gy = (b.y2 - b.y1) * by;
  return { x1: b.x1 - gx, y1: b.y1 - gy, x2: b.x2 + gx, y2: b.y2 + gy };
};
const centre = (b: Box): Point => [(b.x1 + b.x2) / 2, (b.y1 + b.y2) / 2];
const inside = (p: Point, b: Box, grow: number) => {
  const gx = (b.x2 - b.x1) * grow;
  const gy = (b.y2 - b.y1) * grow;
  return p[0] >= b.x1 - gx && p[0] <= b.x2 + gx && p[1] >= b.y1 - gy && p[1] <= b.y2 + gy;
};

/** The documents of a photo: best first, one per place (a box of another type over it is the same document). */
export function documentsOf(found: Found[], max: number): Found[] {
  const docs = found.filter((f) => (DOCUMENT_CLASSES as readonly string[]).includes(f.class)).sort((a, b) => b.score - a.score);
  const kept: Found[] = [];
  for (const d of docs) if (kept.length < max && kept.every((k) => iou(k.box, d.box) < 0.5)) kept.push(d);
  return kept;
}

/**
 * The document's corners from the corner detections inside its box (the most confident of each
 * kind); one missing corner is put where a parallelogram puts it; with fewer than three, the box's
 * own corners (right for a document photographed square on).
 */
export function cornersOf(doc: Found, found: Found[]): Quad {
  const pts: (Point | undefined)[] = CORNER_CLASSES.map((cls) => {
    const best = found.filter((f) => f.class === cls && inside(centre(f.box), doc.box, 0.1)).sort((a, b) => b.score - a.score)[0];
    return best ? centre(best.box) : undefined;
  });
  const missing = pts.filter((p) => !p).length;
  if (missing === 1) {
    const i = pts.findIndex((p) => !p);
    const [a, b, c] = [pts[(i + 1) % 4]!, pts[(i + 2) % 4]!, pts[(i + 3) % 4]!];
    pts[i] = [a[0] + c[0] - b[0], a[1] + c[1] - b[1]];
  } else if (missing > 1) {
    const { x1, y1, x2, y2 } = doc.box;
    return [[x1, y1], [x2, y1], [x2, y2], [x1, y2]];
  }
  return pts as Quad;
}

const FIELD_OF_CLASS = new Map<string, FieldName>(FIELD_NAMES.map((f) => [FIELD_CLASSES[f], f]));

/**
 * The box of each visual-zone field: the most confident of its class that does not lie on a box
 * already given to another field (IoU 0.5), surest first. The detector often scores a surname's
 * box as given names too; read there, the given names come out as the surname (held-out seeds 3
 * and 4 with detector v4: 9 of 350 photos).
 */
export function fieldBoxes(found: Found[]): { field: FieldName; box: Box; score: number }[] {
  const picked: { field: FieldName; box: Box; score: number }[] = [];
  for (const f of found.filter((x) => FIELD_OF_CLASS.has(x.class)).sort((a, b) => b.score - a.score)) {
    const field = FIELD_OF_CLASS.get(f.class)!;
    if (picked.some((p) => p.field === field || iou(p.box, f.box) >= 0.5)) continue;
    picked.push({ field, box: f.box, score: f.score });
  }
  return picked;
}

/** MRZ lines: the most confident boxes that do not share a row, top to bottom (at most three). */
export function mrzLines(found: Found[]): Found[] {
  const lines = found.filter((f) => f.class === MRZ_LINE_CLASS).sort((a, b) => b.score - a.score);
  const kept: Found[] = [];
  const vOverlap = (a: Box, b: Box) => Math.max(0, Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1)) / Math.max(1e-9, Math.min(a.y2 - a.y1, b.y2 - b.y1));
  for (const l of lines) if (kept.length < 3 && kept.every((k) => vOverlap(k.box, l.box) < 0.4)) kept.push(l);
  return kept.sort((a, b) => a.box.y1 - b.box.y1);
}

/** Lines to read in a warped view of the photo. */
interface LinesView {
  pixels: Uint8Array;
  width: number;
  height: number;
  lines: Found[];
}
/** A view's lines and what the MRZ reader made of each. */
interface ReadView {
  lines: Found[];
  probs: LineProbs[];
}
interface MrzRead {
  lines: string[];
  parsed: ParsedMrz | undefined;
  /** characters the check-digit correction changed */
  corrected: number;
  /** the reader's alternatives for each character of `lines` (absent when they fit no MRZ type) */
  positions?: PositionRead[][];
  /** the decoded path's log probability per character, per MRZ_SURE_FRAMES frames (how sure the reader was of the whole MRZ) */
  certainty?: number;
}

/**
 * Which of the candidate reads of one MRZ to report. A valid read ends the search when the reader
 * was sure of it (MRZ_SURE); one it was unsure of is kept while the other candidates are read, and
 * the surest valid read is reported: no check digit covers the names, the issuing state or the
 * document code, so a valid MRZ read from a poor view can still be wrong there. Without a valid
 * read, the surest failing read is reported, for what it is worth: it is the user's best hint of
 * what the zone says (the first read may be a view of the wrong lines).
 */
export class MrzChoice<R> {
  private valid?: { read: R; certainty: number };
  private failing?: { read: R; certainty: number };

  /** True when the search may stop: `read` is valid and sure. */
  offer(read: R, valid: boolean, certainty: number): boolean {
    const kept = valid ? this.valid : this.failing;
    if (!kept || certainty > kept.certainty) {
      if (valid) this.valid = { read, certainty };
      else this.failing = { read, certainty };
    }
    return valid && certainty >= MRZ_SURE;
  }

  get best(): R | undefined {
    return (this.valid ?? this.failing)?.read;
  }
}

export class DocumentReader {
  constructor(private readonly opts: DocumentReaderOptions) {}

  async close(): Promise<void> {
    await Promise.all([this.opts.mrzReader.close(), this.opts.fieldReader?.close()]);
  }

  /**
   * The documents of a photo. `found` may hold boxes under the request's confidence (`minScore`):
   * the detector often splits a document's score among td1, td2 and td3, so a document it scored
   * under the threshold is still read when the detector saw MRZ lines in it, and reported only
   * when its MRZ passes every check digit.
   */
  async read(pixels: Uint8Array, width: number, height: number, found: Found[], infer: InferFn, today: Date, minScore = 0): Promise<DocumentOut[]> {
    const out: DocumentOut[] = [];
    const candidates = documentsOf(found, Number.MAX_SAFE_INTEGER);
    const confident = candidates.filter((d) => d.score > minScore).slice(0, this.opts.maxDocuments);
    for (const doc of confident) {
      const read = await this.readOne(pixels, width, height, doc, found, infer, today);
      // boxes of two types over one card that overlap too little to be merged: its MRZ, proven, is the same
      if (!(read.mrz?.valid && out.some((o) => o.mrz?.valid && o.mrz.lines.join() === read.mrz!.lines.join()))) out.push(read);
    }
    const unsure = candidates
      .filter((d) => d.score <= minScore && confident.every((k) => iou(k.box, d.box) < 0.5))
      .filter((d) => found.some((f) => f.class === MRZ_LINE_CLASS && f.score >= MRZ_ON_PHOTO_MIN_SCORE && inside(centre(f.box), d.box, 0.05)));
    for (const doc of unsure) {
      if (out.length >= this.opts.maxDocuments) break;
      const read = await this.readOne(pixels, width, height, doc, found, infer, today, { photoOnly: true });
      if (read.mrz?.valid) out.push(read);
    }
    return out;
  }

  private async readOne(pixels: Uint8Array, width: number, height: number, doc: Found, found: Found[], infer: InferFn, today: Date, opts: { photoOnly?: boolean } = {}): Promise<DocumentOut> {
    const quad = cornersOf(doc, found);
    const detectedType = doc.class.toUpperCase() as DocumentType;
    // The MRZ straight from the lines the detector saw on the photo: it does not need the corners,
    // which the detector finds far less often; a valid read there needs no upright view at all
    // unless a field reader wants the visual zone.
    const fromPhoto = await this.readMrzOnPhoto(pixels, width, height, doc, found, detectedType, today);
    let mrz = fromPhoto?.parsed?.valid ? fromPhoto : undefined;
    let viz: VizTexts = {};
    let trusted: VizTexts = {};
    // a document the detector was unsure of is worth the second detector run only once its MRZ proved it
    if ((!mrz && !opts.photoOnly) || (mrz && this.opts.fieldReader)) {
      const view = rectify(pixels, width, height, quad);
      // the view goes to the detector and comes back (its buffer is transferred to the worker)
      const zones = await infer(view.pixels, view.width, view.height, this.opts.zoneConfidence);
      const vp = zones.pixels;
      if (!mrz) {
        const onView = await this.readMrz(vp, view.width, view.height, mrzLines(zones.found), detectedType, today);
        mrz = onView?.parsed?.valid || !fromPhoto ? onView : fromPhoto;
      }
      ({ texts: viz, trusted } = await this.readFields(vp, view.width, view.height, zones.found));
    }
    let parsed = mrz?.parsed;
    let fused = 0;
    if (parsed?.valid && mrz?.positions) {
      const f = fuseNames(parsed.type, parsed.lines, mrz.positions, trusted);
      if (f.changed > 0) {
        parsed = parseMrz(f.lines, today);
        fused = f.changed;
      }
    }
    const merged = mergeFields(parsed, trusted, today);
    return {
      type: parsed?.type ?? detectedType,
      score: doc.score,
      box: doc.box,
      corners: quad.map((p) => [Math.round(p[0] * 10) / 10, Math.round(p[1] * 10) / 10] as Point),
      fields: merged.fields,
      sources: merged.sources,
      mrz: mrz ? { lines: parsed?.lines ?? mrz.lines, valid: parsed?.valid ?? false, checks: parsed?.checks ?? null, corrected: mrz.corrected, namesFromVisualZone: fused } : null,
      viz,
      mismatches: merged.mismatches,
    };
  }

  /**
   * The MRZ read from the photo itself: the lines located along their own direction inside the
   * region of the detector's mrz_line boxes (mrz-locate.ts), warped upright, read, over the candidate
   * line groups (nearest the detector's MRZ first), upright then upside down, each in two or three
   * views, until a valid read the reader is sure of; MrzChoice says which read is reported.
   */
  private async readMrzOnPhoto(pixels: Uint8Array, width: number, height: number, doc: Found, found: Found[], detected: DocumentType, today: Date) {
    const boxes = found.filter((f) => f.class === MRZ_LINE_CLASS && f.score >= MRZ_ON_PHOTO_MIN_SCORE && inside(centre(f.box), doc.box, 0.05));
    if (boxes.length === 0) return undefined;
    const u = { x1: Math.min(...boxes.map((b) => b.box.x1)), y1: Math.min(...boxes.map((b) => b.box.y1)), x2: Math.max(...boxes.map((b) => b.box.x2)), y2: Math.max(...boxes.map((b) => b.box.y2)) };
    // a line the detector missed lies within the found lines' height above or below them
    const gy = 1.0 * (u.y2 - u.y1);
    const gx = 0.1 * (u.x2 - u.x1);
    const frames = locateMrzAll(pixels, width, height, { x1: u.x1 - gx, y1: u.y1 - gy, x2: u.x2 + gx, y2: u.y2 + gy }, grown(doc.box, 0.03));
    const choice = new MrzChoice<MrzRead>();
    let reads = 0;
    // The sharpest direction's candidates upright, then upside down; then the other directions'
    // upright, each located only when the ones before failed; at most MRZ_READS_ON_PHOTO in all.
    let primary = true;
    for (const frame of frames) {
      for (const flipped of primary ? [false, true] : [false]) {
        for (const group of frame.groups) {
          if (reads++ >= MRZ_READS_ON_PHOTO) return choice.best;
          // two views of the block: warped by the lines' measured perspective (right more often), then
          // as the band of their mean direction. Their reads averaged position by position made no
          // more MRZs right and two more valid with a wrong name (held-out 150), so they are not.
          // A third when the lines' extents differ: the lines cut to the stretch they share
          // (commonExtent), its read competing with the others by certainty (MrzChoice). Held-out
          // seed 3: 91.3 -> 93.3 %, seed 4: 87.0 -> 87.5 % (three right, two TD1 names a letter off
          // at a cut start). Tried only when the first two gave no valid MRZ, seed 4 stayed at 87.0 %.
          const common = commonExtent(group);
          for (const lines of [group, group.map((l) => ({ ...l, ends: undefined })), ...(common ? [common] : [])]) {
            const view = this.mrzView(pixels, width, height, frame, lines, flipped);
            const read = this.decideMrz(await this.readView(view), detected, today);
            if (read && choice.offer(read, read.parsed?.valid ?? false, read.certainty ?? -Infinity)) return choice.best;
            const evened = await this.secondLook(view, read, detected, today);
            if (evened && choice.offer(evened, evened.parsed?.valid ?? false, evened.certainty ?? -Infinity)) return choice.best;
          }
        }
      }
      primary = false;
    }
    return choice.best;
  }

  /** The block of `lines` warped upright, and the lines' boxes in it (top to bottom as the view reads). */
  private mrzView(pixels: Uint8Array, width: number, height: number, located: LocatedMrz, lines: MrzLineBand[], flipped: boolean): LinesView {
    const view = rectify(pixels, width, height, blockQuad(located, lines, 1, flipped));
    const found: Found[] = lines.map((l) => {
      const q = lineQuad(located, l, flipped).map((p) => apply(view.toView, p));
      const xs = q.map((p) => p[0]);
      const ys = q.map((p) => p[1]);
      return { class: MRZ_LINE_CLASS, score: 1, box: { x1: Math.min(...xs), y1: Math.min(...ys), x2: Math.max(...xs), y2: Math.max(...ys) } };
    });
    if (flipped) found.reverse();
    return { pixels: view.pixels, width: view.width, height: view.height, lines: found };
  }

  /**
   * When `read` of `view` failed its checks, the view read again with each line's contrast evened
   * along it (line-contrast.ts), for characters paled by glare or a fading print.
   */
  private async secondLook(view: LinesView, read: MrzRead | undefined, detected: DocumentType, today: Date): Promise<MrzRead | undefined> {
    if (read?.parsed?.valid) return undefined;
    const reader = this.opts.mrzReader;
    const pixels = evenLineContrast(view.pixels, view.width, view.height, view.lines.map((l) => l.box), (b) => reader.grow(b, view.width, view.height));
    return this.decideMrz(await this.readView({ ...view, pixels }), detected, today);
  }

  /** The MRZ reader's output for each line of a view. */
  private async readView(view: LinesView): Promise<ReadView> {
    return { lines: view.lines, probs: await this.opts.mrzReader.probs(view.pixels, view.width, view.height, view.lines.map((l) => l.box)) };
  }

  private async readMrz(pixels: Uint8Array, width: number, height: number, lines: Found[], detected: DocumentType, today: Date): Promise<MrzRead | undefined> {
    if (lines.length === 0) return undefined;
    const view = { pixels, width, height, lines };
    const read = this.decideMrz(await this.readView(view), detected, today);
    const evened = await this.secondLook(view, read, detected, today);
    return evened?.parsed?.valid ? evened : read;
  }

  /**
   * The MRZ from the reader's output: three lines are a TD1; two a TD2 or a TD3, whichever length
   * the output fits better under its grammar (the detector's type breaks a tie). Lines that fit no
   * type are returned as read (greedy), not valid.
   */
  private decideMrz(view: ReadView, detected: DocumentType, today: Date): MrzRead | undefined {
    if (view.lines.length === 0) return undefined;
    const reader = this.opts.mrzReader;
    const n = view.lines.length;
    const candidates: DocumentType[] = n === 3 ? ['TD1'] : n === 2 ? ['TD3', 'TD2'] : [];
    let best: { type: DocumentType; positions: PositionRead[][]; logProb: number } | undefined;
    for (const type of candidates) {
      const grammar = mrzGrammar(type, reader.spec.alphabet, reader.spec.blank);
      const decoded = view.probs.map((p, line) => decodeFixedLength(p.probs, p.steps, p.classes, reader.spec.alphabet, MRZ_SHAPES[type].length, reader.spec.blank, 4, grammar[line]));
      if (!decoded.every((r): r is FixedRead => r !== null)) continue;
      const logProb = decoded.reduce((a, r) => a + r.logProb, 0) + (type === detected ? 1e-6 : 0);
      if (!best || logProb > best.logProb) best = { type, positions: decoded.map((r) => r.positions), logProb };
    }
    if (!best) {
      const texts = view.probs.map((p) => bestText(ctcGreedy(p.probs, p.steps, p.classes, reader.spec.alphabet, reader.spec.blank)));
      return { lines: texts, parsed: undefined, corrected: 0 };
    }
    const c = correctMrz(best.type, best.positions, today);
    const chars = MRZ_SHAPES[best.type].length * best.positions.length;
    // a path over more frames loses more log probability on the same line (every blank frame costs
    // a little): scaled to the frames MRZ_SURE was chosen with, a reader with twice the frames is
    // not taken as half as sure
    const frames = view.probs[0]?.steps ?? MRZ_SURE_FRAMES;
    return { lines: c.parsed.lines, parsed: c.parsed, corrected: c.changed, positions: best.positions, certainty: (best.logProb / chars) * (MRZ_SURE_FRAMES / frames) };
  }

  /** The visual zone's texts as read (all), and those trusted to stand in for a field or contradict the MRZ (fields.ts trustedViz). */
  private async readFields(pixels: Uint8Array, width: number, height: number, found: Found[]): Promise<{ texts: VizTexts; trusted: VizTexts }> {
    const reader = this.opts.fieldReader;
    if (!reader) return { texts: {}, trusted: {} };
    const picked = fieldBoxes(found);
    const reads = await reader.read(pixels, width, height, picked.map((p) => p.box));
    return trustedViz(picked.map((p, i) => ({ field: p.field, text: reads[i]!.text.trim(), confidence: reads[i]!.confidence, boxScore: p.score })).filter((r) => r.text));
  }
}

/** A point of the rectified view in the photo (for callers that want zones in photo coordinates). */
export function viewToPhoto(toPhoto: number[], p: Point): Point {
  return apply(toPhoto, p);
}

export { parseMrz };
