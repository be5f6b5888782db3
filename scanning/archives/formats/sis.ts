import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Transform, pipeline } from 'node:stream';
import zlib from 'node:zlib';
import type { FormatHandler, UnpackContext, UnpackInput } from '../format.js';
import { safeMemberName } from './feed.js';
import { controllerFileNames } from './sis-controller.js';

/**
 * Symbian installation packages. Old EPOC SIS (UID3 0x10000419; EPOC 3/5 and 6.x): a header
 * of counts and pointers, file records naming each file and where its data is, the data
 * zlib-compressed unless the header says otherwise. SIS 9.x (SISX, UID1 0x10201A7A): nested
 * typed fields, the files in SISData → SISDataUnit → SISFileData → SISCompressed (zlib or
 * stored). Each file is a member named by its installed name (a SIS 9.x's from its
 * controller's file descriptions; `file-<n>.bin` when there is none). Random access (pointers,
 * lengths), so the handler reads a local file.
 */
export const sisFormat: FormatHandler = {
  name: 'sis',
  input: 'file',
  sniff: (head) => sisKind(head) !== undefined,
  unpack: unpackSis,
};

const UID_SIS_OLD = 0x10000419;
const UID_SIS9 = 0x10201a7a;
const UID2_EPOC6 = 0x10003a12;
const UID2_EPOC3 = 0x1000006d;
/** Header flags: names are UTF-16; the files are stored, not compressed. */
const FLAG_UNICODE = 0x0001;
const FLAG_NO_COMPRESS = 0x0008;
const OLD_HEADER_BYTES = 84;

function sisKind(head: Buffer): 'old' | 'sis9' | undefined {
  if (head.length < 20) return undefined;
  const uid2 = head.readUInt32LE(4);
  if (head.readUInt32LE(8) === UID_SIS_OLD && (uid2 === UID2_EPOC6 || uid2 === UID2_EPOC3)) {
    return 'old';
  }
  // SIS 9.x: UID2 is 0 for applications (or another package's UID); a SISContents field follows.
  if (head.readUInt32LE(0) === UID_SIS9 && head.readUInt32LE(16) === FIELD_CONTENTS) return 'sis9';
  return undefined;
}

async function unpackSis(input: UnpackInput, context: UnpackContext): Promise<void> {
  if (input.kind !== 'file') throw new Error('sis: file input expected');
  const handle = await open(input.path, 'r');
  try {
    const file = new SisFile(handle, input.path, input.size, context);
    const head = await file.bytes(0, Math.min(input.size, OLD_HEADER_BYTES));
    if (sisKind(head) === 'old') await file.oldSis(head);
    else await file.sis9();
  } finally {
    await handle.close();
  }
}

/** The SIS 9.x field types this reads (Symbian OS v9.x SIS File Format Specification). */
const FIELD_ARRAY = 2;
const FIELD_COMPRESSED = 3;
const FIELD_CONTENTS = 12;
const FIELD_DATA = 30;
const FIELD_DATA_UNIT = 31;
const FIELD_FILE_DATA = 32;
/** Old SIS file record types. */
const RECORD_FILE = 0;
const RECORD_LANGUAGE_FILES = 1;
const RECORD_OPTIONS = 2;
const RECORD_IF = 3;
const RECORD_ELSEIF = 4;
const FILE_TYPE_NULL = 4;
/** A SIS 9.x controller (metadata only) larger than this is not read for names. */
const MAX_CONTROLLER_BYTES = 4 * 1024 * 1024;
/** A file record is at most this many bytes (its lengths and pointers, one per language). */
const MAX_LANGUAGES = 256;

interface Field {
  type: number;
  /** Where the field's content starts and ends. */
  start: number;
  end: number;
}

class SisFile {
  private count = 0;

  constructor(
    private readonly handle: FileHandle,
    private readonly path: string,
    private readonly size: number,
    private readonly context: UnpackContext,
  ) {}

  async bytes(at: number, length: number): Promise<Buffer> {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await this.handle.read(buffer, 0, length, at);
    if (bytesRead < length)
      throw new Error(`${length} bytes at ${at} run past the end of the file`);
    return buffer;
  }

  // Old EPOC SIS.

  async oldSis(header: Buffer): Promise<void> {
    if (header.length < OLD_HEADER_BYTES) throw new Error('header cut short');
    const epoc6 = header.readUInt32LE(4) === UID2_EPOC6;
    const languages = header.readUInt16LE(18);
    const files = header.readUInt16LE(20);
    const flags = header.readUInt16LE(36);
    let at = header.readUInt32LE(52);
    if (languages < 1 || languages > MAX_LANGUAGES) throw new Error(`${languages} languages`);
    if (at < OLD_HEADER_BYTES) throw new Error('file records point into the header');
    const compressed = (flags & FLAG_NO_COMPRESS) === 0;
    for (let i = 0; i < files && !this.context.cancelled(); i++) {
      const type = (await this.bytes(at, 4)).readUInt32LE(0);
      at += 4;
      if (type === RECORD_FILE || type === RECORD_LANGUAGE_FILES) {
        const count = type === RECORD_FILE ? 1 : languages;
        const next = await this.oldFileRecord(at, count, epoc6, compressed, flags);
        if (next === undefined) return;
        at = next;
      } else if (type === RECORD_OPTIONS) {
        const options = (await this.bytes(at, 4)).readUInt32LE(0);
        at += 4 + options * languages * 8;
      } else if (type === RECORD_IF || type === RECORD_ELSEIF) {
        at += 4 + (await this.bytes(at, 4)).readUInt32LE(0);
      } else if (type > 6) {
        throw new Error(`unknown file record type ${type}`);
      }
    }
  }

  /** One file record; returns where the next one starts (undefined: the walk is over). */
  private async oldFileRecord(
    at: number,
    count: number,
    epoc6: boolean,
    compressed: boolean,
    flags: number,
  ): Promise<number | undefined> {
    const fixed = await this.bytes(at, 24);
    const fileType = fixed.readUInt32LE(0);
    // type, options, source name (length, pointer), installed name (length, pointer).
    const sourceName = await this.name(fixed.readUInt32LE(12), fixed.readUInt32LE(8), flags);
    const targetName = await this.name(fixed.readUInt32LE(20), fixed.readUInt32LE(16), flags);
    const tables = await this.bytes(at + 24, count * (epoc6 ? 12 : 8));
    const next = at + 24 + tables.length + (epoc6 ? 8 : 0);
    if (fileType === FILE_TYPE_NULL) return next;
    for (let j = 0; j < count; j++) {
      const length = tables.readUInt32LE(j * 4);
      const pointer = tables.readUInt32LE((count + j) * 4);
      const original = epoc6 ? tables.readUInt32LE((2 * count + j) * 4) : undefined;
      if (length === 0) continue;
      this.count += 1;
      const name = safeMemberName(
        (targetName || sourceName)?.split(/[/\\]/).pop(),
        `file-${this.count}.bin`,
      );
      const more = await this.member(
        name,
        pointer,
        length,
        compressed ? 'zlib' : 'stored',
        original,
      );
      if (!more) return undefined;
    }
    return next;
  }

  private async name(pointer: number, length: number, flags: number): Promise<string | undefined> {
    if (length === 0 || length > 1024 || pointer + length > this.size) return undefined;
    const raw = await this.bytes(pointer, length);
    return raw.toString((flags & FLAG_UNICODE) !== 0 ? 'utf16le' : 'latin1');
  }

  // SIS 9.x.

  async sis9(): Promise<void> {
    const contents = await this.field(16, this.size);
    if (contents.type !== FIELD_CONTENTS) throw new Error('no SISContents field');
    let names = new Map<number, string>();
    for (const field of await this.children(contents)) {
      if (field.type === FIELD_COMPRESSED && names.size === 0) names = await this.sis9Names(field);
      if (field.type !== FIELD_DATA) continue;
      for (const units of await this.arrays(field, FIELD_DATA_UNIT)) {
        for (const [unitIndex, unit] of units.entries()) {
          for (const files of await this.arrays(unit, FIELD_FILE_DATA)) {
            for (const [fileIndex, fileData] of files.entries()) {
              // The controller names the files of the first data unit (others: embedded packages).
              const name = unitIndex === 0 ? names.get(fileIndex) : undefined;
              if (!(await this.sis9File(fileData, name))) return;
            }
          }
        }
      }
    }
  }

  /** The installed file names the (compressed) controller gives, when it is small enough. */
  private async sis9Names(compressed: Field): Promise<Map<number, string>> {
    const length = compressed.end - compressed.start;
    if (length < 12 || length > MAX_CONTROLLER_BYTES) return new Map();
    const bytes = await this.bytes(compressed.start, length);
    const algorithm = bytes.readUInt32LE(0);
    try {
      const controller =
        algorithm === 1
          ? zlib.inflateSync(bytes.subarray(12), { maxOutputLength: MAX_CONTROLLER_BYTES })
          : algorithm === 0
            ? bytes.subarray(12)
            : undefined;
      return controller ? controllerFileNames(controller) : new Map();
    } catch {
      return new Map(); // a controller that does not inflate only costs the names
    }
  }

  /** A SISFileData: its SISCompressed field holds the file. False when the walk is over. */
  private async sis9File(fileData: Field, installedName: string | undefined): Promise<boolean> {
    for (const field of await this.children(fileData)) {
      if (field.type !== FIELD_COMPRESSED) continue;
      const header = await this.bytes(field.start, 12);
      const algorithm = header.readUInt32LE(0);
      const size = Number(header.readBigUInt64LE(4));
      this.count += 1;
      const name = safeMemberName(installedName, `file-${this.count}.bin`);
      if (algorithm > 1) {
        this.context.unscannable('unsupported-method', `compression algorithm ${algorithm}`, {
          member: name,
          method: `sis:${algorithm}`,
        });
        continue;
      }
      const method = algorithm === 1 ? 'zlib' : 'stored';
      if (
        !(await this.member(name, field.start + 12, field.end - field.start - 12, method, size))
      ) {
        return false;
      }
    }
    return true;
  }

  /** A field's header at `at`: type, then a 31-bit length (or 63 bits when its top bit is set). */
  private async field(at: number, limit: number): Promise<Field> {
    const header = await this.bytes(at, 8);
    const type = header.readUInt32LE(0);
    let length = header.readUInt32LE(4);
    let start = at + 8;
    if (length & 0x80000000) {
      const high = (await this.bytes(at + 8, 4)).readUInt32LE(0);
      length = (length & 0x7fffffff) + high * 2 ** 31;
      start += 4;
    }
    const end = start + length;
    if (end > limit) throw new Error(`field ${type} at ${at} runs past its container`);
    return { type, start, end };
  }

  /** The fields inside a field, one after the other, each padded to 4 bytes. */
  private async children(parent: Field): Promise<Field[]> {
    const fields: Field[] = [];
    for (let at = parent.start; at + 8 <= parent.end;) {
      const field = await this.field(at, parent.end);
      fields.push(field);
      at = align4(field.end);
      if (fields.length > 100_000) throw new Error('too many fields');
    }
    return fields;
  }

  /** The SISArray fields of `elementType` inside `parent`, each as its elements. */
  private async arrays(parent: Field, elementType: number): Promise<Field[][]> {
    const arrays: Field[][] = [];
    for (const field of await this.children(parent)) {
      if (field.type !== FIELD_ARRAY || field.end - field.start < 4) continue;
      if ((await this.bytes(field.start, 4)).readUInt32LE(0) !== elementType) continue;
      const elements: Field[] = [];
      // Array elements carry a length but no type of their own.
      for (let at = field.start + 4; at + 4 <= field.end;) {
        let length = (await this.bytes(at, 4)).readUInt32LE(0);
        let start = at + 4;
        if (length & 0x80000000) {
          length = (length & 0x7fffffff) + (await this.bytes(at + 4, 4)).readUInt32LE(0) * 2 ** 31;
          start += 4;
        }
        const end = start + length;
        if (end > field.end) throw new Error(`array element at ${at} runs past its array`);
        elements.push({ type: elementType, start, end });
        at = align4(end);
        if (elements.length > 100_000) throw new Error('too many array elements');
      }
      arrays.push(elements);
    }
    return arrays;
  }

  // Both.

  /** Scans `length` bytes at `at`, inflated when zlib-compressed. False when the walk is over. */
  private async member(
    name: string,
    at: number,
    length: number,
    method: 'zlib' | 'stored',
    size: number | undefined,
  ): Promise<boolean> {
    if (at + length > this.size) {
      this.context.unscannable('corrupt', `${name}: its data runs past the end of the file`, {
        member: name,
      });
      return true;
    }
    let read = 0;
    const raw = createReadStream(this.path, { start: at, end: at + length - 1 });
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        read += chunk.length;
        callback(null, chunk);
      },
    });
    const data =
      method === 'zlib'
        ? pipeline(raw, counter, zlib.createInflate({ chunkSize: 64 * 1024 }), () => {})
        : pipeline(raw, counter, () => {});
    return this.context.member(name, data as AsyncIterable<Buffer>, {
      ...(size !== undefined ? { size } : {}),
      compressed: () => read,
    });
  }
}

function align4(offset: number): number {
  return offset + ((4 - (offset % 4)) % 4);
}
