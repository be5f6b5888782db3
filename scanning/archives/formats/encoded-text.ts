import type { FormatHandler, UnpackContext, UnpackInput } from '../format.js';
import { LineSplitter, MemberFeed, type Line } from './feed.js';
import { BINHEX_MARKER, blockStart, isUuLine, TextBlocks, type BlockEvent } from './text-blocks.js';

/**
 * Files encoded as text — uuencode, yEnc, BinHex 4.0 — in a text file or a mail part (a text
 * part is a member, so it comes here in turn): each block is a member named by the name its
 * begin line gives, decoded as the text streams in. The content is recognised by a block that
 * begins within its first ENCODED_TEXT_SNIFF_BYTES (64 KiB); once opened, every block of the
 * text is decoded, however far in. A text whose first block begins later is scanned as text
 * only: its encoded bytes are matched as they are, not decoded.
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
