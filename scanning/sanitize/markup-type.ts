import { open } from 'node:fs/promises';

/**
 * SVG and HTML are text: sniffing their bytes says `text/plain` (or `application/xml` after an
 * XML declaration), not which markup they are. The first element tells: past a byte order mark,
 * white space, an XML declaration, comments and a document type declaration, `<svg` is an SVG
 * image and `<html`, `<head` or `<body` (or an HTML document type) an HTML page. Anything else
 * keeps the type it was given.
 */
export async function refineMarkupType(filePath: string, contentType: string): Promise<string> {
  if (!TEXT_TYPES.has(contentType)) return contentType;
  return markupTypeOf(await readHead(filePath)) ?? contentType;
}

const TEXT_TYPES = new Set(['text/plain', 'application/xml', 'text/xml']);
const HEAD_BYTES = 8192;

export function markupTypeOf(head: string): 'image/svg+xml' | 'text/html' | undefined {
  let rest = head.replace(/^\uFEFF/, '');
  for (;;) {
    const before = rest;
    rest = rest.replace(/^\s+/, '');
    rest = rest.replace(/^<\?xml[^>]*\?>/i, '');
    rest = rest.replace(/^<!--[\s\S]*?-->/, '');
    if (/^<!doctype\s+html\b/i.test(rest)) return 'text/html';
    rest = rest.replace(/^<!doctype[^[>]*(\[[\s\S]*?\])?\s*>/i, '');
    if (rest === before) break;
  }
  if (/^<(svg:)?svg[\s>/]/.test(rest)) return 'image/svg+xml';
  if (/^<(html|head|body)[\s>/]/i.test(rest)) return 'text/html';
  return undefined;
}

async function readHead(filePath: string): Promise<string> {
  const handle = await open(filePath, 'r');
  try {
    const buffer = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, HEAD_BYTES, 0);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}
