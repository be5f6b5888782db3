import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * ClamAV database containers built at run time with Debian's `sigtool` (package clamav; installed
 * by scripts/setup): `buildUnsignedDatabase('daily', 3, {...})` is a `daily.cud` holding the given
 * database files (`daily.ndb`, `daily.hdb`, …), with a real header (version, signature count,
 * MD5 of its content). It is unsigned: clamd and freshclam's custom databases load it, but
 * freshclam refuses it as an official `.cvd` (it checks ClamAV's digital signature).
 */
export async function buildUnsignedDatabase(
  name: string,
  version: number,
  files: Record<string, string>,
): Promise<Buffer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'arbiter-cud-'));
  try {
    await writeFile(path.join(dir, 'COPYING'), 'Arbiter test signatures\n');
    for (const [file, text] of Object.entries(files)) await writeFile(path.join(dir, file), text);
    const child = run(
      'sigtool',
      [
        '--unsigned',
        `--build=${name}.cud`,
        `--cvd-version=${version}`,
        '--no-cdiff',
        `--datadir=${dir}`,
        '--quiet',
      ],
      { cwd: dir },
    );
    // sigtool asks for the builder's name on stdin.
    child.child.stdin?.end('arbiter-tests\n');
    await child;
    return await readFile(path.join(dir, `${name}.cud`));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A body signature (`.ndb` line) for `marker`, and content that carries it. */
export function markerSignature(name: string, marker: string): { ndb: string; sample: Buffer } {
  const bytes = Buffer.from(marker, 'latin1');
  return {
    ndb: `${name}:0:*:${bytes.toString('hex')}\n`,
    sample: Buffer.concat([Buffer.alloc(500, 0x2e), bytes, Buffer.alloc(500, 0x2e)]),
  };
}
