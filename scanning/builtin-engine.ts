import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Logger } from '../core/logger.js';
import { isEicar } from './eicar.js';
import type { Engine, EngineVerdict, ScanTarget } from './engine.js';
import { EICAR_FINDING, maliciousFinding } from './findings.js';
import { loadHashDatabase, lookupHash, type HashAlgorithm, type HashDatabase } from './hash-signatures.js';

export const BUILTIN_ENGINE_VERSION = '0.1.0';

/**
 * The built-in engine: runs in-process with no extra daemon. It recognises the EICAR test file
 * and the whole-file hashes of ClamAV `.hdb`/`.hsb` databases, reading the file once.
 */
export class BuiltinEngine implements Engine {
  readonly name = 'builtin';

  private constructor(
    private db: HashDatabase,
    private readonly signaturesDir: string | undefined,
    private readonly logger: Logger,
  ) {}

  static async load(signaturesDir: string | undefined, logger: Logger): Promise<BuiltinEngine> {
    const engine = new BuiltinEngine(await loadHashDatabase(signaturesDir), signaturesDir, logger);
    engine.reportLoad();
    return engine;
  }

  get version(): string {
    return `arbiter-builtin/${BUILTIN_ENGINE_VERSION} db:${this.db.fingerprint} (${this.db.count} hashes)`;
  }

  /** Swaps in a freshly loaded database; scans already running keep the one they started with. */
  async reload(): Promise<void> {
    this.db = await loadHashDatabase(this.signaturesDir);
    this.reportLoad();
  }

  async scan(target: ScanTarget): Promise<EngineVerdict> {
    const db = this.db;
    const findings = new Set<string>();
    if (target.size <= 128 && isEicar(await readFile(target.path))) findings.add(EICAR_FINDING);
    for (const name of await this.matchHashes(db, target)) findings.add(maliciousFinding(name));
    return { engine: this.name, version: this.version, findings: [...findings] };
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}

  private async matchHashes(db: HashDatabase, target: ScanTarget): Promise<string[]> {
    if (db.count === 0) return [];
    const hashes = new Map<HashAlgorithm, Hash>([...db.algorithms].map((a) => [a, createHash(a)]));
    for await (const chunk of createReadStream(target.path, { highWaterMark: 1 << 20 })) {
      for (const hash of hashes.values()) hash.update(chunk as Buffer);
    }
    const names: string[] = [];
    for (const [algorithm, hash] of hashes) {
      for (const signature of lookupHash(db, algorithm, hash.digest('hex'), target.size)) {
        names.push(signature.name);
      }
    }
    return names;
  }

  private reportLoad(): void {
    for (const problem of this.db.problems) {
      this.logger.warn(problem, 'skipped a signature line that could not be parsed');
    }
    this.logger.info({ hashes: this.db.count, dir: this.signaturesDir }, 'built-in engine loaded');
  }
}
