import zlib from 'node:zlib';

/**
 * An InstallShield setup launcher as InstallShield's "compress into one file" writes it, for
 * tests (no Debian tool writes one): an executable stub, then per file its name, its path on the
 * disk image, a version and its decimal size (NUL-terminated strings), then its bytes.
 */
export function installShieldLauncher(
  stub: Buffer,
  files: Array<{ name: string; data: Buffer; version?: string }>,
): Buffer {
  return Buffer.concat([
    stub,
    ...files.flatMap(({ name, data, version }) => [
      Buffer.from(`${name}\0Disk1\\${name}\0${version ?? '0.0.0.0'}\0${data.length}\0`, 'latin1'),
      data,
    ]),
  ]);
}

/**
 * An InstallShield MSI setup launcher: `stub`, then the marker `InstallShield\0`, a 32-byte
 * header (the file count) and per file a 312-byte block (its name, 6, its compressed size, 0, 1)
 * and its data, zlib-compressed then obfuscated (XORed with a key from its name, nibbles swapped).
 */
export function installShieldSetup(
  stub: Buffer,
  files: Array<{ name: string; data: Buffer }>,
): Buffer {
  const header = Buffer.alloc(0x20);
  header.writeUInt32LE(files.length, 0);
  const parts = [stub, Buffer.from('InstallShield\0', 'latin1'), header];
  for (const { name, data } of files) {
    const compressed = zlib.deflateSync(data);
    const block = Buffer.alloc(0x138);
    block.write(name, 0, 'latin1');
    block.writeUInt32LE(6, 0x104);
    block.writeBigUInt64LE(BigInt(compressed.length), 0x10c);
    block.writeUInt32LE(1, 0x118);
    const key = Buffer.from(name, 'latin1').map(
      (byte, i) => byte ^ [0xec, 0xca, 0x79, 0xf8][i & 3]!,
    );
    const obfuscated = compressed.map((byte, i) => {
      const mixed = byte ^ key[(i & 0x3ff) % key.length]!;
      return ((mixed >> 4) | (mixed << 4)) & 0xff;
    });
    parts.push(block, Buffer.from(obfuscated));
  }
  return Buffer.concat(parts);
}
