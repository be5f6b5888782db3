import zlib from 'node:zlib';

/**
 * A RAR 4 archive with stored (uncompressed) members, written by hand for tests: no free tool
 * writes RAR. Readers go through the same header parsing and member extraction as for a
 * compressed one; only the decompressor is not exercised.
 */
export function storedRar(entries: Array<{ name: string; data: Buffer }>): Buffer {
  const marker = Buffer.from('Rar!\x1a\x07\x00', 'latin1');
  const main = block(0x73, 0, Buffer.alloc(6));
  const files = entries.map(({ name, data }) => {
    const nameBytes = Buffer.from(name, 'latin1');
    const fields = Buffer.alloc(25);
    fields.writeUInt32LE(data.length, 0); // packed size
    fields.writeUInt32LE(data.length, 4); // unpacked size
    fields[8] = 2; // host OS: Windows
    fields.writeUInt32LE(zlib.crc32(data) >>> 0, 9);
    fields.writeUInt32LE(0x5a210000, 13); // DOS time
    fields[17] = 20; // version needed: 2.0
    fields[18] = 0x30; // method: store
    fields.writeUInt16LE(nameBytes.length, 19);
    fields.writeUInt32LE(0x20, 21); // attributes: archive
    // 0x8000: a data area follows the header.
    return Buffer.concat([block(0x74, 0x8000, Buffer.concat([fields, nameBytes])), data]);
  });
  const end = block(0x7b, 0x4000, Buffer.alloc(0));
  return Buffer.concat([marker, main, ...files, end]);
}

/** A header block: CRC-16 (the low half of the CRC-32 of what follows it), type, flags, size. */
function block(type: number, flags: number, body: Buffer): Buffer {
  const header = Buffer.alloc(7);
  header[2] = type;
  header.writeUInt16LE(flags, 3);
  header.writeUInt16LE(7 + body.length, 5);
  const whole = Buffer.concat([header, body]);
  whole.writeUInt16LE(zlib.crc32(whole.subarray(2)) & 0xffff, 0);
  return whole;
}
