/**
 * The OCR rule for licence plates: the default of `npm start` (class `plate`), with the bundled
 * demo model's layouts (models/plate-detector.md) when it serves that model, and what
 * `npm run eval` measures.
 */

/**
 * Plate characters: most national schemes leave out I, O and Q (confused with 1 and 0), and telling
 * tesseract so removes its commonest plate misreads (measured with `npm run eval`).
 */
export const PLATE_CHARSET = 'A-HJ-NPR-Z0-9';

/**
 * The layouts the demo model is documented for (training/synth.py): France AB-123-CD, Tunisia
 * 123 TU 4567, California 7ABC123, UK AB12 CDE, Netherlands 12-ABC-3.
 */
export const DEMO_PLATE_FORMATS = ['LL-DDD-LL', "DDD 'TU' DDDD", 'DLLLDDD', 'LLDD LLL', 'DD-LLL-D'];

/** The OCR class configuration (input form) for licence plates of any scheme. */
export function plateOcr() {
  return { mode: 'line' as const, charset: PLATE_CHARSET, normalize: { strip: ' -', uppercase: true } };
}

/**
 * The same, corrected to the demo model's plate layouts: only for the bundled demo model. With the
 * bundled plate reader (models/plate-reader.onnx, training/reader.py) plates are read by it, and by
 * tesseract only when its read does not fit a layout as read.
 */
export function demoPlateOcr(readerPath?: string) {
  return {
    ...plateOcr(),
    formats: [...DEMO_PLATE_FORMATS],
    ...(readerPath ? { recognizer: { model: readerPath, fallback: true } } : {}),
  };
}
