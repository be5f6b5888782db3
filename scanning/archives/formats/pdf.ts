import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { UnpackError, type FormatHandler, type MemberInfo, type UnpackContext } from '../format.js';
import { decodeFilters, type ByteStream } from './pdf-filters.js';
import { openEncryption, type PdfDecryption } from './pdf-crypt.js';
import {
  describeImage,
  IMAGE_ENTRIES,
  isColorSpaceArray,
  keptColorSpace,
  type ImageReferences,
  type OwnedColorSpace,
  type PdfObjectId,
} from './pdf-images.js';
import {
  isSecurityHandler,
  MAX_STRING_BYTES,
  noteAppearances,
  ObjectStrings,
  PDF_STRINGS_MEMBER,
} from './pdf-strings.js';
import {
  asDict,
  asName,
  asNumber,
  asRef,
  dictList,
  isWhitespace,
  nameList,
  PdfParser,
  PdfTruncated,
  textString,
  type PdfDict,
  type PdfValue,
} from './pdf-syntax.js';

/**
 * PDF documents: every stream is decoded (pdf-filters.ts) and scanned as a member, embedded files
 * under the name their file specification gives, and object streams are opened to find the
 * file specifications inside them. The strings of the objects outside streams (form field
 * values, comments, the document's properties) are one more member, `(strings)`, for the
 * analyzers that read text (pdf-strings.ts); annotations' appearance streams are marked as
 * such. Like ClamAV, the file is read from start to end for `N G obj … stream … endstream`
 * rather than through the cross-reference table: a damaged or truncated PDF, or one whose
 * incremental updates disagree, still has every stream found. An encrypted PDF is decrypted
 * when its user password is empty (pdf-crypt.ts), as readers open it without asking; otherwise
 * it is reported `encrypted`.
 */
export const pdfFormat: FormatHandler = {
  name: 'pdf',
  // Readers accept the header anywhere in the first 1024 bytes.
  sniffBytes: 1024,
  input: 'file',
  sniff: (head) => /%PDF-\d/.test(head.toString('latin1', 0, Math.min(head.length, 1024))),
  async unpack(input, context) {
    if (input.kind !== 'file') throw new Error('pdf: file input expected');
    const handle = await open(input.path, 'r');
    try {
      const file = new PdfFile(handle, input.size);
      const layout = await scanObjects(file, context.limits.maxMembers + 1);
      await unpackStreams(file, layout, context);
    } finally {
      await handle.close();
    }
  },
};

/**
 * Bytes read from the file at a time while looking for objects; an object's dictionary bigger
 * than this is hostile or damaged, and skipped.
 */
const WINDOW = 1024 * 1024;
/** A match this close to a window's end is looked at again in the next window, whole. */
const OVERLAP = 256;
/** An object stream bigger than this is still scanned, but not searched for file names. */
const MAX_OBJECT_STREAM = 8 * 1024 * 1024;
const ENDSTREAM = Buffer.from('endstream');
/** More filters on one stream than this is hostile (each is a decoding stage). */
const MAX_FILTERS = 8;
/** Bounds on what is remembered of the whole file (hostile files repeat objects endlessly). */
const MAX_NAMES = 10_000;
const MAX_NAME = 1024;
const MAX_SECURITY_HANDLERS = 16;
/** Colour space objects remembered (an Indexed one holds up to 768 bytes of palette). */
const MAX_COLOR_SPACES = 1000;

/** Positioned reads of the PDF file: never more than a window in memory. */
export class PdfFile {
  constructor(
    private readonly handle: FileHandle,
    readonly size: number,
  ) {}

  async read(position: number, length: number): Promise<Buffer> {
    const wanted = Math.max(0, Math.min(length, this.size - position));
    const buffer = Buffer.alloc(wanted);
    let done = 0;
    while (done < wanted) {
      const { bytesRead } = await this.handle.read(buffer, done, wanted - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return buffer.subarray(0, done);
  }

  /**
   * The first position of `needle` at or after `from`, or -1. Reads start small and grow: the
   * needle (the `endstream` of a stream with an indirect length) is usually close.
   */
  async find(needle: Buffer, from: number): Promise<number> {
    let size = 16 * 1024;
    for (let at = from; at < this.size;) {
      const window = await this.read(at, size);
      const index = window.indexOf(needle);
      if (index >= 0) return at + index;
      if (at + window.length >= this.size) break;
      at += window.length - needle.length + 1;
      size = Math.min(WINDOW, size * 4);
    }
    return -1;
  }

  /** The bytes `start`–`end`, a window at a time; `counter.read` grows as they are read. */
  async *range(start: number, end: number, counter: { read: number }): ByteStream {
    for (let at = start; at < end;) {
      const chunk = await this.read(at, Math.min(64 * 1024, end - at));
      if (chunk.length === 0) return;
      at += chunk.length;
      counter.read += chunk.length;
      yield chunk;
    }
  }
}

interface StreamObject {
  num: number;
  gen: number;
  dict: PdfDict;
  start: number;
  end: number;
}

/** A file name found in a file specification, still raw (it is encrypted with its object). */
interface FileName {
  raw: Buffer;
  /** The object holding it; undefined inside an object stream (decrypted with the stream). */
  owner?: { num: number; gen: number };
}

export interface PdfLayout {
  streams: StreamObject[];
  /** Embedded file streams' object numbers → the name their file specification gives. */
  names: Map<number, FileName>;
  /** Integer objects, for `/Length N 0 R` (and an image's `/Width N 0 R`). */
  integers: Map<number, number>;
  /** Colour space array objects, for an image's `/ColorSpace N 0 R` (pdf-images.ts). */
  colorSpaces: Map<number, OwnedColorSpace>;
  /** Dictionaries that look like a standard security handler's, by object number. */
  securityHandlers: Map<number, PdfDict>;
  /** The last trailer's (or cross-reference stream's) `/Encrypt` and `/ID`. */
  encrypt?: { value: PdfValue; id: PdfValue | undefined };
  /** The strings of the objects outside streams, still raw (encrypted with their objects). */
  strings: ObjectStrings;
  /** Annotations' appearance streams, by object number (pdf-strings.ts). */
  appearances: Set<number>;
}

/**
 * Finds every `N G obj` and `trailer` from the start of the file to its end, skipping stream
 * data (so bytes inside a stream are never taken for objects).
 */
export async function scanObjects(file: PdfFile, maxStreams: number): Promise<PdfLayout> {
  const layout: PdfLayout = {
    streams: [],
    names: new Map(),
    integers: new Map(),
    colorSpaces: new Map(),
    securityHandlers: new Map(),
    strings: new ObjectStrings(),
    appearances: new Set(),
  };
  const token =
    /(?<![0-9])(\d{1,10})[\0\t\n\f\r ]+(\d{1,5})[\0\t\n\f\r ]+obj(?![A-Za-z0-9])|trailer(?![A-Za-z])/g;
  let position = 0;
  while (position < file.size && layout.streams.length < maxStreams) {
    const buffer = await file.read(position, WINDOW);
    const atEnd = position + buffer.length >= file.size;
    const text = buffer.toString('latin1');
    token.lastIndex = 0;
    let next = atEnd ? file.size : position + Math.max(1, buffer.length - OVERLAP);
    for (let match = token.exec(text); match; match = token.exec(text)) {
      if (!atEnd && match.index > buffer.length - OVERLAP) {
        next = position + match.index;
        break;
      }
      const window: Window = { buffer, start: position, atEnd, canRefill: match.index > 0 };
      const bodyStart = position + match.index + match[0].length;
      const after =
        match[1] === undefined
          ? readTrailer(window, bodyStart, layout)
          : await readObject(file, window, bodyStart, layout, {
              num: Number(match[1]),
              gen: Number(match[2]),
            });
      if (after === 'refill') {
        // The object runs past this window: read again from its start.
        next = position + match.index;
        break;
      }
      if (layout.streams.length >= maxStreams) break;
      if (after >= position + buffer.length) {
        next = after;
        break;
      }
      token.lastIndex = Math.max(after - position, match.index + 1);
    }
    position = Math.max(next, position + 1);
  }
  return layout;
}

/** Part of the file in memory while objects are looked for. */
interface Window {
  buffer: Buffer;
  start: number;
  atEnd: boolean;
  /** False when the object already starts the window: it cannot be read whole, so is skipped. */
  canRefill: boolean;
}

/**
 * Parses the value at `start` in the window: `refill` when it runs past the window's end (read
 * again from the object's start), undefined when it cannot be parsed (the object is skipped).
 */
function parseValueAt(
  window: Window,
  start: number,
): { parser: PdfParser; value: PdfValue } | 'refill' | undefined {
  const parser = new PdfParser(window.buffer, start - window.start);
  try {
    const value = parser.value();
    // What follows (`stream` and its end of line) must be in the window too.
    if (needsMore(window, parser.pos)) return 'refill';
    return { parser, value };
  } catch (err) {
    if (err instanceof PdfTruncated && needsMore(window, window.buffer.length)) return 'refill';
    return undefined;
  }
}

function needsMore(window: Window, at: number): boolean {
  return !window.atEnd && window.canRefill && window.buffer.length - at < 16;
}

function readTrailer(window: Window, bodyStart: number, layout: PdfLayout): number | 'refill' {
  const parsed = parseValueAt(window, bodyStart);
  if (parsed === undefined || parsed === 'refill') return parsed ?? bodyStart;
  noteEncrypt(asDict(parsed.value), layout);
  return window.start + parsed.parser.pos;
}

function noteEncrypt(dict: PdfDict | undefined, layout: PdfLayout): void {
  const encrypt = dict?.get('Encrypt');
  if (encrypt !== undefined && encrypt !== null)
    layout.encrypt = { value: encrypt, id: dict?.get('ID') };
}

async function readObject(
  file: PdfFile,
  window: Window,
  bodyStart: number,
  layout: PdfLayout,
  id: { num: number; gen: number },
): Promise<number | 'refill'> {
  const parsed = parseValueAt(window, bodyStart);
  if (parsed === undefined || parsed === 'refill') return parsed ?? bodyStart;
  const { parser, value } = parsed;
  const base = window.start;
  if (typeof value === 'number') {
    if (parser.keyword('endobj') && layout.integers.size < 100_000)
      layout.integers.set(id.num, value);
    return base + parser.pos;
  }
  noteColorSpace(value, id.num, id, layout);
  const dict = asDict(value);
  if (dict) noteDictionary(dict, id, layout);
  if (!dict || !parser.keyword('stream')) {
    if (!isSecurityHandler(dict)) layout.strings.add(value, id);
    return base + parser.pos;
  }
  // The keyword is followed by CRLF or LF (a lone CR, leniently).
  if (parser.src[parser.pos] === 0x0d) parser.pos++;
  if (parser.src[parser.pos] === 0x0a) parser.pos++;
  const start = base + parser.pos;
  const end = await streamEnd(file, start, dict, layout);
  layout.streams.push({ ...id, dict: streamEntries(dict), start, end: end.data });
  return end.next;
}

/** `owner`: the object itself, undefined inside an object stream (decrypted with the stream). */
function noteColorSpace(
  value: PdfValue,
  num: number,
  owner: PdfObjectId | undefined,
  layout: PdfLayout,
): void {
  if (isColorSpaceArray(value) && layout.colorSpaces.size < MAX_COLOR_SPACES)
    layout.colorSpaces.set(num, { space: keptColorSpace(value) as PdfValue[], owner });
}

/** What a dictionary tells about the document: file names, encryption. */
function noteDictionary(
  dict: PdfDict,
  id: { num: number; gen: number } | undefined,
  layout: PdfLayout,
): void {
  const embedded = asDict(dict.get('EF'));
  if (embedded) {
    const name = dict.get('UF') ?? dict.get('F');
    if (Buffer.isBuffer(name)) {
      for (const target of embedded.values()) {
        const ref = asRef(target);
        if (ref && !layout.names.has(ref.num) && layout.names.size < MAX_NAMES)
          layout.names.set(ref.num, { raw: name.subarray(0, MAX_NAME), owner: id });
      }
    }
  }
  noteAppearances(dict, layout.appearances);
  const handlers = layout.securityHandlers;
  if (id && isSecurityHandler(dict) && handlers.size < MAX_SECURITY_HANDLERS)
    handlers.set(id.num, dict);
  if (asName(dict.get('Type')) === 'XRef') noteEncrypt(dict, layout);
}

/**
 * The entries of a stream's dictionary the handler uses, kept for every stream until all are
 * found: a hostile dictionary's other entries (a megabyte string) are not held that long, and a
 * chain of filters is cut at MAX_FILTERS.
 */
function streamEntries(dict: PdfDict): PdfDict {
  const kept: PdfDict = new Map();
  for (const key of ['Type', 'Length', 'N', 'First', ...IMAGE_ENTRIES]) {
    const value = dict.get(key);
    const small =
      typeof value === 'number' ||
      typeof value === 'boolean' ||
      asName(value) !== undefined ||
      asRef(value);
    if (value !== undefined && small) kept.set(key, value);
  }
  const colorSpace = keptColorSpace(dict.get('ColorSpace'));
  if (colorSpace !== undefined) kept.set('ColorSpace', colorSpace);
  const filter = dict.get('Filter');
  kept.set('Filter', Array.isArray(filter) ? filter.slice(0, MAX_FILTERS) : (filter ?? null));
  const parms = dict.get('DecodeParms') ?? dict.get('DP');
  kept.set('DecodeParms', Array.isArray(parms) ? parms.slice(0, MAX_FILTERS) : (parms ?? null));
  return kept;
}

/**
 * Where a stream's data ends: `/Length` when `endstream` follows it there, else just before the
 * next `endstream` (a wrong or indirect length is common), else the end of the file.
 */
async function streamEnd(
  file: PdfFile,
  start: number,
  dict: PdfDict,
  layout: PdfLayout,
): Promise<{ data: number; next: number }> {
  const lengthValue = dict.get('Length');
  const ref = asRef(lengthValue);
  const length = ref ? layout.integers.get(ref.num) : asNumber(lengthValue);
  if (
    length !== undefined &&
    Number.isInteger(length) &&
    length >= 0 &&
    start + length <= file.size
  ) {
    const tail = await file.read(start + length, 64);
    let at = 0;
    while (at < tail.length && isWhitespace(tail[at])) at++;
    if (tail.subarray(at, at + ENDSTREAM.length).equals(ENDSTREAM))
      return { data: start + length, next: start + length + at + ENDSTREAM.length };
  }
  const found = await file.find(ENDSTREAM, start);
  if (found < 0) return { data: file.size, next: file.size };
  const before = await file.read(Math.max(start, found - 2), Math.min(2, found - start));
  let data = found;
  if (before.at(-1) === 0x0a) data--;
  if (before.length === 2 && before[0] === 0x0d && before[1] === 0x0a) data--;
  else if (before.at(-1) === 0x0d) data--;
  return { data: Math.max(start, data), next: found + ENDSTREAM.length };
}

/**
 * Scans the streams found: object streams first (the file names of embedded files may be in
 * them), then the others.
 */
async function unpackStreams(
  file: PdfFile,
  layout: PdfLayout,
  context: UnpackContext,
): Promise<void> {
  const decryption = decryptionFor(layout);
  const isObjectStream = (stream: StreamObject) => asName(stream.dict.get('Type')) === 'ObjStm';
  for (const stream of layout.streams.filter(isObjectStream)) {
    const collected = await scanStream(
      file,
      stream,
      `objstm-${stream.num}-${stream.gen}.bin`,
      context,
      decryption,
      true,
    );
    if (collected === false) return;
    if (collected) noteObjectStream(collected, stream.dict, layout);
  }
  const used = new Set<string>();
  const images = imageReferences(layout, decryption);
  for (const stream of layout.streams) {
    if (isObjectStream(stream)) continue;
    const name = memberName(stream, layout, decryption, used);
    const info: MemberInfo = {};
    const image = describeImage(stream.dict, stream, images);
    if (image) info.image = image;
    if (layout.appearances.has(stream.num)) info.appearance = true;
    if ((await scanStream(file, stream, name, context, decryption, false, info)) === false) return;
  }
  await scanStrings(layout, context, decryption);
}

/**
 * The strings of the objects outside streams, as one member of text (a second reading of the
 * file's bytes, so not counted again against the limits).
 */
async function scanStrings(
  layout: PdfLayout,
  context: UnpackContext,
  decryption: PdfDecryption | undefined,
): Promise<void> {
  if (layout.strings.overflowed)
    context.unscannable(
      'limits-exceeded',
      `strings of its objects past ${MAX_STRING_BYTES} bytes were not read`,
      { member: PDF_STRINGS_MEMBER },
    );
  if (layout.strings.size === 0) return;
  const text = layout.strings.text(decryption);
  await context.member(PDF_STRINGS_MEMBER, Readable.from([text]), {
    size: text.length,
    again: true,
  });
}

function imageReferences(
  layout: PdfLayout,
  decryption: PdfDecryption | undefined,
): ImageReferences {
  let streams: Map<number, StreamObject> | undefined;
  return {
    integer: (num) => layout.integers.get(num),
    colorSpace: (num) => layout.colorSpaces.get(num),
    text: (raw, owner) =>
      owner && decryption ? decryption.string(raw, owner.num, owner.gen) : raw,
    components: (num) => {
      // Built at the first image with an ICC profile: most documents need no index.
      streams ??= new Map(layout.streams.map((stream) => [stream.num, stream]));
      return asNumber(streams.get(num)?.dict.get('N'));
    },
  };
}

function decryptionFor(layout: PdfLayout): PdfDecryption | undefined {
  if (!layout.encrypt) return undefined;
  const ref = asRef(layout.encrypt.value);
  const handler = ref ? layout.securityHandlers.get(ref.num) : asDict(layout.encrypt.value);
  if (!handler)
    throw new UnpackError('encrypted', 'encrypted, and its security handler was not found');
  const decryption = openEncryption(handler, layout.encrypt.id);
  if (decryption.kind === 'locked') throw new UnpackError('encrypted', decryption.detail);
  return decryption.decryption;
}

/**
 * One stream as a member. For an object stream, its decoded bytes (up to MAX_OBJECT_STREAM) are
 * returned too. False when the walk is over.
 */
async function scanStream(
  file: PdfFile,
  stream: StreamObject,
  name: string,
  context: UnpackContext,
  decryption: PdfDecryption | undefined,
  collect: boolean,
  info: MemberInfo = {},
): Promise<Buffer | undefined | false> {
  const counter = { read: 0 };
  let raw: ByteStream = file.range(stream.start, stream.end, counter);
  if (decryption?.appliesTo(stream.dict)) raw = decryption.stream(raw, stream.num, stream.gen);
  const filters = nameList(stream.dict.get('Filter'));
  const parms = dictList(stream.dict.get('DecodeParms'));
  const data = decodeFilters(raw, filters, parms);
  const kept: Buffer[] = [];
  let keptBytes = 0;
  const tee = async function* (): ByteStream {
    for await (const chunk of data) {
      if (collect && keptBytes + chunk.length <= MAX_OBJECT_STREAM) {
        kept.push(chunk);
        keptBytes += chunk.length;
      }
      yield chunk;
    }
  };
  const more = await context.member(name, tee(), {
    ...(filters.length === 0 && !decryption ? { size: stream.end - stream.start } : {}),
    compressed: () => counter.read,
    ...info,
  });
  if (!more) return false;
  return collect ? Buffer.concat(kept) : undefined;
}

/** Object streams (§7.5.7): `N` pairs of object number and offset, objects from `/First`. */
function noteObjectStream(content: Buffer, dict: PdfDict, layout: PdfLayout): void {
  const count = Math.min(asNumber(dict.get('N')) ?? 0, 100_000);
  const first = asNumber(dict.get('First')) ?? 0;
  const header = new PdfParser(content.subarray(0, Math.max(0, first)));
  for (let i = 0; i < count; i++) {
    let num: PdfValue;
    let offset: PdfValue;
    try {
      num = header.value();
      offset = header.value();
    } catch {
      return;
    }
    if (typeof num !== 'number' || typeof offset !== 'number' || offset < 0) return;
    try {
      const value = new PdfParser(content, first + offset).value();
      noteColorSpace(value, num, undefined, layout);
      const dict = asDict(value);
      if (dict) noteDictionary(dict, undefined, layout);
    } catch {
      // A damaged object inside: the others are still read.
    }
  }
}

function memberName(
  stream: StreamObject,
  layout: PdfLayout,
  decryption: PdfDecryption | undefined,
  used: Set<string>,
): string {
  const fallback = `stream-${stream.num}-${stream.gen}.bin`;
  if (asName(stream.dict.get('Type')) !== 'EmbeddedFile') return fallback;
  const found = layout.names.get(stream.num);
  let name = `embedded-${stream.num}-${stream.gen}.bin`;
  if (found) {
    const raw =
      found.owner && decryption
        ? decryption.string(found.raw, found.owner.num, found.owner.gen)
        : found.raw;
    const text = [...(textString(raw).split(/[/\\]/).pop() ?? '')]
      .filter((char) => char.charCodeAt(0) >= 0x20)
      .join('');
    if (text) name = text;
  }
  // The same object may be written again by an incremental update: names stay distinct.
  const unique = used.has(name) ? `${stream.num}-${stream.gen}-${name}` : name;
  used.add(unique);
  return unique;
}
