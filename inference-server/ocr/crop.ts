import sharp from 'sharp';
import type { OcrClassConfig } from '../config/schema.js';

export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

/** Integer crop rectangle with a margin, kept inside the image. */
export function cropRect(box: Box, margin: number, width: number, height: number) {
  const mx = (box.x2 - box.x1) * margin;
  const my = (box.y2 - box.y1) * margin;
  const left = Math.max(0, Math.floor(box.x1 - mx));
  const top = Math.max(0, Math.floor(box.y1 - my));
  const right = Math.min(width, Math.ceil(box.x2 + mx));
  const bottom = Math.min(height, Math.ceil(box.y2 + my));
  return { left, top, width: Math.max(0, right - left), height: Math.max(0, bottom - top) };
}

/**
 * Prepares one detection for tesseract: crop, grey, stretch contrast, upscale small text (LSTM
 * accuracy falls off below ~30 px x-height), and a white border since tesseract reads text that
 * touches the edge badly. Returns PNG: tesseract.js takes encoded images, not raw pixels.
 */
export async function prepareCrop(
  pixels: Uint8Array,
  width: number,
  height: number,
  box: Box,
  cfg: Pick<OcrClassConfig, 'margin' | 'minHeight'>,
): Promise<Buffer | undefined> {
  const rect = cropRect(box, cfg.margin, width, height);
  if (rect.width < 2 || rect.height < 2) return undefined;
  let img = sharp(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength), {
    raw: { width, height, channels: 3 },
  })
    .extract(rect)
    .greyscale();
  if (rect.height < cfg.minHeight) {
    const scale = cfg.minHeight / rect.height;
    img = img.resize({ width: Math.round(rect.width * scale), height: cfg.minHeight, kernel: 'lanczos3' });
  }
  const border = Math.max(8, Math.round(Math.max(rect.height, cfg.minHeight) * 0.15));
  // Normalise before padding so the border does not skew the histogram stretch.
  const stretched = await img.normalise().png({ compressionLevel: 1 }).toBuffer();
  return sharp(stretched)
    .extend({ top: border, bottom: border, left: border, right: border, background: { r: 255, g: 255, b: 255 } })
    .png({ compressionLevel: 1 })
    .toBuffer();
}
