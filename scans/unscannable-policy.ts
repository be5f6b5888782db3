import type { ScanResult } from './results.js';
import type { ScanStore } from './store.js';
import type { TenantSettingsStore } from '../core/tenant-settings.js';
import { isUnscannableFinding } from '../scanning/findings.js';

export interface UnscannablePolicyDeps {
  scans: Pick<ScanStore, 'appendTrace'>;
  settings?: Pick<TenantSettingsStore, 'current'>;
}

/**
 * Applies the tenant's choice about content that could not be fully scanned. By default such
 * content keeps its `content.unscannable.*` findings, so it is never read as clean. A tenant
 * that opted out gets them moved to `suppressed_findings` (and the trace says so): the verdict,
 * the S3 tags and the verdict API then treat the content by its other findings alone.
 */
export async function applyUnscannablePolicy(
  deps: UnscannablePolicyDeps,
  tenantId: string,
  result: ScanResult,
): Promise<ScanResult> {
  const unscannable = result.findings.filter(isUnscannableFinding);
  if (unscannable.length === 0 || !deps.settings) return result;
  const { reportUnscannable } = await deps.settings.current(tenantId);
  if (reportUnscannable) return result;
  await deps.scans.appendTrace(
    tenantId,
    result.id,
    `not reported, as the tenant opted out of unscannable findings: ${unscannable.join(', ')}`,
  );
  return {
    ...result,
    findings: result.findings.filter((f) => !isUnscannableFinding(f)),
    suppressed_findings: unscannable,
  };
}
