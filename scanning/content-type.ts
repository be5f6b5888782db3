import { open } from 'node:fs/promises';
import { fileTypeFromBuffer, fileTypeFromFile } from 'file-type';
import { refineFileType, typeBeyondFileType } from './types-beyond-file-type.js';

const SNIFF_BYTES = 4100;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The media type of the content, from its bytes (never from a client's claim), without charset
 * parameters: `application/zip`, `application/x-msdownload`, `text/x-shellscript`, `text/plain`,
 * … By the `file-type` package first; what it does not know, by the engine's sniffers and the
 * first line of scripts (types-beyond-file-type.ts); else text or unknown binary data.
 */
export async function sniffContentType(filePath: string): Promise<string> {
  const head = await readHead(filePath);
  const detected = await fileTypeOf(head);
  if (detected === ZIP) return refineZip(filePath);
  return detected ?? fallbackType(head);
}

/**
 * The same from the first bytes alone (a member of an archive, read as it streams past): a zip
 * is told apart from the Office document it may be only when its telling entry comes first.
 */
export async function sniffHeadType(head: Uint8Array): Promise<string> {
  return (await fileTypeOf(head.subarray(0, SNIFF_BYTES))) ?? fallbackType(head);
}

async function fileTypeOf(head: Uint8Array): Promise<string | undefined> {
  // Hostile bytes must never fail a scan: a detector error means "no type recognised".
  const detected = await fileTypeFromBuffer(head).catch(() => undefined);
  return detected ? refineFileType(detected.mime, head) : undefined;
}

function fallbackType(head: Uint8Array): string {
  const beyond = typeBeyondFileType(head);
  if (beyond) return beyond;
  return looksLikeText(head) ? 'text/plain' : 'application/octet-stream';
}

const ZIP = 'application/zip';

/**
 * Zip-based formats (docx, xlsx, pptx, odt, epub, jar, apk…) are told apart by their entries,
 * and the telling entry (`[Content_Types].xml`, `mimetype`) need not lie in the first 4100 bytes:
 * Office writes it first, other tools anywhere. So a zip is looked at again through the file,
 * where file-type reads the central directory (with its own caps on entries and entry sizes).
 */
async function refineZip(filePath: string): Promise<string> {
  const detected = await fileTypeFromFile(filePath).catch(() => undefined);
  return detected?.mime ?? ZIP;
}

async function readHead(filePath: string): Promise<Uint8Array> {
  const handle = await open(filePath, 'r');
  try {
    const buffer = Buffer.alloc(SNIFF_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, SNIFF_BYTES, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

function looksLikeText(head: Uint8Array): boolean {
  if (head.length === 0 || head.includes(0)) return false;
  try {
    // The head may cut a multi-byte character in two; ignore up to 3 trailing bytes for that.
    utf8.decode(head.subarray(0, Math.max(1, head.length - trailingPartial(head))));
    return true;
  } catch {
    return false;
  }
}

function trailingPartial(bytes: Uint8Array): number {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const byte = bytes[bytes.length - back] ?? 0;
    if ((byte & 0xc0) === 0xc0) return back; // start of a multi-byte sequence
    if ((byte & 0x80) === 0) return 0; // ASCII: nothing cut
  }
  return 0;
}
