import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { Router, type NextFunction, type Request, type Response } from 'express';

/**
 * Serves the built browser console (`npm run build` writes it to dist/console) at `/console`:
 * its files, and its index.html for every other `/console/...` page (the console routes by
 * path), except `/console/api/...`, which is the JSON API. Without a build (`npm run dev` from the
 * sources) every console page is a 503 that says how to build it.
 */

/** dist/console of the package: from api/ (sources) or dist/api/ (built), the package root's. */
export function defaultConsoleDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const root =
    path.basename(path.dirname(here)) === 'dist'
      ? path.dirname(path.dirname(here))
      : path.dirname(here);
  return path.join(root, 'dist', 'console');
}

/**
 * Headers of every console answer: the page may load nothing but its own files (no inline script,
 * no other origin), cannot be framed, and its types are not sniffed.
 */
export function consoleSecurityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.setHeader('Content-Security-Policy', "default-src 'self'; frame-ancestors 'none'");
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Frame-Options', 'DENY');
  next();
}

export function consoleStatic(dir: string): Router {
  const router = Router();
  const index = path.join(dir, 'index.html');
  router.use(
    express.static(dir, {
      index: false,
      redirect: false,
      setHeaders: (res, file) => {
        // Vite names the built assets by content hash: they never change under one name.
        const hashed = file.startsWith(path.join(dir, 'assets') + path.sep);
        res.setHeader('Cache-Control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache');
      },
    }),
  );
  router.use((req, res, next) => {
    if (
      req.path.startsWith('/api/') ||
      req.path === '/api' ||
      !['GET', 'HEAD'].includes(req.method)
    ) {
      next();
      return;
    }
    if (!existsSync(index)) {
      sendNotBuilt(res, dir);
      return;
    }
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(index);
  });
  return router;
}

function sendNotBuilt(res: Response, dir: string): void {
  res
    .status(503)
    .type('html')
    .setHeader('Cache-Control', 'no-store')
    .send(
      '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Arbiter console not built</title></head>' +
        '<body><h1>The console has not been built</h1>' +
        `<p>Its files are not in <code>${escapeHtml(dir)}</code>. Run <code>npm run build</code>, then start Arbiter again (or set ARBITER_CONSOLE_DIR to a built console).</p>` +
        '</body></html>',
    );
}

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
