import type { HashAlgorithm } from '../hash-signatures.js';
import type { SignatureProblem } from './ndb.js';

/**
 * ClamAV PE section hash databases (`.mdb`, `.msb`, and their unofficial `.mdu`, `.msu`):
 *
 *     PESectionSize:PESectionHash:MalwareName[:MinFL[:MaxFL]]
 *
 * The hash is MD5, SHA-1 or SHA-256 by its length; the size is the section's raw size as ClamAV
 * computes it (see pe.ts) or `*` (any size), which ClamAV only accepts with a MinFL of at least
 * 73. A line whose functionality-level range excludes ENGINE_FLEVEL is skipped, as ClamAV skips
 * it. Matched by matcher/logical.ts against every section with raw data of a PE file.
 */

/** The functionality level this engine answers to: ClamAV 1.4's, the clamd it is checked against. */
export const ENGINE_FLEVEL = 215;

export interface SectionHashSignature {
  name: string;
  algorithm: HashAlgorithm;
  /** Lower-case hex. */
  hash: string;
  /** null: any size. */
  size: number | null;
  /** The line number in its file (ignore-list entries can name a line by its digest). */
  line: number;
}

const ALGORITHM_BY_LENGTH: Record<number, HashAlgorithm> = { 32: 'md5', 40: 'sha1', 64: 'sha256' };
const MAX_SIZE = 0xfffffffe;

export function parseMdbText(
  text: string,
  file: string,
): {
  signatures: SectionHashSignature[];
  problems: SignatureProblem[];
  warnings: SignatureProblem[];
} {
  const signatures: SectionHashSignature[] = [];
  const problems: SignatureProblem[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index += 1) {
    const line = (lines[index] ?? '').replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const result = parseMdbLine(line);
    if (typeof result === 'string') problems.push({ file, line: index + 1, message: result });
    else signatures.push({ ...result, line: index + 1 });
  }
  return { signatures, problems, warnings: [] };
}

/** One line: the signature, or why it is skipped (malformed, or its FL range excludes us). */
export function parseMdbLine(line: string): Omit<SectionHashSignature, 'line'> | string {
  const fields = line.split(':');
  if (fields.length < 3) return 'expected PESectionSize:PESectionHash:MalwareName[:MinFL[:MaxFL]]';
  if (fields.length > 5) return `too many fields (${fields.length}); expected at most 5`;
  const [sizeText = '', hashText = '', name = '', minText, maxText] = fields;
  for (const level of [minText, maxText]) {
    if (level !== undefined && !/^\d{1,9}$/.test(level)) {
      return `functionality level "${level}" is not a number`;
    }
  }
  const minFl = minText === undefined ? 0 : Number(minText);
  let size: number | null;
  if (sizeText === '*') {
    if (minFl < 73) return 'a * size needs a MinFL of at least 73 (clamd refuses the database otherwise)';
    size = null;
  } else {
    if (!/^\d{1,10}$/.test(sizeText)) return `"${sizeText}" is not a size or *`;
    size = Number(sizeText);
    if (size === 0 || size > MAX_SIZE) return `section size ${size} is out of range`;
  }
  const algorithm = ALGORITHM_BY_LENGTH[hashText.length];
  if (algorithm === undefined || !/^[0-9a-fA-F]+$/.test(hashText)) {
    return 'the hash is not MD5, SHA-1 or SHA-256 hex';
  }
  if (name === '') return 'the signature has no name';
  if (minFl > ENGINE_FLEVEL) return `needs functionality level ${minFl} (this engine: ${ENGINE_FLEVEL})`;
  if (maxText !== undefined && Number(maxText) < ENGINE_FLEVEL) {
    return `only for functionality levels up to ${maxText} (this engine: ${ENGINE_FLEVEL})`;
  }
  return { name, algorithm, hash: hashText.toLowerCase(), size };
}
