import { ThreadPool } from '../thread-pool.js';
import type { CompilerMessage } from './compiler.js';

/**
 * YARA-X (`@litko/yara-x`) run off the event loop, in a pool of worker threads (yara-worker.ts):
 * checking a source (the rules API) and scanning a piece of content with a rule set. A task that
 * overruns the pool's time limit fails with ThreadTimeoutError and its thread is replaced, since
 * YARA-X itself has no time limit here.
 */

/** A compiled-once unit of rules: `key` must change whenever `source` does (a hash, a version). */
export interface RuleSet {
  key: string;
  source: string;
}

export interface RuleMatch {
  rule: string;
  namespace: string;
  meta: Record<string, unknown>;
  tags: string[];
}

export interface SourceCheck {
  errors: CompilerMessage[];
  warnings: CompilerMessage[];
}

export type YaraTask =
  { kind: 'check'; source: string } | { kind: 'scan'; rules: RuleSet; bytes: Uint8Array };

export type YaraTaskResult =
  ({ kind: 'check' } & SourceCheck) | { kind: 'scan'; matches: RuleMatch[] };

export interface YaraRunnerOptions {
  threads: number;
  /** Longest one check or one scan may take (a first scan includes compiling its rule set). */
  timeoutMs: number;
}

export class YaraRunner {
  private readonly pool: ThreadPool<YaraTask, YaraTaskResult>;

  constructor(options: YaraRunnerOptions) {
    this.pool = new ThreadPool(new URL('./yara-worker.js', import.meta.url), {
      name: 'yara',
      threads: options.threads,
      timeoutMs: options.timeoutMs,
    });
  }

  /**
   * Compiles `source` as the service would and reports its errors and warnings. `timeoutMs`:
   * this call's own time limit (default: the runner's).
   */
  async check(source: string, timeoutMs?: number): Promise<SourceCheck> {
    const result = await this.pool.run({ kind: 'check', source }, undefined, timeoutMs);
    if (result.kind !== 'check') throw new Error('yara worker answered a check with a scan');
    return { errors: result.errors, warnings: result.warnings };
  }

  /**
   * The rules of `rules` that match `bytes`. Throws ThreadTimeoutError past the time limit
   * (`timeoutMs` for this call, default the runner's).
   */
  async scan(rules: RuleSet, bytes: Buffer, timeoutMs?: number): Promise<RuleMatch[]> {
    const result = await this.pool.run({ kind: 'scan', rules, bytes }, undefined, timeoutMs);
    if (result.kind !== 'scan') throw new Error('yara worker answered a scan with a check');
    return result.matches;
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
