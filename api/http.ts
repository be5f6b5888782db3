import type { Request, Response } from 'express';

/**
 * JSON responses go out as exactly `application/json` (no charset): some Scanii clients compare
 * the header to that string. Express would append a charset to a string body, so send bytes.
 */
export function sendJson(res: Response, status: number, body: unknown): void {
  // res.setHeader, not res.set: Express's setter would append "; charset=utf-8" again.
  res.status(status).setHeader('Content-Type', 'application/json');
  res.send(Buffer.from(JSON.stringify(body)));
}

/** The absolute URL of a result, for the `Location` header of 201/202 answers. */
export function resultUrl(req: Request, publicUrl: string | undefined, id: string): string {
  const base = publicUrl ?? `${req.protocol}://${req.get('host') ?? 'localhost'}`;
  return `${base}${req.baseUrl}/files/${id}`;
}
