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

/** The format by its magic bytes, so a damaged JPEG is "corrupt" (422), not "not an image" (415). */
export function sniffFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 8 && Buffer.from(bytes.subarray(0, 8)).equals(PNG_MAGIC)) return 'png';
  if (bytes.length >= 12 && ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP') return 'webp';
  return undefined;
}

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const ascii = (b: Uint8Array, from: number, to: number) => Buffer.from(b.subarray(from, to)).toString('latin1');

export async function readHeader(bytes: Buffer, maxPixels: number): Promise<ImageHeader> {
  if (bytes.length === 0) throw new ApiError(400, 'empty_body', 'the request has no image: the body is empty');
  const format = sniffFormat(bytes);
  if (!format) {
    throw new ApiError(415, 'unsupported_image', 'the body is not a JPEG, PNG or WebP image (unrecognised signature)');
  }
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new ApiError(422, 'corrupt_image', `the ${format} image has an unreadable header: ${short(err)}`);
  }
  if (meta.format !== format) {
    throw new ApiError(422, 'corrupt_image', `the body starts like ${format} but decodes as ${meta.format ?? 'nothing'}`);
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
  return { format, width, height };
}

/** `onHeader` sees the size before the pixels are allocated (the memory budget reserves them there). */
export async function decodeImage(bytes: Buffer, maxPixels: number, onHeader?: (header: ImageHeader) => void): Promise<DecodedImage> {
  const header = await readHeader(bytes, maxPixels);
  onHeader?.(header);
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
