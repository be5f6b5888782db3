import { setImmediate as nextTurn } from 'node:timers/promises';
import {
  DEFAULT_CLASSIFICATION,
  SENSITIVE_TYPES,
  type ClassificationSettings,
  type SensitiveType,
} from '../../../core/sensitive-types.js';
import type { ContentClassification, Detection } from '../../engine.js';
import type { ScanPlan } from '../../plan.js';
import {
  CHUNK_CHARS,
  DEFAULT_MAX_CHARS,
  MAX_SAMPLES_PER_TYPE,
  TextClassifier,
  type Classification,
  type ClassifyOptions,
} from '../../sensitive/classify.js';
import type { Analyzer, CheckConclusion, Piece, PieceHead, PreparedCheck } from '../analyzer.js';
import { pieceText, textPieceFilter } from '../text/piece-text.js';

/** Changes whenever what the detectors count changes (recorded with each result's engines). */
export const SENSITIVE_DETECTORS_VERSION = '1';

/** The finding of a type that reached the tenant's threshold. */
export function sensitiveFinding(type: SensitiveType): string {
  return `content.sensitive.${type}`;
}

/** Text that was not classified: over a limit, damaged, encrypted. */
export function sensitiveUnscannableFinding(
  reason: 'limits-exceeded' | 'corrupt' | 'unsupported-method',
): string {
  return `content.unscannable.sensitive.${reason}`;
}

export interface SensitiveDataAnalyzerOptions {
  /** Largest text piece read whole; a larger one is reported `limits-exceeded`. */
  maxBytes: number;
  /** Characters of one piece's text classified (default the classifier's); the rest is not read. */
  maxChars?: number;
}

/**
 * Pieces whose counts are kept apart, to say where the values are (the trace, the verdict API);
 * the counts of any further piece are placed at the top of the content.
 */
const MAX_PLACES = 1000;

/**
 * The `sensitive_data` category: the text of every piece that holds some (the same pieces and
 * the same extraction as `unsafe_language`: plain text, CSV, JSON, HTML and XML with office
 * documents' parts, PDF page text, RTF, binary Office documents, mail bodies and attachments,
 * archive members at every depth) is classified by scanning/sensitive/ for the tenant's types,
 * and the counts are summed over the whole content. A type whose sum reaches the tenant's
 * `min_matches` is a finding, `content.sensitive.<type>`, placed at each piece that holds some.
 * The verdict carries the classification (counts and redacted samples of those types alone);
 * no value is ever kept whole, and detections name a type and a count, never a value.
 *
 * What could not be read is `content.unscannable.sensitive.<reason>`: a piece past `maxBytes`, or
 * text past the classifier's `maxChars` (`limits-exceeded`), a document whose text cannot be
 * taken out (`corrupt`, `unsupported-method`), and, as for every analyzer, what the walk could
 * not open. The classification is then of what was read.
 */
export class SensitiveDataAnalyzer implements Analyzer {
  readonly name = 'sensitive-data';
  readonly category = 'sensitive_data' as const;

  constructor(private readonly options: SensitiveDataAnalyzerOptions) {}

  prepare(plan: ScanPlan): Promise<PreparedCheck | undefined> {
    if (!plan.categories.includes(this.category)) return Promise.resolve(undefined);
    return Promise.resolve(this.scanCheck(plan.classification ?? DEFAULT_CLASSIFICATION));
  }

  describe(): { name: string; version: string } {
    return {
      name: this.name,
      version: `arbiter-sensitive/${SENSITIVE_DETECTORS_VERSION} (${typeCount(SENSITIVE_TYPES.length)})`,
    };
  }

  /** Nothing outside the process to reach. */
  ping(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private scanCheck(settings: ClassificationSettings): PreparedCheck {
    const { maxBytes } = this.options;
    const tally = new Tally(settings);
    return {
      name: this.name,
      version: `arbiter-sensitive/${SENSITIVE_DETECTORS_VERSION} (${typeCount(settings.types.length)}, min_matches ${settings.minMatches})`,
      maxBytes,
      wants: textPieceFilter(maxBytes),
      check: (piece) => this.checkPiece(piece, settings, tally),
      tooLarge: (piece) =>
        unscannable(piece, 'limits-exceeded', `text larger than ${maxBytes} bytes`),
      conclude: () => tally.conclude(),
    };
  }

  private async checkPiece(
    piece: Piece,
    settings: ClassificationSettings,
    tally: Tally,
  ): Promise<Detection[]> {
    const detections: Detection[] = [];
    const text = pieceText(piece, this.options.maxBytes, (problem) =>
      detections.push(unscannable(piece, problem.reason, problem.message)),
    );
    if (!/\S/.test(text)) return detections;
    const maxChars = this.options.maxChars ?? DEFAULT_MAX_CHARS;
    const classification = await classifyYielding(text, { types: settings.types, maxChars });
    if (classification.limits.textTruncated)
      detections.push(
        unscannable(
          piece,
          'limits-exceeded',
          `text longer than ${maxChars} characters: the rest was not read`,
        ),
      );
    tally.add(piece.path, classification);
    return detections;
  }
}

/**
 * Classifies a piece's text a chunk at a time, letting the event loop run between chunks: a
 * large document does not hold up the requests and jobs of the process while it is read.
 */
async function classifyYielding(text: string, options: ClassifyOptions): Promise<Classification> {
  const classifier = new TextClassifier(options);
  for (let at = 0; at < text.length; at += CHUNK_CHARS) {
    if (at > 0) await nextTurn();
    classifier.push(text.slice(at, at + CHUNK_CHARS));
  }
  return classifier.finish();
}

/** One scan's counts and samples, summed over its pieces, and where they were found. */
class Tally {
  private readonly counts = new Map<SensitiveType, number>();
  private readonly samples = new Map<SensitiveType, string[]>();
  private readonly places: Array<{ path: string[]; matches: Classification['matches'] }> = [];

  constructor(private readonly settings: ClassificationSettings) {}

  add(path: string[], classification: Classification): void {
    const types = Object.keys(classification.matches) as SensitiveType[];
    if (types.length === 0) return;
    for (const type of types) {
      this.counts.set(type, (this.counts.get(type) ?? 0) + (classification.matches[type] ?? 0));
      const kept = this.samples.get(type) ?? [];
      for (const sample of classification.samples[type] ?? []) {
        if (kept.length < MAX_SAMPLES_PER_TYPE && !kept.includes(sample)) kept.push(sample);
      }
      this.samples.set(type, kept);
    }
    this.places.push({
      path: this.places.length < MAX_PLACES ? path : path.slice(0, 1),
      matches: classification.matches,
    });
  }

  /** The classification of the whole content, and the findings of the types that reached it. */
  conclude(): CheckConclusion {
    const reached = this.settings.types.filter(
      (type) => (this.counts.get(type) ?? 0) >= this.settings.minMatches,
    );
    const classification: ContentClassification = {
      result: reached.length > 0 ? 'sensitive' : 'none',
      matches: Object.fromEntries(reached.map((type) => [type, this.counts.get(type) ?? 0])),
      samples: Object.fromEntries(reached.map((type) => [type, this.samples.get(type) ?? []])),
    };
    const detections: Detection[] = [];
    for (const place of this.places) {
      for (const type of reached) {
        const count = place.matches[type];
        if (count === undefined) continue;
        detections.push({
          path: place.path,
          finding: sensitiveFinding(type),
          // A type and a count: never a value, not even a redacted one.
          signature: `${type}: ${count} ${count === 1 ? 'value' : 'values'}`,
        });
      }
    }
    return { detections, classification };
  }
}

const typeCount = (count: number) => `${count} ${count === 1 ? 'type' : 'types'}`;

function unscannable(
  piece: PieceHead,
  reason: 'limits-exceeded' | 'corrupt' | 'unsupported-method',
  signature: string,
): Detection {
  return { path: piece.path, finding: sensitiveUnscannableFinding(reason), signature };
}
