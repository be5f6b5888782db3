import { execFileSync } from 'node:child_process';
import zlib from 'node:zlib';
import fc from 'fast-check';

/**
 * Containers built around a payload given at run time, as fast-check arbitraries: each
 * arbitrary yields a plain description (a spec), and `build*` turns a spec and a payload into
 * bytes. The same spec built around the EICAR test file and around clean bytes gives an infected
 * file and its clean twin, identical but for the payload. The payload always sits alone in a
 * member (a zip entry, a gzip member, a tar file, a compressed stream), so a reader that reaches
 * it hands out exactly its bytes.
 *
 * Compressors: Node's zlib (deflate, gzip), the `bzip2`, `xz` and `zstd` command-line tools
 * (scripts/setup installs them). Nothing antivirus-flagged is stored in the repository.
 */

// ---------------------------------------------------------------------------------------------
// Filler: clean bytes derived from a size and an index, the same on every run.

/** `size` bytes of readable text, different for each `index`. */
export function filler(size: number, index: number): Buffer {
  const line = Buffer.from(`clean member ${index}: nothing to see here.\n`);
  const bytes = Buffer.alloc(size);
  for (let at = 0; at < size; at += line.length) line.copy(bytes, at);
  return bytes;
}

/** `data` piped through a command-line compressor, memoised (generators repeat their fillers). */
const compressed = new Map<string, Buffer>();
export function compressWithTool(tool: 'bzip2' | 'xz' | 'lzma' | 'zstd', data: Buffer): Buffer {
  const key = `${tool}:${zlib.crc32(data)}:${data.length}`;
  let bytes = compressed.get(key);
  if (!bytes) {
    const [command, args] = TOOL_ARGS[tool];
    bytes = execFileSync(command, args, { input: data, maxBuffer: 64 * 1024 * 1024 });
    if (compressed.size > 2000) compressed.clear();
    compressed.set(key, bytes);
  }
  return bytes;
}
const TOOL_ARGS = {
  bzip2: ['bzip2', ['-c']],
  xz: ['xz', ['-c']],
  // The `.lzma` ("LZMA alone") format: 5 property bytes, an 8-byte size (unknown: all ones), the
  // LZMA stream ending in an end marker.
  lzma: ['xz', ['--format=lzma', '-c']],
  zstd: ['zstd', ['-q', '-c']],
} as const satisfies Record<string, readonly [string, readonly string[]]>;

// ---------------------------------------------------------------------------------------------
// Zip: members in random methods, with data descriptors and zip64 fields, lies in the central
// directory, unlisted local entries, prefixes, suffixes and archives back to back.

export type ZipMethod = 'stored' | 'deflate' | 'bzip2' | 'lzma' | 'zstd';
export const ZIP_METHOD_IDS: Record<ZipMethod, number> = {
  stored: 0,
  deflate: 8,
  bzip2: 12,
  lzma: 14,
  zstd: 93,
};
/** Methods the walker decodes itself; bzip2 and LZMA members go to 7-Zip, by their listed name. */
export const WALKER_METHODS: readonly ZipMethod[] = ['stored', 'deflate', 'zstd'];

export interface ZipMemberSpec {
  method: ZipMethod;
  /** Flag 0x08: no sizes or CRC in the local header; a data descriptor follows the data. */
  descriptor: boolean;
  /** Sizes (and the offset) as 0xFFFFFFFF, the real ones in zip64 extra fields. */
  zip64: boolean;
}

/**
 * What the central directory says of the payload's entry:
 * - `none`: the truth;
 * - `name`: another name (`dirName`: a directory-looking one, `x/`);
 * - `sizes`: 0 and 0 (unzip and Java read the local header's);
 * - `method`: stored where the data is compressed, deflated where it is stored;
 * - `unlisted`: nothing (its local record sits among the listed ones);
 * - `after-end`: nothing, its local record following the end record.
 */
export type ZipLie = 'none' | 'name' | 'sizes' | 'method' | 'unlisted' | 'after-end';

/** Bytes around an archive: text, a self-extractor's stub, another (clean) zip, random junk. */
export type Surround = 'none' | 'text' | 'stub' | 'zip' | 'junk';

export interface CleanMemberSpec extends ZipMemberSpec {
  size: number;
}

export interface ZipSpec {
  payload: ZipMemberSpec;
  lie: ZipLie;
  dirName: boolean;
  /** Clean members listed before and after the payload's. */
  before: CleanMemberSpec[];
  after: CleanMemberSpec[];
  /** A zip64 end of central directory record and locator in front of the end record. */
  zip64End: boolean;
  prefix: Surround;
  suffix: Surround;
}

const methodArb = (methods: readonly ZipMethod[]) => fc.constantFrom(...methods);

const zipMemberArb = (methods: readonly ZipMethod[]): fc.Arbitrary<ZipMemberSpec> =>
  fc.record({ method: methodArb(methods), descriptor: fc.boolean(), zip64: fc.boolean() });

const cleanMemberArb: fc.Arbitrary<CleanMemberSpec> = fc.record({
  method: methodArb(['stored', 'deflate', 'bzip2', 'lzma', 'zstd']),
  descriptor: fc.boolean(),
  zip64: fc.boolean(),
  size: fc.nat({ max: 3000 }),
});

export interface ZipArbOptions {
  surround?: readonly Surround[];
  /** Only the methods the walker decodes itself (no member handed to 7-Zip). */
  walkerOnly?: boolean;
  /** No lie, no unlisted entry, and the file's last zip: the directory's view is the truth. */
  honest?: boolean;
}

/**
 * Zips around a payload, in every method, with every lie, prefix and suffix; two combinations
 * keep to what the readers can decode (see `decodable`).
 */
export function zipSpecArb(options: ZipArbOptions = {}): fc.Arbitrary<ZipSpec> {
  const surround = fc.constantFrom(
    ...(options.surround ?? (['none', 'text', 'stub', 'zip', 'junk'] as const)),
  );
  const members = fc.array(cleanMemberArb, { maxLength: 2 });
  const honest = fc.record({
    payload: zipMemberArb(['stored', 'deflate', 'bzip2', 'lzma', 'zstd']),
    lie: fc.constant<ZipLie>('none'),
  });
  const lying = fc.record({
    payload: zipMemberArb(['stored', 'deflate', 'bzip2', 'lzma', 'zstd']),
    lie: fc.constantFrom<ZipLie>('name', 'sizes', 'method', 'unlisted', 'after-end'),
  });
  return fc
    .record({
      told: options.honest ? honest : fc.oneof(honest, lying),
      dirName: fc.boolean(),
      before: members,
      after: members,
      zip64End: fc.boolean(),
      prefix: surround,
      suffix: surround,
    })
    .map(({ told, ...rest }) => {
      const spec = decodable({ ...told, ...rest }, options.walkerOnly ?? false);
      return options.honest && spec.suffix === 'zip' ? { ...spec, suffix: 'none' } : spec;
    });
}

/**
 * 7-Zip decodes bzip2 and LZMA members for the walker, which hands it the zip and the names its
 * directory lists, or, for a member only a local header describes and for every member of a zip
 * whose directory disagrees with a local header (7-Zip refuses such a zip), the local records
 * under a directory written for them. A local record ends where the local header's sizes say:
 * without them (a data descriptor) only an inflater or the walker's own decoders find its end
 * (such a member is `unsupported-method`: never clean, but a payload there is not found). So a
 * bzip2 or LZMA member read from its local record has its sizes in its local header: the
 * payload's when unlisted or after the end record, every member's when the directory lies or
 * another zip follows (the directory found from the end is then the other zip's).
 */
function decodable(spec: ZipSpec, walkerOnly: boolean): ZipSpec {
  if (walkerOnly) return walkerMethodsOnly(spec);
  const sized = <T extends ZipMemberSpec>(member: T): T =>
    WALKER_METHODS.includes(member.method) ? member : { ...member, descriptor: false };
  if (spec.suffix === 'zip' || ['name', 'sizes', 'method'].includes(spec.lie)) {
    return {
      ...spec,
      payload: sized(spec.payload),
      before: spec.before.map(sized),
      after: spec.after.map(sized),
    };
  }
  const localOnly = spec.lie === 'unlisted' || spec.lie === 'after-end';
  return localOnly ? { ...spec, payload: sized(spec.payload) } : spec;
}

/** The same zip in the methods the walker decodes itself. */
function walkerMethodsOnly(spec: ZipSpec): ZipSpec {
  const decoded = <T extends ZipMemberSpec>(member: T): T =>
    WALKER_METHODS.includes(member.method)
      ? member
      : { ...member, method: member.method === 'bzip2' ? 'deflate' : 'stored' };
  return {
    ...spec,
    payload: decoded(spec.payload),
    before: spec.before.map(decoded),
    after: spec.after.map(decoded),
  };
}

interface ZipRecord {
  name: string;
  method: number;
  flags: number;
  crc: number;
  size: number;
  /** The data as stored (compressed). */
  data: Buffer;
  descriptor: boolean;
  zip64: boolean;
}

/** `data` compressed as a zip member in `method` (LZMA: the zip's own properties header). */
export function zipMemberData(method: ZipMethod, data: Buffer): Buffer {
  switch (method) {
    case 'stored':
      return data;
    case 'deflate':
      return zlib.deflateRawSync(data);
    case 'bzip2':
      return compressWithTool('bzip2', data);
    case 'zstd':
      return compressWithTool('zstd', data);
    case 'lzma': {
      // APPNOTE 5.8.8: LZMA SDK version (2 bytes), properties size (2 bytes, 5), the 5 property
      // bytes, then the stream; the `.lzma` header holds the same 5 bytes and an 8-byte size.
      const alone = compressWithTool('lzma', data);
      return Buffer.concat([Buffer.from([9, 20, 5, 0]), alone.subarray(0, 5), alone.subarray(13)]);
    }
  }
}

function zipRecord(name: string, data: Buffer, spec: ZipMemberSpec): ZipRecord {
  return {
    name,
    method: ZIP_METHOD_IDS[spec.method],
    // LZMA with an end marker says so (bit 1); a descriptor is bit 3.
    flags: (spec.method === 'lzma' ? 0x02 : 0) | (spec.descriptor ? 0x08 : 0),
    crc: zlib.crc32(data),
    size: data.length,
    data: zipMemberData(spec.method, data),
    descriptor: spec.descriptor,
    zip64: spec.zip64,
  };
}

const u16 = (value: number) => {
  const bytes = Buffer.alloc(2);
  bytes.writeUInt16LE(value);
  return bytes;
};
const u32 = (value: number) => {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(value >>> 0);
  return bytes;
};
const u64 = (value: number) => {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64LE(BigInt(value));
  return bytes;
};
/** A zip64 extended information extra field (0x0001) holding `values` (8 bytes each). */
const zip64Extra = (values: number[]) =>
  Buffer.concat([u16(0x0001), u16(values.length * 8), ...values.map(u64)]);

/** A local header, the data, and with `descriptor` a data descriptor (with its signature). */
function localBytes(record: ZipRecord): Buffer {
  const name = Buffer.from(record.name);
  const described = record.descriptor;
  // Streamed zip64 entries carry the extra field with zeros, as Info-ZIP writes them.
  const extra = record.zip64
    ? zip64Extra(described ? [0, 0] : [record.size, record.data.length])
    : Buffer.alloc(0);
  const sized = (value: number) => (described ? 0 : record.zip64 ? 0xffffffff : value);
  const header = Buffer.concat([
    u32(0x04034b50),
    u16(record.zip64 ? 45 : 20),
    u16(record.flags),
    u16(record.method),
    u32(0), // time and date
    u32(described ? 0 : record.crc),
    u32(sized(record.data.length)),
    u32(sized(record.size)),
    u16(name.length),
    u16(extra.length),
    name,
    extra,
  ]);
  if (!described) return Buffer.concat([header, record.data]);
  const sizes = record.zip64
    ? [u64(record.data.length), u64(record.size)]
    : [u32(record.data.length), u32(record.size)];
  return Buffer.concat([header, record.data, u32(0x08074b50), u32(record.crc), ...sizes]);
}

interface CentralFields {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
}

function centralBytes(record: ZipRecord, offset: number, told: CentralFields): Buffer {
  const name = Buffer.from(told.name);
  const extra = record.zip64
    ? zip64Extra([told.size, told.compressedSize, offset])
    : Buffer.alloc(0);
  const wide = (value: number) => (record.zip64 ? 0xffffffff : value);
  return Buffer.concat([
    u32(0x02014b50),
    u16(record.zip64 ? 45 : 20), // version made by (MS-DOS)
    u16(record.zip64 ? 45 : 20),
    u16(record.flags),
    u16(told.method),
    u32(0),
    u32(record.crc),
    u32(wide(told.compressedSize)),
    u32(wide(told.size)),
    u16(name.length),
    u16(extra.length),
    u16(0), // comment
    u16(0), // disk
    u16(0), // internal attributes
    u32(0), // external attributes
    u32(wide(offset)),
    name,
    extra,
  ]);
}

/** The end record, behind a zip64 end record and locator when `zip64`. */
function endBytes(entries: number, directorySize: number, directoryStart: number, zip64: boolean) {
  const end = Buffer.concat([
    u32(0x06054b50),
    u16(0),
    u16(0),
    u16(zip64 ? 0xffff : entries),
    u16(zip64 ? 0xffff : entries),
    u32(zip64 ? 0xffffffff : directorySize),
    u32(zip64 ? 0xffffffff : directoryStart),
    u16(0),
  ]);
  if (!zip64) return end;
  const record = Buffer.concat([
    u32(0x06064b50),
    u64(44),
    u16(45),
    u16(45),
    u32(0),
    u32(0),
    u64(entries),
    u64(entries),
    u64(directorySize),
    u64(directoryStart),
  ]);
  const locator = Buffer.concat([
    u32(0x07064b50),
    u32(0),
    u64(directoryStart + directorySize),
    u32(1),
  ]);
  return Buffer.concat([record, locator, end]);
}

/** A plain, honest zip of `files` (deflated), e.g. the clean zip in front of another one. */
export function plainZip(files: Array<{ name: string; data: Buffer }>): Buffer {
  const records = files.map((file) =>
    zipRecord(file.name, file.data, { method: 'deflate', descriptor: false, zip64: false }),
  );
  return assembleZip(
    records.map((record) => ({ record, told: true })),
    false,
  );
}

interface Placed {
  record: ZipRecord;
  /** Listed in the central directory (false: a local record only), and what it says. */
  told: boolean | CentralFields;
}

function assembleZip(placed: Placed[], zip64End: boolean): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const { record, told } of placed) {
    const local = localBytes(record);
    if (told !== false) {
      const fields = told === true ? honestFields(record) : told;
      centrals.push(centralBytes(record, offset, fields));
    }
    locals.push(local);
    offset += local.length;
  }
  const directory = Buffer.concat(centrals);
  return Buffer.concat([
    ...locals,
    directory,
    endBytes(centrals.length, directory.length, offset, zip64End),
  ]);
}

const honestFields = (record: ZipRecord): CentralFields => ({
  name: record.name,
  method: record.method,
  compressedSize: record.data.length,
  size: record.size,
});

/** The central directory's lie about the payload's record. */
function lieAbout(record: ZipRecord, spec: ZipSpec): boolean | CentralFields {
  const truth = honestFields(record);
  switch (spec.lie) {
    case 'none':
      return true;
    case 'name':
      return { ...truth, name: spec.dirName ? 'x/' : 'readme.txt' };
    case 'sizes':
      return { ...truth, compressedSize: 0, size: 0, ...(spec.dirName ? { name: 'x/' } : {}) };
    case 'method':
      return { ...truth, method: record.method === 0 ? 8 : 0 };
    case 'unlisted':
    case 'after-end':
      return false;
  }
}

/** A stand-in for a self-extractor's stub: an executable header, and `PK\x03\x04` as a constant. */
export function executableStub(): Buffer {
  return Buffer.concat([
    Buffer.from('MZ'),
    filler(3000, 90),
    Buffer.from('PK\x03\x04', 'latin1'),
    filler(1000, 91),
  ]);
}

function surroundBytes(kind: Surround, index: number): Buffer {
  switch (kind) {
    case 'none':
      return Buffer.alloc(0);
    case 'text':
      return Buffer.from('Here is the file you asked for:\r\n\r\n');
    case 'stub':
      return executableStub();
    case 'zip':
      return plainZip([{ name: `other${index}.txt`, data: filler(400, 80 + index) }]);
    case 'junk':
      // Bytes that are no format: they must not make the archive unscannable.
      return Buffer.from(filler(700, 70 + index).toString('base64'));
  }
}

/** The zip a spec describes, holding `payload` as one entry (`a.com`). */
export function buildZip(spec: ZipSpec, payload: Buffer): Buffer {
  const clean = (specs: CleanMemberSpec[], from: number): Placed[] =>
    specs.map((member, i) => ({
      record: zipRecord(`clean${from + i}.txt`, filler(member.size, from + i), member),
      told: true,
    }));
  const payloadRecord = zipRecord('a.com', payload, spec.payload);
  const told = lieAbout(payloadRecord, spec);
  const before = clean(spec.before, 0);
  const after = clean(spec.after, spec.before.length);
  let archive: Buffer;
  if (spec.lie === 'after-end') {
    archive = Buffer.concat([
      assembleZip([...before, ...after], spec.zip64End),
      localBytes(payloadRecord),
    ]);
  } else {
    archive = assembleZip([...before, { record: payloadRecord, told }, ...after], spec.zip64End);
  }
  return Buffer.concat([surroundBytes(spec.prefix, 1), archive, surroundBytes(spec.suffix, 2)]);
}

// ---------------------------------------------------------------------------------------------
// gzip: members with every header flag (RFC 1952), the payload in any of them.

export interface GzipHeaderFlags {
  text?: boolean;
  hcrc?: boolean;
  extra?: boolean;
  name?: string;
  comment?: string;
}

/** One gzip member written byte by byte, with the header fields RFC 1952 allows. */
export function gzipMember(data: Buffer, flags: GzipHeaderFlags = {}): Buffer {
  const flg =
    (flags.text ? 0x01 : 0) |
    (flags.hcrc ? 0x02 : 0) |
    (flags.extra ? 0x04 : 0) |
    (flags.name !== undefined ? 0x08 : 0) |
    (flags.comment !== undefined ? 0x10 : 0);
  const parts = [Buffer.from([0x1f, 0x8b, 8, flg, 0, 0, 0, 0, 0, 3])];
  if (flags.extra) {
    const field = Buffer.from('Ab\x04\x00wxyz', 'latin1'); // one subfield, 4 bytes
    const xlen = Buffer.alloc(2);
    xlen.writeUInt16LE(field.length);
    parts.push(xlen, field);
  }
  if (flags.name !== undefined) parts.push(Buffer.from(`${flags.name}\0`, 'latin1'));
  if (flags.comment !== undefined) parts.push(Buffer.from(`${flags.comment}\0`, 'latin1'));
  if (flags.hcrc) {
    const crc = Buffer.alloc(2);
    crc.writeUInt16LE(zlib.crc32(Buffer.concat(parts)) & 0xffff);
    parts.push(crc);
  }
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(zlib.crc32(data), 0);
  trailer.writeUInt32LE(data.length % 2 ** 32, 4);
  return Buffer.concat([...parts, zlib.deflateRawSync(data), trailer]);
}

export const gzipFlagsArb: fc.Arbitrary<GzipHeaderFlags> = fc.record({
  text: fc.boolean(),
  hcrc: fc.boolean(),
  extra: fc.boolean(),
  name: fc.option(fc.stringMatching(/^[a-z.]{1,12}$/), { nil: undefined }),
  comment: fc.option(fc.stringMatching(/^[ a-z]{0,20}$/), { nil: undefined }),
});

export interface GzipSpec {
  /** Clean members, each with its own header flags and size. */
  members: Array<{ flags: GzipHeaderFlags; size: number }>;
  /** The payload's member, inserted at `at % (members.length + 1)`. */
  payloadFlags: GzipHeaderFlags;
  at: number;
  /** Zeros after the last member (gzip ignores them). */
  padding: number;
}

/** With `single`, one member: the payload's. */
export const gzipSpecArb = (options: { single?: boolean } = {}): fc.Arbitrary<GzipSpec> =>
  fc.record({
    members: fc.array(fc.record({ flags: gzipFlagsArb, size: fc.nat({ max: 3000 }) }), {
      maxLength: options.single ? 0 : 3,
    }),
    payloadFlags: gzipFlagsArb,
    at: fc.nat(),
    padding: fc.constantFrom(0, 0, 512, 4096),
  });

export function buildGzip(spec: GzipSpec, payload: Buffer): Buffer {
  const members = spec.members.map((m, i) => gzipMember(filler(m.size, i), m.flags));
  const at = spec.at % (members.length + 1);
  members.splice(at, 0, gzipMember(payload, spec.payloadFlags));
  return Buffer.concat([...members, Buffer.alloc(spec.padding)]);
}

// ---------------------------------------------------------------------------------------------
// bzip2, xz and zstd: streams (frames) back to back, the payload alone in one of them.

export type StreamTool = 'bzip2' | 'xz' | 'zstd';

export interface StreamSpec {
  tool: StreamTool;
  /** Clean streams' sizes; the payload's stream is inserted at `at % (sizes.length + 1)`. */
  sizes: number[];
  at: number;
  /** xz only: zero padding (a multiple of 4 bytes) between streams, as xz allows. */
  padding: 0 | 4 | 8;
}

/** With `single`, one stream: the payload's. */
export const streamSpecArb = (
  options: { tools?: readonly StreamTool[]; single?: boolean } = {},
): fc.Arbitrary<StreamSpec> =>
  fc.record({
    tool: fc.constantFrom(...(options.tools ?? (['bzip2', 'xz', 'zstd'] as const))),
    sizes: fc.array(fc.nat({ max: 3000 }), { maxLength: options.single ? 0 : 3 }),
    at: fc.nat(),
    padding: fc.constantFrom<0 | 4 | 8>(0, 4, 8),
  });

export function buildStreams(spec: StreamSpec, payload: Buffer): Buffer {
  const plain = spec.sizes.map((size, i) => filler(size, i));
  plain.splice(spec.at % (plain.length + 1), 0, payload);
  const pad = spec.tool === 'xz' ? Buffer.alloc(spec.padding) : Buffer.alloc(0);
  return Buffer.concat(plain.flatMap((data) => [compressWithTool(spec.tool, data), pad]));
}

// ---------------------------------------------------------------------------------------------
// tar: ustar members, the payload's either in the first archive or in a second one behind the
// first one's end-of-archive blocks (what `tar --ignore-zeros` reads).

export interface TarSpec {
  before: number[];
  after: number[];
  /** The payload's member opens a second tar after the first one's end blocks. */
  secondArchive: boolean;
}

export const tarSpecArb: fc.Arbitrary<TarSpec> = fc.record({
  before: fc.array(fc.nat({ max: 3000 }), { maxLength: 2 }),
  after: fc.array(fc.nat({ max: 3000 }), { maxLength: 2 }),
  secondArchive: fc.boolean(),
});

/** A ustar header block and the data padded to 512 bytes. */
export function tarMember(name: string, data: Buffer): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'latin1');
  header.write('0000644\0', 100, 'latin1');
  header.write('0000000\0', 108, 'latin1');
  header.write('0000000\0', 116, 'latin1');
  header.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  header.write('00000000000\0', 136, 'latin1');
  header.write('0', 156, 'latin1');
  header.write('ustar\0' + '00', 257, 'latin1');
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  const padding = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([header, data, padding]);
}

const TAR_END = Buffer.alloc(1024);

export function buildTar(spec: TarSpec, payload: Buffer): Buffer {
  const members = (sizes: number[], from: number) =>
    sizes.map((size, i) => tarMember(`clean${from + i}.txt`, filler(size, from + i)));
  const before = members(spec.before, 0);
  const after = members(spec.after, spec.before.length);
  const payloadMember = tarMember('a.com', payload);
  if (!spec.secondArchive) return Buffer.concat([...before, payloadMember, ...after, TAR_END]);
  // The first archive holds a member: a file that starts with end blocks is recognised as no
  // tar (the walker knows a tar by its first header block), though `tar -i` reads past them.
  const first = before.length > 0 ? before : [tarMember('first.txt', filler(10, 99))];
  return Buffer.concat([...first, TAR_END, payloadMember, ...after, TAR_END]);
}

// ---------------------------------------------------------------------------------------------
// Any of them, and containers nested in one another.

export type Layer =
  | { kind: 'zip'; spec: ZipSpec }
  | { kind: 'gzip'; spec: GzipSpec }
  | { kind: 'stream'; spec: StreamSpec }
  | { kind: 'tar'; spec: TarSpec };

/**
 * Any layer, for nesting, its zips in the methods the walker decodes itself (a bzip2 or LZMA
 * member, handed to 7-Zip by its listed name, is not read where an outer zip's sweep reads the
 * inner zip's local headers). With `single`, each layer reads its payload once — one gzip member,
 * one stream, zips that tell the truth and come last — since a multi-part layer is read whole and
 * part by part and a lie read both ways, so that nesting many multiplies the work: deep chains
 * use these. (Deep chains of lying zips also leave the clean twin `unscannable` here and there,
 * in shapes no extractor reads: an entry after the end record holding a stored zip, whose end
 * record the walker then takes for the outer zip's.)
 */
export const layerArb = (options: { single?: boolean } = {}): fc.Arbitrary<Layer> =>
  fc.oneof(
    zipSpecArb({ walkerOnly: true, honest: options.single ?? false }).map((spec) => ({
      kind: 'zip' as const,
      spec,
    })),
    gzipSpecArb(options).map((spec) => ({ kind: 'gzip' as const, spec })),
    streamSpecArb(options).map((spec) => ({ kind: 'stream' as const, spec })),
    tarSpecArb.map((spec) => ({ kind: 'tar' as const, spec })),
  );

/** Whether a layer's decoded whole holds its payload among other parts' bytes. */
export const multiPart = (layer: Layer): boolean =>
  (layer.kind === 'gzip' && layer.spec.members.length > 0) ||
  (layer.kind === 'stream' && layer.spec.sizes.length > 0);

/**
 * Nested layers, the first outermost. A bzip2, xz or zstd stream is never the payload of a
 * multi-part layer: the layer's decoded whole would be that stream followed by other bytes,
 * which the readers call corrupt today (bzip2 and xz: 7-Zip's "data after the end of the
 * payload data"; zstd: an unexpected end), though bzcat, xzcat and zstdcat read it.
 */
export const nestArb = (
  length: { min: number; max: number },
  options: { single?: boolean } = {},
): fc.Arbitrary<Layer[]> =>
  fc
    .array(layerArb(options), { minLength: length.min, maxLength: length.max })
    .filter((chain) =>
      chain.every((layer, i) => !(multiPart(layer) && chain[i + 1]?.kind === 'stream')),
    );

export function buildLayer(layer: Layer, payload: Buffer): Buffer {
  switch (layer.kind) {
    case 'zip':
      return buildZip(layer.spec, payload);
    case 'gzip':
      return buildGzip(layer.spec, payload);
    case 'stream':
      return buildStreams(layer.spec, payload);
    case 'tar':
      return buildTar(layer.spec, payload);
  }
}

/**
 * `layers` nested, the first outermost, around `payload`; each layer's bytes, outermost first
 * and the payload last, so a test can peel them one at a time.
 */
export function buildNest(layers: readonly Layer[], payload: Buffer): Buffer[] {
  const built = [payload];
  for (const layer of [...layers].reverse()) built.unshift(buildLayer(layer, built[0]!));
  return built;
}

/** A short label for a layer, for failure messages and the trace of a nested sample. */
export function describeLayer(layer: Layer): string {
  switch (layer.kind) {
    case 'zip': {
      const { payload, lie, prefix, suffix } = layer.spec;
      return `zip(${payload.method}${payload.descriptor ? '+dd' : ''}${payload.zip64 ? '+z64' : ''}, lie ${lie}, ${prefix}/${suffix})`;
    }
    case 'gzip':
      return `gzip(${layer.spec.members.length + 1} members)`;
    case 'stream':
      return `${layer.spec.tool}(${layer.spec.sizes.length + 1} streams)`;
    case 'tar':
      return `tar(${layer.spec.secondArchive ? 'second archive' : 'one archive'})`;
  }
}
