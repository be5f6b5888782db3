import type { EngineVerdict } from '../scanning/engine.js';
import { isUnscannableFinding } from '../scanning/findings.js';
import type { ScanResult } from './results.js';

/**
 * Stored results read as the verdict words of "Antivirus for Amazon S3" clients (`Clean`,
 * `Infected`, `Unscannable`, `Error`), one verdict for all the files of a request. The verdict
 * API route (api/routes/verdict.ts) only carries them over HTTP.
 */

export type VerdictResult = 'Clean' | 'Infected' | 'Unscannable' | 'Error';

export interface Verdict {
  dateScanned: string;
  detectedInfections: Array<{ file: string; infection: string }>;
  errorMessage: string | null;
  result: VerdictResult;
  /**
   * The true type of the file, sniffed from its bytes (its result's `content_type`: `image/png`,
   * `application/x-msdownload`); several files' in upload order, `, `-separated (`unknown` for a
   * file that has none); null when no file's type is known.
   */
  trueFileType: string | null;
  /**
   * The scan id of the file, to look its result up (`GET /v2.2/files/{id}`); several files' in
   * upload order, `,`-separated (as the `X-Arbiter-Scan-Ids` header); null when there is none.
   */
  referenceId: string | null;
}

/** One file's scan: its stored result (undefined: deleted meanwhile) and the engines' verdicts. */
export interface ScannedFile {
  result: ScanResult | undefined;
  verdicts: EngineVerdict[];
}

/** One file's part of a verdict. */
export interface DescribedFile {
  name: string;
  /** The file's scan id, when it has a scan. */
  scanId: string | undefined;
  /** Its result's `content_type`, when known. */
  trueType: string | undefined;
  infections: Array<{ file: string; infection: string }>;
  unscannable: boolean;
  error: string | undefined;
}

/**
 * One file's part of the verdict. Engines that report where they found something (the built-in
 * one walks archives) give one infection per member, by its path from the uploaded file
 * (`upload.zip/inner.zip/eicar.com`) and the name of the signature that matched; a finding no
 * engine placed (clamd reports one name for the whole stream) is listed under the file's name.
 */
export function describeOutcome(
  outcome: ScannedFile,
  name: string,
  scanId: string | undefined,
): DescribedFile {
  const { result, verdicts } = outcome;
  if (!result)
    return unfinished(name, 'The result was deleted while it was being processed.', scanId);
  if (result.error)
    return {
      ...unfinished(name, result.error, scanId),
      trueType: result.content_type ?? undefined,
    };
  const infections: DescribedFile['infections'] = [];
  const seen = new Set<string>();
  const placed = new Set<string>();
  for (const verdict of verdicts) {
    for (const detection of verdict.detections ?? []) {
      if (isUnscannableFinding(detection.finding)) continue;
      // The engine names the top by the content name; the client knows it by the name it sent.
      const file = [name, ...detection.path.slice(1)].join('/');
      placed.add(detection.finding);
      if (seen.has(`${file}\0${detection.finding}`)) continue;
      seen.add(`${file}\0${detection.finding}`);
      infections.push({ file, infection: detection.signature || detection.finding });
    }
  }
  for (const finding of result.findings) {
    if (!isUnscannableFinding(finding) && !placed.has(finding))
      infections.push({ file: name, infection: finding });
  }
  return {
    name,
    scanId,
    trueType: result.content_type ?? undefined,
    infections,
    unscannable: result.findings.some(isUnscannableFinding),
    error: undefined,
  };
}

/** A file with no verdict of its own: `error` says why. */
export function unfinished(name: string, error: string, scanId?: string): DescribedFile {
  return { name, scanId, trueType: undefined, infections: [], unscannable: false, error };
}

/** Infected beats Error beats Unscannable beats Clean: a client must never read a doubt as clean. */
export function verdictOf(files: DescribedFile[]): Verdict {
  const detectedInfections = files.flatMap((f) => f.infections);
  const errors = files.filter((f) => f.error !== undefined);
  let result: VerdictResult = 'Clean';
  if (detectedInfections.length > 0) result = 'Infected';
  else if (errors.length > 0) result = 'Error';
  else if (files.some((f) => f.unscannable)) result = 'Unscannable';
  return {
    dateScanned: new Date().toISOString(),
    detectedInfections,
    errorMessage:
      errors.length > 0
        ? errors.map((f) => (files.length > 1 ? `${f.name}: ${f.error}` : f.error)).join('; ')
        : null,
    result,
    trueFileType: files.some((f) => f.trueType !== undefined)
      ? files.map((f) => f.trueType ?? 'unknown').join(', ')
      : null,
    referenceId: files.some((f) => f.scanId !== undefined)
      ? files.map((f) => f.scanId ?? '').join(',')
      : null,
  };
}
