import { randomBytes } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import multer from 'multer';
import { badRequest, unsupportedMediaType } from '../core/errors.js';
import type { UploadedPart } from '../scans/request.js';

/**
 * Body parsing with hard limits. Uploads stream to the spool folder on disk (never whole into
 * memory) and are cut off at the configured size; the field count is capped so that a body with
 * thousands of parts costs nothing.
 */
export const FORM_LIMITS = {
  fields: 500,
  fieldSize: 16 * 1024,
  parts: 502,
  bodyBytes: 1024 * 1024,
  /** `metadata[k]` is one level; deeper multipart names are refused before they are built. */
  fieldNestingDepth: 1,
  /**
   * Multer reads multipart `metadata[123]` as an array index: unbounded, one field could make a
   * sparse array of length 2^32. Four digits still allow keys such as years.
   */
  fieldArrayIndexLimit: 9999,
} as const;

/**
 * How every multipart parser reads text. Clients (curl, browsers, the SDKs) send field and file
 * names as raw UTF-8 in `Content-Disposition`; busboy's default reads those parameters as
 * Latin-1, which turns `metadata[ключ]` into mojibake full of C1 control characters.
 */
export const MULTIPART_CHARSETS = { defParamCharset: 'utf8', defCharset: 'utf8' } as const;

const MULTER_FIELD_LIMITS = {
  fields: FORM_LIMITS.fields,
  fieldSize: FORM_LIMITS.fieldSize,
  parts: FORM_LIMITS.parts,
  fieldNestingDepth: FORM_LIMITS.fieldNestingDepth,
  fieldArrayIndexLimit: FORM_LIMITS.fieldArrayIndexLimit,
};

/**
 * Room a multipart body needs besides its file: every part's value and headers (busboy reads at
 * most 16 KiB of headers per part) and boundaries. A declared length past this and the file size
 * cannot be a body the limits would accept.
 */
const MULTIPART_ROOM = FORM_LIMITS.parts * (FORM_LIMITS.fieldSize + 16 * 1024 + 256);

/**
 * Refuses at once a body whose declared Content-Length is over what the parsers would accept.
 * They check it too, but answer only once they have read (and thrown away) the whole body, so a
 * client declaring gigabytes and sending them slowly held the connection until the request
 * timeout. Refused here, before a byte of the body is read, the connection is closed after the
 * answer (api/early-answers.ts). The errors are the parsers' own, so they read the same.
 */
function refuseDeclaredLength(
  maxBytes: (req: Request) => number,
  tooLarge: (limit: number) => unknown,
) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    const limit = maxBytes(req);
    next(Number(req.get('content-length') ?? 0) > limit ? tooLarge(limit) : undefined);
  };
}

/** What express's JSON and urlencoded parsers throw for a body over their limit. */
const bodyTooLarge = (limit: number) =>
  Object.assign(new Error('request entity too large'), {
    type: 'entity.too.large',
    status: 413,
    limit,
  });

/** For a JSON or urlencoded parser of `limit` bytes: refuses a longer declared body at once. */
export const refuseBodyOver = (limit: number) => refuseDeclaredLength(() => limit, bodyTooLarge);

/** Uploads received into the spool's `incoming/` folder, under a random name. */
export function spoolStorage(incomingDir: string): multer.StorageEngine {
  return multer.diskStorage({
    destination: incomingDir,
    filename: (_req, _file, cb) => cb(null, randomBytes(16).toString('hex')),
  });
}

/** The single `file` part, stored by `storage` (the spool, or the upload store of async uploads). */
/**
 * What a received file part said of itself, for its scan's request (scans/request.ts). The
 * multipart parser reports a part sent without a Content-Type (or with one it cannot read) as
 * `text/plain`, RFC 7578's default: that is no claim the client made, so `text/plain` is not
 * kept as a declared type.
 */
export function uploadedPart(
  file: Pick<Express.Multer.File, 'originalname' | 'mimetype'> | undefined,
): UploadedPart | undefined {
  if (!file) return undefined;
  const declared = file.mimetype === 'text/plain' ? undefined : file.mimetype;
  return { name: file.originalname, contentType: declared };
}

export function uploadParser(storage: multer.StorageEngine, maxFileSize: number) {
  const upload = multer({
    ...MULTIPART_CHARSETS,
    storage,
    limits: { fileSize: maxFileSize, files: 1, ...MULTER_FIELD_LIMITS },
  });
  const refuseOversized = refuseDeclaredLength(
    () => maxFileSize + MULTIPART_ROOM,
    // Past the room for fields, what is too large is the file.
    () => new multer.MulterError('LIMIT_FILE_SIZE', 'file'),
  );
  const single = upload.single('file');
  return (req: Request, res: Response, next: NextFunction): void =>
    refuseOversized(req, res, (error?: unknown) =>
      error ? next(error) : void single(req, res, next),
    );
}

/** Form fields without files (multipart, urlencoded or JSON): `/files/fetch`, `/auth/tokens`. */
export function formParsers() {
  const fieldsOnly = multer({
    ...MULTIPART_CHARSETS,
    limits: { files: 0, ...MULTER_FIELD_LIMITS },
  }).none();
  return [
    refuseDeclaredLength(
      (req) => (req.is('multipart') ? MULTIPART_ROOM : FORM_LIMITS.bodyBytes),
      bodyTooLarge,
    ),
    // Flat parsing (`metadata[k]` stays one name), nested below: qs's own nesting silently drops
    // keys such as `__proto__` and turns `metadata[0]` into an array.
    express.urlencoded({
      extended: false,
      limit: FORM_LIMITS.bodyBytes,
      parameterLimit: FORM_LIMITS.fields,
    }),
    nestBracketFields,
    express.json({ limit: FORM_LIMITS.bodyBytes }),
    (req: Request, res: Response, next: NextFunction) =>
      fieldsOnly(req, res, (error?: unknown) => {
        // Multer's own wording ("send exactly one file") would mislead on a fields-only endpoint.
        const isFile =
          error instanceof multer.MulterError &&
          ['LIMIT_FILE_COUNT', 'LIMIT_UNEXPECTED_FILE'].includes(error.code);
        next(
          isFile
            ? badRequest(
                'This endpoint takes form fields only; upload files to /files or /files/async.',
              )
            : error,
        );
      }),
  ];
}

/** `metadata[k]=v` in a urlencoded body becomes `{metadata: {k: v}}`, as multer does for multipart. */
function nestBracketFields(req: Request, _res: Response, next: NextFunction): void {
  if (
    !req.is('application/x-www-form-urlencoded') ||
    typeof req.body !== 'object' ||
    req.body === null
  ) {
    next();
    return;
  }
  // No prototype: a `__proto__` name is then an ordinary key, which validation refuses by name.
  const nested = Object.create(null) as Record<string, unknown>;
  for (const [name, value] of Object.entries(req.body as Record<string, unknown>)) {
    const bracket = /^([^[\]]+)\[(.*)\]$/s.exec(name);
    if (!bracket) {
      nested[name] = value;
      continue;
    }
    const [, field = '', key = ''] = bracket;
    const group = nested[field] ?? (nested[field] = Object.create(null) as Record<string, unknown>);
    if (typeof group !== 'object' || Array.isArray(group)) {
      throw badRequest(
        `Send ${field.slice(0, 64)} either as a plain field or as ${field.slice(0, 64)}[key]=value, not both.`,
      );
    }
    (group as Record<string, unknown>)[key] = value;
  }
  req.body = nested;
  next();
}

/** Refuses bodies in a type none of the parsers understood (they would otherwise look empty). */
export function requireParsedBody(...accepted: string[]) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    const hasBody =
      Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding') !== undefined;
    if (hasBody && !req.is(accepted)) {
      throw unsupportedMediaType(`Send the request body as ${accepted.join(' or ')}.`);
    }
    next();
  };
}
