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

/**
 * A RAR 5 archive with stored members, written by hand from the RAR 5.0 format description
 * (rarlab's technote): the signature, then blocks of `CRC32, header size, type, flags, fields`,
 * every number a variable-length integer (7 bits a byte, the high bit meaning "more").
 */
export function storedRar5(entries: Array<{ name: string; data: Buffer }>): Buffer {
  const signature = Buffer.from('Rar!\x1a\x07\x01\x00', 'latin1');
  const main = block5(1, 0, [vint(0)]); // archive flags: none (one volume, not solid)
  const files = entries.map(({ name, data }) => {
    const nameBytes = Buffer.from(name, 'utf8');
    const crc = Buffer.alloc(4);
    crc.writeUInt32LE(zlib.crc32(data) >>> 0);
    const fields = [
      vint(0x04), // file flags: a CRC-32 of the data is present
      vint(data.length), // unpacked size
      vint(0x20), // attributes: archive
      crc,
      vint(0), // compression: version 0, method 0 (store), smallest dictionary
      vint(0), // host OS: Windows
      vint(nameBytes.length),
      nameBytes,
    ];
    // Header flag 0x02: a data area of `data.length` bytes follows the header.
    return Buffer.concat([block5(2, 0x02, fields, data.length), data]);
  });
  const end = block5(5, 0, [vint(0)]); // end of archive: not a multi-volume archive
  return Buffer.concat([signature, main, ...files, end]);
}

/** A RAR 5 block: CRC-32 of everything after it, header size, type, flags, [data size], fields. */
function block5(type: number, flags: number, fields: Buffer[], dataSize?: number): Buffer {
  const body = Buffer.concat([
    vint(type),
    vint(flags),
    ...(dataSize === undefined ? [] : [vint(dataSize)]),
    ...fields,
  ]);
  const sized = Buffer.concat([vint(body.length), body]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(zlib.crc32(sized) >>> 0);
  return Buffer.concat([crc, sized]);
}

function vint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  do {
    const low = rest % 128;
    rest = Math.floor(rest / 128);
    bytes.push(rest > 0 ? low | 0x80 : low);
  } while (rest > 0);
  return Buffer.from(bytes);
}
