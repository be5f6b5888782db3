import type { Logger } from '../core/logger.js';
import { describeClamdAddress, parseClamdAddress, type ClamdAddress } from './clamd/address.js';
import {
  ClamdProtocolError,
  instreamFile,
  sendCommand,
  type SessionOptions,
} from './clamd/protocol.js';
import { clamdFinding, parseScanReply } from './clamd/replies.js';
import { installedDatabases } from './signatures/cvd.js';
import type { ContainerReport, LoadReport } from './signatures/database.js';
import {
  EngineError,
  type Engine,
  type EngineDescription,
  type EngineVerdict,
  type ScanTarget,
} from './engine.js';

export interface ClamdEngineOptions {
  /** `tcp://host:port`, `unix:///path/clamd.sock` or `/path/clamd.sock`. */
  address: string;
  /** Connect timeout, and the longest clamd may stay silent during a command or scan. */
  timeoutMs: number;
  /** Scans sent to clamd at once; more wait their turn. */
  poolSize: number;
  /** How often `VERSION` is re-read, since clamd swaps databases on its own (default 60 s). */
  versionRefreshMs?: number;
  /** INSTREAM chunk size (default 256 KiB). */
  chunkSize?: number;
  /**
   * The folder clamd loads its database from, when Arbiter knows it (its private clamd's): the
   * containers there are read at start and after each reload, for `GET /admin/signatures`.
   */
  databaseDir?: string;
}

const DEFAULT_VERSION_REFRESH_MS = 60_000;
const DEFAULT_CHUNK_SIZE = 256 * 1024;
/** `/readyz` should not hang for a whole scan timeout. */
const MAX_PING_TIMEOUT_MS = 5_000;
/** Extra INSTREAM attempts when clamd's reply was lost to a failed write (see protocol.ts). */
const LOST_REPLY_RETRIES = 2;
/** clamd reloads in the background: read the version again this long after a RELOAD. */
const AFTER_RELOAD_REFRESH_MS = 5_000;
/**
 * For this long after a RELOAD, each verdict's version is read from clamd after its reply, not
 * before the scan: clamd swaps databases at a moment we cannot see, and a detection made with
 * the new database must not be recorded with the old version.
 */
const AFTER_RELOAD_WINDOW_MS = 60_000;

/**
 * The ClamAV engine: each scan streams the file to clamd over INSTREAM on its own connection
 * (clamd serves one INSTREAM per connection), at most `poolSize` at a time. Every verdict
 * carries clamd's `VERSION` (`ClamAV 1.4.6/27514/…`, or `ClamAV 1.4.6` with only custom
 * databases). Anything short of a clean or FOUND reply — `size limit exceeded`, any ERROR, a
 * refused, reset or silent connection — throws an EngineError: never a clean verdict. Only
 * `size limit exceeded` is permanent (see isPermanentClamdError); the rest are worth a retry.
 */
export class ClamdEngine implements Engine {
  readonly name = 'clamd';
  private readonly address: ClamdAddress;
  private readonly where: string;
  private readonly slots: Semaphore;
  private readonly versionRefreshMs: number;
  private readonly chunkSize: number;
  private version: string | undefined;
  private versionCheckedAt = 0;
  private reloadedAt = Number.NEGATIVE_INFINITY;
  private refreshing: Promise<string> | undefined;
  private closed = false;
  private databases: ContainerReport[] = [];

  private constructor(
    private readonly options: ClamdEngineOptions,
    private readonly logger: Logger,
  ) {
    this.address = parseClamdAddress(options.address);
    this.where = describeClamdAddress(this.address);
    this.slots = new Semaphore(Math.max(1, options.poolSize));
    this.versionRefreshMs = options.versionRefreshMs ?? DEFAULT_VERSION_REFRESH_MS;
    this.chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  }

  /** Reads clamd's version if clamd is up; if not, the engine starts anyway and `/readyz` says so. */
  static async create(options: ClamdEngineOptions, logger: Logger): Promise<ClamdEngine> {
    const engine = new ClamdEngine(options, logger);
    try {
      const version = await engine.refreshVersion();
      logger.info({ address: engine.where, version }, 'clamd engine ready');
    } catch (error) {
      logger.warn(
        { address: engine.where, err: error },
        'clamd is not answering yet; clamd scans fail until it does',
      );
    }
    await engine.readDatabases();
    return engine;
  }

  /** The version recorded with the last verdicts (undefined until clamd first answered). */
  get currentVersion(): string | undefined {
    return this.version;
  }

  async scan(target: ScanTarget): Promise<EngineVerdict> {
    if (this.closed) throw new EngineError(this.name, 'the engine is closed');
    const release = await this.slots.acquire();
    try {
      const version = await this.versionForScan();
      const reply = await this.instream(target.path).catch((error: unknown) => {
        this.versionCheckedAt = 0; // clamd may have restarted with another database
        throw this.engineError(error);
      });
      const parsed = parseScanReply(reply);
      if (parsed.kind === 'error')
        throw new EngineError(this.name, `clamd could not scan the content: ${parsed.message}`, {
          retryable: !isPermanentClamdError(parsed.message),
        });
      const findings = parsed.kind === 'found' ? [clamdFinding(parsed.name)] : [];
      return { engine: this.name, version: await this.versionAfterScan(version), findings };
    } finally {
      release();
    }
  }

  async ping(): Promise<void> {
    const reply = await sendCommand(
      this.session(Math.min(this.options.timeoutMs, MAX_PING_TIMEOUT_MS)),
      'PING',
    ).catch((error: unknown) => {
      throw this.engineError(error);
    });
    if (reply !== 'PONG')
      throw new EngineError(
        this.name,
        `clamd at ${this.where} answered PING with "${reply.slice(0, 100)}"`,
      );
    if (this.version === undefined) void this.refreshVersion().catch(() => undefined);
  }

  /** Asks clamd to reload its database (it keeps scanning meanwhile) and re-reads the version. */
  async reload(): Promise<void> {
    const reply = await sendCommand(this.session(this.options.timeoutMs), 'RELOAD').catch(
      (error: unknown) => {
        throw this.engineError(error);
      },
    );
    if (reply !== 'RELOADING')
      throw new EngineError(
        this.name,
        `clamd at ${this.where} answered RELOAD with "${reply.slice(0, 100)}"`,
      );
    this.reloadedAt = Date.now();
    await this.refreshVersion().catch(() => undefined);
    await this.readDatabases();
    // The reload finishes in the background; look again shortly.
    this.versionCheckedAt = Date.now() - this.versionRefreshMs + AFTER_RELOAD_REFRESH_MS;
    this.logger.info(
      { address: this.where, version: this.version },
      'clamd is reloading its database',
    );
  }

  /** For the admin API: clamd's version as last read (clamd keeps its own signature counts). */
  describe(): EngineDescription {
    return {
      name: this.name,
      version: this.version ?? `unknown (clamd at ${this.where} has not answered)`,
    };
  }

  /**
   * The containers in clamd's database folder (the newer of a `.cvd` and a `.cld`, as clamd
   * loads them), from their headers: clamd does not say how many signatures it skipped. Only
   * when the folder is known.
   */
  loadReport(): LoadReport | undefined {
    if (this.options.databaseDir === undefined) return undefined;
    return { types: [], containers: this.databases };
  }

  /** Reads the headers of clamd's containers; a folder that cannot be read lists none. */
  private async readDatabases(): Promise<void> {
    const dir = this.options.databaseDir;
    if (dir === undefined) return;
    const headers = await installedDatabases(dir).catch((error: unknown) => {
      this.logger.warn({ dir, err: String(error) }, "could not read clamd's database folder");
      return [];
    });
    this.databases = headers.map((header) => ({
      file: header.file,
      database: header.database,
      version: header.version,
      declaredSignatures: header.signatures,
      builtAt: header.builtAt.toISOString(),
      loaded: true,
      signatures: header.signatures,
    }));
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  /** Reads VERSION now (concurrent callers share one request). */
  refreshVersion(): Promise<string> {
    this.refreshing ??= sendCommand(
      this.session(Math.min(this.options.timeoutMs, MAX_PING_TIMEOUT_MS)),
      'VERSION',
    )
      .then((reply) => {
        if (!/^ClamAV /.test(reply))
          throw new ClamdProtocolError(`clamd answered VERSION with "${reply.slice(0, 100)}"`);
        if (this.version !== undefined && this.version !== reply) {
          this.logger.info(
            { address: this.where, from: this.version, to: reply },
            'clamd version changed',
          );
        }
        this.version = reply;
        this.versionCheckedAt = Date.now();
        return reply;
      })
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  /** The version to record: fetched first if unknown, refreshed in the background when stale. */
  private async versionForScan(): Promise<string> {
    if (this.version === undefined) {
      return this.refreshVersion().catch((error: unknown) => {
        throw this.engineError(error);
      });
    }
    if (Date.now() - this.versionCheckedAt >= this.versionRefreshMs) {
      void this.refreshVersion().catch((error: unknown) =>
        this.logger.debug({ err: error }, 'could not refresh the clamd version'),
      );
    }
    return this.version;
  }

  /** Right after a RELOAD, the version clamd reports once it answered (see AFTER_RELOAD_WINDOW_MS). */
  private async versionAfterScan(before: string): Promise<string> {
    if (Date.now() - this.reloadedAt > AFTER_RELOAD_WINDOW_MS) return before;
    return this.refreshVersion().catch(() => before);
  }

  /**
   * One INSTREAM, asked again at once (at most LOST_REPLY_RETRIES times) when clamd closed the
   * session without a reply we could read: an over-limit stream often ends that way, and its
   * answer is a permanent error the scan must record now, not after a backed-off retry. When
   * clamd cut every attempt off before the whole stream was written, it stopped reading the
   * same content each time, which it does for a stream over its StreamMaxLength: that is the
   * verdict, permanent. A clamd that really went away refuses the next connection instead,
   * which is not retried here.
   */
  private async instream(filePath: string): Promise<string> {
    let everyAttemptCutShort = true;
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await instreamFile(this.session(this.options.timeoutMs), filePath, this.chunkSize);
      } catch (error) {
        const lost = error instanceof ClamdProtocolError && error.replyLost;
        if (!lost || this.closed) throw error;
        everyAttemptCutShort &&= error.cutShort;
        if (attempt < LOST_REPLY_RETRIES) {
          this.logger.debug({ address: this.where, err: error }, 'clamd reply lost; asking again');
          continue;
        }
        if (!everyAttemptCutShort) throw error;
        throw new EngineError(
          this.name,
          `clamd stopped reading the stream before its end ${attempt + 1} times in a row, closing without a readable reply: the content is most likely over clamd's StreamMaxLength (INSTREAM size limit exceeded)`,
          { retryable: false },
        );
      }
    }
  }

  private session(timeoutMs: number): SessionOptions {
    return { address: this.address, connectTimeoutMs: timeoutMs, idleTimeoutMs: timeoutMs };
  }

  private engineError(error: unknown): EngineError {
    if (error instanceof EngineError) return error;
    return new EngineError(this.name, error instanceof Error ? error.message : String(error), {
      cause: error,
    });
  }
}

/**
 * clamd errors that another attempt cannot cure: the stream is longer than its StreamMaxLength
 * (the same content is just as long next time). Everything else (out of memory, timeouts, a
 * database being reloaded) may pass.
 */
export function isPermanentClamdError(message: string): boolean {
  return /size limit exceeded/i.test(message);
}

/** A counting semaphore with a FIFO queue. */
class Semaphore {
  private available: number;
  private readonly waiting: Array<() => void> = [];

  constructor(size: number) {
    this.available = size;
  }

  async acquire(): Promise<() => void> {
    if (this.available > 0) this.available -= 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.available += 1;
    };
  }
}
