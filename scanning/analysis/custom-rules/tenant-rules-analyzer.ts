import type { ActiveRules, TenantRuleStore } from '../../../core/tenant-rules.js';
import type { Detection } from '../../engine.js';
import type { ScanPlan } from '../../plan.js';
import type { Analyzer, Piece, PieceHead, PreparedCheck } from '../analyzer.js';
import { ThreadTimeoutError } from '../thread-pool.js';
import type { RuleMatch, YaraRunner } from '../yara/yara-runner.js';

/**
 * A tenant's own YARA rules (`/v1/rules`) over every scan of that tenant, whatever its detection
 * categories: the content and every member of its archives, mail and documents, binaries
 * included. A tenant without rules pays nothing: `prepare` finds no rules and the scan skips the
 * walk. Rules are read through the store with the scan's own tenant id only.
 */

export const TENANT_RULES_ANALYZER = 'tenant-rules';

/** A piece over the size limit, or one the rules took too long on. */
export const CUSTOM_LIMITS_EXCEEDED = 'content.unscannable.custom.limits-exceeded';

/** What a rule's `meta: finding = "…"` may name: a finding of Arbiter's form. */
const META_FINDING = /^content(\.[a-z0-9_-]+)+$/;
const MAX_FINDING_LENGTH = 128;

export interface TenantRulesOptions {
  /** Largest piece the rules run on (`ARBITER_TENANT_RULES_MAX_PIECE`). */
  maxPieceBytes: number;
  /**
   * Longest one piece's scan may take, compiling the set included (a thread's first scan with a
   * version compiles it); default: the YARA runner's own limit.
   */
  timeoutMs?: number;
}

export class TenantRulesAnalyzer implements Analyzer {
  readonly name = TENANT_RULES_ANALYZER;

  constructor(
    private readonly store: TenantRuleStore,
    private readonly runner: YaraRunner,
    private readonly options: TenantRulesOptions,
  ) {}

  async prepare(plan: ScanPlan): Promise<PreparedCheck | undefined> {
    const rules = await this.store.active(plan.tenantId);
    return rules ? this.check(rules) : undefined;
  }

  describe(): { name: string; version: string } {
    return { name: TENANT_RULES_ANALYZER, version: "each tenant's own YARA rules (YARA-X)" };
  }

  async ping(): Promise<void> {
    // Nothing to reach: the rules are in Redis (pinged on its own) and the threads start on demand.
  }

  async close(): Promise<void> {
    // The YARA runner is the composition root's to close: other analyzers may share it.
  }

  private check(rules: ActiveRules): PreparedCheck {
    // The thread-side cache of compiled sets is keyed by this: a tenant's set at one version.
    const ruleSet = {
      key: `tenant-rules:${rules.tenantId}:v${rules.version}:${rules.sha256}`,
      source: rules.source,
    };
    const limitsExceeded = (piece: PieceHead, why: string): Detection => ({
      path: piece.path,
      finding: CUSTOM_LIMITS_EXCEEDED,
      signature: why,
    });
    return {
      name: TENANT_RULES_ANALYZER,
      version: `tenant-rules v${rules.version} (${rules.count} rules)`,
      maxBytes: this.options.maxPieceBytes,
      wants: () => true,
      tooLarge: (piece) =>
        limitsExceeded(piece, `larger than ${this.options.maxPieceBytes} bytes (tenant rules)`),
      check: async (piece: Piece) => {
        try {
          const matches = await this.runner.scan(ruleSet, piece.bytes, this.options.timeoutMs);
          return matches.map((match) => detection(piece, match, rules));
        } catch (error) {
          if (error instanceof ThreadTimeoutError)
            return [limitsExceeded(piece, 'the tenant rules took too long on it')];
          throw error;
        }
      },
    };
  }
}

function detection(piece: Piece, match: RuleMatch, rules: ActiveRules): Detection {
  const file = rules.fileOf.get(match.rule) ?? 'rules';
  return { path: piece.path, finding: findingOf(match), signature: `${file}:${match.rule}` };
}

/** `meta: finding = "content.…"` when it is a finding name; else `content.custom.<rule>`. */
export function findingOf(match: Pick<RuleMatch, 'rule' | 'meta'>): string {
  const named = match.meta.finding;
  if (typeof named === 'string' && named.length <= MAX_FINDING_LENGTH && META_FINDING.test(named))
    return named;
  return `content.custom.${match.rule.toLowerCase()}`;
}
