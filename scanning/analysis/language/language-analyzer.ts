import type { Logger } from '../../../core/logger.js';
import type { Detection } from '../../engine.js';
import type { ScanPlan } from '../../plan.js';
import type { Analyzer, Piece, PieceHead, PreparedCheck } from '../analyzer.js';
import { pieceText, textPieceFilter } from '../text/piece-text.js';
import { ThreadTimeoutError } from '../thread-pool.js';
import type { YaraRunner } from '../yara/yara-runner.js';
import { languageFinding, loadLanguagePack, type LanguagePack } from './rule-pack.js';

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

  /** One scan's check: which pieces it reads whole is decided per scan (textPieceFilter). */
  private scanCheck(): PreparedCheck {
    const maxBytes = this.options.maxBytes;
    return {
      name: this.name,
      version: this.pack.version,
      maxBytes,
      wants: textPieceFilter(maxBytes),
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
    const text = normalise(
      pieceText(piece, this.options.maxBytes, (problem) =>
        unreadable.push({
          path: piece.path,
          finding: `content.unscannable.language.${problem.reason}`,
          signature: problem.message,
        }),
      ),
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

/** A piece's text as the rules see it (see LanguageAnalyzer). */
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
