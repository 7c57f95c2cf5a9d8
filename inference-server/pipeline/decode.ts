import sharp, { type Metadata } from 'sharp';
import { ApiError } from '../errors.js';

/**
 * Untrusted bytes to RGB pixels. The pixel limit is checked from the header before any decoding,
 * so a decompression bomb costs a header parse, not gigabytes.
 */

export const ACCEPTED_FORMATS = ['jpeg', 'png', 'webp'] as const;
export type ImageFormat = (typeof ACCEPTED_FORMATS)[number];

export interface DecodedImage {
  /** HWC RGB uint8, EXIF orientation applied. */
  pixels: Uint8Array;
  width: number;
  height: number;
  format: ImageFormat;
}

export interface ImageHeader {
  format: ImageFormat;
  /** Size after EXIF orientation. */
  width: number;
  height: number;
}

export async function readHeader(bytes: Buffer, maxPixels: number): Promise<ImageHeader> {
  if (bytes.length === 0) throw new ApiError(400, 'empty_body', 'the request has no image: the body is empty');
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new ApiError(415, 'unsupported_image', `the body is not a readable image: ${short(err)}`);
  }
  const format = meta.format as string | undefined;
  if (!format || !(ACCEPTED_FORMATS as readonly string[]).includes(format)) {
    throw new ApiError(415, 'unsupported_image', `image format ${format ?? 'unknown'} is not accepted; send JPEG, PNG or WebP`);
  }
  const width = meta.autoOrient?.width ?? meta.width;
  const height = meta.autoOrient?.height ?? meta.height;
  if (!width || !height) throw new ApiError(422, 'empty_image', 'the image has zero width or height');
  if (width * height > maxPixels) {
    throw new ApiError(
      413,
      'image_too_large',
      `the image is ${width}x${height} = ${width * height} pixels; the limit is ${maxPixels}`,
    );
  }
  return { format: format as ImageFormat, width, height };
}

export async function decodeImage(bytes: Buffer, maxPixels: number): Promise<DecodedImage> {
  const header = await readHeader(bytes, maxPixels);
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: maxPixels, failOn: 'warning', sequentialRead: true })
      .rotate()
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return {
      pixels: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      width: info.width,
      height: info.height,
      format: header.format,
    };
  } catch (err) {
    throw new ApiError(422, 'corrupt_image', `the ${header.format} image could not be decoded: ${short(err)}`);
  }
}

function short(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0]!.replace(/^Input buffer /, '').slice(0, 200);
}
