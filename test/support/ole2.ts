/**
 * A minimal OLE2 compound-file writer (the container of .doc, .xls, .ppt and .msi), for tests:
 * no Debian tool writes an arbitrary one. Version 3 (512-byte sectors); streams under 4096 bytes
 * live in the mini stream (64-byte sectors), as every writer does. Paths use `/` between storages:
 * `Macros/VBA/Module1`.
 */

const SECTOR = 512;
const MINI = 64;
const CUTOFF = 4096;
const FREE = 0xffffffff;
const END = 0xfffffffe;
const FAT_SECTOR = 0xfffffffd;
const NONE = 0xffffffff;

interface Node {
  name: string;
  type: 1 | 2 | 5; // storage, stream, root
  data?: Buffer;
  children: Node[];
  id: number;
  start: number;
  size: number;
}

export function ole2(streams: Array<{ path: string; data: Buffer }>): Buffer {
  const root: Node = { name: 'Root Entry', type: 5, children: [], id: 0, start: END, size: 0 };
  for (const { path, data } of streams) {
    let parent = root;
    const parts = path.split('/');
    for (const [i, part] of parts.entries()) {
      const last = i === parts.length - 1;
      let node = parent.children.find((c) => c.name === part);
      if (!node) {
        node = { name: part, type: last ? 2 : 1, children: [], id: 0, start: END, size: 0 };
        if (last) node.data = data;
        parent.children.push(node);
      }
      parent = node;
    }
  }
  const nodes: Node[] = [];
  const number = (node: Node) => {
    node.id = nodes.length;
    nodes.push(node);
    node.children.sort(compareNames);
    for (const child of node.children) number(child);
  };
  number(root);

  // Mini stream: the small streams, each in 64-byte mini sectors.
  const miniFat: number[] = [];
  const miniParts: Buffer[] = [];
  for (const node of nodes.filter((n) => n.type === 2 && (n.data?.length ?? 0) < CUTOFF)) {
    const data = node.data ?? Buffer.alloc(0);
    node.size = data.length;
    if (data.length === 0) continue;
    const count = Math.ceil(data.length / MINI);
    node.start = miniFat.length;
    for (let i = 0; i < count; i++) miniFat.push(i === count - 1 ? END : miniFat.length + 1);
    miniParts.push(pad(data, MINI));
  }
  const miniStream = Buffer.concat(miniParts);

  // Sector plan: FAT sectors, directory, mini FAT, mini stream, then large streams.
  const dirBytes = pad(Buffer.alloc(nodes.length * 128), SECTOR);
  const miniFatBytes = table(miniFat, Math.ceil((miniFat.length * 4) / SECTOR) * SECTOR);
  const large = nodes.filter((n) => n.type === 2 && (n.data?.length ?? 0) >= CUTOFF);
  const dataSectors =
    dirBytes.length / SECTOR +
    (miniFat.length ? miniFatBytes.length / SECTOR : 0) +
    Math.ceil(miniStream.length / SECTOR) +
    large.reduce((sum, n) => sum + Math.ceil((n.data?.length ?? 0) / SECTOR), 0);
  let fatSectors = 1;
  while (fatSectors * 128 < fatSectors + dataSectors) fatSectors += 1;
  if (fatSectors > 109) throw new Error('ole2(): too large for this writer');

  const fat: number[] = Array<number>(fatSectors).fill(FAT_SECTOR);
  const body: Buffer[] = [];
  const chain = (bytes: Buffer): number => {
    const count = Math.ceil(bytes.length / SECTOR);
    if (count === 0) return END;
    const start = fat.length;
    for (let i = 0; i < count; i++) fat.push(i === count - 1 ? END : fat.length + 1);
    body.push(pad(bytes, SECTOR));
    return start;
  };
  const dirStart = fatSectors; // reserved now, written last
  for (let i = 0; i < dirBytes.length / SECTOR; i++) {
    fat.push(i === dirBytes.length / SECTOR - 1 ? END : fat.length + 1);
  }
  const miniFatStart = miniFat.length ? chain(miniFatBytes) : END;
  root.start = miniStream.length ? chain(miniStream) : END;
  root.size = miniStream.length;
  for (const node of large) {
    node.start = chain(node.data ?? Buffer.alloc(0));
    node.size = node.data?.length ?? 0;
  }

  // Directory: each storage's children as a chain of right siblings, all black.
  const dir = Buffer.alloc(dirBytes.length);
  for (const node of nodes) {
    const entry = dir.subarray(node.id * 128, node.id * 128 + 128);
    const name = Buffer.from(`${node.name}\0`, 'utf16le');
    name.copy(entry, 0, 0, Math.min(64, name.length));
    entry.writeUInt16LE(Math.min(64, name.length), 64);
    entry[66] = node.type;
    entry[67] = 1; // black
    entry.writeUInt32LE(NONE, 68);
    entry.writeUInt32LE(NONE, 72);
    entry.writeUInt32LE(node.children[0]?.id ?? NONE, 76);
    entry.writeUInt32LE(node.start, 116);
    entry.writeUInt32LE(node.size, 120);
  }
  for (const node of nodes) {
    node.children.forEach((child, i) => {
      const next = node.children[i + 1];
      dir.writeUInt32LE(next ? next.id : NONE, child.id * 128 + 72);
    });
  }
  for (let i = nodes.length; i < dir.length / 128; i++) {
    dir.writeUInt32LE(NONE, i * 128 + 68);
    dir.writeUInt32LE(NONE, i * 128 + 72);
    dir.writeUInt32LE(NONE, i * 128 + 76);
  }

  const header = Buffer.alloc(SECTOR);
  Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]).copy(header, 0);
  header.writeUInt16LE(0x3e, 24); // minor version
  header.writeUInt16LE(3, 26); // major version
  header.writeUInt16LE(0xfffe, 28); // byte order
  header.writeUInt16LE(9, 30); // sector shift
  header.writeUInt16LE(6, 32); // mini sector shift
  header.writeUInt32LE(fatSectors, 44);
  header.writeUInt32LE(dirStart, 48);
  header.writeUInt32LE(CUTOFF, 56);
  header.writeUInt32LE(miniFatStart, 60);
  header.writeUInt32LE(miniFat.length ? miniFatBytes.length / SECTOR : 0, 64);
  header.writeUInt32LE(END, 68); // no DIFAT sectors
  header.writeUInt32LE(0, 72);
  for (let i = 0; i < 109; i++) header.writeUInt32LE(i < fatSectors ? i : FREE, 76 + i * 4);

  const fatBytes = table(fat, fatSectors * SECTOR);
  return Buffer.concat([header, fatBytes, dir, ...body]);
}

/** Directory order: shorter names first, then by upper-cased name. */
function compareNames(a: Node, b: Node): number {
  if (a.name.length !== b.name.length) return a.name.length - b.name.length;
  const x = a.name.toUpperCase();
  const y = b.name.toUpperCase();
  return x < y ? -1 : x > y ? 1 : 0;
}

/** A FAT or mini FAT of `bytes` bytes: `values`, then free entries. */
function table(values: number[], bytes: number): Buffer {
  const out = Buffer.alloc(bytes, 0xff);
  values.forEach((value, i) => out.writeUInt32LE(value >>> 0, i * 4));
  return out;
}

/** `data` padded with zeros to a multiple of `size`. */
function pad(data: Buffer, size: number): Buffer {
  const rest = data.length % size;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(size - rest)]);
}
