import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { emptyHashDatabase, parseHashLines, type HashDatabase } from '../hash-signatures.js';
import { parseLdbText, type LogicalSignature } from './ldb.js';
import { parseMdbText, type SectionHashSignature } from './mdb.js';
import { parseNdbText, type BodySignature, type SignatureProblem } from './ndb.js';

export type { SignatureProblem } from './ndb.js';

/**
 * Everything the built-in engine matches: whole-file hashes (`.hdb`, `.hsb`), body signatures
 * (`.ndb`), logical signatures (`.ldb`, `.ldu`) and PE section hashes (`.mdb`, `.msb`, `.mdu`,
 * `.msu`) from one folder. Lines that cannot be used are reported in `problems` and skipped;
 * lines loaded with a caveat (a target type matched as "any file") are in `warnings`.
 */
export interface SignatureDatabase {
  hashes: HashDatabase;
  bodies: BodySignature[];
  /** Logical signatures (`.ldb`, `.ldu`). */
  logical: LogicalSignature[];
  /** PE section hashes (`.mdb`, `.msb`, `.mdu`, `.msu`). */
  sectionHashes: SectionHashSignature[];
  /** Signatures loaded, of every kind. */
  count: number;
  problems: SignatureProblem[];
  warnings: SignatureProblem[];
  /** The database files read, in load order. */
  files: string[];
  /** A digest of every file's name and content: the database version reported with results. */
  fingerprint: string;
}

const DATABASE_FILE = /\.(hdb|hsb|ndb|ldb|ldu|mdb|msb|mdu|msu)$/i;

export function emptySignatureDatabase(): SignatureDatabase {
  return {
    hashes: emptyHashDatabase(),
    bodies: [],
    logical: [],
    sectionHashes: [],
    count: 0,
    problems: [],
    warnings: [],
    files: [],
    fingerprint: 'empty',
  };
}

/** Reads every database file in `dir` (no folder: EICAR detection only). */
export async function loadSignatureDatabase(dir: string | undefined): Promise<SignatureDatabase> {
  if (!dir) return emptySignatureDatabase();
  const files = (await readdir(dir, { withFileTypes: true }))
    .filter((entry) => entry.isFile() && DATABASE_FILE.test(entry.name))
    .map((entry) => entry.name)
    .sort();
  const contents = await Promise.all(files.map((file) => readFile(path.join(dir, file), 'utf8')));
  return buildSignatureDatabase(files.map((file, index) => ({ file, text: contents[index] ?? '' })));
}

/** The same as loading a folder, from file names and texts (used by tests and benchmarks). */
export function buildSignatureDatabase(sources: { file: string; text: string }[]): SignatureDatabase {
  const db = emptySignatureDatabase();
  const fingerprint = createHash('sha256');
  for (const { file, text } of sources) {
    fingerprint.update(`${file}\0${text.length}\0`).update(text);
    db.files.push(file);
    if (/\.ndb$/i.test(file)) {
      const parsed = parseNdbText(text, file);
      db.bodies.push(...parsed.signatures);
      db.problems.push(...parsed.problems);
      db.warnings.push(...parsed.warnings);
    } else if (/\.(ldb|ldu)$/i.test(file)) {
      const parsed = parseLdbText(text, file);
      db.logical.push(...parsed.signatures);
      db.problems.push(...parsed.problems);
      db.warnings.push(...parsed.warnings);
    } else if (/\.(mdb|msb|mdu|msu)$/i.test(file)) {
      const parsed = parseMdbText(text, file);
      db.sectionHashes.push(...parsed.signatures);
      db.problems.push(...parsed.problems);
    } else {
      parseHashLines(text, file, db.hashes);
    }
  }
  db.problems.push(...db.hashes.problems);
  db.problems.sort((a, b) => (a.file === b.file ? a.line - b.line : a.file < b.file ? -1 : 1));
  db.count = db.hashes.count + db.bodies.length + db.logical.length + db.sectionHashes.length;
  db.fingerprint = sources.length > 0 ? fingerprint.digest('hex').slice(0, 12) : 'empty';
  db.hashes.fingerprint = db.fingerprint;
  return db;
}
