import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import path from 'node:path';

/**
 * ClamAV's database containers: `.cvd` (as published, signed), `.cld` (a `.cvd` freshclam
 * patched with incremental updates) and `.cud` (unsigned). Each starts with a 512-byte text
 * header, padded with spaces:
 * `ClamAV-VDB:<build time>:<version>:<signatures>:<functionality level>:<md5>:<dsig>:<builder>:<unix time>`,
 * followed by a tar.gz of the database files whose MD5 the header names (in a `.cvd` and a
 * `.cud`; a `.cld` keeps the header of the `.cvd` it was patched from, so its MD5 is stale).
 */

export const CONTAINER_EXTENSIONS = ['.cvd', '.cld', '.cud'] as const;
const HEADER_BYTES = 512;

export interface ContainerHeader {
  /** `daily`, `main`, `bytecode`, or a custom database's name. */
  database: string;
  /** The file name in its folder (`daily.cld`). */
  file: string;
  version: number;
  signatures: number;
  functionalityLevel: number;
  /** When it was built (the header's unix time). */
  builtAt: Date;
  md5: string;
}

/** Parses the header text; undefined when it is not a ClamAV database header. */
export function parseContainerHeader(
  text: string,
  file: string,
): Omit<ContainerHeader, 'file'> | undefined {
  const fields = text.replace(/[\s\0]+$/, '').split(':');
  if (fields[0] !== 'ClamAV-VDB' || fields.length < 9) return undefined;
  const version = Number(fields[2]);
  const signatures = Number(fields[3]);
  const functionalityLevel = Number(fields[4]);
  const builtAt = Number(fields[8]);
  const md5 = fields[5] ?? '';
  const numbers = [version, signatures, functionalityLevel, builtAt];
  if (!numbers.every((n) => Number.isSafeInteger(n) && n >= 0)) return undefined;
  return {
    database: path.basename(file).replace(/\.[^.]+$/, ''),
    version,
    signatures,
    functionalityLevel,
    builtAt: new Date(builtAt * 1000),
    md5,
  };
}

/** Reads a container's header; throws when the file is shorter than one or not a database. */
export async function readContainerHeader(filePath: string): Promise<ContainerHeader> {
  const handle = await open(filePath, 'r');
  try {
    const buffer = Buffer.alloc(HEADER_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, HEADER_BYTES, 0);
    const file = path.basename(filePath);
    if (bytesRead < HEADER_BYTES) throw new Error(`${file} is too short to be a ClamAV database`);
    const header = parseContainerHeader(buffer.toString('latin1'), file);
    if (!header) throw new Error(`${file} does not start with a ClamAV database header`);
    return { ...header, file };
  } finally {
    await handle.close();
  }
}

/**
 * Checks a container before it replaces a good one: its header parses and, for `.cvd` and
 * `.cud`, the MD5 of what follows the header is the one the header names, so a file cut short
 * or damaged on the way is refused. (freshclam has already checked ClamAV's digital signature of
 * a `.cvd` and test-loaded every file; this is a last look at what lands in the folder.)
 */
export async function verifyContainer(filePath: string): Promise<ContainerHeader> {
  const header = await readContainerHeader(filePath);
  if (path.extname(filePath) === '.cld') return header;
  const hash = createHash('md5');
  for await (const chunk of createReadStream(filePath, { start: HEADER_BYTES }))
    hash.update(chunk as Buffer);
  const actual = hash.digest('hex');
  if (actual !== header.md5.toLowerCase())
    throw new Error(
      `${header.file} is damaged: its content's MD5 is ${actual}, its header says ${header.md5}`,
    );
  return header;
}

export function isContainerFile(name: string): boolean {
  return (CONTAINER_EXTENSIONS as readonly string[]).includes(path.extname(name));
}

/**
 * The containers in a folder, one per database: where a `.cvd` and a `.cld` of the same
 * database sit side by side, the newer version (as clamd loads it). Files whose header cannot
 * be read are left out. Sorted by database name.
 */
export async function installedDatabases(dir: string): Promise<ContainerHeader[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const newest = new Map<string, ContainerHeader>();
  for (const name of names.filter(isContainerFile)) {
    const header = await readContainerHeader(path.join(dir, name)).catch(() => undefined);
    if (!header) continue;
    const current = newest.get(header.database);
    if (!current || header.version > current.version) newest.set(header.database, header);
  }
  return [...newest.values()].sort((a, b) => a.database.localeCompare(b.database));
}

/** A short text that changes whenever any database in the folder changes (for reload checks). */
export function databasesFingerprint(databases: ContainerHeader[]): string {
  return databases.map((d) => `${d.file}@${d.version}`).join(',');
}
