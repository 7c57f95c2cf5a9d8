/**
 * The OCR rule for licence plates: the default of `npm start` (class `plate`), and what
 * `npm run eval` and `npm run bench:server` measure.
 */

/** Every letter and digit: plates of one country or another use them all (I, O, Q and U included). */
export const PLATE_CHARSET = 'A-Z0-9';

/**
 * The OCR class configuration (input form) for licence plates: read by the bundled plate reader
 * (models/plate-reader.onnx, training/reader.py) when it is given, every box of an image in one
 * batch, its own best read over all characters, no layouts (a deployment opts into its countries'
 * layouts with `formats`), no tesseract. Without a reader: tesseract, one line, A-Z0-9.
 */
export function plateOcr(readerPath?: string) {
  return {
    mode: 'line' as const,
    charset: PLATE_CHARSET,
    normalize: { strip: ' -', uppercase: true },
    ...(readerPath ? { recognizer: { model: readerPath } } : {}),
  };
}
