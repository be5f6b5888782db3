import type { EmbeddedImage } from '../archives/index.js';
import type { ContentClassification, Detection, ScanTarget } from '../engine.js';
import type { DetectionCategory, ScanPlan } from '../plan.js';

/**
 * An analyzer looks at pieces of content for something other than malware signatures: nudity in
 * images (`unsafe_image`), profanity in text (`unsafe_language`), a tenant's own YARA rules. The
 * analysis engine (analysis-engine.ts) walks the content and its archives once for all of them
 * and hands each analyzer the pieces it asks for, whole, in memory.
 */
export interface Analyzer {
  /** A short name for logs and the admin API (`nsfwjs`, `language-rules`, `tenant-rules`). */
  readonly name: string;
  /** The detection category it serves; undefined for one that serves every scan (tenant rules). */
  readonly category?: DetectionCategory;
  /**
   * What this analyzer does for one scan under `plan`, or undefined when it has nothing to do
   * there (its category is off, the tenant has no rules): then the scan pays nothing for it.
   * `target` is the content as the scan received it (its name, declared and sniffed types).
   */
  prepare(plan: ScanPlan, target: ScanTarget): Promise<PreparedCheck | undefined>;
  /** Name and version, for `/account.json` and the admin API. */
  describe(): { name: string; version: string };
  /** Throws when it cannot analyze right now (used by `/readyz`). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** One piece as it is first seen: enough to decide whether to read it whole. */
export interface PieceHead {
  /** As `Member.path`: from the top, the content's name first. */
  path: string[];
  /** Up to HEAD_BYTES leading bytes (all of them for a smaller piece). */
  head: Buffer;
  /** The size the container declares (the file size for the content itself), if known. */
  size: number | undefined;
  /** The container the piece comes out of (`Member.container`), `file` for the content itself. */
  container: string;
  /** What its container says of it when it is a bare image (`Member.image`: a PDF's). */
  image?: EmbeddedImage;
  /** It is a PDF annotation's appearance stream (`Member.appearance`). */
  appearance?: boolean;
}

export interface Piece extends PieceHead {
  bytes: Buffer;
}

/** An analyzer's work for one scan, prepared once (rules compiled, thresholds read). */
export interface PreparedCheck {
  /**
   * Recorded with each result as an engine is (`engines[]`): the analyzer's name and the version
   * of the model or rules in force for this scan.
   */
  name: string;
  version: string;
  /** Whether the piece is worth reading whole (an image, text): most pieces are not. */
  wants(piece: PieceHead): boolean;
  /**
   * Largest piece it reads whole. A wanted piece over it is not analyzed: `check` is not called
   * and the analysis engine reports `tooLarge(piece)` instead.
   */
  maxBytes: number;
  check(piece: Piece): Promise<Detection[]>;
  /** The detection for a wanted piece past `maxBytes` (an unscannable finding of the category). */
  tooLarge(piece: PieceHead): Detection;
  /**
   * For a check that judges every piece by its head alone (the true file type): called with
   * each piece's head once the piece has been read, whether or not anything wants it whole.
   */
  inspect?(piece: PieceHead): Promise<Detection[]>;
  /**
   * Once the walk is over, what the check makes of the whole content beside its pieces'
   * detections: for `sensitive_data`, the counts summed over every piece, and the findings of
   * the types that reached the tenant's threshold (known only then). Absent for the checks whose
   * pieces say it all.
   */
  conclude?(): CheckConclusion;
}

/** What a check concludes of the whole content (PreparedCheck.conclude). */
export interface CheckConclusion {
  detections: Detection[];
  /** Carried into the verdict, and from there into the result. */
  classification?: ContentClassification;
}
