import {
  badRequest,
  conflict,
  DomainError,
  notFound,
  payloadTooLarge,
  unprocessable,
} from '../../../core/errors.js';
import {
  joinRuleSources,
  locateLine,
  RULE_FILE_NAME,
  sha256Hex,
  type RuleFile,
  type RuleFileSet,
  type RuleMessage,
  type SourceRange,
  type TenantRuleStore,
} from '../../../core/tenant-rules.js';
import { ThreadTimeoutError } from '../thread-pool.js';
import type { CompilerMessage } from '../yara/compiler.js';
import type { YaraRunner } from '../yara/yara-runner.js';
import { probeContent } from './probe.js';
import { declaredRules, type DeclaredRule } from '../yara/rule-identifiers.js';

/**
 * What the rules API does (`/v1/rules`, api/routes/rules.ts): a rule file is accepted only if
 * the tenant's whole rule set, with it, compiles, stays within the limits and runs fast enough
 * over a fixed probe; so what is stored always compiles and scans within its budget, and every
 * problem is a clear 4xx when the file is put, never a failing scan later.
 */

export interface RuleBookLimits {
  /** Bytes of one file's source (413 past it). */
  maxSourceBytes: number;
  /** Rules across all of a tenant's files. */
  maxRules: number;
  /** Files per tenant. */
  maxFiles: number;
  /** Longest the tenant's whole set may take to compile. */
  compileTimeoutMs: number;
  /** Longest the tenant's whole set may take over the probe (one piece's scan budget). */
  scanTimeoutMs: number;
  /**
   * Probe runs at most (the runner's threads + 1): the first run on a thread also compiles the
   * set (and may start the thread), so a slow first run is tried again on a warm thread.
   */
  probeRuns: number;
}

export interface PutOutcome {
  file: RuleFile;
  created: boolean;
  /** The version of the tenant's rules this change made. */
  version: number;
}

/** A change checked against one version is written only if that is still the version. */
const WRITE_ATTEMPTS = 3;

export class TenantRuleBook {
  constructor(
    private readonly store: TenantRuleStore,
    private readonly runner: YaraRunner,
    readonly limits: RuleBookLimits,
  ) {}

  async list(tenantId: string): Promise<RuleFile[]> {
    return (await this.store.snapshot(tenantId)).files;
  }

  async get(tenantId: string, name: string): Promise<RuleFile> {
    const file = validName(name) ? await this.store.get(tenantId, name) : undefined;
    if (!file) throw unknownFile(name);
    return file;
  }

  /** Adds or replaces the file `name`; throws a DomainError saying why it is refused. */
  async put(tenantId: string, name: string, source: string, now = new Date()): Promise<PutOutcome> {
    if (!validName(name))
      throw badRequest('A rule file name is 1 to 64 letters, digits, dots, dashes or underscores.');
    const size = Buffer.byteLength(source, 'utf8');
    if (size > this.limits.maxSourceBytes)
      throw payloadTooLarge(
        `The rule source is larger than the ${this.limits.maxSourceBytes}-byte limit.`,
      );
    if (source.trim() === '') throw badRequest('Send the YARA source as the request body.');
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt += 1) {
      const set = await this.store.snapshot(tenantId);
      const outcome = await this.checkPut(tenantId, set, name, source, now);
      const version = await this.store.put(tenantId, set.version, outcome.file);
      if (version !== undefined) return { ...outcome, version };
    }
    throw changedMeanwhile();
  }

  /** Deletes the file `name`, unless another of the tenant's files uses its rules. */
  async delete(tenantId: string, name: string): Promise<void> {
    if (!validName(name)) throw unknownFile(name);
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt += 1) {
      const set = await this.store.snapshot(tenantId);
      if (!set.files.some((file) => file.name === name)) throw unknownFile(name);
      const rest = set.files.filter((file) => file.name !== name);
      if (rest.length > 0) {
        const joined = joinRuleSources(rest);
        // Fewer rules compile no slower: only a compile that overruns the threads' limit refuses.
        const errors = (await this.compile(joined.source, { timed: false })).errors;
        if (errors.length > 0)
          throw new DomainError(
            'conflict',
            `The account's other rule files use rules of "${name}": change them first.`,
            undefined,
            { errors: errors.map((error) => locate(error, joined.ranges, undefined)) },
          );
      }
      const outcome = await this.store.delete(tenantId, set.version, name);
      if (outcome === 'gone') throw unknownFile(name);
      if (outcome !== undefined) return;
    }
    throw changedMeanwhile();
  }

  /** The checks of a put against the tenant's rules at one version; the file to store. */
  private async checkPut(
    tenantId: string,
    set: RuleFileSet,
    name: string,
    source: string,
    now: Date,
  ): Promise<{ file: RuleFile; created: boolean }> {
    const existing = set.files.find((file) => file.name === name);
    const others = set.files.filter((file) => file.name !== name);
    if (!existing && set.files.length >= this.limits.maxFiles)
      throw unprocessable(
        `The account already has ${set.files.length} rule files, the most allowed (${this.limits.maxFiles}).`,
      );
    // In the set, the file keeps its place when replaced, and goes last when new.
    const position = existing?.position ?? set.version + 1;
    const ordered = [...others, { name, source, position }].sort((a, b) => a.position - b.position);
    // The cheap checks first: a duplicate or one rule too many needs no compiling.
    const declared = declaredRules(source);
    this.checkRuleCounts(declared, others);
    const joined = joinRuleSources(ordered);
    const check = await this.compile(joined.source);
    if (check.errors.length > 0) throw compileErrors(check.errors, joined.ranges, name);
    if (declared.length === 0) throw badRequest('The source declares no rule.');
    await this.checkScanTime(tenantId, joined.source, joined.sha256);
    const warnings = check.warnings
      .map((warning) => locate(warning, joined.ranges, name))
      .filter((warning) => warning.file === undefined);
    return {
      created: existing === undefined,
      file: {
        name,
        source,
        sha256: sha256Hex(source),
        size: Buffer.byteLength(source, 'utf8'),
        rules: declared.map((rule) => rule.identifier),
        warnings,
        created: existing?.created ?? now.toISOString(),
        modified: now.toISOString(),
        position,
      },
    };
  }

  /** Identifiers already declared by another file (409), and the rules-per-tenant limit (422). */
  private checkRuleCounts(declared: DeclaredRule[], others: RuleFile[]): void {
    const owner = new Map<string, string>();
    for (const file of others) for (const rule of file.rules) owner.set(rule, file.name);
    const clashes = declared.filter((rule) => owner.has(rule.identifier));
    if (clashes.length > 0)
      throw new DomainError(
        'conflict',
        `Rule identifiers must be unique across the account's rule files: ${clashes
          .map(
            (rule) => `"${rule.identifier}" is already declared in "${owner.get(rule.identifier)}"`,
          )
          .join(', ')}.`,
        undefined,
        {
          errors: clashes.map((rule) => ({
            code: 'E012',
            line: rule.line,
            column: rule.column,
            message: `duplicate rule \`${rule.identifier}\`: already declared in rule file "${owner.get(rule.identifier)}"`,
          })),
        },
      );
    const total = owner.size + declared.length;
    if (total > this.limits.maxRules)
      throw unprocessable(
        `With this file the account would have ${total} rules, more than the ${this.limits.maxRules} allowed.`,
      );
  }

  /**
   * Runs the whole set over the probe: refused (422) unless one run finishes within the scan
   * budget. Each run's time counts the queue and, on a thread's first run, compiling: so a slow
   * run is tried again, up to `probeRuns` times, and the fastest decides.
   */
  private async checkScanTime(tenantId: string, source: string, sha256: string): Promise<void> {
    const rules = { key: `tenant-rules-probe:${tenantId}:${sha256}`, source };
    let fastest = Number.POSITIVE_INFINITY;
    for (let run = 0; run < this.limits.probeRuns; run += 1) {
      const started = performance.now();
      try {
        await this.runner.scan(
          rules,
          probeContent(),
          this.limits.compileTimeoutMs + this.limits.scanTimeoutMs,
        );
      } catch (error) {
        if (error instanceof ThreadTimeoutError) break;
        throw error;
      }
      fastest = Math.min(fastest, performance.now() - started);
      if (fastest <= this.limits.scanTimeoutMs) return;
    }
    throw unprocessable(
      `The account's rules with this file take ${
        Number.isFinite(fastest) ? `${Math.round(fastest)} ms` : 'too long'
      } to scan 1 MiB of sample content, more than the ${this.limits.scanTimeoutMs} ms allowed per file: ` +
        'make the slow rules more specific (longer patterns, bounded loops, fewer regular expressions).',
    );
  }

  /**
   * Compiles (without keeping) a source; 422 when it takes longer than the compile budget
   * (`timed`), or overruns the YARA threads' own limit.
   */
  private async compile(
    source: string,
    { timed = true } = {},
  ): Promise<{ errors: CompilerMessage[]; warnings: CompilerMessage[] }> {
    const started = performance.now();
    try {
      const check = await this.runner.check(source, this.limits.compileTimeoutMs);
      const took = performance.now() - started;
      if (timed && check.errors.length === 0 && took > this.limits.compileTimeoutMs)
        throw compileTooSlow(this.limits, took);
      return check;
    } catch (error) {
      if (error instanceof ThreadTimeoutError) throw compileTooSlow(this.limits, undefined);
      throw error;
    }
  }
}

/** A source's compiler errors: 400 when they are in the file put, 409 in another of the files. */
function compileErrors(
  errors: CompilerMessage[],
  ranges: SourceRange[],
  name: string,
): DomainError {
  const located = errors.map((error) => locate(error, ranges, name));
  const elsewhere = located.filter((error) => error.file !== undefined);
  if (elsewhere.length === located.length)
    return new DomainError(
      'conflict',
      `The account's other rule files no longer compile with this one (${elsewhere
        .map((error) => `"${error.file}"`)
        .join(', ')}).`,
      undefined,
      { errors: located },
    );
  const first = located.find((error) => error.file === undefined)!;
  return new DomainError(
    'bad_request',
    `The YARA source does not compile: ${first.line === undefined ? '' : `line ${first.line}: `}${first.message}`,
    undefined,
    { errors: located },
  );
}

/** A compiler message with its line in the file it is in (`file` set when not `current`). */
function locate(
  message: CompilerMessage,
  ranges: readonly SourceRange[],
  current: string | undefined,
): RuleMessage {
  const place = message.line === undefined ? undefined : locateLine(ranges, message.line);
  const file = place && place.name !== current ? { file: place.name } : {};
  return {
    code: message.code,
    ...(place ? { line: place.line } : {}),
    ...(message.column === undefined ? {} : { column: message.column }),
    message: message.message,
    ...file,
  };
}

const validName = (name: string): boolean => RULE_FILE_NAME.test(name);

const unknownFile = (name: string) =>
  notFound(`There is no rule file named "${name.slice(0, 64)}".`);

const changedMeanwhile = () =>
  conflict("The account's rule files kept changing while this request was checked: try again.");

const compileTooSlow = (limits: RuleBookLimits, took: number | undefined) =>
  unprocessable(
    `The account's rules with this file took ${took === undefined ? 'too long' : `${Math.round(took)} ms`} to compile, more than the ${limits.compileTimeoutMs} ms allowed.`,
  );
