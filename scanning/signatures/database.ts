import { createHash } from 'node:crypto';
import { open, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  emptyHashDatabase,
  mergeHashes,
  parseHashes,
  type HashDatabase,
} from '../hash-signatures.js';
import { compileMetadataSignature } from '../matcher/container-metadata.js';
import { parseCdbText, type ContainerMetadataSignature } from './cdb.js';
import { containerKind, readContainer, type ContainerVerification } from './container.js';
import { parseContainerHeader } from './cvd.js';
import { CLAMAV_PUBLIC_KEY, type RsaPublicKey } from './dsig.js';
import { IgnoreList, parseIgnoreText } from './ign.js';
import { parseLdbText, type LogicalSignature } from './ldb.js';
import { parseMdbInto } from './mdb.js';
import { parseNdbText, type BodySignature, type SignatureProblem } from './ndb.js';

export type { SignatureProblem } from './ndb.js';

/**
 * Everything the built-in engine matches, from one folder: whole-file hashes (`.hdb`, `.hsb`),
 * body signatures (`.ndb`), logical signatures (`.ldb`), PE section hashes (`.mdb`, `.msb`),
 * container metadata signatures (`.cdb`), the allow list (`.fp`, `.sfp`), read from plain files and from
 * ClamAV's containers (`.cvd`, `.cld`, `.cud`). Lines that cannot be used are reported in
 * `problems` and skipped; lines loaded with a caveat (a target type matched as "any file") are in
 * `warnings`; `report` counts, per type, what was loaded and what was skipped and why.
 */
export interface SignatureDatabase {
  hashes: HashDatabase;
  bodies: BodySignature[];
  /** Logical signatures (`.ldb`; `.ldu` with PUA detection on). */
  logical: LogicalSignature[];
  /**
   * PE section hashes (`.mdb`, `.msb`; `.mdu`, `.msu` with PUA detection on), keyed by section
   * digest with the section's raw size as the size.
   */
  sectionHashes: HashDatabase;
  /** `.fp` and `.sfp`: content whose hash and size are listed here is clean, whatever matched. */
  allowed: HashDatabase;
  /** Container metadata signatures (`.cdb`) the built-in engine can match. */
  containerMetadata: ContainerMetadataSignature[];
  /** Signatures loaded, of every kind. */
  count: number;
  problems: SignatureProblem[];
  warnings: SignatureProblem[];
  /** The database files read, in load order (a container's members as `daily.cvd/daily.ndb`). */
  files: string[];
  /** A digest of every file's name and content: the database version reported with results. */
  fingerprint: string;
  report: LoadReport;
}

/** What a load made of each type of database file and of each container. */
export interface LoadReport {
  /** One per type (file extension) seen, sorted by type. */
  types: TypeReport[];
  containers: ContainerReport[];
}

export interface TypeReport {
  /** The extension without its dot: `ndb`, `hsb`, `ldb`. */
  type: string;
  loaded: number;
  skipped: number;
  /** Skipped signatures by reason (reasons are short, fixed texts). */
  reasons: Record<string, number>;
  /** Loaded with a caveat. */
  warnings: number;
}

export interface ContainerReport {
  file: string;
  database: string;
  version: number;
  /** The signature count the header declares. */
  declaredSignatures: number;
  builtAt: string;
  loaded: boolean;
  /** How it was checked, when it was loaded. */
  verification?: ContainerVerification;
  /** Why it was not loaded. */
  error?: string;
  /** Signatures loaded from it, all types together. */
  signatures: number;
}

export interface LoadOptions {
  /**
   * Load the PUA ("potentially unwanted application") databases `.hdu`, `.hsu`, `.ndu`, as
   * clamd does with `DetectPUA yes`. Off by default, as clamd's `DetectPUA`.
   */
  detectPua?: boolean;
  /** The key `.cvd` signatures are checked with; ClamAV's own by default (tests use their own). */
  publicKey?: RsaPublicKey;
}

/** Reasons shared by several types. */
const SKIP_REASONS = {
  pua: 'PUA detection is off',
  ignored: 'disabled by an .ign/.ign2 entry',
} as const;

// ---- the types the loader reads ---------------------------------------------------------------

interface ParsedFile<T> {
  signatures: T[];
  problems: SignatureProblem[];
  warnings: SignatureProblem[];
}

/** What a parser returns for each signature: enough to apply ignore entries to it. */
interface Named {
  name: string;
  line: number;
}

/**
 * How one type of file is read: parse it, then hand what loads to the database. Files come as
 * bytes: hash files, by far the largest, are parsed as bytes (hundreds of megabytes).
 */
interface FileType {
  load(content: Buffer, file: string, stage: Stage, options: LoadOptions): void;
}

/**
 * A type whose signatures the built-in engine uses: parsed, filtered through the ignore entries
 * read so far, then added to the database by `add`.
 */
function used<T extends Named>(
  parse: (text: string, file: string) => ParsedFile<T>,
  add: (db: SignatureDatabase, signatures: T[]) => void,
  options: { pua?: boolean } = {},
): FileType {
  return {
    load(content, file, stage, loadOptions) {
      const type = typeOf(file);
      const text = content.toString('utf8');
      const parsed = parse(text, file);
      stage.problems(type, parsed.problems);
      if (options.pua && !loadOptions.detectPua) {
        stage.skip(type, SKIP_REASONS.pua, parsed.signatures.length);
        return;
      }
      const lines = lazyLines(text);
      const kept = parsed.signatures.filter(
        (s) => !stage.ignores.disables(s.name, () => lines()[s.line - 1] ?? ''),
      );
      stage.skip(type, SKIP_REASONS.ignored, parsed.signatures.length - kept.length);
      stage.warnings(type, parsed.warnings);
      stage.load(type, kept.length, (db) => add(db, kept));
    },
  };
}

/** A type the built-in engine does not read: its entries (or the file) are counted as skipped. */
function skipped(reason: string, unit: 'line' | 'file' = 'line'): FileType {
  return {
    load(content, file, stage) {
      stage.skip(typeOf(file), reason, unit === 'file' ? 1 : countEntries(content));
    },
  };
}

/**
 * A hash type: parsed straight into a compact table of its own (no object per line: the
 * official database has millions), filtered through the ignore entries read so far, and merged
 * into the database's detection hashes or allow list on commit.
 */
function hashes(
  format: 'md5' | 'any',
  target: 'hashes' | 'allowed',
  options: { pua?: boolean } = {},
): FileType {
  return {
    load(content, file, stage, loadOptions) {
      const type = typeOf(file);
      const ignores = stage.ignores;
      const staged = emptyHashDatabase();
      const parsed = parseHashes(content, file, staged, {
        md5Only: format === 'md5',
        ...(ignores.size === 0 ? {} : { keep: (name, line) => !ignores.disables(name, line) }),
      });
      stage.problems(type, parsed.problems);
      if (options.pua && !loadOptions.detectPua) {
        stage.skip(type, SKIP_REASONS.pua, parsed.loaded + parsed.left);
        return;
      }
      stage.skip(type, SKIP_REASONS.ignored, parsed.left);
      stage.load(type, parsed.loaded, (db) => mergeHashes(db[target], staged));
    },
  };
}

/** PE section hashes: like the whole-file hash types, into a compact table of their own. */
function sectionHashFiles(options: { pua?: boolean } = {}): FileType {
  return {
    load(content, file, stage, loadOptions) {
      const type = typeOf(file);
      const ignores = stage.ignores;
      const staged = emptyHashDatabase();
      const keep =
        ignores.size === 0
          ? undefined
          : (name: string, line: () => string) => !ignores.disables(name, line);
      const parsed = parseMdbInto(content.toString('utf8'), file, staged, keep);
      stage.problems(type, parsed.problems);
      if (options.pua && !loadOptions.detectPua) {
        stage.skip(type, SKIP_REASONS.pua, parsed.loaded + parsed.left);
        return;
      }
      stage.skip(type, SKIP_REASONS.ignored, parsed.left);
      stage.load(type, parsed.loaded, (db) => mergeHashes(db.sectionHashes, staged));
    },
  };
}

/**
 * Container metadata signatures: parsed, filtered through the ignore entries, then each one the
 * matcher cannot use (a container it does not list, an unsafe file name pattern) skipped with
 * its reason.
 */
const CONTAINER_METADATA: FileType = {
  load(content, file, stage) {
    const type = typeOf(file);
    const text = content.toString('utf8');
    const parsed = parseCdbText(text, file);
    stage.problems(type, parsed.problems);
    const lines = lazyLines(text);
    const kept = parsed.signatures.filter(
      (s) => !stage.ignores.disables(s.name, () => lines()[s.line - 1] ?? ''),
    );
    stage.skip(type, SKIP_REASONS.ignored, parsed.signatures.length - kept.length);
    const usable: ContainerMetadataSignature[] = [];
    for (const signature of kept) {
      const compiled = compileMetadataSignature(signature);
      if ('reason' in compiled) stage.skip(type, compiled.reason, 1);
      else usable.push(signature);
    }
    stage.load(type, usable.length, (db) => append(db.containerMetadata, usable));
  },
};

const bodies = (db: SignatureDatabase, s: BodySignature[]) => append(db.bodies, s);
const logical = (db: SignatureDatabase, s: LogicalSignature[]) => append(db.logical, s);

const IGNORE_LIST: FileType = {
  load(content, file, stage) {
    const type = typeOf(file);
    const parsed = parseIgnoreText(content.toString('utf8'), file);
    stage.problems(type, parsed.problems);
    // Entries apply to what is read after them (ignore lists are read first, as clamd does).
    stage.ignores.add(parsed.signatures);
    stage.load(type, parsed.signatures.length, () => undefined);
  },
};

/**
 * Every type the loader knows, by extension: one line per type. What clamd reads and the
 * built-in engine does not is counted as skipped with the reason.
 */
const FILE_TYPES: Readonly<Record<string, FileType>> = {
  hdb: hashes('md5', 'hashes'),
  hsb: hashes('any', 'hashes'),
  hdu: hashes('md5', 'hashes', { pua: true }),
  hsu: hashes('any', 'hashes', { pua: true }),
  ndb: used(parseNdbText, bodies),
  ndu: used(parseNdbText, bodies, { pua: true }),
  fp: hashes('md5', 'allowed'),
  sfp: hashes('any', 'allowed'),
  ign: IGNORE_LIST,
  ign2: IGNORE_LIST,
  cdb: CONTAINER_METADATA,
  ldb: used(parseLdbText, logical),
  ldu: used(parseLdbText, logical, { pua: true }),
  mdb: sectionHashFiles(),
  msb: sectionHashFiles(),
  mdu: sectionHashFiles({ pua: true }),
  msu: sectionHashFiles({ pua: true }),
  cbc: skipped('bytecode runs only in clamd', 'file'),
  crb: skipped('Authenticode trust rules are not checked (no certificate parser)'),
  idb: skipped('icon signatures need a PE icon extractor'),
  imp: skipped('PE import tables are not parsed'),
  wdb: skipped('phishing URL lists apply to links in mail and HTML, which are not scanned'),
  pdb: skipped('phishing URL lists apply to links in mail and HTML, which are not scanned'),
  gdb: skipped('phishing URL lists apply to links in mail and HTML, which are not scanned'),
  ftm: skipped("file type magic drives clamd's own type detection"),
  cfg: skipped("engine settings (dconf) for clamd's own modules"),
  db: skipped('the legacy .db format is not read'),
  sdb: skipped('the legacy .sdb format is not read'),
  zmd: skipped('zip metadata signatures (.zmd) are not read'),
  rmd: skipped('rar metadata signatures (.rmd) are not read'),
  cat: skipped('Authenticode catalogs are not checked (no certificate parser)'),
  ioc: skipped('OpenIOC files are not read'),
  yar: skipped('YARA rules are not read'),
  yara: skipped('YARA rules are not read'),
  pwdb: skipped('archive password lists are not used'),
};

/**
 * Container members that hold no signatures: ClamAV's licence text, and the `.info` index of the
 * container's files (their sizes and SHA-256, which the container's own MD5 already covers).
 */
const isSignatureMember = (member: string) => member !== 'COPYING' && typeOf(member) !== 'info';
const UNKNOWN_TYPE = 'not a database type clamd or the built-in engine reads';

function typeOf(file: string): string {
  const base = file.slice(file.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot < 0 ? base : base.slice(dot + 1).toLowerCase();
}

function isDatabaseFile(name: string): boolean {
  return Object.hasOwn(FILE_TYPES, typeOf(name));
}

// ---- staging: what one file or container adds, committed only when it is good ----------------

interface Tally {
  loaded: number;
  skipped: Map<string, number>;
  warnings: number;
}

/**
 * What one plain file, or one whole container, adds to the database: kept aside until the
 * container's digest is checked (a container that fails adds nothing, not even its ignores).
 */
class Stage {
  readonly tallies = new Map<string, Tally>();
  readonly problemList: SignatureProblem[] = [];
  readonly warningList: SignatureProblem[] = [];
  readonly additions: Array<(db: SignatureDatabase) => void> = [];
  readonly files: string[] = [];
  loadedCount = 0;

  constructor(readonly ignores: IgnoreList) {}

  load(type: string, count: number, add: (db: SignatureDatabase) => void): void {
    this.tally(type).loaded += count;
    this.loadedCount += count;
    this.additions.push(add);
  }

  skip(type: string, reason: string, count: number): void {
    if (count <= 0) return;
    const skippedBy = this.tally(type).skipped;
    skippedBy.set(reason, (skippedBy.get(reason) ?? 0) + count);
  }

  problems(type: string, problems: SignatureProblem[]): void {
    for (const problem of problems) {
      this.problemList.push(problem);
      this.skip(type, skipReason(problem.message), 1);
    }
  }

  warnings(type: string, warnings: SignatureProblem[]): void {
    this.tally(type).warnings += warnings.length;
    for (const warning of warnings) this.warningList.push(warning);
  }

  private tally(type: string): Tally {
    let tally = this.tallies.get(type);
    if (!tally) this.tallies.set(type, (tally = { loaded: 0, skipped: new Map(), warnings: 0 }));
    return tally;
  }
}

/**
 * A problem's message as a skip reason: the parts naming the line's own content (quoted text,
 * numbers, bracketed detail) are left out, so reasons form a small fixed set.
 */
export function skipReason(message: string): string {
  return message
    .replace(/"[^"]*"/g, '"…"')
    .replace(/\([^)]*\)/g, '(…)')
    .replace(/\[[^\]]*\]/g, '[…]')
    .replace(/\{[^}]*\}/g, '{…}')
    .replace(/\d+/g, 'n');
}

class DatabaseBuilder {
  private readonly db = emptySignatureDatabase();
  private ignores = new IgnoreList();
  private readonly tallies = new Map<string, Tally>();
  private readonly fingerprint = createHash('sha256');
  private sources = 0;

  constructor(private readonly options: LoadOptions) {}

  stage(): Stage {
    return new Stage(this.ignores.copy());
  }

  /** Reads one plain file (or container member) into the stage. */
  read(stage: Stage, file: string, content: Buffer): void {
    stage.files.push(file);
    const type = FILE_TYPES[typeOf(file)];
    if (type) type.load(content, file, stage, this.options);
    else stage.skip(typeOf(file), UNKNOWN_TYPE, countEntries(content));
  }

  fingerprintPart(part: string, text: string | Buffer = ''): void {
    this.sources += 1;
    this.fingerprint.update(`${part}\0${text.length}\0`).update(text);
  }

  commit(stage: Stage): void {
    for (const add of stage.additions) add(this.db);
    for (const [type, tally] of stage.tallies) {
      const total = this.tallies.get(type);
      if (!total) {
        this.tallies.set(type, tally);
        continue;
      }
      total.loaded += tally.loaded;
      total.warnings += tally.warnings;
      for (const [reason, count] of tally.skipped)
        total.skipped.set(reason, (total.skipped.get(reason) ?? 0) + count);
    }
    append(this.db.problems, stage.problemList);
    append(this.db.warnings, stage.warningList);
    append(this.db.files, stage.files);
    this.ignores = stage.ignores;
  }

  addContainerReport(report: ContainerReport): void {
    this.db.report.containers.push(report);
  }

  finish(): SignatureDatabase {
    const db = this.db;
    // The lookup indexes are built now, so that load time includes them and no scan waits.
    for (const hashes of [db.hashes, db.allowed, db.sectionHashes]) {
      for (const table of hashes.tables.values()) table.index();
    }
    db.count =
      db.hashes.count +
      db.bodies.length +
      db.logical.length +
      db.sectionHashes.count +
      db.containerMetadata.length;
    db.fingerprint = this.sources > 0 ? this.fingerprint.digest('hex').slice(0, 12) : 'empty';
    db.hashes.fingerprint = db.fingerprint;
    db.report.types = [...this.tallies.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([type, tally]) => ({
        type,
        loaded: tally.loaded,
        skipped: [...tally.skipped.values()].reduce((sum, n) => sum + n, 0),
        reasons: Object.fromEntries([...tally.skipped.entries()].sort(([, a], [, b]) => b - a)),
        warnings: tally.warnings,
      }));
    return db;
  }
}

// ---- loading ----------------------------------------------------------------------------------

export function emptySignatureDatabase(): SignatureDatabase {
  return {
    hashes: emptyHashDatabase(),
    bodies: [],
    logical: [],
    sectionHashes: emptyHashDatabase(),
    allowed: emptyHashDatabase(),
    containerMetadata: [],
    count: 0,
    problems: [],
    warnings: [],
    files: [],
    fingerprint: 'empty',
    report: { types: [], containers: [] },
  };
}

/**
 * Reads every database file in `dir` the loader knows (FILE_TYPES) and every container (no
 * folder: EICAR detection only). Order, as clamd's: ignore lists first (so they apply to
 * everything), then containers (`daily` first, so its ignore lists apply to `main`), then the
 * other plain files. Where a `.cvd` and a `.cld` of the same database sit side by side, only the
 * newer is read (the `.cld` when they have the same version, as clamd).
 */
export async function loadSignatureDatabase(
  dir: string | undefined,
  options: LoadOptions = {},
): Promise<SignatureDatabase> {
  if (!dir) return emptySignatureDatabase();
  const names = (await readdir(dir, { withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => entry.name)
    .sort();
  const builder = new DatabaseBuilder(options);
  const ignoreFiles = names.filter((name) => ['ign', 'ign2'].includes(typeOf(name)));
  const plainFiles = names.filter((name) => isDatabaseFile(name) && !ignoreFiles.includes(name));
  for (const file of ignoreFiles) await readPlainFile(builder, dir, file);
  const containers = await chooseContainers(
    dir,
    names.filter((name) => containerKind(name) !== undefined),
  );
  for (const choice of containers) await readContainerInto(builder, dir, choice, options);
  for (const file of plainFiles) await readPlainFile(builder, dir, file);
  return builder.finish();
}

/** The same as loading a folder of plain files, from names and texts (tests and benchmarks). */
export function buildSignatureDatabase(
  sources: { file: string; text: string | Buffer }[],
  options: LoadOptions = {},
): SignatureDatabase {
  const builder = new DatabaseBuilder(options);
  for (const { file, text } of sources) {
    const stage = builder.stage();
    const content = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
    builder.fingerprintPart(file, content);
    builder.read(stage, file, content);
    builder.commit(stage);
  }
  return builder.finish();
}

async function readPlainFile(builder: DatabaseBuilder, dir: string, file: string): Promise<void> {
  const text = await readFile(path.join(dir, file));
  const stage = builder.stage();
  builder.fingerprintPart(file, text);
  builder.read(stage, file, text);
  builder.commit(stage);
}

interface ContainerChoice {
  file: string;
  /** Set when the file is left out: why. */
  superseded?: PeekedHeader & { by: string };
}

/**
 * Containers to read, `daily` first: of a `.cvd` and a `.cld` of the same database, the newer
 * (the `.cld` on a tie). A file whose header cannot be read is kept, so that reading it reports
 * the error.
 */
async function chooseContainers(dir: string, files: string[]): Promise<ContainerChoice[]> {
  const headers = new Map<string, PeekedHeader | undefined>();
  for (const file of files) headers.set(file, await peekHeader(path.join(dir, file), file));
  const choices: ContainerChoice[] = [];
  for (const file of files) {
    const header = headers.get(file);
    const kind = containerKind(file);
    if (header && (kind === 'cvd' || kind === 'cld')) {
      const twin = `${file.slice(0, -4)}.${kind === 'cvd' ? 'cld' : 'cvd'}`;
      const other = headers.get(twin);
      const otherWins =
        other !== undefined &&
        (other.version > header.version || (other.version === header.version && kind === 'cvd'));
      if (otherWins) {
        choices.push({ file, superseded: { by: twin, ...header } });
        continue;
      }
    }
    choices.push({ file });
  }
  const rank = (file: string) => (file.toLowerCase().startsWith('daily.') ? 0 : 1);
  return choices.sort((a, b) => rank(a.file) - rank(b.file) || (a.file < b.file ? -1 : 1));
}

interface PeekedHeader {
  database: string;
  version: number;
  declared: number;
  builtAt: Date;
}

/** A container's header, or undefined when it cannot be read (reading the file says why). */
async function peekHeader(filePath: string, file: string): Promise<PeekedHeader | undefined> {
  try {
    const handle = await open(filePath, 'r');
    try {
      const buffer = Buffer.alloc(512);
      await handle.read(buffer, 0, 512, 0);
      const header = parseContainerHeader(buffer.toString('latin1'), file);
      return header
        ? {
            database: header.database,
            version: header.version,
            declared: header.signatures,
            builtAt: header.builtAt,
          }
        : undefined;
    } finally {
      await handle.close();
    }
  } catch {
    return undefined;
  }
}

async function readContainerInto(
  builder: DatabaseBuilder,
  dir: string,
  choice: ContainerChoice,
  options: LoadOptions,
): Promise<void> {
  const { file, superseded } = choice;
  if (superseded) {
    builder.addContainerReport({
      file,
      database: superseded.database,
      version: superseded.version,
      declaredSignatures: superseded.declared,
      builtAt: superseded.builtAt.toISOString(),
      loaded: false,
      error: `superseded by ${superseded.by}, which is as new or newer`,
      signatures: 0,
    });
    return;
  }
  const stage = builder.stage();
  try {
    const contents = await readContainer(path.join(dir, file), {
      publicKey: options.publicKey ?? CLAMAV_PUBLIC_KEY,
      wants: isSignatureMember,
      onMember: (member, content) => builder.read(stage, `${file}/${member}`, content),
    });
    const { header } = contents;
    builder.fingerprintPart(`${file}\0${header.version}\0${header.md5}`);
    builder.commit(stage);
    builder.addContainerReport({
      file,
      database: header.database,
      version: header.version,
      declaredSignatures: header.signatures,
      builtAt: header.builtAt.toISOString(),
      loaded: true,
      verification: contents.verification,
      signatures: stage.loadedCount,
    });
  } catch (error) {
    const header = await peekHeader(path.join(dir, file), file);
    builder.addContainerReport({
      file,
      database: header?.database ?? file.replace(/\.[^.]+$/, ''),
      version: header?.version ?? 0,
      declaredSignatures: header?.declared ?? 0,
      builtAt: (header?.builtAt ?? new Date(0)).toISOString(),
      loaded: false,
      error: error instanceof Error ? error.message : String(error),
      signatures: 0,
    });
  }
}

/** Appends one by one: an official database has more lines than a call may take arguments. */
function append<T>(target: T[], items: readonly T[]): void {
  for (const item of items) target.push(item);
}

/** Lines that are neither blank nor comments: a skipped file's entries. */
function countEntries(content: Buffer): number {
  let count = 0;
  let start = 0;
  while (start < content.length) {
    let end = content.indexOf(0x0a, start);
    if (end < 0) end = content.length;
    if (end > start && content[start] !== 0x23 /* # */ && content.toString('latin1', start, end).trim() !== '')
      count += 1;
    start = end + 1;
  }
  return count;
}

/** The text's lines, split once and only when first asked for. */
function lazyLines(text: string): () => string[] {
  let lines: string[] | undefined;
  return () => (lines ??= text.split('\n').map((line) => line.replace(/\r$/, '')));
}
