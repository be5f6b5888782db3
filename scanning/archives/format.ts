import type { ArchiveLimits, UnscannableReason } from './types.js';

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
  /** True once the walk gave up on this content: stop and return. */
  cancelled(): boolean;
  /** A fresh path in the walk's scratch folder (removed when the walk ends). */
  scratchPath(suffix: string): Promise<string>;
}

/** Thrown by a handler for a precise `content.unscannable.<reason>`. */
export class UnpackError extends Error {
  constructor(
    readonly reason: UnscannableReason,
    message: string,
    readonly method?: string,
  ) {
    super(message);
    this.name = 'UnpackError';
  }
}
