import { mkdir } from 'node:fs/promises';
import type { Logger } from '../core/logger.js';
import {
  walkContent,
  type ArchiveLimits,
  type ListedMember,
  type Member,
} from './archives/index.js';
import { createFormatSet, type FormatSet } from './archives/formats/index.js';
import type { Detection, Engine, EngineDescription, EngineVerdict, ScanTarget } from './engine.js';
import { innermost } from './detections.js';
import { maliciousFinding, unscannableFinding } from './findings.js';
import { ContainerMetadataMatcher } from './matcher/container-metadata.js';
import { ContentScanner } from './matcher/index.js';
import {
  loadSignatureDatabase,
  type LoadOptions,
  type LoadReport,
  type SignatureDatabase,
} from './signatures/database.js';

export const BUILTIN_ENGINE_VERSION = '0.3.0';

/** The limits of `config.archive` with their defaults (depth 16, 10,000 members, 4 GiB, 200:1). */
export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = {
  maxDepth: 16,
  maxMembers: 10_000,
  maxExpandedBytes: 4 * 1024 ** 3,
  maxRatio: 200,
};

export interface BuiltinEngineOptions {
  /** Unpacking limits (`config.archive`); default DEFAULT_ARCHIVE_LIMITS. */
  archive?: ArchiveLimits;
  /**
   * Where nested zips are copied while they are walked (a folder of the spool, so scratch files
   * live on the same disk as the content; default: the OS temp dir). Created on first use.
   */
  scratchDir?: string;
  /**
   * Formats and zip methods (`Unscannable.method`) another engine of the same set decodes: not
   * decoding them here is then not reported, since that engine opens and judges them (the scan
   * fails as a whole if it fails). Empty by default: alone, the engine reports every one.
   */
  decodedElsewhere?: ReadonlySet<string>;
  /** The formats opened besides zip, gzip, zstd and tar (default: createFormatSet()). */
  formats?: FormatSet;
  /** How the signature folder is read (PUA databases, the key `.cvd` files are checked with). */
  signatures?: LoadOptions;
  /**
   * The zip benchmark's baseline only (`WalkOptions.zipCentralDirectoryOnly`): never set by the
   * service, not in the configuration.
   */
  zipCentralDirectoryOnly?: boolean;
}

/** Problems listed one by one in the log at each load; the rest are only counted. */
const PROBLEMS_LOGGED = 20;

/** The name of the content when the caller gives none (the first part of member paths). */
const DEFAULT_CONTENT_NAME = 'content';

/** A loaded database and the matcher compiled from it: swapped as one on reload. */
interface Loaded {
  db: SignatureDatabase;
  scanner: ContentScanner;
  /** `.cdb` signatures, matched against what zips, tars and 7z archives say of their members. */
  metadata: ContainerMetadataMatcher;
  version: string;
}

interface ReloadReport {
  version: string;
  signatures: number;
  problems: number;
  warnings: number;
  loadMs: number;
}

/**
 * The built-in engine: runs in-process with no extra daemon. It loads ClamAV databases, plain and
 * in `.cvd`/`.cld`/`.cud` containers (signatures/database.ts: hashes, body signatures, logical
 * signatures, PE section hashes, container metadata, allow and ignore lists; the other types are
 * counted as skipped),
 * and reads each file once, matching body signatures, whole-file hashes, logical signatures, PE
 * section hashes and the EICAR test file in the same pass (see matcher/content-scanner.ts and
 * matcher/logical.ts). Containers and encodings (zip, gzip, tar and zstd built in, the rest as
 * format handlers: archives/formats/) are walked as they are read (archives/walk.ts), nested:
 * the content itself and every member at
 * every depth get a matcher session of their own, so hash and body signatures apply to each, and
 * each detection keeps the member's path. What the walker cannot open (encrypted, corrupt, past a
 * limit) becomes a `content.unscannable.*` finding: never a clean verdict.
 */
export class BuiltinEngine implements Engine {
  readonly name = 'builtin';

  private lastLoad: ReloadReport | undefined;

  private readonly archive: ArchiveLimits;
  private readonly scratchDir: string | undefined;
  private readonly decodedElsewhere: ReadonlySet<string>;
  private readonly formats: FormatSet;
  private readonly loadOptions: LoadOptions;
  private readonly zipCentralDirectoryOnly: boolean;
  private scratchReady: Promise<void> | undefined;

  private constructor(
    private loaded: Loaded,
    private readonly signaturesDir: string | undefined,
    private readonly logger: Logger,
    options: BuiltinEngineOptions,
  ) {
    this.archive = options.archive ?? DEFAULT_ARCHIVE_LIMITS;
    this.scratchDir = options.scratchDir;
    this.decodedElsewhere = options.decodedElsewhere ?? new Set();
    this.formats = options.formats ?? createFormatSet();
    this.loadOptions = options.signatures ?? {};
    this.zipCentralDirectoryOnly = options.zipCentralDirectoryOnly ?? false;
  }

  static async load(
    signaturesDir: string | undefined,
    logger: Logger,
    options: BuiltinEngineOptions = {},
  ): Promise<BuiltinEngine> {
    const started = performance.now();
    const loaded = await compile(signaturesDir, options.signatures ?? {});
    const engine = new BuiltinEngine(loaded, signaturesDir, logger, options);
    engine.lastLoad = engine.reportLoad(performance.now() - started);
    return engine;
  }

  get version(): string {
    return this.loaded.version;
  }

  /** The matcher for the current database: one session per file or archive member. */
  get scanner(): ContentScanner {
    return this.loaded.scanner;
  }

  get database(): SignatureDatabase {
    return this.loaded.db;
  }

  /**
   * Loads the folder again and swaps the new database in at once; scans already running keep
   * the one they started with. If loading fails the current database stays.
   */
  async reload(): Promise<void> {
    const started = performance.now();
    this.loaded = await compile(this.signaturesDir, this.loadOptions);
    this.lastLoad = this.reportLoad(performance.now() - started);
  }

  /** Version and database state (lines loaded, lines skipped), for the admin API. */
  describe(): EngineDescription {
    const { db, version } = this.loaded;
    return {
      name: this.name,
      version,
      signatures: db.count,
      problems: db.problems.length,
      warnings: db.warnings.length,
      loadMs: this.lastLoad?.loadMs,
    };
  }

  /** Per type and per container, what the last load read and skipped (`GET /admin/signatures`). */
  loadReport(): LoadReport {
    return this.loaded.db.report;
  }

  /**
   * Scans the content and everything inside it. Each visited piece — the content (depth 0),
   * every container and every leaf member — is matched by its own session while the walker
   * reads it; the visits overlap (a container is still being read while its members are), so
   * each one runs independently.
   */
  async scan(target: ScanTarget): Promise<EngineVerdict> {
    try {
      return await this.scanOnce(target);
    } catch (error) {
      // The scratch folder is created once; if it was removed since, create it and try again.
      if (this.scratchDir === undefined || (error as NodeJS.ErrnoException).code !== 'ENOENT')
        throw error;
      this.scratchReady = undefined;
      return this.scanOnce(target);
    }
  }

  private async scanOnce(target: ScanTarget): Promise<EngineVerdict> {
    const { scanner, metadata, version } = this.loaded;
    const detections: Detection[] = [];
    const allowed: string[][] = [];
    const visit = async (member: Member): Promise<void> => {
      // The top-level size is exact (digests may be skipped for it); a member's is only declared.
      const session = scanner.session(member.depth === 0 ? target.size : -1, member.container);
      for await (const chunk of member.stream) session.update(chunk as Buffer);
      for (const signature of session.finish()) {
        detections.push({ path: member.path, finding: maliciousFinding(signature), signature });
      }
      if (session.allowedBy !== undefined) allowed.push(member.path);
    };
    await this.ensureScratch();
    const walked = await walkContent(
      { path: target.path, size: target.size, name: target.name || DEFAULT_CONTENT_NAME },
      this.archive,
      visit,
      {
        formats: this.formats.handlers,
        ...(this.scratchDir === undefined ? {} : { scratchDir: this.scratchDir }),
        ...(metadata.size === 0 ? {} : { listed: metadataVisitor(metadata, detections) }),
        ...(target.contentEncoding ? { contentEncoding: target.contentEncoding } : {}),
        ...(this.zipCentralDirectoryOnly ? { zipCentralDirectoryOnly: true } : {}),
      },
    );
    for (const problem of walked.unscannable) {
      if (problem.method !== undefined && this.decodedElsewhere.has(problem.method)) continue;
      detections.push({
        path: problem.path,
        finding: unscannableFinding(problem.reason),
        signature: problem.detail,
      });
    }
    const kept = detections.filter((d) => !allowed.some((where) => isWithin(d.path, where)));
    const findings = [...new Set(kept.map((d) => d.finding))].sort();
    return {
      engine: this.name,
      version,
      findings,
      detections: innermost(kept),
      ...(walked.notes.length > 0 ? { notes: walked.notes } : {}),
    };
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    await this.formats.close();
  }

  /** Creates the scratch folder on first use (scan() creates it again if it disappears). */
  private ensureScratch(): Promise<void> {
    const dir = this.scratchDir;
    if (dir === undefined) return Promise.resolve();
    this.scratchReady ??= mkdir(dir, { recursive: true }).then(
      () => undefined,
      (error: unknown) => {
        this.scratchReady = undefined;
        throw error;
      },
    );
    return this.scratchReady;
  }

  private reportLoad(loadMs: number): ReloadReport {
    const { db, version } = this.loaded;
    this.logProblems(db);
    for (const container of db.report.containers) {
      const { file, version: containerVersion, error } = container;
      if (container.loaded) {
        this.logger.info(
          { file, version: containerVersion, verification: container.verification },
          `read ${file}: ${container.signatures} signatures loaded`,
        );
      } else if (error?.startsWith('superseded')) {
        this.logger.info({ file, version: containerVersion }, `left out ${file}: ${error}`);
      } else {
        this.logger.error({ file, error }, `did not load ${file}: ${error ?? 'unknown error'}`);
      }
    }
    for (const type of db.report.types) {
      this.logger.info(
        { type: type.type, loaded: type.loaded, skipped: type.skipped, reasons: type.reasons },
        `signatures ${describeTypeReport(type)}`,
      );
    }
    const report = {
      version,
      signatures: db.count,
      problems: db.problems.length,
      warnings: db.warnings.length,
      loadMs: Math.round(loadMs),
    };
    this.logger.info(
      {
        ...report,
        hashes: db.hashes.count,
        bodies: db.bodies.length,
        logical: db.logical.length,
        sectionHashes: db.sectionHashes.count,
        dir: this.signaturesDir,
      },
      'built-in engine loaded its signatures',
    );
    return report;
  }

  /** The first problems and warnings one by one, then how many more (the counts are per type). */
  private logProblems(db: SignatureDatabase): void {
    for (const problem of db.problems.slice(0, PROBLEMS_LOGGED)) {
      this.logger.warn(problem, 'skipped a signature line that could not be parsed');
    }
    for (const warning of db.warnings.slice(0, PROBLEMS_LOGGED)) {
      this.logger.warn(warning, 'signature loaded with a caveat');
    }
    const more = Math.max(0, db.problems.length - PROBLEMS_LOGGED);
    const moreWarnings = Math.max(0, db.warnings.length - PROBLEMS_LOGGED);
    if (more + moreWarnings > 0) {
      this.logger.warn(
        { problems: more, warnings: moreWarnings },
        'more signature lines were skipped or loaded with a caveat than are listed (see GET /admin/signatures)',
      );
    }
  }
}

/** `ldb: 18,412 loaded, 1,588 skipped (pcre: 1,203, bytecode-trigger: 385)` */
export function describeTypeReport(type: {
  type: string;
  loaded: number;
  skipped: number;
  reasons: Record<string, number>;
}): string {
  const n = (value: number) => value.toLocaleString('en-US');
  const reasons = Object.entries(type.reasons)
    .map(([reason, count]) => `${reason}: ${n(count)}`)
    .join(', ');
  const skipped = type.skipped > 0 ? `, ${n(type.skipped)} skipped (${reasons})` : '';
  return `${type.type}: ${n(type.loaded)} loaded${skipped}`;
}

/**
 * A detection for each `.cdb` signature a listed member's metadata matches: encrypted members
 * too, whose content is never read (the metadata alone names them).
 */
function metadataVisitor(
  metadata: ContainerMetadataMatcher,
  detections: Detection[],
): (member: ListedMember) => void {
  return (member) => {
    for (const signature of metadata.match(member)) {
      detections.push({ path: member.path, finding: maliciousFinding(signature), signature });
    }
  };
}

/**
 * Whether `path` is `container` or inside it. As clamd, an allow-listed (`.fp`, `.sfp`) file is
 * clean whatever matched in it or in anything it contains.
 */
function isWithin(path: string[], container: string[]): boolean {
  return container.length <= path.length && container.every((part, i) => path[i] === part);
}

async function compile(signaturesDir: string | undefined, options: LoadOptions): Promise<Loaded> {
  const db = await loadSignatureDatabase(signaturesDir, options);
  const scanner = new ContentScanner(db);
  return {
    db,
    scanner,
    metadata: new ContainerMetadataMatcher(db.containerMetadata),
    version: `arbiter-builtin/${BUILTIN_ENGINE_VERSION} db:${db.fingerprint} (${db.count} signatures)`,
  };
}
