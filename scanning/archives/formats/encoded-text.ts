import type { FormatHandler, UnpackContext, UnpackInput } from '../format.js';
import { LineSplitter, MemberFeed, type Line } from './feed.js';
import { BINHEX_MARKER, blockStart, isUuLine, TextBlocks, type BlockEvent } from './text-blocks.js';

/**
 * Files encoded as text — uuencode, yEnc, BinHex 4.0 — in a text file or a mail part (a text
 * part is a member, so it comes here in turn): each block is a member named by the name its
 * begin line gives, decoded as the text streams in. The content is recognised by a block that
 * begins within its first ENCODED_TEXT_SNIFF_BYTES (64 KiB); once opened, every block of the
 * text is decoded, however far in. A text file whose first block begins later is scanned as
 * text only: its encoded bytes are matched as they are, not decoded. A mail text part has no
 * such limit: the mail handler cuts it before each block far into it (TextPieces, below).
 */
export const ENCODED_TEXT_SNIFF_BYTES = 64 * 1024;

export const encodedTextFormat: FormatHandler = {
  name: 'encoded-text',
  input: 'stream',
  sniffBytes: ENCODED_TEXT_SNIFF_BYTES,
  sniff: (head) => firstBlockIn(head.subarray(0, ENCODED_TEXT_SNIFF_BYTES)),
  unpack: unpackEncodedText,
};

/** Longest line read whole: yEnc lines are at most ~1000 bytes, uuencode and BinHex 64. */
const MAX_LINE = 8 * 1024;
const EVENT_BYTES = 256 * 1024;

const MARKERS = ['begin ', 'begin-base64 ', '=ybegin ', BINHEX_MARKER].map((m) => Buffer.from(m));

/**
 * A block begin line at the start of a line, confirmed by the line after it when it is there,
 * in text: a NUL byte before it means binary content (an executable's strings, a document's
 * streams), whose stray "begin" lines are no block worth calling damaged.
 */
function firstBlockIn(head: Buffer): boolean {
  const binaryFrom = head.indexOf(0);
  for (const marker of MARKERS) {
    for (let at = head.indexOf(marker); at >= 0; at = head.indexOf(marker, at + 1)) {
      if (binaryFrom >= 0 && binaryFrom < at) break;
      if (at > 0 && head[at - 1] !== 0x0a) continue;
      const end = head.indexOf(0x0a, at);
      const line = head.toString('latin1', at, end < 0 ? head.length : end).replace(/\r$/, '');
      const kind = blockStart(line);
      if (kind && confirmed(kind, head, end)) return true;
    }
  }
  return false;
}

/** uuencode's begin line is common words: the next line must be uuencoded data. */
function confirmed(kind: string, head: Buffer, beginEnd: number): boolean {
  if (kind !== 'uu' && kind !== 'uu-base64') return true;
  if (beginEnd < 0) return false;
  const nextEnd = head.indexOf(0x0a, beginEnd + 1);
  if (nextEnd < 0) return false;
  const next = head.toString('latin1', beginEnd + 1, nextEnd).replace(/\r$/, '');
  return kind === 'uu' ? isUuLine(next) : /^[A-Za-z0-9+/=]{4,}$/.test(next);
}

async function unpackEncodedText(input: UnpackInput, context: UnpackContext): Promise<void> {
  if (input.kind !== 'stream') throw new Error('encoded-text: stream input expected');
  const splitter = new LineSplitter(MAX_LINE);
  const blocks = new TextBlocks();
  const writer = new BlockWriter(context, blocks);
  // Events are handed over every EVENT_BYTES of decoded data: BinHex's RLE makes a line of
  // 64 characters up to 6 KiB, so a chunk's worth of events is not held at once.
  let events: BlockEvent[] = [];
  let pending = 0;
  const read = async (line: Line): Promise<boolean> => {
    const before = events.length;
    blocks.line(line.bytes, line.start, events);
    for (let i = before; i < events.length; i++) {
      const event = events[i];
      if (event?.kind === 'data') pending += event.bytes.length;
    }
    if (pending < EVENT_BYTES) return true;
    const handed = events;
    events = [];
    pending = 0;
    return writer.apply(handed);
  };
  try {
    for await (const chunk of input.chunks) {
      if (context.cancelled()) return;
      for (const line of splitter.push(chunk)) if (!(await read(line))) return;
      if (!(await writer.apply(events))) return;
      events = [];
      pending = 0;
    }
    for (const line of splitter.flush()) if (!(await read(line))) return;
    blocks.end(events);
    await writer.apply(events);
  } finally {
    await writer.close();
  }
}

/** Turns block events into members, one at a time. */
class BlockWriter {
  private current: { feed: MemberFeed; done: Promise<boolean> } | undefined;
  private over = false;

  constructor(
    private readonly context: UnpackContext,
    private readonly blocks: TextBlocks,
  ) {}

  /** False when the walk is over for this content. */
  async apply(events: BlockEvent[]): Promise<boolean> {
    let batch: Buffer[] = [];
    for (const event of events) {
      if (event.kind === 'data') {
        batch.push(event.bytes);
        continue;
      }
      await this.send(batch);
      batch = [];
      if (event.kind === 'start') {
        this.start(event.name, event.size);
      } else if (event.kind === 'end') {
        if (event.error) this.current?.feed.fail(new Error(event.error));
        if (!(await this.close())) return false;
      } else {
        this.context.unscannable('corrupt', event.detail);
      }
      if (this.over) return false;
    }
    await this.send(batch);
    return !this.over && !this.context.cancelled();
  }

  /** Ends the member being written, if any, and waits for its scan. */
  async close(): Promise<boolean> {
    const current = this.current;
    this.current = undefined;
    if (!current) return !this.over;
    current.feed.end();
    return current.done;
  }

  private start(name: string, size: number | undefined): void {
    const feed = new MemberFeed();
    const consumedAtStart = this.blocks.consumed;
    const info = {
      ...(size !== undefined && Number.isFinite(size) ? { size } : {}),
      // Encoded text is larger than what it decodes to, except for BinHex's RLE runs.
      compressed: () => Math.max(1, this.blocks.consumed - consumedAtStart),
    };
    const done = this.context.member(name, feed, info).then((more) => {
      if (!more) this.over = true;
      return more;
    });
    this.current = { feed, done };
  }

  private async send(batch: Buffer[]): Promise<void> {
    const current = this.current;
    if (!current || batch.length === 0) return;
    await Promise.race([current.feed.push(Buffer.concat(batch)), current.done]);
  }
}

/** A text is cut before a block that begins this far into it (half the sniffer's window). */
const CUT_AFTER = ENCODED_TEXT_SNIFF_BYTES / 2;
/** The longest unfinished line held back while looking for block lines. */
const HELD_LINE = 1024;

/**
 * Cuts a text (a mail text part) into pieces so that every encoded block that begins more than
 * CUT_AFTER bytes into a piece starts a piece of its own: each piece is a member, so the
 * sniffer sees that block at the piece's head and the whole rest of the text is decoded, not
 * only the blocks of its first 64 KiB. An unfinished last line is held back (up to HELD_LINE
 * bytes) so that a block line split between two chunks is still found.
 */
export class TextPieces {
  private held: Buffer = Buffer.alloc(0);
  private pieceLength = 0;
  private atLineStart = true;

  /** The bytes ready to hand on, each segment flagged when it starts a new piece. */
  push(chunk: Buffer): TextSegment[] {
    const data = this.held.length > 0 ? Buffer.concat([this.held, chunk]) : chunk;
    const end = data.lastIndexOf(0x0a) + 1;
    const keep = data.length - end <= HELD_LINE ? end : data.length;
    this.held = Buffer.from(data.subarray(keep));
    return this.segments(data.subarray(0, keep));
  }

  flush(): TextSegment[] {
    const rest = this.held;
    this.held = Buffer.alloc(0);
    return this.segments(rest);
  }

  private segments(data: Buffer): TextSegment[] {
    if (data.length === 0) return [];
    const segments: TextSegment[] = [];
    let from = 0;
    for (const at of blockLines(data, this.atLineStart)) {
      if (this.pieceLength + (at - from) < CUT_AFTER) continue;
      if (at > from) segments.push({ bytes: data.subarray(from, at), newPiece: false });
      this.pieceLength += at - from;
      from = at;
      segments.push({ bytes: data.subarray(at, at), newPiece: true });
      this.pieceLength = 0;
    }
    segments.push({ bytes: data.subarray(from), newPiece: false });
    this.pieceLength += data.length - from;
    this.atLineStart = data[data.length - 1] === 0x0a;
    return segments.filter((s) => s.newPiece || s.bytes.length > 0);
  }
}

export interface TextSegment {
  bytes: Buffer;
  /** A new piece starts here (its bytes are empty: what follows belongs to the new piece). */
  newPiece: boolean;
}

/** Offsets of the lines of `data` that begin an encoded block, in order. */
function blockLines(data: Buffer, atLineStart: boolean): number[] {
  const found: number[] = [];
  for (const marker of MARKERS) {
    for (let at = data.indexOf(marker); at >= 0; at = data.indexOf(marker, at + 1)) {
      if (at === 0 ? !atLineStart : data[at - 1] !== 0x0a) continue;
      const end = data.indexOf(0x0a, at);
      const line = data.toString('latin1', at, end < 0 ? data.length : end).replace(/\r$/, '');
      if (blockStart(line)) found.push(at);
    }
  }
  return found.sort((a, b) => a - b);
}
