import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, Response } from 'express';

/**
 * An answer sent before the request body has fully arrived (a 401 or 403 before an upload, a 413
 * on the declared Content-Length, a 415, a 429, any early error) closes the connection.
 *
 * Otherwise Node keeps the connection after the answer to read and throw away the rest of the
 * body, so that the next request on it can be parsed: a client without credentials that went on
 * trickling a chunked body held its socket until the request timeout. With `Connection: close`
 * the client is told, and Node ends the socket as soon as the answer is written
 * (`socket.destroySoon()` once the response finishes), whatever is still on its way.
 *
 * Installed first, for every route: one rule for all early answers rather than one per route.
 */
export function closeConnectionOnEarlyAnswer() {
  return (req: Request, res: Response, next: NextFunction): void => {
    // Headers are written by writeHead, explicitly or from the first write/end; the decision
    // has to be made then, while `Connection` can still be set.
    const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => Response;
    res.writeHead = ((...args: unknown[]) => {
      if (bodyStillArriving(req)) res.setHeader('Connection', 'close');
      return writeHead(...args);
    }) as Response['writeHead'];
    next();
  };
}

/** A body was announced (a length or chunked) and its end has not been read off the wire. */
function bodyStillArriving(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const length = Number(req.headers['content-length'] ?? 0);
  return req.headers['transfer-encoding'] !== undefined || length > 0;
}
