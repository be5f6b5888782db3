import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, formatWorkspace } from '../support/archives.js';
import { eicar } from '../support/content.js';
import { installShieldLauncher, installShieldSetup } from '../support/installshield.js';
import { buildPe } from '../support/pe-builder.js';
import { CLAMAV_TESTFILES_DIR, TEST_EXECUTABLE } from '../support/test-executable-corpus.js';

// InstallShield launchers (scanning/archives/formats/installshield.ts, found by sfx.ts): the
// files of the table in the executable's overlay, or of an MSI setup's obfuscated streams, are
// members.

const { ws, formats } = formatWorkspace();

/** A launcher's own image: the file table starts where its last section ends. */
const STUB = buildPe({
  sections: [{ data: Buffer.alloc(64, 0xc3) }],
  entry: { section: 0, offset: 0 },
}).bytes;
const CLAM_EXE = readFileSync(TEST_EXECUTABLE);
const SETUP_INI = Buffer.from('[Startup]\r\nProduct=Example\r\n');
const walk = (content: Buffer, name = 'setup.exe') =>
  ws.walk(content, name, DEFAULT_LIMITS, formats.handlers);

describe('InstallShield launchers', () => {
  it('hands over every file of the table by its name', async () => {
    const launcher = installShieldLauncher(STUB, [
      { name: 'setup.ini', data: SETUP_INI },
      { name: 'empty.txt', data: Buffer.alloc(0) },
      { name: 'eicar.com', data: eicar(), version: '11.0.0.28844' },
    ]);
    const result = await walk(launcher);
    expect(result.unscannable).toEqual([]);
    expect(result.visited.filter((v) => v.depth === 1).map((v) => [v.path, v.data])).toEqual([
      ['setup.exe/setup.ini', SETUP_INI],
      ['setup.exe/empty.txt', Buffer.alloc(0)],
      ['setup.exe/eicar.com', eicar()],
    ]);
  });

  it("opens clamav-testfiles' clam_IScab_ext.exe down to the test executable", async () => {
    const result = await walk(readFileSync(`${CLAMAV_TESTFILES_DIR}/clam_IScab_ext.exe`));
    expect(result.unscannable).toEqual([]);
    expect(result.visited.find((v) => v.path === 'setup.exe/clam.exe')?.data).toEqual(CLAM_EXE);
  });

  it('leaves executables alone whose overlay is no file table', async () => {
    for (const overlay of [
      Buffer.alloc(600),
      Buffer.from('setup.ini\0Disk1\\setup.ini\0not a version\x01\x0212\0'),
      Buffer.from('setup.ini\0Disk1\\setup.ini\x000.0.0.0\x00999999\0short'),
      Buffer.from('readme text after the image, nothing more\n'.repeat(10)),
    ]) {
      const result = await walk(Buffer.concat([STUB, overlay]));
      expect(result.visited, overlay.toString('latin1', 0, 20)).toHaveLength(1);
      expect(result.unscannable).toEqual([]);
    }
  });

  it('reports a table cut short or followed by garbage as corrupt', async () => {
    const launcher = installShieldLauncher(STUB, [
      { name: 'setup.ini', data: SETUP_INI },
      { name: 'eicar.com', data: eicar() },
    ]);
    const cut = await walk(launcher.subarray(0, launcher.length - 10));
    expect(cut.unscannable).toMatchObject([{ reason: 'corrupt', path: ['setup.exe'] }]);
    expect(cut.visited.map((v) => v.path)).toContain('setup.exe/setup.ini');
    const trailing = await walk(Buffer.concat([launcher, Buffer.from('\x01garbage')]));
    expect(trailing.unscannable).toMatchObject([{ reason: 'corrupt', path: ['setup.exe'] }]);
    expect(trailing.visited.find((v) => v.path === 'setup.exe/eicar.com')?.data).toEqual(eicar());
  });

  it('decodes the files of an MSI setup launcher', async () => {
    const setup = installShieldSetup(STUB, [
      { name: 'Setup.ini', data: SETUP_INI },
      { name: 'EvalMarker.dat', data: Buffer.alloc(0) },
      { name: 'eicar.com', data: eicar() },
    ]);
    const result = await walk(setup);
    expect(result.unscannable).toEqual([]);
    expect(result.visited.filter((v) => v.depth === 1).map((v) => [v.path, v.data])).toEqual([
      ['setup.exe/Setup.ini', SETUP_INI],
      ['setup.exe/EvalMarker.dat', Buffer.alloc(0)],
      ['setup.exe/eicar.com', eicar()],
    ]);
  });

  it("opens clamav-testfiles' MSI setups down to the test executable", async () => {
    for (const name of ['clam_ISmsi_ext.exe', 'clam_ISmsi_int.exe']) {
      const result = await walk(readFileSync(`${CLAMAV_TESTFILES_DIR}/${name}`), name);
      expect(result.unscannable, name).toEqual([]);
      expect(
        result.visited.some((v) => v.data?.equals(CLAM_EXE)),
        name,
      ).toBe(true);
    }
  });

  it('reports a damaged MSI setup as corrupt, and ignores a mere marker', async () => {
    const setup = installShieldSetup(STUB, [
      { name: 'Setup.ini', data: SETUP_INI },
      { name: 'eicar.com', data: eicar() },
    ]);
    const cut = await walk(setup.subarray(0, setup.length - 5));
    expect(cut.unscannable).toMatchObject([{ reason: 'corrupt', path: ['setup.exe'] }]);
    const damaged = Buffer.from(setup);
    damaged.fill(0x55, damaged.length - 20);
    const garbled = await walk(damaged);
    expect(garbled.unscannable).toMatchObject([
      { reason: 'corrupt', path: ['setup.exe', 'eicar.com'] },
    ]);
    const marker = Buffer.concat([
      STUB,
      Buffer.from('built with InstallShield\0 2005\0'),
      Buffer.alloc(400),
    ]);
    const plain = await walk(marker);
    expect(plain.visited).toHaveLength(1);
    expect(plain.unscannable).toEqual([]);
  });
});
