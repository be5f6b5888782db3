import type { Readable } from 'node:stream';

/** Unpacking limits (`config.archive`); crossing one yields `content.unscannable.limits-exceeded`. */
export interface ArchiveLimits {
  /** Deepest member depth that is opened: a container at this depth is scanned as data only. */
  maxDepth: number;
  /** Archive entries (directories included) over the whole walk. */
  maxMembers: number;
  /** Bytes of member content over the whole walk, at every depth, counted as they are produced. */
  maxExpandedBytes: number;
  /** Expanded ÷ compressed bytes of one member, enforced once it passes `RATIO_FLOOR` bytes. */
  maxRatio: number;
}

/** One piece of content to scan: the uploaded file itself (depth 0) or an archive member. */
export interface Member {
  /** From the top: `['outer.zip', 'inner.zip', 'eicar.com']`; the first name is the caller's. */
  path: string[];
  /** The size the container declares (the file size at depth 0); undefined when unknown (gzip). */
  size: number | undefined;
  /**
   * The content's bytes, read or inflated once and shared with the walker's own inspection.
   * If a limit is crossed or the container turns out corrupt, the stream simply ends early and
   * the walk result carries an `Unscannable` entry for it.
   */
  stream: Readable;
  depth: number;
  /**
   * The format of the container the bytes come out of (`zip`, `gzip`, `tar`, `zstd`), `file` for
   * the content itself: logical signatures can require one (`Container:` in `.ldb`).
   */
  container: string;
}

/**
 * `unsupported-method`: a format the walker recognises, intact as far as it can tell, using a
 * compression method it cannot decode (a zip member in PPMd, a bare LZMA stream, …); `corrupt`
 * is kept for damaged data.
 */
export type UnscannableReason = 'encrypted' | 'limits-exceeded' | 'corrupt' | 'unsupported-method';

/** Something that could not be fully scanned; maps to `content.unscannable.<reason>`. */
export interface Unscannable {
  reason: UnscannableReason;
  path: string[];
  detail: string;
  /**
   * For `unsupported-method`: what was not decoded, as a stream format (`bzip2`, `xz`, `lzma`) or
   * a zip compression method (`zip:12`), so an engine set can tell which other engine decodes it.
   */
  method?: string;
}

export interface WalkResult {
  /** Empty when everything was scanned. At most `MAX_REPORTED` entries are kept. */
  unscannable: Unscannable[];
  /** Archive entries seen, over all depths (directories included). */
  members: number;
  /** Member bytes produced, over all depths (the top-level content is not counted). */
  expandedBytes: number;
}

export interface WalkOptions {
  /** Where nested zips are written while they are walked (default: the OS temp dir). */
  scratchDir?: string;
}

export type Visitor = (member: Member) => Promise<void>;
