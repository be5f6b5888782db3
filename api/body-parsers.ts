import { randomBytes } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import multer from 'multer';
import { unsupportedMediaType } from '../core/errors.js';

/**
 * Body parsing with hard limits. Uploads stream to the spool folder on disk (never whole into
 * memory) and are cut off at the configured size; the field count is capped so that a body with
 * thousands of parts costs nothing.
 */
export const FORM_LIMITS = { fields: 500, fieldSize: 16 * 1024, parts: 502, bodyBytes: 1024 * 1024 } as const;

export function uploadParser(incomingDir: string, maxFileSize: number) {
  const upload = multer({
    storage: multer.diskStorage({
      destination: incomingDir,
      filename: (_req, _file, cb) => cb(null, randomBytes(16).toString('hex')),
    }),
    limits: {
      fileSize: maxFileSize,
      files: 1,
      fields: FORM_LIMITS.fields,
      fieldSize: FORM_LIMITS.fieldSize,
      parts: FORM_LIMITS.parts,
    },
  });
  return upload.single('file');
}

/** Form fields without files (multipart, urlencoded or JSON): `/files/fetch`, `/auth/tokens`. */
export function formParsers() {
  const fieldsOnly = multer({
    limits: { files: 0, fields: FORM_LIMITS.fields, fieldSize: FORM_LIMITS.fieldSize, parts: FORM_LIMITS.parts },
  }).none();
  return [
    express.urlencoded({ extended: true, limit: FORM_LIMITS.bodyBytes, parameterLimit: FORM_LIMITS.fields, depth: 1 } as Parameters<typeof express.urlencoded>[0]),
    express.json({ limit: FORM_LIMITS.bodyBytes }),
    fieldsOnly,
  ];
}

/** Refuses bodies in a type none of the parsers understood (they would otherwise look empty). */
export function requireParsedBody(...accepted: string[]) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    const hasBody = Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding') !== undefined;
    if (hasBody && !req.is(accepted)) {
      throw unsupportedMediaType(`Send the request body as ${accepted.join(' or ')}.`);
    }
    next();
  };
}
