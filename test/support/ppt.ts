import zlib from 'node:zlib';
import { ole2 } from './ole2.js';

/**
 * PowerPoint 97–2003 pieces for tests ([MS-PPT] records): no Debian tool writes a presentation
 * with an embedded object. `presentation` is an OLE2 file whose `PowerPoint Document` stream
 * holds a DocumentContainer and one ExOleObjStg record per object.
 */

export const EX_OLE_OBJ_STG = 0x1011;
export const VBA_PROJECT_STG = 0x1014;
const DOCUMENT_CONTAINER = 0x03e8;
const DOCUMENT_ATOM = 0x03e9;
const PERSIST_DIRECTORY_ATOM = 0x1772;
const USER_EDIT_ATOM = 0x0ff5;

/** One record: its 8-byte header (recVer, recInstance, recType, recLen), then `body`. */
export function record(
  type: number,
  body: Buffer,
  options: { version?: number; instance?: number; length?: number } = {},
): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt16LE(((options.instance ?? 0) << 4) | (options.version ?? 0), 0);
  header.writeUInt16LE(type, 2);
  header.writeUInt32LE(options.length ?? body.length, 4);
  return Buffer.concat([header, body]);
}

/** A container record (recVer 0xF) holding `children`. */
export function container(type: number, children: Buffer[], instance = 0): Buffer {
  return record(type, Buffer.concat(children), { version: 0xf, instance });
}

/** A storage record (ExOleObjStg by default) holding `storage`, zlib-compressed or stored. */
export function storageRecord(
  storage: Buffer,
  options: { compressed: boolean; type?: number },
): Buffer {
  const type = options.type ?? EX_OLE_OBJ_STG;
  if (!options.compressed) return record(type, storage);
  const size = Buffer.alloc(4);
  size.writeUInt32LE(storage.length);
  return record(type, Buffer.concat([size, zlib.deflateSync(storage)]), { instance: 1 });
}

/** A `PowerPoint Document` stream: a small DocumentContainer, then `records`, then the atoms. */
export function documentStream(records: Buffer[]): Buffer {
  const documentAtom = record(DOCUMENT_ATOM, Buffer.alloc(40), { version: 1 });
  return Buffer.concat([
    container(DOCUMENT_CONTAINER, [documentAtom, record(0x03ea, Buffer.alloc(0))]),
    ...records,
    record(PERSIST_DIRECTORY_ATOM, Buffer.alloc(20)),
    record(USER_EDIT_ATOM, Buffer.alloc(28)),
  ]);
}

/** An OLE2 object holding `data` as an OLE package (`\x01Ole10Native`), named `name`. */
export function packageObject(name: string, data: Buffer): Buffer {
  const strings = Buffer.from(`${name}\0C:\\temp\\${name}\0`, 'latin1');
  const temp = Buffer.from(`C:\\temp\\${name}\0`, 'latin1');
  const numbers = Buffer.alloc(8);
  numbers.writeUInt32LE(0x00030000, 0);
  numbers.writeUInt32LE(temp.length, 4);
  const size = Buffer.alloc(4);
  size.writeUInt32LE(data.length);
  const body = Buffer.concat([Buffer.from([2, 0]), strings, numbers, temp, size, data]);
  const total = Buffer.alloc(4);
  total.writeUInt32LE(body.length);
  return ole2([
    { path: '\x01CompObj', data: Buffer.alloc(76) },
    { path: '\x01Ole10Native', data: Buffer.concat([total, body]) },
  ]);
}

/** A presentation whose document stream is `stream`, beside the streams PowerPoint writes. */
export function presentation(stream: Buffer): Buffer {
  return ole2([
    { path: 'Current User', data: Buffer.alloc(44) },
    { path: 'PowerPoint Document', data: stream },
    { path: 'Pictures', data: Buffer.alloc(600, 0x11) },
  ]);
}
