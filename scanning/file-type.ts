/**
 * The kind of a file as ClamAV types it for its signatures' target types: from the first
 * TYPE_HEAD_BYTES, first by the magic numbers at fixed offsets that ClamAV's built-in file type
 * table (functionality level 215, as clamd 1.4 ships it) lists, then by its text test, then by
 * its "anywhere in the head" patterns for content that is text or unknown binary data.
 *
 * Only what a target type depends on is told apart; every other recognised format (archives,
 * media, …) is `other`. A file whose head is text but that holds one of ClamAV's HTML markers
 * further on is retyped while it is read: see HtmlMarkerScanner.
 */
export type FileKind =
  | 'pe'
  | 'ole2'
  | 'html'
  | 'mail'
  | 'graphics'
  | 'elf'
  | 'text'
  | 'macho'
  | 'pdf'
  | 'swf'
  | 'java'
  | 'other';

/** ClamAV reads this much of a file to type it. */
export const TYPE_HEAD_BYTES = 1024;

/**
 * The target type whose signatures ClamAV matches against a file of this kind as it is (besides
 * target 0, any file). Text is matched as any file; its target type (7) is matched against the
 * normalised copy instead (see text-normalise.ts). HTML's (3) is matched by clamd only against
 * its own normalised forms of a page, which the built-in engine does not produce.
 */
export const RAW_TARGET: Record<FileKind, number> = {
  pe: 1,
  ole2: 2,
  html: 0,
  mail: 4,
  graphics: 5,
  elf: 6,
  text: 0,
  macho: 9,
  pdf: 10,
  swf: 11,
  java: 12,
  other: 0,
};

/** The target type of the normalised copy of a text file. */
export const NORMALISED_TEXT_TARGET = 7;

interface Magic {
  offset: number;
  bytes: Buffer;
  kind: FileKind;
}

const magic = (offset: number, hex: string, kind: FileKind): Magic => ({
  offset,
  bytes: Buffer.from(hex, 'hex'),
  kind,
});

const MAIL_HEADERS = [
  '>From ',
  'Date: ',
  'Delivered-To: ',
  'Delivery-date: ',
  'Envelope-to: ',
  'For: ',
  'From ',
  'From: ',
  'Hi. This is the qmail-send',
  'Message-ID: ',
  'Message-Id: ',
  'Received-SPF: ',
  'Received: ',
  'Return-Path: ',
  'Return-path: ',
  'Subject: ',
  'To: ',
  'X-Apparently-To: ',
  'X-EVS',
  'X-Envelope-From: ',
  'X-Original-To: ',
  'X-Real-To: ',
  'X-Sieve: ',
  'X-Symantec-',
  'X-UIDL: ',
  'v:\nReceived: ',
  'v:\r\nReceived: ',
];

/** ClamAV's magic numbers of binary formats (offset:hex), each typed as a format of its own. */
const BINARY_MAGICS =
  '0:1f8b 0:2e524d46 0:425a68 0:494433 0:49545346 0:4f676753 0:504b0304 0:504b3030504b0304 0:52494646 0:52494658 0:52617221 0:535a4444 0:60ea 0:789f3e22 0:b6b9acaefeffffff 0:fffb90 257:7573746172 0:377abcaf271c 0:71c7 0:c771 0:53594d430100 0:377f0682002de218 0:377f0683002de218 0:53514c69746520666f726d6174203300 0:d9d505f920a163d7 0:4d53434600000000 0:000001b3 0:000001ba 0:78617221 0:fd377a585a00 512:4546492050415254 4:d0cf11e0a1b11ae1 0:48575020446f63756d656e742046696c652056332e3030201a0102030405 0:4c0000000114020000000000c000000000000046 0:45474741 0:e4525c7b8cd8a74daeb15378d02996d3 0:02099900 0:03099900 0:414c5a01';
const PYTHON_VERSIONS =
  '892e 0417 994e fcc4 fdc4 87c6 88c6 2aeb 2beb 2ded 2eed 3bf2 3cf2 45f2 59f2 63f2 6df2 6ef2 77f2 81f2 8bf2 8cf2 95f2 9ff2 a9f2 b3f2 b4f2 c7f2 d1f2 d2f2 dbf2 e5f2 eff2 f9f2 03f3 04f3 0af3 b80b c20b cc0b d60b e00b ea0b f40b f50b ff0b 090c 130c 1d0c 1f0c 270c 3b0c 450c 4f0c 580c 620c 6c0c 760c 800c 8a0c 940c 9e0c b20c bc0c c60c d00c da0c e40c ee0c f80c 020d 0c0d 160d 170d 200d 210d 2a0d 2b0d 2c0d 2d0d 2f0d 300d 310d 320d 330d 3e0d 3f0d f00d 0001 5001';

/**
 * Magic numbers at fixed offsets that decide a kind other than `other`, and those of formats that
 * could otherwise pass for text (so that, like clamd, the built-in engine does not treat them as
 * text). Binary formats not listed here fail the text test and are `other` anyway.
 */
const MAGICS: Magic[] = [
  magic(0, '4d5a', 'pe'),
  magic(0, 'd0cf11e0a1b11ae1', 'ole2'),
  magic(0, '7f454c46', 'elf'),
  ...['cefaedfe', 'cffaedfe', 'feedface', 'feedfacf'].map((hex) => magic(0, hex, 'macho')),
  magic(0, '255044462d', 'pdf'),
  ...['435753', '465753', '5a5753'].map((hex) => magic(0, hex, 'swf')),
  ...['424d', '0000000c6a5020200d0a870a', '474946', '89504e47', 'ffd8ff', '49492a00', '4d4d'].map(
    (hex) => magic(0, hex, 'graphics'),
  ),
  ...MAIL_HEADERS.map((text) => magic(0, Buffer.from(text, 'latin1').toString('hex'), 'mail')),
  // Text-like formats clamd types as something else.
  magic(0, Buffer.from('(This file must be converted with BinHex 4.0)').toString('hex'), 'other'),
  magic(0, Buffer.from('begin ').toString('hex'), 'other'),
  magic(0, Buffer.from('[aliases]').toString('hex'), 'other'),
  magic(0, Buffer.from('{\\rt').toString('hex'), 'other'),
  magic(0, Buffer.from('#@~^').toString('hex'), 'other'),
  magic(0, Buffer.from('%!PS-Adobe-').toString('hex'), 'other'),
  magic(0, Buffer.from('SIP-HIT (SIP/H').toString('hex'), 'other'),
  ...['070701', '070702', '070707'].map((text) =>
    magic(0, Buffer.from(text).toString('hex'), 'other'),
  ),
  magic(0, '7b0a2020224d61676963223a22434c414d4a534f4e763022', 'other'),
  // Binary formats: the text test would take some of them for UTF-16 text.
  ...BINARY_MAGICS.split(' ').map((entry) => {
    const [offset = '0', hex = ''] = entry.split(':');
    return magic(Number(offset), hex, 'other');
  }),
  // Compiled Python: a version number, then CR LF.
  ...PYTHON_VERSIONS.split(' ').map((hex) => magic(0, `${hex}0d0a`, 'other')),
];

/**
 * ClamAV's file type patterns that may match anywhere in the head of text or binary data, with
 * the rank of the type they give (ClamAV keeps the matched type latest in its type list).
 */
interface HeadPattern {
  /** A pattern over the head read as latin1 (one character per byte), or a test of its bytes. */
  pattern: RegExp | ((head: Uint8Array) => boolean);
  kind: FileKind;
  rank: number;
}

/** `<TAG`: the tags ClamAV takes as a sign of HTML, in the cases it lists them. */
const HTML_TAGS =
  /<(?:HEAD>|HTML>|Head>|Html>|head>|html>|IFRAME|IMG|Img|OBJECT|Object|SCRIPT|Script|TABLE|iframe|img|object|script|table)|<[Aa] [\s\S]*?[hH][rR](?:EF|ef)|^<%@ LANGUAGE =/;

const HEAD_PATTERNS: HeadPattern[] = [
  { pattern: (head) => fatHeader(head, 0x00, 0x1f), kind: 'macho', rank: 11 },
  { pattern: (head) => startsWith(head, SIS_UID, 8), kind: 'other', rank: 27 },
  { pattern: /%(?:PDF|pdf)-[\s\S]\./, kind: 'pdf', rank: 38 },
  { pattern: (head) => fatHeader(head, 0x20, 0x3f), kind: 'java', rank: 45 },
  // Compiled Python and LHA archives.
  { pattern: /^[\s\S]\r\r\n|^[\s\S]{2}-l(?:h[0-7dx]|z[s45]|pm0)-/, kind: 'other', rank: 57 },
  { pattern: HTML_TAGS, kind: 'html', rank: 62 },
  {
    // The head is at most 1024 bytes: ClamAV's limits on where these start and on their gaps
    // (1,024 and 2,048 bytes) cannot be reached inside it.
    pattern:
      /\n[Ff]rom: [\s\S]*?\n(?:[Mm][Ii][Mm][Ee]-[Vv]ersion|[Cc]ontent-[Tt]ype): |\n(?:[Mm][Ii][Mm][Ee]-[Vv]ersion|[Mm]essage-[Ii]d|[Rr]eceived): [\s\S]*?\n[Cc]ontent-[Tt]ype: |Delivered-To:[\s\S]{0,256}?Received:/,
    kind: 'mail',
    rank: 63,
  },
  // XML Office documents, embedded PDF forms and MIME-encoded web pages: other formats.
  {
    pattern:
      /^<\?xml version="1\.0"[\s\S]{0,1024}?<(?:[\s\S]{2}:)?(?:Workbook|wordDocument)|<xdp:xdp|^\xef\xbb\xbf<\?xml version="1\.0"[\s\S]*?<HWPML|(?:^|\n)[Mm][Ii][Mm][Ee]-[Vv]ersion: [\s\S]*?\n[Cc]ontent-[Tt]ype: /,
    kind: 'other',
    rank: 83,
  },
];

const FAT_MAGIC = Buffer.from('cafebabe000000', 'hex');
const SIS_UID = Buffer.from('19040010', 'hex');

function startsWith(head: Uint8Array, expected: Buffer, at = 0): boolean {
  if (head.length < at + expected.length) return false;
  return expected.every((byte, i) => head[at + i] === byte);
}

/**
 * `CA FE BA BE` then a big-endian count: a Mach-O universal binary (few architectures) and a Java
 * class file (its version) share the magic; ClamAV tells them apart by the count's last byte.
 */
function fatHeader(head: Uint8Array, low: number, high: number): boolean {
  const last = head[7];
  return startsWith(head, FAT_MAGIC) && last !== undefined && last >= low && last <= high;
}

/** MAGICS by the byte at their offset, in table order (one short list per file to compare). */
const MAGICS_BY_FIRST_BYTE: Magic[][] = Array.from({ length: 256 }, (_, byte) =>
  MAGICS.filter((entry) => entry.bytes[0] === byte),
);

function magicAt(bytes: Uint8Array): FileKind | undefined {
  const candidates: Magic[] = [];
  for (const offset of MAGIC_OFFSETS) {
    const byte = bytes[offset];
    if (byte === undefined) continue;
    for (const entry of MAGICS_BY_FIRST_BYTE[byte]!)
      if (entry.offset === offset) candidates.push(entry);
  }
  // The first in table order wins, as in ClamAV's list.
  candidates.sort((a, b) => MAGICS.indexOf(a) - MAGICS.indexOf(b));
  return candidates.find((entry) => startsWith(bytes, entry.bytes, entry.offset))?.kind;
}

const MAGIC_OFFSETS = [...new Set(MAGICS.map((entry) => entry.offset))];

/** The kind of a file from its first TYPE_HEAD_BYTES (fewer when the file is shorter). */
export function detectFileKind(head: Uint8Array): FileKind {
  const bytes = head.subarray(0, TYPE_HEAD_BYTES);
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const magic = magicAt(bytes);
  if (magic !== undefined) return magic;
  const text = isText(bytes);
  const latin1 = buffer.toString('latin1');
  let found: HeadPattern | undefined;
  for (const candidate of HEAD_PATTERNS) {
    if (found !== undefined && candidate.rank <= found.rank) continue;
    const { pattern } = candidate;
    if (typeof pattern === 'function' ? pattern(bytes) : pattern.test(latin1)) found = candidate;
  }
  if (found !== undefined) return found.kind;
  return text ? 'text' : 'other';
}

// ---- ClamAV's text test: ASCII (with ISO-8859 and extended ASCII), UTF-8 or UTF-16 ----

/** 0: never in text; 1: plain ASCII text; 2: ISO-8859 or extended ASCII. */
const TEXT_CHARS = Uint8Array.from({ length: 256 }, (_, byte) => {
  if (byte >= 0x80) return 2;
  if (byte >= 0x20) return byte === 0x7f ? 0 : 1;
  return [7, 8, 9, 10, 12, 13, 27].includes(byte) ? 1 : 0;
});

export function isText(bytes: Uint8Array): boolean {
  return isAsciiText(bytes) || isUtf8Text(bytes) || isUtf16Text(bytes);
}

function isAsciiText(bytes: Uint8Array): boolean {
  for (const byte of bytes) if (TEXT_CHARS[byte] === 0) return false;
  return true;
}

function isUtf8Text(bytes: Uint8Array): boolean {
  let multibyte = false;
  for (let i = 0; i < bytes.length; i += 1) {
    const byte = bytes[i]!;
    if (byte < 0x80) {
      if (TEXT_CHARS[byte] !== 1) return false;
      continue;
    }
    if ((byte & 0x40) === 0) return false;
    const following =
      byte < 0xe0 ? 1 : byte < 0xf0 ? 2 : byte < 0xf8 ? 3 : byte < 0xfc ? 4 : byte < 0xfe ? 5 : -1;
    if (following < 0) return false;
    for (let j = 0; j < following; j += 1) {
      i += 1;
      // A sequence cut by the end of the head counts as far as it went.
      if (i >= bytes.length) return multibyte;
      if ((bytes[i]! & 0xc0) !== 0x80) return false;
    }
    multibyte = true;
  }
  return multibyte;
}

function isUtf16Text(bytes: Uint8Array): boolean {
  if (bytes.length < 2) return false;
  const littleEndian = bytes[0] === 0xff && bytes[1] === 0xfe;
  const bom = littleEndian || (bytes[0] === 0xfe && bytes[1] === 0xff);
  let bad = 0;
  // As ClamAV: the first two bytes are taken as the byte order mark whether they are one or not.
  for (let i = 2; i + 1 < bytes.length; i += 2) {
    const unit = littleEndian ? bytes[i]! | (bytes[i + 1]! << 8) : (bytes[i]! << 8) | bytes[i + 1]!;
    if (unit === 0xfffe) return false;
    if (unit < 0x80 && TEXT_CHARS[unit] !== 1) {
      if (!bom) return false;
      bad += 1;
    }
  }
  return !bom || bad < bytes.length / 2;
}

/** What may follow `<` in a marker (HTML_TAGS without the `<a … href` and `<%@` forms). */
const TAG_NAMES = [
  'HEAD>',
  'HTML>',
  'Head>',
  'Html>',
  'head>',
  'html>',
  'IFRAME',
  'IMG',
  'Img',
  'OBJECT',
  'Object',
  'SCRIPT',
  'Script',
  'TABLE',
  'iframe',
  'img',
  'object',
  'script',
  'table',
].map((name) => Buffer.from(name, 'latin1'));
const LONGEST_TAG = Math.max(...TAG_NAMES.map((name) => name.length));
/** Bytes a marker may start with after `<` (the tags' first letters, and `a`/`A`). */
const TAG_FIRST = Uint8Array.from({ length: 256 }, (_, byte) =>
  TAG_NAMES.some((name) => name[0] === byte) || byte === 0x61 || byte === 0x41 ? 1 : 0,
);

function startsAt(bytes: Uint8Array, expected: Uint8Array, at: number): boolean {
  if (at + expected.length > bytes.length) return false;
  for (let i = 0; i < expected.length; i += 1) if (bytes[at + i] !== expected[i]) return false;
  return true;
}
const LT = 0x3c;

/**
 * Watches a text file, as it streams past, for ClamAV's HTML markers (HTML_TAGS): clamd retypes a
 * text file holding one anywhere as HTML, and then does not match its normalised text copy.
 * Only the bytes after each `<` are looked at (found with indexOf), so text costs little.
 */
export class HtmlMarkerScanner {
  /** The last bytes of the previous chunk, for a marker cut by a chunk boundary. */
  private tail = Buffer.alloc(0);
  /** An `<a ` was seen: an `href` in any of ClamAV's cases anywhere later makes it HTML. */
  private anchorOpen = false;
  found = false;

  update(chunk: Uint8Array): void {
    if (this.found || chunk.length === 0) return;
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    if (this.tail.length > 0) {
      const joint = Buffer.concat([this.tail, bytes.subarray(0, LONGEST_TAG + 1)]);
      this.lookFrom(joint, 0, this.tail.length);
    }
    if (!this.found) this.lookFrom(bytes, 0, bytes.length);
    if (!this.found && this.anchorOpen) this.lookForHref(bytes);
    this.keepTail(bytes);
  }

  /** The stream's last few bytes, however small the chunks. */
  private keepTail(bytes: Buffer): void {
    const keep = LONGEST_TAG + 3;
    const recent = bytes.length >= keep ? bytes : Buffer.concat([this.tail, bytes]);
    this.tail = Buffer.from(recent.subarray(Math.max(0, recent.length - keep)));
  }

  /** Markers whose `<` lies in [from, to) of `bytes`. */
  private lookFrom(bytes: Buffer, from: number, to: number): void {
    let at = bytes.indexOf(LT, from);
    while (at >= 0 && at < to) {
      if (this.markerAt(bytes, at + 1)) {
        this.found = true;
        return;
      }
      at = bytes.indexOf(LT, at + 1);
    }
  }

  private markerAt(bytes: Buffer, at: number): boolean {
    const first = bytes[at];
    if (first === undefined || !TAG_FIRST[first]) return false;
    for (const name of TAG_NAMES) if (startsAt(bytes, name, at)) return true;
    if ((first === 0x61 || first === 0x41) && bytes[at + 1] === 0x20 && !this.anchorOpen) {
      this.anchorOpen = true;
      if (HREF.test(bytes.toString('latin1', at + 2))) return true;
    }
    return false;
  }

  private lookForHref(bytes: Buffer): void {
    const joint = Buffer.concat([this.tail, bytes.subarray(0, 3)]).toString('latin1');
    if (HREF.test(joint) || HREF.test(bytes.toString('latin1'))) this.found = true;
  }
}

const HREF = /[hH][rR](?:EF|ef)/;
