import { decodedMemberName } from '../../archives/content-encoding.js';
import { sniffHeadType } from '../../content-type.js';
import type { Detection, ScanTarget } from '../../engine.js';
import { fileExtension } from '../../file-extension.js';
import { unscannableFinding } from '../../findings.js';
import type { ScanPlan } from '../../plan.js';
import type { Analyzer, PieceHead, PreparedCheck } from '../analyzer.js';
import { isAllowedType, typeMismatch, type TypeClaims } from './type-rule.js';

export const TYPE_MISMATCH_FINDING = 'content.type.mismatch';
export const TYPE_DISALLOWED_FINDING = 'content.type.disallowed';

/**
 * Bumped when the rule table (type-rule.ts, type-groups.ts) changes what it reports, so that a
 * result says which rules judged it and a rescan by version can find the older ones.
 */
const RULES_VERSION = '1';

/**
 * `file_type`: the true type of the content and of every member of its archives, mail and
 * documents, from their bytes (scanning/content-type.ts), against what each is presented as
 * (type-rule.ts). The content itself is also held to the tenant's or key's allowed types.
 */
export class TrueTypeAnalyzer implements Analyzer {
  readonly name = 'true-type';
  readonly category = 'file_type' as const;

  prepare(plan: ScanPlan, target: ScanTarget): Promise<PreparedCheck | undefined> {
    if (!plan.categories.includes('file_type')) return Promise.resolve(undefined);
    return Promise.resolve(new TrueTypeCheck(target, plan.allowedContentTypes));
  }

  describe(): { name: string; version: string } {
    return { name: this.name, version: RULES_VERSION };
  }

  ping(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

class TrueTypeCheck implements PreparedCheck {
  readonly name = 'true-type';
  readonly version = RULES_VERSION;
  /** Every piece is judged by its head (inspect): none is read whole. */
  readonly maxBytes = 0;
  private readonly topPath: string | undefined;

  constructor(
    private readonly target: ScanTarget,
    private readonly allowed: readonly string[] | undefined,
  ) {
    // Content sent with a Content-Encoding is what its name and declared type describe once
    // decoded, as a browser hands it over: those claims go to the decoded member instead.
    const codings = target.contentEncoding ?? [];
    this.topPath = codings.length > 0 ? decodedMemberName(codings) : undefined;
  }

  wants(): boolean {
    return false;
  }

  check(): Promise<Detection[]> {
    return Promise.resolve([]);
  }

  /** Never called: no piece is wanted whole (wants), so none can be too large to read. */
  tooLarge(piece: PieceHead): Detection {
    return {
      path: piece.path,
      finding: unscannableFinding('limits-exceeded'),
      signature: 'not read whole',
    };
  }

  async inspect(piece: PieceHead): Promise<Detection[]> {
    const { path } = piece;
    const isTop = path.length === 1;
    // The bytes as sent of encoded content: its decoded member is judged in its place.
    if (isTop && this.topPath !== undefined) return [];
    const standsForContent = isTop || (path.length === 2 && path[1] === this.topPath);
    if (!standsForContent) return this.judgeMember(piece);
    const claims: TypeClaims = {
      extension: fileExtension(this.target.name),
      declaredType: this.target.declaredContentType,
    };
    const trueType =
      isTop && this.target.contentType ? this.target.contentType : await sniffHeadType(piece.head);
    const detections = mismatchAt(path, trueType, claims);
    if (this.allowed && !isAllowedType(trueType, this.allowed, claims)) {
      detections.push({
        path,
        finding: TYPE_DISALLOWED_FINDING,
        signature: `${trueType} is not an allowed type`,
      });
    }
    return detections;
  }

  /** A member has a name (from its container) but no declared type. */
  private async judgeMember(piece: PieceHead): Promise<Detection[]> {
    const extension = fileExtension(piece.path.at(-1));
    if (extension === undefined) return [];
    return mismatchAt(piece.path, await sniffHeadType(piece.head), { extension });
  }
}

function mismatchAt(path: string[], trueType: string, claims: TypeClaims): Detection[] {
  const why = typeMismatch(trueType, claims);
  return why === undefined ? [] : [{ path, finding: TYPE_MISMATCH_FINDING, signature: why }];
}
