import type { Logger } from '../../../core/logger.js';
import type { Detection } from '../../engine.js';
import type { ScanPlan } from '../../plan.js';
import type { Analyzer, Piece, PieceHead, PreparedCheck } from '../analyzer.js';
import { ThreadTimeoutError } from '../thread-pool.js';
import type { YaraRunner } from '../yara/yara-runner.js';
import { DocumentTextError } from './document-text-error.js';
import { markupText } from './markup-text.js';
import { officeDocumentText, officeStream, officeStreamText } from './office-text.js';
import { isContentStream, pdfContentText } from './pdf-text.js';
import { languageFinding, loadLanguagePack, type LanguagePack } from './rule-pack.js';
import { rtfText } from './rtf-text.js';
import { decodeText, sniffEncoding, textKind } from './text-kind.js';

/** The finding for text that was not checked: too large, or its scan ran out of time. */
export const LANGUAGE_LIMITS_EXCEEDED = 'content.unscannable.language.limits-exceeded';

export interface LanguageAnalyzerOptions {
  /** The process's YARA runner, shared with tenants' rules (built by the composition root). */
  yara: Pick<YaraRunner, 'scan'>;
  /** Largest text piece read; a larger one is reported `limits-exceeded`. */
  maxBytes: number;
}

/**
 * The `unsafe_language` category: the text of every piece that holds some (plain text, HTML and
 * XML with office documents' parts, PDF page text, RTF, binary Word, Excel and PowerPoint
 * documents) is extracted, normalised (markup dropped, decoded to UTF-8, white space collapsed,
 * invisible characters that split words removed, base64 runs dropped) and scanned with the
 * language rule pack (rule-pack.ts). Only the normalised text is scanned: raw markup splits
 * words (`f<b>u</b>ck`, Word runs) and raw UTF-16 has a NUL in every word. A document whose text
 * cannot be taken out (encrypted, damaged) is reported `content.unscannable.language.<reason>`.
 */
export class LanguageAnalyzer implements Analyzer {
  readonly name = 'language-rules';
  readonly category = 'unsafe_language' as const;

  constructor(
    readonly pack: LanguagePack,
    private readonly options: LanguageAnalyzerOptions,
  ) {}

  /** Reads the pack (the built-in one unless `rulesDir`); throws LanguageRulesError if unusable. */
  static async load(
    logger: Logger,
    rulesDir: string | undefined,
    options: LanguageAnalyzerOptions,
  ): Promise<LanguageAnalyzer> {
    return new LanguageAnalyzer(await loadLanguagePack(logger, rulesDir), options);
  }

  prepare(plan: ScanPlan): Promise<PreparedCheck | undefined> {
    return Promise.resolve(
      plan.categories.includes('unsafe_language') ? this.scanCheck() : undefined,
    );
  }

  /**
   * One scan's check. It keeps the compound files of the scan it reads whole: a compound file
   * past `maxBytes` is not read, its document streams are, one by one, as the walker hands them
   * over (officeStream), and those of a file read whole are not read twice. A compound file is
   * seen before its streams: they come out of it once the walker has it whole (were it seen
   * after, its streams would be read twice, never skipped).
   */
  private scanCheck(): PreparedCheck {
    const maxBytes = this.options.maxBytes;
    const readWhole = new Set<string>();
    const key = (path: readonly string[]) => JSON.stringify(path);
    return {
      name: this.name,
      version: this.pack.version,
      maxBytes,
      wants: (piece) => {
        const kind = textKind(piece);
        if (kind === 'office') {
          if (piece.size !== undefined && piece.size > maxBytes) return false;
          readWhole.add(key(piece.path));
          return true;
        }
        if (kind !== undefined) return true;
        return officeStream(piece) !== undefined && !readWhole.has(key(piece.path.slice(0, -1)));
      },
      check: (piece) => this.checkPiece(piece),
      tooLarge: (piece) => limitsExceeded(piece, `text larger than ${maxBytes} bytes`),
    };
  }

  describe(): { name: string; version: string } {
    return { name: this.name, version: this.pack.version };
  }

  ping(): Promise<void> {
    return Promise.resolve();
  }

  /** The YARA runner belongs to the composition root, which closes it. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  private async checkPiece(piece: Piece): Promise<Detection[]> {
    const unreadable: Detection[] = [];
    const text = normalisedText(piece, this.options.maxBytes, (problem) =>
      unreadable.push({
        path: piece.path,
        finding: `content.unscannable.language.${problem.reason}`,
        signature: problem.message,
      }),
    );
    if (!/\S/.test(text)) return unreadable;
    let matches;
    try {
      matches = await this.options.yara.scan(this.pack.rules, Buffer.from(text, 'utf8'));
    } catch (error) {
      if (error instanceof ThreadTimeoutError) {
        return [...unreadable, limitsExceeded(piece, error.message)];
      }
      throw error;
    }
    const detections: Detection[] = unreadable;
    for (const match of matches) {
      const finding = languageFinding(match.rule);
      if (finding) detections.push({ path: piece.path, finding, signature: match.rule });
    }
    return detections;
  }
}

/**
 * The text of a piece as the rules see it (see LanguageAnalyzer). What of a document cannot be
 * read is told to `unreadable`; the rest is returned.
 */
function normalisedText(
  piece: Piece,
  maxBytes: number,
  unreadable: (problem: DocumentTextError) => void,
): string {
  try {
    return normalise(extractedText(piece, maxBytes, unreadable));
  } catch (error) {
    if (!(error instanceof DocumentTextError)) throw error;
    unreadable(error);
    return '';
  }
}

function extractedText(
  piece: Piece,
  maxBytes: number,
  unreadable: (problem: DocumentTextError) => void,
): string {
  const kind = textKind(piece);
  const stream = kind === undefined ? officeStream(piece) : undefined;
  if (stream) return officeStreamText(stream, piece.bytes, maxBytes);
  if (kind === 'office') return officeDocumentText(piece.bytes, unreadable) ?? '';
  if (kind === 'rtf') return rtfText(piece.bytes);
  const encoding = sniffEncoding(piece.head);
  if (kind === undefined || encoding === undefined) return '';
  const decoded = decodeText(piece.bytes, encoding);
  if (kind === 'markup') return markupText(decoded);
  if (kind === 'pdf-stream' && isContentStream(decoded))
    // Content stream syntax is bytes: strings are read as such, not as the head's encoding.
    return pdfContentText(piece.bytes.toString('latin1'));
  return decoded;
}

function normalise(text: string): string {
  return (
    text
      // Soft hyphens and zero-width characters are invisible: they split a word only for a filter.
      .replace(/[\u00ad\u200b-\u200d\u2060\ufeff]/g, '')
      // Runs of white space become one space (single spaces, most of them, are left alone).
      .replace(/[^\S ]\s*| \s+/g, ' ')
      // Base64 (a key, an image in JSON, an attachment in text) is no prose, but its `+` and
      // `/` bound random letters: 10 MB of it holds a few short terms as whole words.
      .replace(BASE64_RUN, ' ')
  );
}

/**
 * Longer than any word: 40 characters of the base64 alphabet with no space or punctuation. The
 * look-behind makes the search start only where a run starts (twice as fast over prose).
 */
const BASE64_RUN = /(?<![A-Za-z0-9+/=])[A-Za-z0-9+/=]{40,}/g;

function limitsExceeded(piece: PieceHead, signature: string): Detection {
  return { path: piece.path, finding: LANGUAGE_LIMITS_EXCEEDED, signature };
}
