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
