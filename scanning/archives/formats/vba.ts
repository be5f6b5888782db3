import type { FormatHandler } from '../format.js';

/**
 * VBA macro source in an OLE2 file's module streams (`Macros/VBA/Module1`,
 * `_VBA_PROJECT_CUR/VBA/ThisWorkbook`, `VBA/Module1` of a vbaProject.bin), as another handler
 * hands them over: the source is compressed ([MS-OVBA] 2.4.1) after the module's compiled
 * p-code, at an offset only the project's `dir` stream records. Without it, the compressed
 * container is found the way analysis tools do: by its first bytes, a signature byte, a chunk
 * header and a first token run that starts `Attribut` (every module begins `Attribute VB_Name`).
 * The decompressed source is the member `source.vba`, so signatures for macro text apply.
 */
export const vbaFormat: FormatHandler = {
  name: 'vba',
  // The p-code before the source is usually a few KiB; the source must start in this much.
  sniffBytes: 32 * 1024,
  input: 'stream',
  sniff: (head, name) => MODULE_PATH.test(name) && head.length > 0 && findSource(head) >= 0,
  async unpack(input, context) {
    if (input.kind !== 'stream') throw new Error('vba: stream input expected');
    const decompressor = new OvbaDecompressor();
    let carry = Buffer.alloc(0);
    let found = false;
    const source = async function* (): AsyncGenerator<Buffer> {
      for await (const chunk of input.chunks) {
        let data: Buffer = chunk;
        if (!found) {
          const window = Buffer.concat([carry, chunk]);
          const at = findSource(window);
          if (at < 0) {
            carry = window.subarray(Math.max(0, window.length - SIGNATURE_LENGTH));
            continue;
          }
          found = true;
          data = window.subarray(at + 1); // past the container's signature byte
        }
        const out = decompressor.write(data);
        if (out.length > 0) yield out;
      }
      const last = decompressor.end();
      if (last.length > 0) yield last;
    };
    await context.member('source.vba', source());
  },
};

/** A stream in a `VBA` storage, by the path the OLE2 handler names it with. */
const MODULE_PATH = /(^|[/\\])VBA[/\\][^/\\]+$/i;
const ATTRIBUT = Buffer.from('\0Attribut', 'latin1');
/** Signature byte, chunk header, flag byte and `Attribut`. */
const SIGNATURE_LENGTH = 3 + ATTRIBUT.length;

/** Where the compressed source starts in `data` (its signature byte), or -1. */
export function findSource(data: Buffer): number {
  for (let at = data.indexOf(ATTRIBUT, 3); at >= 0; at = data.indexOf(ATTRIBUT, at + 1)) {
    // 0x01, then a compressed chunk header: flag bit set, signature 0b011.
    if (data[at - 3] === 0x01 && ((data[at - 1] ?? 0) & 0xf0) === 0xb0) return at - 3;
  }
  return -1;
}

const CHUNK = 4096;

/**
 * [MS-OVBA] 2.4.1 decompression, fed the bytes after the signature byte in pieces of any size:
 * one compressed chunk (at most 4098 bytes) is held at a time, and decodes to at most 4096.
 */
export class OvbaDecompressor {
  private pending = Buffer.alloc(0);
  private done = false;

  write(data: Buffer): Buffer {
    if (this.done) return Buffer.alloc(0);
    this.pending = Buffer.concat([this.pending, data]);
    const out: Buffer[] = [];
    for (;;) {
      if (this.pending.length < 2) break;
      const header = this.pending.readUInt16LE(0);
      if (((header >> 12) & 0x7) !== 0b011) {
        this.done = true; // not a chunk header: the container ended (or is damaged)
        break;
      }
      const size = (header & 0x0fff) + 3;
      if (this.pending.length < size) break;
      out.push(decodeChunk(header, this.pending.subarray(2, size)));
      this.pending = this.pending.subarray(size);
    }
    return Buffer.concat(out);
  }

  /** The last chunk, even if cut short. */
  end(): Buffer {
    if (this.done || this.pending.length < 3) return Buffer.alloc(0);
    const header = this.pending.readUInt16LE(0);
    this.done = true;
    if (((header >> 12) & 0x7) !== 0b011) return Buffer.alloc(0);
    return decodeChunk(header, this.pending.subarray(2));
  }
}

function decodeChunk(header: number, data: Buffer): Buffer {
  if ((header & 0x8000) === 0) return Buffer.from(data.subarray(0, CHUNK));
  const out = Buffer.alloc(CHUNK);
  let length = 0;
  let at = 0;
  while (at < data.length && length < CHUNK) {
    const flags = data[at++]!;
    for (let bit = 0; bit < 8 && at < data.length && length < CHUNK; bit++) {
      if ((flags & (1 << bit)) === 0) {
        out[length++] = data[at++]!;
        continue;
      }
      if (at + 1 >= data.length) return out.subarray(0, length);
      const token = data.readUInt16LE(at);
      at += 2;
      const bits = offsetBits(length);
      const copyLength = (token & (0xffff >> bits)) + 3;
      const offset = (token >> (16 - bits)) + 1;
      if (offset > length) return out.subarray(0, length); // points before the chunk: damaged
      for (let i = 0; i < copyLength && length < CHUNK; i++, length++)
        out[length] = out[length - offset]!;
    }
  }
  return out.subarray(0, length);
}

/** Bits of a copy token's offset, from how much of the chunk is decoded (2.4.1.3.19.1). */
function offsetBits(decoded: number): number {
  let bits = 4;
  while (bits < 12 && 1 << bits < decoded) bits++;
  return bits;
}
