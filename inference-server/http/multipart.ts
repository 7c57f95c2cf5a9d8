import type { NextFunction, Request, Response } from 'express';
import multer from 'multer';
import { ApiError } from '../errors.js';

/**
 * Parses multipart/form-data bodies before the OpenAPI validator sees them, so every way a form can
 * be wrong is the client's 4xx: the validator's own uploader answers 500 for what the multipart
 * parser (busboy) rejects ("Malformed part header", "Unexpected end of form") and 413 for a second
 * file. The files land where the validator's uploader would put them (req.files, and an empty
 * string per file field in req.body, so `required: [image]` is still checked against the document).
 */
export function multipartBody(opts: { fileSize: number }) {
  const upload = multer({ storage: multer.memoryStorage(), limits: { fileSize: opts.fileSize, files: 1, fields: 10, parts: 11 } }).any();
  return (req: Request, res: Response, next: NextFunction) => {
    if (!req.is('multipart/form-data')) return next();
    upload(req, res, (err?: unknown) => {
      if (err) return next(multipartError(err, opts.fileSize));
      for (const f of (req.files as Express.Multer.File[] | undefined) ?? []) (req.body as Record<string, unknown>)[f.fieldname] = '';
      next();
    });
  };
}

export function multipartError(err: unknown, fileSize: number): ApiError {
  if (err instanceof multer.MulterError) {
    switch (err.code) {
      case 'LIMIT_FILE_SIZE':
        return new ApiError(413, 'body_too_large', `the file in the form is larger than the ${fileSize} byte limit`);
      case 'LIMIT_FILE_COUNT':
        return new ApiError(400, 'invalid_multipart', 'the form has more than one file: send one image, in field "image"');
      default:
        return new ApiError(400, 'invalid_multipart', `the multipart form was rejected: ${err.message}${err.field ? ` (field "${err.field}")` : ''}`);
    }
  }
  // Whatever else busboy throws is about the bytes it was sent: a malformed or truncated form.
  const message = err instanceof Error ? err.message : String(err);
  return new ApiError(400, 'invalid_multipart', `the multipart form could not be parsed: ${message}`);
}
