import type { OcrClassConfig } from '../../contract/server-config.js';
import { prepareCropVariant, type Box, type LineOptions } from './crop.js';
import type { OcrJobs, OcrResult } from './reader.js';

/**
 * Crop, preprocess and read one detection of an OCR class. Single-line classes (line/word) are
 * read from the isolated text line when one is found, else from the plain crop.
 *
 * With formats and `retry`, a read that does not fit a template as it is (it fits none, or only
 * after corrections) is read again from other preparations of the same crop, in turn, until one
 * fits as read:
 *   1. the line with its character height evened out along it (perspective),
 *   2. the line at a smaller scale,
 *   3. the first image as one word (PSM 8) instead of a line,
 *   4. the plain crop (when the first image was an isolated line).
 * The read kept is the one that fits with the lowest correction cost, the higher tesseract
 * confidence on a tie; the first read when none fits. tesseract's glyph errors change with small
 * changes of the image, so a second look often fits where the first did not (`npm run eval`).
 */
export async function readDetection(
  ocr: OcrJobs,
  pixels: Uint8Array,
  width: number,
  height: number,
  box: Box,
  cfg: OcrClassConfig,
): Promise<OcrResult | undefined> {
  const singleLine = cfg.mode === 'line' || cfg.mode === 'word';
  const line = (opts?: LineOptions) => prepareCropVariant(pixels, width, height, box, cfg, 'line', opts);
  const plain = () => prepareCropVariant(pixels, width, height, box, cfg, 'plain');
  const isolated = singleLine ? await line() : undefined;
  const first = isolated ?? (await plain());
  if (!first) return undefined;
  let best = await ocr.read(first, cfg);
  if (!cfg.formats || !cfg.retry || best.formatCost === 0) return best;
  const passes: (() => Promise<OcrResult | undefined>)[] = isolated
    ? [
        async () => read(ocr, await line({ rectify: true }), cfg),
        async () => read(ocr, await line({ charHeight: 36 }), cfg),
        () => ocr.read(first, cfg, cfg.mode === 'word' ? 'line' : 'word'),
        async () => read(ocr, await plain(), cfg),
      ]
    : [() => ocr.read(first, cfg, cfg.mode === 'line' ? 'word' : 'line')];
  for (const pass of passes) {
    const r = await pass();
    if (r && better(r, best)) best = r;
    if (best.formatCost === 0) break;
  }
  return best;
}

async function read(ocr: OcrJobs, png: Buffer | undefined, cfg: OcrClassConfig): Promise<OcrResult | undefined> {
  return png ? ocr.read(png, cfg) : undefined;
}

/** A read that fits beats one that does not; then the lower correction cost; then the higher confidence (among fits). */
export function better(a: OcrResult, b: OcrResult): boolean {
  const ca = a.formatCost ?? Infinity;
  const cb = b.formatCost ?? Infinity;
  if (ca !== cb) return ca < cb;
  return ca !== Infinity && a.confidence > b.confidence;
}
