/** Finding names are lower-case and dotted; the EICAR test file always has the same name. */
export const EICAR_FINDING = 'content.malicious.eicar-test-signature';

export function maliciousFinding(signatureName: string): string {
  if (/eicar/i.test(signatureName)) return EICAR_FINDING;
  const cleaned = signatureName
    .replace(/\.UNOFFICIAL$/, '')
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, '-');
  return `content.malicious.${cleaned}`;
}

/**
 * `content.unscannable.encrypted`, `…limits-exceeded`, `…corrupt`, `…unsupported-method`: never a
 * clean verdict.
 */
export function unscannableFinding(
  reason: 'encrypted' | 'limits-exceeded' | 'corrupt' | 'unsupported-method',
): string {
  return `content.unscannable.${reason}`;
}

/** Whether a finding says the content could not be fully scanned (see unscannableFinding). */
export function isUnscannableFinding(finding: string): boolean {
  return finding.startsWith('content.unscannable.');
}
