import { pipeline, Readable, type Transform } from 'node:stream';
import { Splitter, type MimeNode, type SplitterChunk } from '@zone-eu/mailsplit';
import {
  UnpackError,
  type FormatHandler,
  type UnpackContext,
  type UnpackInput,
} from '../format.js';
import { TextPieces, type TextSegment } from './encoded-text.js';
import { MemberFeed, safeMemberName } from './feed.js';
import { MAIL_HEADERS_MEMBER, shownHeaderText, type HeaderLines } from './mail-headers.js';
import { looksLikeMailHeaders, MAIL_SNIFF_BYTES } from './mail-sniff.js';

/**
 * A mail message (.eml, or one message of an mbox): every leaf part — attachments, inline
 * parts, text bodies, attached messages — is a member named by its file name (or
 * `part-<n>.<ext>`), decoded from base64 or quoted-printable. mailsplit (from the Nodemailer
 * project) splits the message as it streams in, so no part is ever held whole in memory. An
 * attached message (message/rfc822) is a member of its own, opened by this handler in turn, so
 * the depth limit counts each level of forwarding. A text part is cut before each uuencoded,
 * yEnc or BinHex block that begins far into it, so that every block is decoded (TextPieces).
 * The fields a reader shows (Subject, From, To, …) are one more member, `(headers)`, for the
 * analyzers that read text (mail-headers.ts).
 */
export const mimeFormat: FormatHandler = {
  name: 'mime',
  input: 'stream',
  sniffBytes: MAIL_SNIFF_BYTES,
  sniff: (head) => looksLikeMailHeaders(head),
  unpack: unpackMime,
};

/** mailsplit's own limits: one header block (1 MiB) and the parts of one message. */
const MAX_HEADER_BYTES = 1024 * 1024;
const MAX_PARTS = 10_000;

async function unpackMime(input: UnpackInput, context: UnpackContext): Promise<void> {
  if (input.kind !== 'stream') throw new Error('mime: stream input expected');
  const splitter = new Splitter({
    ignoreEmbedded: true,
    maxHeadSize: MAX_HEADER_BYTES,
    maxChildNodes: MAX_PARTS,
  });
  let splitError: (Error & { code?: string }) | undefined;
  pipeline(input.chunks, splitter, (err) => {
    if (err) splitError ??= err;
  });
  const parts = new PartWriter(context);
  try {
    for await (const chunk of splitter as AsyncIterable<SplitterChunk>) {
      if (context.cancelled()) return;
      if (chunk.type === 'node') {
        if (!(await parts.next(chunk))) return;
      } else if (chunk.type === 'body') {
        if (!(await parts.write(chunk.value))) return;
      }
    }
  } catch (err) {
    splitError ??= err as Error;
  } finally {
    await parts.finish();
  }
  if (splitError && !context.cancelled()) {
    if (splitError.code === 'EMAXLEN') throw new UnpackError('limits-exceeded', splitError.message);
    throw splitError;
  }
}

/**
 * Hands each leaf part's decoded body to the walker as one member: it starts at the part's
 * first body bytes and ends at the next part's header. Parts are scanned one at a time.
 */
class PartWriter {
  private node: MimeNode | undefined;
  private current: { decoder: Transform; done: Promise<boolean>; over: boolean } | undefined;
  private count = 0;

  constructor(private readonly context: UnpackContext) {}

  /**
   * A new part begins: the previous member ends. The message's own node (the first) has its
   * shown header fields handed over first. False when the walk is over.
   */
  async next(node: MimeNode): Promise<boolean> {
    const more = await this.finish();
    this.node = node.multipart ? undefined : node;
    if (more && node.root && node.headers) return this.headers(node.headers);
    return more;
  }

  /**
   * The values of the fields a reader shows (mail-headers.ts), as a member of text: a second
   * reading of the message's bytes, not counted again against the limits.
   */
  private async headers(lines: HeaderLines): Promise<boolean> {
    const text = shownHeaderText(lines);
    if (text === '') return true;
    const bytes = Buffer.from(text, 'utf8');
    return this.context.member(MAIL_HEADERS_MEMBER, Readable.from([bytes]), {
      size: bytes.length,
      again: true,
    });
  }

  /** Body bytes of the current part. False when the walk is over for this message. */
  async write(value: Buffer): Promise<boolean> {
    if (!this.node || value.length === 0) return true;
    this.current ??= this.start(this.node);
    const current = this.current;
    if (current.over || current.decoder.destroyed) return true; // the member stopped reading
    if (current.decoder.write(value)) return true;
    const drained = new Promise<boolean>((resolve) => {
      const done = () => {
        current.decoder.off('drain', done);
        current.decoder.off('close', done);
        resolve(true);
      };
      current.decoder.on('drain', done);
      current.decoder.on('close', done);
    });
    // The member may stop reading (a limit): its end settles the wait as well.
    return Promise.race([drained, current.done]);
  }

  /** Ends the current member and waits for its scan; false when the walk is over. */
  async finish(): Promise<boolean> {
    const current = this.current;
    this.current = undefined;
    if (!current) return !this.context.cancelled();
    if (!current.decoder.destroyed) current.decoder.end();
    return current.done;
  }

  private start(node: MimeNode): { decoder: Transform; done: Promise<boolean>; over: boolean } {
    this.count += 1;
    const decoder = node.getDecoder();
    decoder.on('error', () => {}); // a decoder never fails on bad input; destroyed, it is dropped
    const name = partName(node, this.count);
    const current = { decoder, done: Promise.resolve(true), over: false };
    const text = (node.contentType || 'text/plain').startsWith('text/');
    const scanned = text
      ? this.textMembers(decoder, name)
      : this.context.member(name, decoder as AsyncIterable<Buffer>);
    current.done = scanned.then((more) => {
      current.over = true;
      if (!decoder.destroyed) decoder.destroy();
      return more;
    });
    return current;
  }

  /**
   * A text part, cut before each encoded block that begins far into it (TextPieces): the first
   * piece is the member `name`, each later one `name (from byte <n>)`.
   */
  private async textMembers(decoder: Transform, name: string): Promise<boolean> {
    const pieces = new TextPieces();
    let offset = 0;
    let feed = new MemberFeed();
    let done = this.context.member(name, feed);
    const send = async (segments: TextSegment[]): Promise<boolean> => {
      for (const segment of segments) {
        if (segment.newPiece) {
          feed.end();
          if (!(await done)) return false;
          feed = new MemberFeed();
          done = this.context.member(`${name} (from byte ${offset})`, feed);
          continue;
        }
        offset += segment.bytes.length;
        const taken = feed.push(segment.bytes).then(() => true);
        if (!(await Promise.race([taken, done]))) return false;
      }
      return true;
    };
    for await (const chunk of decoder as AsyncIterable<Buffer>) {
      if (!(await send(pieces.push(chunk)))) return false;
    }
    if (!(await send(pieces.flush()))) return false;
    feed.end();
    return done;
  }
}

/** The part's file name, or `part-<n>.<ext>` from its content type. */
function partName(node: MimeNode, index: number): string {
  const fallback = `part-${index}.${extensionFor(node.contentType || 'text/plain')}`;
  return safeMemberName(node.filename || undefined, fallback);
}

const EXTENSIONS: Record<string, string> = {
  'text/plain': 'txt',
  'text/html': 'html',
  'text/calendar': 'ics',
  'text/rtf': 'rtf',
  'application/rtf': 'rtf',
  'message/rfc822': 'eml',
  'message/delivery-status': 'txt',
  'application/pdf': 'pdf',
  'application/zip': 'zip',
  'application/ms-tnef': 'dat',
  'application/vnd.ms-tnef': 'dat',
};

function extensionFor(contentType: string): string {
  return EXTENSIONS[contentType] ?? (contentType.startsWith('text/') ? 'txt' : 'bin');
}
