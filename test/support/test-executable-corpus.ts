import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * ClamAV's test executable (a harmless 544-byte PE that prints a message) wrapped in archive,
 * mail, document, encoding and packer formats: Debian's `clamav-testfiles` package, written by
 * the ClamAV project, plus more formats built here at run time with Debian's own tools. Nothing
 * of it is stored in this repository.
 */
export const CLAMAV_TESTFILES_DIR = '/usr/share/clamav-testfiles';
export const TEST_EXECUTABLE = path.join(CLAMAV_TESTFILES_DIR, 'clam.exe');
/** The signature name the test database gives it, and the finding Arbiter reports for it. */
export const TEST_EXECUTABLE_SIGNATURE = 'ClamAV-Test-File';
export const TEST_EXECUTABLE_FINDING = 'content.malicious.clamav-test-file';

/** The package's files, by name: all of them hold the test executable somewhere inside. */
export async function clamavTestfiles(): Promise<string[]> {
  const names = await readdir(CLAMAV_TESTFILES_DIR).catch(() => {
    throw new Error(
      `${CLAMAV_TESTFILES_DIR} is missing: install Debian's clamav-testfiles (scripts/setup does)`,
    );
  });
  return names.sort().map((name) => path.join(CLAMAV_TESTFILES_DIR, name));
}

/** A one-line ClamAV database (`.hdb`: MD5, size, name) that names the test executable. */
export async function testExecutableDatabase(): Promise<string> {
  const bytes = await readFile(TEST_EXECUTABLE);
  const md5 = createHash('md5').update(bytes).digest('hex');
  return `${md5}:${bytes.length}:${TEST_EXECUTABLE_SIGNATURE}\n`;
}

interface Recipe {
  name: string;
  /** The command that writes `name` (run in the work folder, where `clam.exe` is). */
  command: [string, ...string[]];
}

/**
 * Formats beyond the package's, each written by the tool a user would use (scripts/setup installs
 * them): compressors and tar dialects, an ISO image, 7z with other codecs, zips stored and with
 * bzip2 members, and one file nested through four different formats.
 */
const RECIPES: Recipe[] = [
  { name: 'clam.exe.gz', command: ['sh', '-c', 'gzip -9 -c clam.exe > clam.exe.gz'] },
  { name: 'clam.exe.xz', command: ['sh', '-c', 'xz -c clam.exe > clam.exe.xz'] },
  {
    name: 'clam.ustar.tar',
    command: ['tar', '--format=ustar', '-cf', 'clam.ustar.tar', 'clam.exe'],
  },
  { name: 'clam.pax.tar', command: ['tar', '--format=pax', '-cf', 'clam.pax.tar', 'clam.exe'] },
  { name: 'clam.gnu.tar', command: ['tar', '--format=gnu', '-cf', 'clam.gnu.tar', 'clam.exe'] },
  { name: 'clam.tar.xz', command: ['tar', '-cJf', 'clam.tar.xz', 'clam.exe'] },
  { name: 'clam.tar.bz2', command: ['tar', '-cjf', 'clam.tar.bz2', 'clam.exe'] },
  { name: 'clam.iso', command: ['genisoimage', '-quiet', '-o', 'clam.iso', 'iso-root'] },
  { name: 'clam.stored.zip', command: ['zip', '-q', '-0', 'clam.stored.zip', 'clam.exe'] },
  { name: 'clam.bzip2.zip', command: ['zip', '-q', '-Z', 'bzip2', 'clam.bzip2.zip', 'clam.exe'] },
  {
    name: 'clam.lzma2.7z',
    command: ['7z', 'a', '-bd', '-y', '-m0=LZMA2', 'clam.lzma2.7z', 'clam.exe'],
  },
  {
    name: 'clam.ppmd.7z',
    command: ['7z', 'a', '-bd', '-y', '-m0=PPMd', 'clam.ppmd.7z', 'clam.exe'],
  },
  {
    name: 'clam.nested.7z',
    command: [
      'sh',
      '-c',
      'zip -q nested.zip clam.exe && tar -cJf nested.tar.xz nested.zip && ' +
        'gzip -c nested.tar.xz > nested.tar.xz.gz && 7z a -bd -y clam.nested.7z nested.tar.xz.gz',
    ],
  },
];

/** Builds the extra formats into `dir` and returns their paths. */
export async function buildExtraFormats(dir: string): Promise<string[]> {
  await mkdir(path.join(dir, 'iso-root'), { recursive: true });
  await copyFile(TEST_EXECUTABLE, path.join(dir, 'clam.exe'));
  await copyFile(TEST_EXECUTABLE, path.join(dir, 'iso-root', 'clam.exe'));
  const built: string[] = [];
  for (const recipe of RECIPES) {
    const [program, ...args] = recipe.command;
    await run(program, args, { cwd: dir }).catch((error: unknown) => {
      throw new Error(
        `could not build ${recipe.name} with ${program} (scripts/setup installs it)`,
        {
          cause: error,
        },
      );
    });
    built.push(path.join(dir, recipe.name));
  }
  return built;
}

/**
 * What clamscan (ClamAV's own command-line scanner, its default limits) says of each file with
 * the test database in `databaseDir`: the signature name, or `OK`.
 */
export async function clamscanVerdicts(
  databaseDir: string,
  files: string[],
): Promise<Map<string, string>> {
  // clamscan exits 1 when it finds something: read its output either way.
  const { stdout } = await run('clamscan', ['--no-summary', '-d', databaseDir, ...files], {
    maxBuffer: 16 * 1024 * 1024,
  }).catch((error: { stdout?: string; code?: number }) => {
    if (error.code === 1 && error.stdout !== undefined) return { stdout: error.stdout };
    throw error;
  });
  const verdicts = new Map<string, string>();
  for (const line of stdout.split('\n').filter(Boolean)) {
    const match = /^(.*): (.+?)(?: FOUND)?$/.exec(line);
    if (match) verdicts.set(match[1]!, match[2]!);
  }
  return verdicts;
}

/** Writes the one-line test database into `databaseDir` (created if needed). */
export async function writeTestExecutableDatabase(databaseDir: string): Promise<void> {
  await mkdir(databaseDir, { recursive: true });
  await writeFile(path.join(databaseDir, 'clamav-test-file.hdb'), await testExecutableDatabase());
}
