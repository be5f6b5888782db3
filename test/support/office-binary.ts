/**
 * Builders of binary Office documents for tests, made from their specifications: an OLE2
 * compound file ([MS-CFB], version 3, 512-byte sectors, small streams in the mini stream), and
 * the streams of Word ([MS-DOC]: a FIB and a piece table), Excel ([MS-XLS]: BIFF8 records) and
 * PowerPoint ([MS-PPT]: a record tree) 97–2003 documents, with only what their text needs.
 */

const SECTOR = 512;
const MINI_SECTOR = 64;
const CUTOFF = 4096;
const FREE = 0xffffffff;
const END_OF_CHAIN = 0xfffffffe;
const FAT_SECTOR = 0xfffffffd;
const PER_SECTOR = SECTOR / 4;

export interface CompoundStream {
  name: string;
  data: Buffer;
}

/** A compound file holding `streams` (a name with `/` is in a storage: `ObjectPool/_1/Book`). */
export function compoundFile(streams: readonly CompoundStream[]): Buffer {
  const small = streams.filter((stream) => stream.data.length < CUTOFF);
  const large = streams.filter((stream) => stream.data.length >= CUTOFF);
  // The mini stream: each small stream in whole 64-byte mini sectors, chained by the mini FAT.
  const miniStarts = new Map<CompoundStream, number>();
  const miniFat: number[] = [];
  for (const stream of small) {
    const count = Math.ceil(stream.data.length / MINI_SECTOR);
    if (count === 0) continue;
    miniStarts.set(stream, miniFat.length);
    for (let i = 0; i < count; i++) {
      miniFat.push(i === count - 1 ? END_OF_CHAIN : miniFat.length + 1);
    }
  }
  const miniStream = Buffer.concat(
    small.map((stream) => padded(stream.data, MINI_SECTOR)),
    miniFat.length * MINI_SECTOR,
  );
  const tree = directoryEntries(streams);
  const entries = tree.length;
  const sectorsOf = (bytes: number) => Math.ceil(bytes / SECTOR);
  const directorySectors = sectorsOf(entries * 128);
  const miniFatSectors = sectorsOf(miniFat.length * 4);
  const miniStreamSectors = sectorsOf(miniStream.length);
  const largeSectors = large.map((stream) => sectorsOf(stream.data.length));
  const others =
    directorySectors +
    miniFatSectors +
    miniStreamSectors +
    largeSectors.reduce((sum, count) => sum + count, 0);
  let fatSectors = 1;
  while (fatSectors * PER_SECTOR < fatSectors + others) fatSectors += 1;
  if (fatSectors > 109) throw new Error('compoundFile: too large for a DIFAT-less file');

  const fat = new Array<number>(fatSectors * PER_SECTOR).fill(FREE);
  let next = 0;
  const allocate = (count: number): number => {
    if (count === 0) return END_OF_CHAIN;
    const first = next;
    for (let i = 0; i < count; i++) fat[next + i] = i === count - 1 ? END_OF_CHAIN : next + i + 1;
    next += count;
    return first;
  };
  for (let i = 0; i < fatSectors; i++) fat[next++] = FAT_SECTOR;
  const directoryStart = allocate(directorySectors);
  const miniFatStart = allocate(miniFatSectors);
  const miniStreamStart = allocate(miniStreamSectors);
  const largeStarts = largeSectors.map(allocate);

  const directory = Buffer.alloc(directorySectors * SECTOR);
  for (let i = 0; i < directorySectors * 4; i++) {
    for (const field of [0x44, 0x48, 0x4c]) directory.writeUInt32LE(FREE, i * 128 + field);
  }
  tree.forEach((node, index) => {
    const at = index * 128;
    const { stream } = node;
    const start =
      node.type === 5
        ? miniStream.length > 0
          ? miniStreamStart
          : END_OF_CHAIN
        : !stream
          ? 0
          : stream.data.length >= CUTOFF
            ? (largeStarts[large.indexOf(stream)] ?? END_OF_CHAIN)
            : (miniStarts.get(stream) ?? END_OF_CHAIN);
    directory.write(node.name, at, 'utf16le');
    directory.writeUInt16LE((node.name.length + 1) * 2, at + 0x40);
    directory[at + 0x42] = node.type;
    directory[at + 0x43] = 1; // black
    // A degenerate tree, each entry the right sibling of the one before: readers accept it.
    directory.writeUInt32LE(node.right, at + 0x48);
    directory.writeUInt32LE(node.child, at + 0x4c);
    directory.writeUInt32LE(start, at + 0x74);
    directory.writeUInt32LE(
      node.type === 5 ? miniStream.length : (stream?.data.length ?? 0),
      at + 0x78,
    );
  });

  const header = Buffer.alloc(SECTOR);
  Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]).copy(header);
  header.writeUInt16LE(0x3e, 0x18);
  header.writeUInt16LE(3, 0x1a);
  header.writeUInt16LE(0xfffe, 0x1c);
  header.writeUInt16LE(9, 0x1e);
  header.writeUInt16LE(6, 0x20);
  header.writeUInt32LE(fatSectors, 0x2c);
  header.writeUInt32LE(directoryStart, 0x30);
  header.writeUInt32LE(CUTOFF, 0x38);
  header.writeUInt32LE(miniFatStart, 0x3c);
  header.writeUInt32LE(miniFatSectors, 0x40);
  header.writeUInt32LE(END_OF_CHAIN, 0x44);
  for (let i = 0; i < 109; i++) header.writeUInt32LE(i < fatSectors ? i : FREE, 0x4c + i * 4);

  const fatBytes = Buffer.alloc(fatSectors * SECTOR);
  fat.forEach((value, i) => fatBytes.writeUInt32LE(value, i * 4));
  const miniFatBytes = Buffer.alloc(miniFatSectors * SECTOR, 0xff);
  miniFat.forEach((value, i) => miniFatBytes.writeUInt32LE(value, i * 4));
  return Buffer.concat([
    header,
    fatBytes,
    directory,
    miniFatBytes,
    padded(miniStream, SECTOR),
    ...large.map((stream) => padded(stream.data, SECTOR)),
  ]);
}

interface DirectoryNode {
  name: string;
  type: number;
  stream?: CompoundStream;
  child: number;
  right: number;
}

/**
 * The directory's entries: the root, then the storages and streams the names' paths make
 * (`ObjectPool/_1/Workbook`), each storage's children chained as right siblings.
 */
function directoryEntries(streams: readonly CompoundStream[]): DirectoryNode[] {
  const nodes: DirectoryNode[] = [{ name: 'Root Entry', type: 5, child: FREE, right: FREE }];
  const storages = new Map<string, number>([['', 0]]);
  const lastChild = new Map<number, number>();
  const add = (parent: number, node: DirectoryNode): number => {
    const index = nodes.push(node) - 1;
    const previous = lastChild.get(parent);
    const parentNode = nodes[parent];
    if (previous === undefined && parentNode) parentNode.child = index;
    const previousNode = previous === undefined ? undefined : nodes[previous];
    if (previousNode) previousNode.right = index;
    lastChild.set(parent, index);
    return index;
  };
  for (const stream of streams) {
    const parts = stream.name.split('/');
    let parent = 0;
    for (let depth = 0; depth < parts.length - 1; depth++) {
      const path = parts.slice(0, depth + 1).join('/');
      let storage = storages.get(path);
      if (storage === undefined) {
        storage = add(parent, { name: parts[depth] ?? '', type: 1, child: FREE, right: FREE });
        storages.set(path, storage);
      }
      parent = storage;
    }
    add(parent, { name: parts.at(-1) ?? '', type: 2, stream, child: FREE, right: FREE });
  }
  return nodes;
}

function padded(data: Buffer, unit: number): Buffer {
  const size = Math.ceil(data.length / unit) * unit;
  return Buffer.concat([data, Buffer.alloc(size - data.length)]);
}

/** A run of a Word document's text, stored 8-bit (cp1252, "compressed") or UTF-16LE. */
export interface WordPiece {
  text: string;
  wide?: boolean;
}

const TEXT_START = 0x400;

/**
 * A Word 97 document: the FIB (fWhichTblStm set: the table stream is `1Table`), the pieces'
 * characters from 0x400, and a CLX (one Prc, then the piece table) in `1Table`.
 */
export function wordDocument(
  pieces: readonly WordPiece[],
  options: { encrypted?: boolean; clxLength?: number; extra?: CompoundStream[] } = {},
): Buffer {
  const fib = Buffer.alloc(TEXT_START);
  fib.writeUInt16LE(0xa5ec, 0);
  fib.writeUInt16LE(0xc1, 2);
  fib.writeUInt16LE(0x0200 | (options.encrypted ? 0x0100 : 0), 0x0a);
  fib.writeUInt16LE(14, 0x20); // csw
  fib.writeUInt16LE(22, 0x3e); // cslw
  fib.writeUInt16LE(0x5d, 0x98); // cbRgFcLcb
  const texts: Buffer[] = [];
  const cps = [0];
  const pcds: Buffer[] = [];
  let offset = TEXT_START;
  for (const piece of pieces) {
    const bytes = piece.wide
      ? Buffer.from(piece.text, 'utf16le')
      : Buffer.from(piece.text, 'latin1');
    const pcd = Buffer.alloc(8);
    pcd.writeUInt32LE(piece.wide ? offset : (offset * 2) | 0x40000000, 2);
    pcds.push(pcd);
    cps.push((cps[cps.length - 1] ?? 0) + piece.text.length);
    texts.push(bytes);
    offset += bytes.length;
  }
  fib.writeUInt32LE(cps[cps.length - 1] ?? 0, 0x4c); // ccpText
  const plc = Buffer.concat([
    ...cps.map((cp) => {
      const value = Buffer.alloc(4);
      value.writeUInt32LE(cp);
      return value;
    }),
    ...pcds,
  ]);
  const prc = Buffer.from([0x01, 0x02, 0x00, 0x08, 0x08]);
  const pcdt = Buffer.alloc(5);
  pcdt[0] = 0x02;
  pcdt.writeUInt32LE(plc.length, 1);
  const table = Buffer.concat([Buffer.alloc(16), prc, pcdt, plc]);
  fib.writeUInt32LE(16, 0x1a2); // fcClx
  fib.writeUInt32LE(options.clxLength ?? table.length - 16, 0x1a6); // lcbClx
  return compoundFile([
    { name: 'WordDocument', data: Buffer.concat([fib, ...texts]) },
    { name: '1Table', data: table },
    ...(options.extra ?? []),
  ]);
}

function record(type: number, data: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt16LE(type, 0);
  header.writeUInt16LE(data.length, 2);
  return Buffer.concat([header, data]);
}

/** One string of an SST: count, flags, characters (8-bit unless `wide`). */
function unicodeString(text: string, wide: boolean): Buffer {
  const head = Buffer.alloc(3);
  head.writeUInt16LE(text.length, 0);
  head[2] = wide ? 1 : 0;
  return Buffer.concat([head, Buffer.from(text, wide ? 'utf16le' : 'latin1')]);
}

/**
 * An Excel 97 workbook: BOF, a sheet's name, a shared string table whose last string is cut by
 * a CONTINUE record (the rest of it in UTF-16, as Excel writes when the width changes), a LABEL
 * cell, EOF. `filePass` adds the record of an encrypted workbook.
 */
export function excelWorkbook(options: {
  shared: string[];
  continued?: [string, string];
  label?: string;
  filePass?: boolean;
  extra?: CompoundStream[];
}): Buffer {
  const bof = Buffer.alloc(16);
  bof.writeUInt16LE(0x0600, 0);
  bof.writeUInt16LE(0x0005, 2);
  const sheet = Buffer.concat([Buffer.alloc(6), Buffer.from([5, 0]), Buffer.from('Sheet')]);
  const count = options.shared.length + (options.continued ? 1 : 0);
  const sstHead = Buffer.alloc(8);
  sstHead.writeUInt32LE(count, 0);
  sstHead.writeUInt32LE(count, 4);
  const sst = [sstHead, ...options.shared.map((text) => unicodeString(text, false))];
  const records = [record(0x0809, bof)];
  if (options.filePass) records.push(record(0x002f, Buffer.alloc(6)));
  records.push(record(0x0085, sheet));
  if (options.continued) {
    const [first, rest] = options.continued;
    const head = Buffer.alloc(3);
    head.writeUInt16LE(first.length + rest.length, 0);
    sst.push(head, Buffer.from(first, 'latin1'));
    records.push(record(0x00fc, Buffer.concat(sst)));
    records.push(record(0x003c, Buffer.concat([Buffer.from([1]), Buffer.from(rest, 'utf16le')])));
  } else {
    records.push(record(0x00fc, Buffer.concat(sst)));
  }
  if (options.label !== undefined) {
    records.push(
      record(0x0204, Buffer.concat([Buffer.alloc(6), unicodeString(options.label, true)])),
    );
  }
  records.push(record(0x000a, Buffer.alloc(0)));
  return compoundFile([
    { name: 'Workbook', data: Buffer.concat(records) },
    ...(options.extra ?? []),
  ]);
}

function pptRecord(version: number, type: number, data: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt16LE(version, 0);
  header.writeUInt16LE(type, 2);
  header.writeUInt32LE(data.length, 4);
  return Buffer.concat([header, data]);
}

/**
 * A PowerPoint 97 presentation: a DocumentContainer holding a SlideListWithTextContainer with a
 * TextCharsAtom (UTF-16) per `wide` text and a TextBytesAtom per `narrow` one, and a slide whose
 * drawing holds a shape's text box (OfficeArt containers nest the same way).
 */
export function powerpointPresentation(texts: {
  wide?: string[];
  narrow?: string[];
  shape?: string;
}): Buffer {
  const atoms = [
    ...(texts.wide ?? []).map((text) => pptRecord(0, 0x0fa0, Buffer.from(text, 'utf16le'))),
    ...(texts.narrow ?? []).map((text) => pptRecord(0, 0x0fa8, Buffer.from(text, 'latin1'))),
  ];
  const slideList = pptRecord(0xf, 0x0ff0, Buffer.concat(atoms));
  const document = pptRecord(
    0xf,
    0x03e8,
    Buffer.concat([pptRecord(1, 0x03e9, Buffer.alloc(40)), slideList]),
  );
  const parts = [document];
  if (texts.shape !== undefined) {
    const textbox = pptRecord(
      0xf,
      0xf00d,
      pptRecord(0, 0x0fa0, Buffer.from(texts.shape, 'utf16le')),
    );
    const shape = pptRecord(0xf, 0xf004, textbox);
    const drawing = pptRecord(0xf, 0x040c, pptRecord(0xf, 0xf002, pptRecord(0xf, 0xf003, shape)));
    parts.push(pptRecord(0xf, 0x03ee, drawing));
  }
  return compoundFile([
    { name: 'Current User', data: Buffer.alloc(20) },
    { name: 'PowerPoint Document', data: Buffer.concat(parts) },
  ]);
}
