/**
 * ClamAV hash databases: `.hdb` (MD5:size:name) and `.hsb` (hash:size:name[:flevel], where the
 * hash is MD5, SHA-1 or SHA-256 by length and size may be `*`), their PUA variants `.hdu`/`.hsu`
 * and the allow lists in the same formats, `.fp` (as `.hdb`) and `.sfp` (as `.hsb`). Loaded as
 * part of a signature folder by signatures/database.ts; matched by matcher/content-scanner.ts in
 * the same pass as the body signatures.
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
  /** Per algorithm: lower-case hex digest → signatures with that digest. */
  entries: Map<HashAlgorithm, Map<string, HashSignature[]>>;
  algorithms: Set<HashAlgorithm>;
  /**
   * The file sizes each algorithm's signatures name, and the algorithms with a `*` size: a file
   * whose size is in neither needs no digest at all.
   */
  sizes: Map<HashAlgorithm, Set<number>>;
  anySize: Set<HashAlgorithm>;
  count: number;
  /** A digest of every loaded line, so results can say which database judged them. */
  fingerprint: string;
}

const ALGORITHM_BY_LENGTH: Record<number, HashAlgorithm> = { 32: 'md5', 40: 'sha1', 64: 'sha256' };

export function emptyHashDatabase(): HashDatabase {
  return {
    entries: new Map(),
    algorithms: new Set(),
    sizes: new Map(),
    anySize: new Set(),
    count: 0,
    fingerprint: 'empty',
  };
}

/** One parsed `hash:size:name` line. */
export interface HashEntry {
  algorithm: HashAlgorithm;
  /** Lower-case hex. */
  hex: string;
  name: string;
  /** null matches any size. */
  size: number | null;
  line: number;
}

/**
 * Parses the lines of a hash database (`.hdb`, `.hsb`, and their PUA and allow-list variants):
 * `md5Only` for the formats that hold MD5 hashes only (`.hdb`, `.hdu`, `.fp`).
 */
export function parseHashText(
  text: string,
  file: string,
  md5Only: boolean,
): { signatures: HashEntry[]; problems: SignatureProblem[]; warnings: SignatureProblem[] } {
  const signatures: HashEntry[] = [];
  const problems: SignatureProblem[] = [];
  const extension = file.slice(file.lastIndexOf('.'));
  let lineNumber = 0;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    lineNumber += 1;
    const line = text.slice(start, end).trim();
    start = end + 1;
    if (line === '' || line.charCodeAt(0) === 0x23 /* # */) continue;
    const parsed = parseHashLine(line, md5Only, extension);
    if (typeof parsed === 'string') problems.push({ file, line: lineNumber, message: parsed });
    else signatures.push({ ...parsed, line: lineNumber });
  }
  return { signatures, problems, warnings: [] };
}

/** Adds parsed hash lines to a database. */
export function addHashes(db: HashDatabase, entries: readonly HashEntry[]): void {
  for (const entry of entries) addHash(db, entry);
}

/** Whether `text` is hex digits; `lower` also requires them lower-case. */
function isHex(text: string, lower: boolean): boolean {
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    const digit = c >= 0x30 && c <= 0x39;
    const small = c >= 0x61 && c <= 0x66;
    const capital = !lower && c >= 0x41 && c <= 0x46;
    if (!digit && !small && !capital) return false;
  }
  return true;
}

function isSize(text: string): boolean {
  if (text.length === 0 || text.length > 15) return false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** Parses one `hash:size:name[:flevel]` line, or says what is wrong with it. */
function parseHashLine(
  line: string,
  md5Only: boolean,
  extension: string,
): Omit<HashEntry, 'line'> | string {
  const first = line.indexOf(':');
  const second = first < 0 ? -1 : line.indexOf(':', first + 1);
  if (second < 0) return 'expected hash:size:name';
  const third = line.indexOf(':', second + 1);
  let hex = line.slice(0, first);
  const size = line.slice(first + 1, second);
  const name = third < 0 ? line.slice(second + 1) : line.slice(second + 1, third);
  const algorithm = ALGORITHM_BY_LENGTH[hex.length];
  if (!algorithm || !isHex(hex, false)) return 'the hash is not MD5, SHA-1 or SHA-256 hex';
  if (!isHex(hex, true)) hex = hex.toLowerCase();
  if (md5Only && algorithm !== 'md5') return `${extension} files hold MD5 hashes only`;
  const anySize = size === '*';
  if (!anySize && !isSize(size)) return `"${size}" is not a size or *`;
  if (name === '') return 'the signature has no name';
  return { algorithm, hex, name, size: anySize ? null : Number(size) };
}

function addHash(db: HashDatabase, entry: Omit<HashEntry, 'line'>): void {
  const { algorithm, hex } = entry;
  const signature: HashSignature = { name: entry.name, size: entry.size };
  let digests = db.entries.get(algorithm);
  if (!digests) db.entries.set(algorithm, (digests = new Map<string, HashSignature[]>()));
  const list = digests.get(hex);
  if (list) list.push(signature);
  else digests.set(hex, [signature]);
  db.algorithms.add(algorithm);
  if (signature.size === null) {
    db.anySize.add(algorithm);
  } else {
    let sizes = db.sizes.get(algorithm);
    if (!sizes) db.sizes.set(algorithm, (sizes = new Set<number>()));
    sizes.add(signature.size);
  }
  db.count += 1;
}

/** Whether a file of this size (-1: unknown) could match any of the algorithm's signatures. */
export function hashNeeded(db: HashDatabase, algorithm: HashAlgorithm, size: number): boolean {
  return db.anySize.has(algorithm) || size < 0 || (db.sizes.get(algorithm)?.has(size) ?? false);
}

export function lookupHash(
  db: HashDatabase,
  algorithm: HashAlgorithm,
  hex: string,
  size: number,
): HashSignature[] {
  const list = db.entries.get(algorithm)?.get(hex);
  return list ? list.filter((s) => s.size === null || s.size === size) : [];
}
