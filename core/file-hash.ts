import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** A local file's size and SHA-1 (hex), read once in 1 MiB chunks. */
export async function hashFile(filePath: string): Promise<{ size: number; sha1: string }> {
  const hash = createHash('sha1');
  let size = 0;
  for await (const chunk of createReadStream(filePath, { highWaterMark: 1 << 20 })) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    hash.update(buffer);
  }
  return { size, sha1: hash.digest('hex') };
}
