import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * ClamAV hash databases: `.hdb` (MD5:size:name) and `.hsb` (hash:size:name[:flevel], where the
 * hash is MD5, SHA-1 or SHA-256 by length and size may be `*`).
 */
export type HashAlgorithm = 'md5' | 'sha1' | 'sha256';

export interface HashSignature {
  name: string;
  /** null matches any size. */
  size: number | null;
}

export interface SignatureProblem {
  file: string;
  line: number;
  message: string;
}

export interface HashDatabase {
  /** `${algorithm}:${hex}` → signatures with that digest. */
  entries: Map<string, HashSignature[]>;
  algorithms: Set<HashAlgorithm>;
  count: number;
  problems: SignatureProblem[];
  /** A digest of every loaded line, so results can say which database judged them. */
  fingerprint: string;
}

const ALGORITHM_BY_LENGTH: Record<number, HashAlgorithm> = { 32: 'md5', 40: 'sha1', 64: 'sha256' };

export function emptyHashDatabase(): HashDatabase {
  return { entries: new Map(), algorithms: new Set(), count: 0, problems: [], fingerprint: 'empty' };
}

export async function loadHashDatabase(dir: string | undefined): Promise<HashDatabase> {
  const db = emptyHashDatabase();
  if (!dir) return db;
  const files = (await readdir(dir)).filter((f) => /\.(hdb|hsb)$/i.test(f)).sort();
  const fingerprint = createHash('sha256');
  for (const file of files) {
    const text = await readFile(path.join(dir, file), 'utf8');
    fingerprint.update(file).update(text);
    parseHashLines(text, file, db);
  }
  db.fingerprint = files.length > 0 ? fingerprint.digest('hex').slice(0, 12) : 'empty';
  return db;
}

export function parseHashLines(text: string, file: string, db: HashDatabase): void {
  const md5Only = file.toLowerCase().endsWith('.hdb');
  text.split(/\r?\n/).forEach((rawLine, index) => {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) return;
    const problem = (message: string) => db.problems.push({ file, line: index + 1, message });
    const [digest = '', size = '', name = ''] = line.split(':');
    const hex = digest.toLowerCase();
    const algorithm = ALGORITHM_BY_LENGTH[hex.length];
    if (!/^[0-9a-f]+$/.test(hex) || !algorithm) return problem('the hash is not MD5, SHA-1 or SHA-256 hex');
    if (md5Only && algorithm !== 'md5') return problem('.hdb files hold MD5 hashes only');
    if (!/^(\d+|\*)$/.test(size)) return problem(`"${size}" is not a size or *`);
    if (name === '') return problem('the signature has no name');
    const key = `${algorithm}:${hex}`;
    const list = db.entries.get(key) ?? [];
    list.push({ name, size: size === '*' ? null : Number(size) });
    db.entries.set(key, list);
    db.algorithms.add(algorithm);
    db.count += 1;
  });
}

export function lookupHash(
  db: HashDatabase,
  algorithm: HashAlgorithm,
  hex: string,
  size: number,
): HashSignature[] {
  return (db.entries.get(`${algorithm}:${hex}`) ?? []).filter((s) => s.size === null || s.size === size);
}
