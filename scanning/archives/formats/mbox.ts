import type { FormatHandler, UnpackContext, UnpackInput } from '../format.js';
import { LineSplitter, lineText, MemberFeed, type Line } from './feed.js';
import { isMboxSeparator, looksLikeMailHeaders, MAIL_SNIFF_BYTES } from './mail-sniff.js';

/**
 * A Unix mailbox: messages one after the other, each introduced by a `From <sender> <date>`
 * line at the start of the file or after a blank line. Each message (without its separator) is
 * a member `message-<n>.eml`, opened in turn as a mail message. Read line by line as it streams
 * in; a line is only held whole up to MAX_LINE bytes (a longer one is no separator).
 */
export const mboxFormat: FormatHandler = {
  name: 'mbox',
  input: 'stream',
  sniffBytes: MAIL_SNIFF_BYTES,
  sniff: sniffMbox,
  unpack: unpackMbox,
};

const MAX_LINE = 1024;

/** A separator line first, then a mail header block. */
function sniffMbox(head: Buffer): boolean {
  const newline = head.indexOf(0x0a);
  if (newline < 0 || newline > MAX_LINE) return false;
  return (
    isMboxSeparator(lineText(head.subarray(0, newline + 1))) &&
    looksLikeMailHeaders(head.subarray(newline + 1))
  );
}

async function unpackMbox(input: UnpackInput, context: UnpackContext): Promise<void> {
  if (input.kind !== 'stream') throw new Error('mbox: stream input expected');
  const splitter = new LineSplitter(MAX_LINE);
  const messages = new MessageWriter(context);
  let previousBlank = true; // the file's start counts as following a blank line
  try {
    for await (const chunk of input.chunks) {
      if (context.cancelled()) return;
      const lines = splitter.push(chunk);
      if (!(await messages.lines(lines, isSeparator))) return;
    }
    await messages.lines(splitter.flush(), isSeparator);
  } finally {
    await messages.finish();
  }

  function isSeparator(bytes: Buffer, start: boolean): boolean {
    const text = start && bytes.length <= MAX_LINE ? lineText(bytes) : undefined;
    const separator = previousBlank && text !== undefined && isMboxSeparator(text);
    previousBlank = text === '';
    return separator;
  }
}

/** Feeds each message's lines to its member, one message at a time. */
class MessageWriter {
  private current: { feed: MemberFeed; done: Promise<boolean> } | undefined;
  private count = 0;
  private over = false;

  constructor(private readonly context: UnpackContext) {}

  /** Sends `lines` to the messages they belong to; false when the walk is over. */
  async lines(
    lines: Line[],
    isSeparator: (bytes: Buffer, start: boolean) => boolean,
  ): Promise<boolean> {
    let batch: Buffer[] = [];
    for (const line of lines) {
      if (isSeparator(line.bytes, line.start)) {
        if (!(await this.send(batch))) return false;
        batch = [];
        if (!(await this.finish())) return false;
        this.count += 1;
        const feed = new MemberFeed();
        const done = this.context.member(`message-${this.count}.eml`, feed).then((more) => {
          if (!more) this.over = true;
          return more;
        });
        this.current = { feed, done };
        continue;
      }
      batch.push(line.bytes);
    }
    return this.send(batch);
  }

  /** Ends the current message and waits for its scan; false when the walk is over. */
  async finish(): Promise<boolean> {
    const current = this.current;
    this.current = undefined;
    if (!current) return !this.over && !this.context.cancelled();
    current.feed.end();
    return current.done;
  }

  private async send(batch: Buffer[]): Promise<boolean> {
    const current = this.current;
    if (!current || batch.length === 0) return !this.over;
    // No message yet: bytes before the first separator (the sniffer saw one first: none).
    await Promise.race([current.feed.push(Buffer.concat(batch)), current.done]);
    return !this.over;
  }
}
