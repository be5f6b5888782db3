/**
 * VBA module streams as Office writes them, approximately: compiled p-code (here, filler bytes)
 * then the source in an [MS-OVBA] CompressedContainer. The container is written with literal
 * tokens only, which the format allows (a decompressor must read it; Office itself also uses
 * copy tokens, checked against the specification's own example in the tests).
 */
export function moduleStream(source: string, pcode = 3000): Buffer {
  const filler = Buffer.from(Array.from({ length: pcode }, (_, i) => (i * 31 + 7) % 251));
  return Buffer.concat([filler, compressLiterally(Buffer.from(source, 'latin1'))]);
}

/** A CompressedContainer of literal-only compressed chunks (3000 source bytes each). */
export function compressLiterally(data: Buffer): Buffer {
  const parts: Buffer[] = [Buffer.from([0x01])];
  for (let at = 0; at < data.length; at += 3000) {
    const piece = data.subarray(at, at + 3000);
    const tokens: Buffer[] = [];
    for (let i = 0; i < piece.length; i += 8)
      tokens.push(Buffer.from([0]), piece.subarray(i, i + 8));
    const body = Buffer.concat(tokens);
    const header = Buffer.alloc(2);
    header.writeUInt16LE(0x8000 | 0x3000 | (body.length + 2 - 3));
    parts.push(header, body);
  }
  return Buffer.concat(parts);
}
