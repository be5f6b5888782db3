/**
 * A minimal reader of OLE2 compound files ([MS-CFB]), the container of Word, Excel and
 * PowerPoint 97–2003 documents: enough to take the streams at the root of one held in memory.
 * The walker opens these files with 7-Zip and hands over each stream alone, but a Word
 * document's text needs two of them together (the piece table in `1Table` says where the text of
 * `WordDocument` lies), so the language reader reads the file itself.
 *
 * Layout: a 512-byte header, then sectors of 512 or 4096 bytes (sector n at (n + 1) × size).
 * The FAT (its sectors listed by the header's DIFAT and the DIFAT sector chain) chains sectors;
 * the directory (a chain of 128-byte entries) names the streams; streams under the cut-off
 * (4096 bytes) live in the mini stream (the root entry's chain) as 64-byte mini sectors chained
 * by the mini FAT. Anything out of place throws CompoundFileError: the caller reports it.
 */

export const COMPOUND_FILE_MAGIC = Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]);

export class CompoundFileError extends Error {}

export function isCompoundFile(head: Buffer): boolean {
  return head.length >= 8 && head.subarray(0, 8).equals(COMPOUND_FILE_MAGIC);
}

export interface CompoundFile {
  /** The streams' paths: a name at the root, `Storage/Name` inside a storage. */
  readonly streams: readonly string[];
  /** The storages' paths (`ObjectPool/_1279313719`: an object embedded in a Word document). */
  readonly storages: readonly string[];
  /** A stream's bytes by path (case-insensitive, as CFB names are), or undefined. */
  stream(path: string): Buffer | undefined;
}

const HEADER = 512;
const ENTRY = 128;
const MINI_SECTOR = 64;
const NO_STREAM = 0xffffffff;
const END_OF_CHAIN = 0xfffffffe;
const STORAGE = 1;
const STREAM = 2;
const ROOT = 5;

interface Entry {
  name: string;
  type: number;
  left: number;
  right: number;
  child: number;
  start: number;
  size: number;
}

export function readCompoundFile(bytes: Buffer): CompoundFile {
  if (bytes.length < HEADER || !isCompoundFile(bytes)) throw new CompoundFileError('no header');
  const sectorShift = bytes.readUInt16LE(0x1e);
  if (sectorShift !== 9 && sectorShift !== 12) {
    throw new CompoundFileError(`sector shift ${sectorShift}`);
  }
  const sectorSize = 1 << sectorShift;
  const sector = (index: number): Buffer => {
    const at = (index + 1) * sectorSize;
    if (at >= bytes.length) {
      throw new CompoundFileError(`sector ${index} past the end of the file`);
    }
    // The last sector may be cut short by a writer: read what is there.
    return bytes.subarray(at, Math.min(at + sectorSize, bytes.length));
  };
  const fat = readFat(bytes, sector, sectorSize);
  const chain = (start: number, table: Uint32Array): number[] => {
    // Each sector at most once: a chain that comes back to a sector loops (a hostile file's
    // loop would otherwise read the same sectors until memory runs out).
    const seen = new Uint8Array(table.length);
    const sectors: number[] = [];
    for (let at = start; at !== END_OF_CHAIN; at = table[at] ?? NO_STREAM) {
      if (at >= table.length) throw new CompoundFileError(`chain runs to sector ${at}`);
      if (seen[at]) throw new CompoundFileError('sector chain loops');
      seen[at] = 1;
      sectors.push(at);
    }
    return sectors;
  };
  const readChain = (start: number): Buffer =>
    start === END_OF_CHAIN ? Buffer.alloc(0) : Buffer.concat(chain(start, fat).map(sector));

  const directory = readChain(bytes.readUInt32LE(0x30));
  const entries: Entry[] = [];
  for (let at = 0; at + ENTRY <= directory.length; at += ENTRY) {
    entries.push(readEntry(directory.subarray(at, at + ENTRY)));
  }
  const root = entries[0];
  if (root?.type !== ROOT) throw new CompoundFileError('no root entry');
  const cutoff = bytes.readUInt32LE(0x38);
  const miniStream = readChain(root.start);
  const miniFatBytes =
    bytes.readUInt32LE(0x40) === 0 ? Buffer.alloc(0) : readChain(bytes.readUInt32LE(0x3c));
  const miniFat = toTable(miniFatBytes);

  const tree = directoryTree(entries, root);
  const byPath = new Map([...tree.streams].map(([path, entry]) => [path.toLowerCase(), entry]));
  return {
    streams: [...tree.streams.keys()],
    storages: tree.storages,
    stream(path) {
      const entry = byPath.get(path.toLowerCase());
      if (!entry) return undefined;
      if (entry.size === 0) return Buffer.alloc(0);
      const data =
        entry.size < cutoff
          ? Buffer.concat(
              chain(entry.start, miniFat).map((index) => {
                const at = index * MINI_SECTOR;
                if (at + MINI_SECTOR > miniStream.length) {
                  throw new CompoundFileError(`mini sector ${index} past the mini stream`);
                }
                return miniStream.subarray(at, at + MINI_SECTOR);
              }),
            )
          : readChain(entry.start);
      if (data.length < entry.size) {
        throw new CompoundFileError(`stream ${entry.name} shorter than its size`);
      }
      return data.subarray(0, entry.size);
    },
  };
}

/** The FAT: its sectors are the header's 109 DIFAT entries, then the DIFAT sector chain's. */
function readFat(
  bytes: Buffer,
  sector: (index: number) => Buffer,
  sectorSize: number,
): Uint32Array {
  const fatSectors = bytes.readUInt32LE(0x2c);
  if (fatSectors > bytes.length / sectorSize) {
    throw new CompoundFileError(`${fatSectors} FAT sectors in a file of ${bytes.length} bytes`);
  }
  const indexes: number[] = [];
  for (let i = 0; i < 109 && indexes.length < fatSectors; i++) {
    indexes.push(bytes.readUInt32LE(0x4c + i * 4));
  }
  let difat = bytes.readUInt32LE(0x44);
  const perSector = sectorSize / 4 - 1;
  for (let hops = 0; indexes.length < fatSectors; hops++) {
    if (difat === END_OF_CHAIN || difat === NO_STREAM || hops > fatSectors) {
      throw new CompoundFileError('DIFAT chain ends early');
    }
    const data = sector(difat);
    for (let i = 0; i < perSector && indexes.length < fatSectors; i++) {
      indexes.push(data.readUInt32LE(i * 4));
    }
    difat = data.readUInt32LE(perSector * 4);
  }
  return toTable(Buffer.concat(indexes.map(sector)));
}

function toTable(bytes: Buffer): Uint32Array {
  const table = new Uint32Array(Math.floor(bytes.length / 4));
  for (let i = 0; i < table.length; i++) table[i] = bytes.readUInt32LE(i * 4);
  return table;
}

function readEntry(data: Buffer): Entry {
  const nameBytes = Math.min(64, data.readUInt16LE(0x40));
  return {
    name: data.toString('utf16le', 0, Math.max(0, nameBytes - 2)),
    type: data[0x42] ?? 0,
    left: data.readUInt32LE(0x44),
    right: data.readUInt32LE(0x48),
    child: data.readUInt32LE(0x4c),
    start: data.readUInt32LE(0x74),
    // Files of version 3 may leave garbage in the high half: their streams are under 4 GiB.
    size: data.readUInt32LE(0x78),
  };
}

/**
 * The streams and storages under the root, by path. A storage's children are a red-black tree
 * (left, right siblings) under its `child`; each entry belongs to one place, so an entry seen
 * twice means a damaged directory.
 */
function directoryTree(
  entries: readonly Entry[],
  root: Entry,
): { streams: Map<string, Entry>; storages: string[] } {
  const streams = new Map<string, Entry>();
  const storages: string[] = [];
  const seen = new Set<number>();
  const pending: { index: number; parent: string }[] = [{ index: root.child, parent: '' }];
  while (pending.length > 0) {
    const { index, parent } = pending.pop() ?? { index: NO_STREAM, parent: '' };
    if (index === NO_STREAM) continue;
    const entry = entries[index];
    if (!entry || seen.has(index)) throw new CompoundFileError(`bad directory entry ${index}`);
    seen.add(index);
    const path = parent === '' ? entry.name : `${parent}/${entry.name}`;
    if (entry.type === STREAM) streams.set(path, entry);
    if (entry.type === STORAGE) {
      storages.push(path);
      pending.push({ index: entry.child, parent: path });
    }
    pending.push({ index: entry.left, parent }, { index: entry.right, parent });
  }
  return { streams, storages };
}
