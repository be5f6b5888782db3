/**
 * ClamAV hash databases: `.hdb` (MD5:size:name) and `.hsb` (hash:size:name[:flevel], where the
 * hash is MD5, SHA-1 or SHA-256 by length and size may be `*`), their PUA variants `.hdu`/`.hsu`
 * and the allow lists in the same formats, `.fp` (as `.hdb`) and `.sfp` (as `.hsb`). Loaded as
 * part of a signature folder by signatures/database.ts; matched by matcher/content-scanner.ts in
 * the same pass as the body signatures.
 */
import { ANY_SIZE, HashTable } from './hash-table.js';

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
  /** Per algorithm: the digests, sizes and names, in compact form (see hash-table.ts). */
  tables: Map<HashAlgorithm, HashTable>;
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
const DIGEST_LENGTH: Record<HashAlgorithm, number> = { md5: 16, sha1: 20, sha256: 32 };

export function emptyHashDatabase(): HashDatabase {
  return {
    tables: new Map(),
    algorithms: new Set(),
    sizes: new Map(),
    anySize: new Set(),
    count: 0,
    fingerprint: 'empty',
  };
}

const NEWLINE = 0x0a;
const COLON = 0x3a;
const HASH_MARK = 0x23;

export interface HashParseOptions {
  /** The formats that hold MD5 hashes only (`.hdb`, `.hdu`, `.fp`). */
  md5Only: boolean;
  /**
   * When set, asked for each good line: false leaves the signature out (an ignore-list entry
   * names it). `line` gives the line's text, for entries that name a line by its digest.
   */
  keep?: (name: string, line: () => string) => boolean;
}

export interface HashParseResult {
  /** Signatures added. */
  loaded: number;
  /** Good lines that `keep` left out. */
  left: number;
  problems: SignatureProblem[];
}

/**
 * Adds every `hash:size:name[:flevel…]` line of a hash database file to `into`. Parsed as
 * bytes: the official database has millions of lines, and no string or object is made per line
 * (names are copied into the table's name heap as they are).
 */
export function parseHashes(
  content: string | Buffer,
  file: string,
  into: HashDatabase,
  options: HashParseOptions,
): HashParseResult {
  const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  const extension = file.slice(file.lastIndexOf('.'));
  const result: HashParseResult = { loaded: 0, left: 0, problems: [] };
  const digest = Buffer.alloc(32);
  let lineNumber = 0;
  let start = 0;
  while (start < bytes.length) {
    let end = bytes.indexOf(NEWLINE, start);
    if (end < 0) end = bytes.length;
    lineNumber += 1;
    const [from, to] = trimmed(bytes, start, end);
    start = end + 1;
    if (from === to || bytes[from] === HASH_MARK) continue;
    const line = parseHashLine(bytes, from, to, digest);
    if (typeof line === 'string') {
      result.problems.push({ file, line: lineNumber, message: line });
    } else if (options.md5Only && line.algorithm !== 'md5') {
      const message = `${extension} files hold MD5 hashes only`;
      result.problems.push({ file, line: lineNumber, message });
    } else if (
      options.keep &&
      !options.keep(bytes.toString('utf8', line.nameStart, line.nameEnd), () =>
        bytes.toString('utf8', from, to),
      )
    ) {
      result.left += 1;
    } else {
      addHash(into, line, digest, bytes);
      result.loaded += 1;
    }
  }
  return result;
}

/**
 * Adds every signature of `from` to `into` (a file's or a container's hashes, once they checked
 * out). `from` is spent: `into` may take its tables over rather than copy them.
 */
export function mergeHashes(into: HashDatabase, from: HashDatabase): void {
  for (const [algorithm, table] of from.tables) {
    const target = into.tables.get(algorithm);
    if (target) target.append(table);
    else into.tables.set(algorithm, table);
    into.algorithms.add(algorithm);
  }
  for (const algorithm of from.anySize) into.anySize.add(algorithm);
  for (const [algorithm, sizes] of from.sizes) {
    let target = into.sizes.get(algorithm);
    if (!target) into.sizes.set(algorithm, (target = new Set<number>()));
    for (const size of sizes) target.add(size);
  }
  into.count += from.count;
}

/** The line without leading and trailing whitespace (spaces, tabs, CR). */
function trimmed(bytes: Buffer, from: number, to: number): [number, number] {
  while (from < to && isSpace(bytes[from] ?? 0)) from += 1;
  while (to > from && isSpace(bytes[to - 1] ?? 0)) to -= 1;
  return [from, to];
}

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0d || byte === 0x0b || byte === 0x0c;
}

/** A hex digit's value, or -1. */
function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37;
  return -1;
}

/** Decodes `bytes[from…to]` (an even number of hex digits) into `into`; false if not hex. */
function decodeHex(bytes: Buffer, from: number, to: number, into: Buffer): boolean {
  for (let at = from, out = 0; at < to; at += 2, out += 1) {
    const high = hexValue(bytes[at] ?? 0);
    const low = hexValue(bytes[at + 1] ?? 0);
    if (high < 0 || low < 0) return false;
    into[out] = (high << 4) | low;
  }
  return true;
}

/** A decimal size of at most 15 digits, or undefined. */
function parseSize(bytes: Buffer, from: number, to: number): number | undefined {
  if (to === from || to - from > 15) return undefined;
  let value = 0;
  for (let at = from; at < to; at++) {
    const byte = bytes[at] ?? 0;
    if (byte < 0x30 || byte > 0x39) return undefined;
    value = value * 10 + (byte - 0x30);
  }
  return value;
}

/** A good line: its algorithm, size (ANY_SIZE for `*`) and where its name is. */
interface HashLine {
  algorithm: HashAlgorithm;
  size: number;
  nameStart: number;
  nameEnd: number;
}

/** Parses the line `bytes[from…to]`, its digest into `digest`; or says what is wrong with it. */
function parseHashLine(bytes: Buffer, from: number, to: number, digest: Buffer): HashLine | string {
  const first = bytes.indexOf(COLON, from);
  const second = first < 0 || first >= to ? -1 : bytes.indexOf(COLON, first + 1);
  if (second < 0 || second >= to) return 'expected hash:size:name';
  const third = bytes.indexOf(COLON, second + 1);
  const nameEnd = third < 0 || third >= to ? to : third;
  const algorithm = ALGORITHM_BY_LENGTH[first - from];
  if (!algorithm || !decodeHex(bytes, from, first, digest))
    return 'the hash is not MD5, SHA-1 or SHA-256 hex';
  const anySize = second - first === 2 && bytes[first + 1] === 0x2a; /* * */
  const size = anySize ? ANY_SIZE : parseSize(bytes, first + 1, second);
  if (size === undefined)
    return `"${bytes.toString('utf8', first + 1, second)}" is not a size or *`;
  if (nameEnd === second + 1) return 'the signature has no name';
  return { algorithm, size, nameStart: second + 1, nameEnd };
}

function addHash(db: HashDatabase, line: HashLine, digest: Buffer, bytes: Buffer): void {
  const { algorithm, size } = line;
  let table = db.tables.get(algorithm);
  if (!table) db.tables.set(algorithm, (table = new HashTable(DIGEST_LENGTH[algorithm])));
  table.add(digest, 0, size, bytes, line.nameStart, line.nameEnd);
  db.algorithms.add(algorithm);
  if (size === ANY_SIZE) {
    db.anySize.add(algorithm);
  } else {
    let sizes = db.sizes.get(algorithm);
    if (!sizes) db.sizes.set(algorithm, (sizes = new Set<number>()));
    sizes.add(size);
  }
  db.count += 1;
}

/** Whether a file of this size (-1: unknown) could match any of the algorithm's signatures. */
export function hashNeeded(db: HashDatabase, algorithm: HashAlgorithm, size: number): boolean {
  return db.anySize.has(algorithm) || size < 0 || (db.sizes.get(algorithm)?.has(size) ?? false);
}

/** The signatures with this digest (hex or bytes) whose size is `size` or any size. */
export function lookupHash(
  db: HashDatabase,
  algorithm: HashAlgorithm,
  digest: string | Uint8Array,
  size: number,
): HashSignature[] {
  const table = db.tables.get(algorithm);
  if (!table) return [];
  const bytes = typeof digest === 'string' ? Buffer.from(digest, 'hex') : digest;
  return table.lookup(bytes, size);
}
