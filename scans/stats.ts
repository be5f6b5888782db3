import type { RedisKeys } from '../core/keys.js';
import type { Redis } from '../core/redis.js';
import type { ScanResult } from './results.js';

/**
 * A tenant's activity per UTC hour (`GET /v1/stats`): one Redis hash per tenant and hour
 * (`{p}:stats:{tid}:{yyyymmddhh}`, in the tenant's slot), counters bumped with HINCRBY where a
 * scan's result is stored (the scan-complete script, in the same call) and where a callback
 * attempt ends (webhooks/delivery.ts, in the attempt's own pipeline), so counting adds no round
 * trip. Each hash expires STATS_TTL_SECONDS after its last write: 8 days, a week and a margin.
 *
 * Latency (request accepted → result stored) is a histogram on a fixed log scale: bucket `i`
 * holds latencies in (B^(i-1), B^i] ms with B = 2^(1/4), bucket 0 everything up to 1 ms. Fixed
 * buckets merge over hours by adding them; a percentile is answered with its bucket's geometric
 * middle, within ±9% of the true value (B^(1/2) ≈ 1.09).
 */
export const STATS_TTL_SECONDS = 8 * 24 * 3600;
export const STATS_MAX_HOURS = 168;

const LATENCY_BASE = 2 ** 0.25;
/** B^140 ms is about 45 days: every latency a result can have fits below. */
const LATENCY_TOP_BUCKET = 140;

/** The categories a finding name falls in, by its prefix. */
export const FINDING_CATEGORIES = [
  'malware',
  'unsafe_image',
  'unsafe_language',
  'sensitive_data',
  'file_type',
  'custom',
  'unscannable',
  'other',
] as const;
export type FindingCategory = (typeof FINDING_CATEGORIES)[number];

/**
 * `content.malicious.*` (signatures), `content.image.*` (unsafe images), `content.<lang>.language.*`
 * (unsafe language), `content.sensitive.*` (sensitive data), `content.type.*` (a file type
 * check), `content.custom.*` (a tenant's YARA rule without its own finding name),
 * `content.unscannable.*` (content not fully read); anything else (a custom rule naming its own
 * finding) is `other`.
 */
export function findingCategory(finding: string): FindingCategory {
  if (finding.startsWith('content.malicious.')) return 'malware';
  if (finding.startsWith('content.unscannable.')) return 'unscannable';
  if (finding.startsWith('content.image.')) return 'unsafe_image';
  if (finding.startsWith('content.sensitive.')) return 'sensitive_data';
  if (finding.startsWith('content.custom.')) return 'custom';
  if (finding.startsWith('content.type.')) return 'file_type';
  if (/^content\.[a-z]{2,3}\.language\./.test(finding)) return 'unsafe_language';
  return 'other';
}

export function latencyBucket(ms: number): number {
  if (!(ms > 1)) return 0;
  return Math.min(LATENCY_TOP_BUCKET, Math.ceil(Math.log(ms) / Math.log(LATENCY_BASE)));
}

/** The value a percentile falling in bucket `i` is reported as: the bucket's geometric middle. */
export function latencyOfBucket(bucket: number): number {
  return bucket === 0 ? 1 : Math.round(LATENCY_BASE ** (bucket - 0.5));
}

/** The hour a time falls in, as written in the key: yyyymmddhh (UTC). */
export function hourStamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 13).replace(/[-T]/g, '');
}

/** The hash fields a stored result increments by one (categories counted once per result). */
export function resultStatFields(result: ScanResult, latencyMs: number): string[] {
  const fields = ['completed', `lat:${latencyBucket(latencyMs)}`];
  if (result.error !== undefined) fields.push('errors');
  if (result.findings.length > 0) fields.push('with_findings');
  for (const category of new Set(result.findings.map(findingCategory)))
    fields.push(`cat:${category}`);
  return fields;
}

export type CallbackStat = 'cb_delivered' | 'cb_failed';

export interface HourStats {
  scans_completed: number;
  scans_with_findings: number;
  findings_by_category: Record<FindingCategory, number>;
  errors: number;
  callbacks_delivered: number;
  callbacks_failed: number;
  latency_ms: { p50: number | null; p99: number | null };
}

export interface StatsWindow {
  hours: Array<HourStats & { hour: string }>;
  totals: HourStats;
}

/** Reads a tenant's hourly counters. */
export class StatsStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /** The `hours` UTC hours ending with the current one, oldest first, every hour present. */
  async window(tenantId: string, hours: number, now = Date.now()): Promise<StatsWindow> {
    const hourMs = 3600_000;
    const current = Math.floor(now / hourMs) * hourMs;
    const starts = Array.from({ length: hours }, (_, i) => current - (hours - 1 - i) * hourMs);
    const pipeline = this.redis.pipeline();
    for (const start of starts) pipeline.hgetall(this.keys.stats(tenantId, hourStamp(start)));
    const replies = (await pipeline.exec()) ?? [];
    const raws = replies.map(([error, reply]) => {
      if (error) throw error;
      return reply as Record<string, string>;
    });
    const merged: Record<string, number> = {};
    for (const raw of raws)
      for (const [field, value] of Object.entries(raw))
        merged[field] = (merged[field] ?? 0) + Number(value);
    return {
      hours: raws.map((raw, i) => ({
        hour: new Date(starts[i]!).toISOString(),
        ...summarize(numbers(raw)),
      })),
      totals: summarize(merged),
    };
  }
}

function numbers(raw: Record<string, string>): Record<string, number> {
  return Object.fromEntries(Object.entries(raw).map(([field, value]) => [field, Number(value)]));
}

function summarize(counts: Record<string, number>): HourStats {
  const count = (field: string) => counts[field] ?? 0;
  return {
    scans_completed: count('completed'),
    scans_with_findings: count('with_findings'),
    findings_by_category: Object.fromEntries(
      FINDING_CATEGORIES.map((category) => [category, count(`cat:${category}`)]),
    ) as Record<FindingCategory, number>,
    errors: count('errors'),
    callbacks_delivered: count('cb_delivered'),
    callbacks_failed: count('cb_failed'),
    latency_ms: { p50: percentile(counts, 0.5), p99: percentile(counts, 0.99) },
  };
}

/** The latency under which `share` of the results fall, from the histogram fields `lat:<i>`. */
function percentile(counts: Record<string, number>, share: number): number | null {
  const buckets = Object.entries(counts)
    .filter(([field]) => field.startsWith('lat:'))
    .map(([field, n]) => [Number(field.slice(4)), n] as const)
    .sort((a, b) => a[0] - b[0]);
  const total = buckets.reduce((sum, [, n]) => sum + n, 0);
  if (total === 0) return null;
  const rank = Math.ceil(share * total);
  let seen = 0;
  for (const [bucket, n] of buckets) {
    seen += n;
    if (seen >= rank) return latencyOfBucket(bucket);
  }
  return null;
}
