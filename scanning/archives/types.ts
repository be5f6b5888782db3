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
   * The format of the container the bytes come out of (`zip`, `gzip`, `tar`, `zstd`, or a format
   * handler's name: `7z`, `mime`, …), `file` for the content itself: logical signatures can
   * require one (`Container:` in `.ldb`).
   */
  container: string;
  /** What its container says of it when it is an image stored bare (MemberInfo.image). */
  image?: EmbeddedImage;
  /** It is an annotation's appearance stream (MemberInfo.appearance). */
  appearance?: boolean;
}

/**
 * An image a container stores as bare data rather than as an image file: a PDF image XObject,
 * whose geometry and colours only its dictionary tells. Only the image analyzer reads this; the
 * member's bytes are scanned as any member's.
 */
export interface EmbeddedImage {
  /**
   * The image codec its bytes are still in (a PDF filter: `DCTDecode`, `JPXDecode`,
   * `JBIG2Decode`, `CCITTFaxDecode`), or undefined for bare samples: rows of `width` pixels,
   * each row starting on a byte boundary, `height` rows.
   */
  codec?: string;
  width?: number;
  height?: number;
  bitsPerComponent?: number;
  /**
   * `gray`, `rgb` or `indexed` (each sample an index into `palette`), or the colour space it is
   * otherwise (`DeviceCMYK`, `Indexed on DeviceCMYK`, …).
   */
  colors: string;
  /** For `indexed`: the colours, RGB triples, in index order. */
  palette?: Buffer;
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
  /**
   * What the walker read otherwise than an archive's plain description, for the scan trace: a
   * zip whose two views of an entry disagree (both readings scanned), a zip behind a prefix or
   * followed by data. At most `MAX_NOTES`.
   */
  notes: string[];
}

export interface WalkOptions {
  /** Where nested zips are written while they are walked (default: the OS temp dir). */
  scratchDir?: string;
  /** Formats opened besides zip, gzip, zstd and tar (archives/formats/), tried in order. */
  formats?: readonly FormatHandler[];
  /**
   * Told about each member a zip or tar lists, as it is listed: directories and encrypted
   * members too, whose content is never visited (container metadata signatures, `.cdb`); and
   * about each member the `7z` handler hands over, before it is scanned.
   */
  listed?: (member: ListedMember) => void;
  /**
   * The HTTP content codings the content was sent with (`Content-Encoding`, or an S3 object's
   * `ContentEncoding`), in the order applied: the decoded content is walked too, as a member
   * named `(Content-Encoding: …)`; a coding that cannot be undone is `unsupported-method`.
   */
  contentEncoding?: readonly string[];
  /**
   * The zip benchmark's baseline only (bench/zip-reader.ts), never set by the service and not in
   * the configuration: zips read from their central directory alone, as yauzl lists them (no
   * local-header sweep, no second view of an entry, no zip looked for behind a prefix or after
   * the end record), so that the benchmark can price the sweep against the reader without it.
   */
  zipCentralDirectoryOnly?: boolean;
}

/**
 * What a container says about one of its members, before (or instead of) reading it. Undefined
 * fields are not known for that container.
 */
export interface ListedMember {
  /** The member's path, as `Member.path`. */
  path: string[];
  /** The container's format: `zip`, `tar` or `7z` (`Member.container`). */
  container: string;
  /** The container's own size in bytes. */
  containerSize: number | undefined;
  /** The member's name as the container stores it (directories included). */
  name: string;
  /** The real (uncompressed) size the container declares. */
  size: number | undefined;
  /**
   * The bytes it takes inside the container (compressed, encrypted); for `7z`, 0 as ClamAV
   * reports it (a 7z packs members together).
   */
  compressedSize: number | undefined;
  encrypted: boolean;
  /**
   * The zip is laid out as an office document (`[Content_Types].xml` among its first entries and
   * a `word/` part, …): ClamAV types it as that document rather than as a zip.
   */
  documentLike?: boolean;
  /**
   * Its position, as ClamAV counts it: a zip's central-directory entries from 1, directories
   * included; a tar's regular files from 1; unknown for `7z` (the handler hands members over
   * in its own order).
   */
  position: number | undefined;
}

export type Visitor = (member: Member) => Promise<void>;

/**
 * A container or encoding the walker opens besides its own zip, gzip, zstd and tar: 7z, a MIME
 * message, an RTF document with embedded objects, … Each format lives in a file of its own
 * (archives/formats/) and only sees the walker through `UnpackContext`: it hands over members,
 * and the walker counts them against the limits, scans them and walks them in turn.
 */
export interface FormatHandler {
  /** A short name (`7z`, `mime`, `rtf`): the member's `container`, and the `kind` in details. */
  readonly name: string;
  /**
   * How many leading bytes `sniff` needs to decide (at least SNIFF_BYTES is always given when
   * the content is that long). A format identified further in (ISO 9660 at 32 KiB) asks for more.
   */
  readonly sniffBytes?: number;
  /**
   * `stream`: `unpack` reads the content as it arrives (memory stays bounded whatever its size);
   * `file`: `unpack` gets a local file holding the whole content (random access), copied to the
   * scratch folder first unless the content is the uploaded file itself.
   */
  readonly input: 'stream' | 'file';
  /**
   * An archive that tells the walker where its data ends (`UnpackContext.after`): what follows
   * is scanned from there, so the walker does not also search it for an embedded 7z or RAR
   * archive (embedded-archives.ts), which it would open twice.
   */
  readonly reportsItsEnd?: boolean;
  /** Recognises the content from its first bytes (never from its name alone). */
  sniff(head: Buffer, name: string): boolean;
  /**
   * Hands every member to `context.member`, in order, awaiting each. Bad content is reported
   * with `context.unscannable` or by throwing (an `UnpackError` for a precise reason; anything
   * else is reported as `corrupt`). Return early when `context.member` returns false.
   */
  unpack(input: UnpackInput, context: UnpackContext): Promise<void>;
}

export type UnpackInput =
  | { kind: 'stream'; chunks: AsyncIterable<Buffer> }
  | {
      kind: 'file';
      path: string;
      size: number;
      /**
       * Only these members, by name: the zip members the walker's own reader cannot decode,
       * handed to the handler named `zip` (never set for a handler chosen by `sniff`).
       */
      members?: readonly string[];
    };

export interface MemberInfo {
  /** The size the container declares, when it declares one. */
  size?: number;
  /** Compressed bytes consumed so far for this member, for the expansion-ratio limit. */
  compressed?: () => number;
  /**
   * The member's bytes were produced (and counted against the expanded-bytes limit) already, as
   * part of another member: one stream of a multi-stream file, scanned alone.
   */
  again?: boolean;
  /** The member is an image stored bare (a PDF image XObject): what the container says of it. */
  image?: EmbeddedImage;
  /**
   * The member is a PDF annotation's appearance stream: it draws what the annotation's own
   * strings hold (a form field's value, a comment), which the analyzers that read text read
   * instead. Its bytes are scanned as any member's.
   */
  appearance?: boolean;
}

export interface UnpackContext {
  /** The container's own path (its name last) and depth. */
  readonly path: readonly string[];
  readonly depth: number;
  readonly limits: ArchiveLimits;
  /**
   * Scans one member named `name` inside the container (counted against the member limit,
   * its bytes against the byte and ratio limits, opened in turn if it is a container). Resolves
   * when the member was scanned; false when the walk is over for this container (a limit was
   * reached or the content was abandoned): stop producing members then. An error `data` throws
   * is reported as this member being `corrupt`.
   */
  member(name: string, data: AsyncIterable<Uint8Array>, info?: MemberInfo): Promise<boolean>;
  /** Reports what could not be scanned, at the container or (`member`) at a member inside it. */
  unscannable(
    reason: UnscannableReason,
    detail: string,
    options?: { member?: string; method?: string },
  ): void;
  /**
   * For `file` input: the container's own data ends at byte `end` of the file. What follows it
   * (a second archive, appended data) is scanned as a further member, `(after the <name> data)`,
   * and opened in turn if it is a container (zero padding alone is nothing). Its bytes are the
   * container's own: counted once already, they are not counted again against the member and
   * byte limits. Resolves once it was scanned; nothing for `stream` input, or for a handler
   * working on a zip's members.
   */
  after(end: number): Promise<void>;
  /** True once the walk gave up on this content: stop and return. */
  cancelled(): boolean;
  /** A fresh path in the walk's scratch folder (removed when the walk ends). */
  scratchPath(suffix: string): Promise<string>;
}
