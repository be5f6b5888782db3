import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import yazl from 'yazl';

/**
 * A zip package (an Office document) read whole into memory and written back. Reading is held
 * to limits that make a zip bomb harmless: the entry count, and the total of the members'
 * uncompressed sizes, as declared and as actually inflated (yauzl checks each member's bytes
 * against its declared size). Directory entries are dropped: Office packages have none.
 */
export interface ZipPart {
  readonly name: string;
  readonly bytes: Buffer;
  readonly modified: Date;
}

export interface ZipReadLimits {
  readonly maxEntries: number;
  readonly maxTotalBytes: number;
}

export class ZipLimitError extends Error {}

export async function readZipParts(
  bytes: Buffer,
  limits: ZipReadLimits,
  signal: AbortSignal,
): Promise<ZipPart[]> {
  const zip = await yauzl.fromBufferPromise(bytes, {
    lazyEntries: true,
    validateEntrySizes: true,
    strictFileNames: true,
  });
  try {
    if (zip.entryCount > limits.maxEntries)
      throw new ZipLimitError(
        `${zip.entryCount} zip entries, over the limit of ${limits.maxEntries}`,
      );
    const parts: ZipPart[] = [];
    const names = new Set<string>();
    let total = 0;
    for await (const entry of zip.eachEntry()) {
      signal.throwIfAborted();
      if (entry.fileName.endsWith('/')) continue;
      if (names.has(entry.fileName.toLowerCase()))
        throw new Error(`the zip holds ${entry.fileName} twice`);
      names.add(entry.fileName.toLowerCase());
      total += entry.uncompressedSize;
      if (total > limits.maxTotalBytes)
        throw new ZipLimitError(
          `zip entries inflate to more than the limit of ${limits.maxTotalBytes} bytes`,
        );
      const stream = await zip.openReadStreamPromise(entry);
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      parts.push({
        name: entry.fileName,
        bytes: Buffer.concat(chunks),
        modified: entry.getLastModDate(),
      });
    }
    return parts;
  } finally {
    zip.close();
  }
}

/** Writes the parts, deflated, in the order given. */
export async function writeZipParts(parts: readonly ZipPart[], outPath: string): Promise<void> {
  const zip = new yazl.ZipFile();
  for (const part of parts)
    zip.addBuffer(part.bytes, part.name, { mtime: part.modified, compress: true });
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(outPath));
}
