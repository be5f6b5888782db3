import { createHash } from 'node:crypto';
import type { RedisKeys } from './keys.js';
import type { Redis } from './redis.js';

/**
 * A tenant's own YARA rules, as rule files it names (`PUT /v1/rules/{name}`). Every call takes
 * the tenant id, and every key embeds it (core/keys.ts), so one tenant's rules can never be read
 * for another's scans; deleting the tenant's keys deletes its rules.
 *
 * The files of a tenant compile as one rule set (their sources joined in the order they were
 * first put), so a rule may use a rule of an earlier file and identifiers are unique across files.
 * A version counter goes up with every change: scanning processes read it (at most once a second,
 * `active`) and load the set again when it moved, so a change reaches every worker within about a
 * second, without a restart.
 */

/** What a rule file may be called: it is part of the URL and of each finding's signature. */
export const RULE_FILE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** A compiler error or warning, as the rules API shows it. */
export interface RuleMessage {
  code: string;
  /** 1-based, in the file named by `file` (the file being put when absent). */
  line?: number;
  column?: number;
  message: string;
  /** Another of the tenant's rule files, when the problem is in that one. */
  file?: string;
}

export interface RuleFile {
  name: string;
  source: string;
  /** Hex SHA-256 of the source (UTF-8). */
  sha256: string;
  /** Bytes of the source (UTF-8). */
  size: number;
  /** Identifiers of the rules it declares, in order. */
  rules: string[];
  /** The compiler's warnings when it was put. */
  warnings: RuleMessage[];
  /** ISO 8601. */
  created: string;
  modified: string;
  /** Where its source goes in the tenant's rule set: files are joined by increasing position. */
  position: number;
}

export interface RuleFileSet {
  /** 0 for a tenant that never had rules. */
  version: number;
  /** By position: the order their sources are joined in. */
  files: RuleFile[];
}

/** The lines of one file inside a joined source. */
export interface SourceRange {
  name: string;
  /** 1-based line of the joined source where the file's first line is. */
  firstLine: number;
  lines: number;
}

export interface JoinedSource {
  source: string;
  sha256: string;
  ranges: SourceRange[];
}

/** A tenant's rules in force, as a scan uses them. */
export interface ActiveRules {
  tenantId: string;
  version: number;
  source: string;
  sha256: string;
  /** Rules across all files. */
  count: number;
  /** The file each rule identifier is declared in (for findings' signatures). */
  fileOf: ReadonlyMap<string, string>;
}

/** The version of a tenant's rules is read from Redis at most this often per process. */
const VERSION_CACHE_MS = 1000;

/** Tenants whose rules one process keeps at once; past it the cache starts over. */
const CACHED_TENANTS = 10_000;

export const sha256Hex = (text: string): string =>
  createHash('sha256').update(text, 'utf8').digest('hex');

/** Joins rule files' sources (in the order given) and says where each file's lines are. */
export function joinRuleSources(
  files: ReadonlyArray<Pick<RuleFile, 'name' | 'source'>>,
): JoinedSource {
  const parts: string[] = [];
  const ranges: SourceRange[] = [];
  let line = 1;
  for (const file of files) {
    const text = file.source.endsWith('\n') ? file.source : `${file.source}\n`;
    const lines = text.split('\n').length - 1;
    ranges.push({ name: file.name, firstLine: line, lines });
    parts.push(text);
    line += lines;
  }
  const source = parts.join('');
  return { source, sha256: sha256Hex(source), ranges };
}

/** The file and the line in it of a line of a joined source. */
export function locateLine(
  ranges: readonly SourceRange[],
  line: number,
): { name: string; line: number } | undefined {
  const range = ranges.find((r) => line >= r.firstLine && line < r.firstLine + r.lines);
  return range ? { name: range.name, line: line - range.firstLine + 1 } : undefined;
}

export class TenantRuleStore {
  private readonly cache = new Map<
    string,
    { checkedAt: number; version: number; rules: ActiveRules | undefined }
  >();

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /** Every rule file of the tenant and the version they are at, read together. */
  async snapshot(tenantId: string): Promise<RuleFileSet> {
    const replies = await this.redis
      .multi()
      .get(this.keys.tenantRulesVersion(tenantId))
      .hgetall(this.keys.tenantRules(tenantId))
      .exec();
    const [versionReply, filesReply] = replies ?? [];
    if (versionReply?.[0]) throw versionReply[0];
    if (filesReply?.[0]) throw filesReply[0];
    const raw = (filesReply?.[1] ?? {}) as Record<string, string>;
    const files = Object.values(raw)
      .map((json) => JSON.parse(json) as RuleFile)
      .sort((a, b) => a.position - b.position);
    return { version: Number(versionReply?.[1] ?? 0), files };
  }

  async get(tenantId: string, name: string): Promise<RuleFile | undefined> {
    const json = await this.redis.hget(this.keys.tenantRules(tenantId), name);
    return json === null ? undefined : (JSON.parse(json) as RuleFile);
  }

  /**
   * Stores a file (new or replaced) if the tenant's rules are still at `expectedVersion`: the
   * version the change was checked against. Returns the new version, or undefined when the
   * rules changed meanwhile (check again).
   */
  async put(
    tenantId: string,
    expectedVersion: number,
    file: RuleFile,
  ): Promise<number | undefined> {
    const reply = await this.write(tenantId, expectedVersion, file.name, JSON.stringify(file));
    return reply < 0 ? undefined : reply;
  }

  /**
   * Deletes a file if the tenant's rules are still at `expectedVersion`. Returns the new
   * version, `gone` when there is no such file, or undefined when the rules changed meanwhile.
   */
  async delete(
    tenantId: string,
    expectedVersion: number,
    name: string,
  ): Promise<number | 'gone' | undefined> {
    const reply = await this.write(tenantId, expectedVersion, name, '');
    if (reply === -2) return 'gone';
    return reply < 0 ? undefined : reply;
  }

  /**
   * For the scan path: the tenant's rules in force, undefined when it has none. The version is
   * read at most once a second per tenant, the files only when it moved.
   */
  async active(tenantId: string, now = Date.now()): Promise<ActiveRules | undefined> {
    const cached = this.cache.get(tenantId);
    if (cached && now - cached.checkedAt < VERSION_CACHE_MS) return cached.rules;
    const version = Number((await this.redis.get(this.keys.tenantRulesVersion(tenantId))) ?? 0);
    let rules = cached?.version === version ? cached.rules : undefined;
    if (!cached || cached.version !== version) {
      const set = version === 0 ? { version, files: [] } : await this.snapshot(tenantId);
      rules = activeRules(tenantId, set);
    }
    if (this.cache.size >= CACHED_TENANTS) this.cache.clear();
    // Cached under the version read first: a change made since is seen on the next read.
    this.cache.set(tenantId, { checkedAt: now, version, rules });
    return rules;
  }

  private async write(
    tenantId: string,
    expectedVersion: number,
    name: string,
    json: string,
  ): Promise<number> {
    const reply = Number(
      await this.redis.tenantRulesWrite(
        2,
        this.keys.tenantRules(tenantId),
        this.keys.tenantRulesVersion(tenantId),
        expectedVersion,
        name,
        json,
      ),
    );
    // This process sees its own change at once; the others within VERSION_CACHE_MS.
    this.cache.delete(tenantId);
    return reply;
  }
}

function activeRules(tenantId: string, set: RuleFileSet): ActiveRules | undefined {
  if (set.files.length === 0) return undefined;
  const joined = joinRuleSources(set.files);
  const fileOf = new Map<string, string>();
  for (const file of set.files) for (const rule of file.rules) fileOf.set(rule, file.name);
  return {
    tenantId,
    version: set.version,
    source: joined.source,
    sha256: joined.sha256,
    count: fileOf.size,
    fileOf,
  };
}
