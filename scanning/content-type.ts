import { open } from 'node:fs/promises';
import { fileTypeFromBuffer } from 'file-type';

const SNIFF_BYTES = 4100;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The media type of the content, from its bytes (never from a client's claim), without charset
 * parameters: `application/zip`, `application/x-msdownload`, `text/plain`, …
 */
export async function sniffContentType(filePath: string): Promise<string> {
  const head = await readHead(filePath);
  const detected = await fileTypeFromBuffer(head);
  if (detected) return detected.mime;
  return looksLikeText(head) ? 'text/plain' : 'application/octet-stream';
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
