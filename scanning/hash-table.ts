/**
 * The digests of one hash algorithm, kept compact: ClamAV's official database holds millions of
 * hashes, and a JavaScript object per signature (a Map entry, a string, an array, an object)
 * costs about 250 bytes each — over a gigabyte. Here every signature is a row in flat typed
 * arrays (its digest bytes, its size, where its name lives in one name heap), indexed by an
 * open-addressing table keyed on the digest's first bytes (digests are uniformly distributed,
 * so they hash themselves). Rows are appended while loading; the index is built on first lookup.
 */
export class HashTable {
  private digests: Buffer;
  /** The file size each row names; ANY_SIZE for `*`. */
  private sizes: Float64Array;
  private nameStarts: Uint32Array;
  private nameLengths: Uint32Array;
  private names: Buffer;
  private namesUsed = 0;
  private rows = 0;
  /** Row index + 1 per slot (0: empty); rebuilt when rows were added since. */
  private slots: Int32Array | undefined;
  private indexedRows = 0;

  constructor(readonly digestLength: number) {
    const capacity = 1024;
    this.digests = Buffer.alloc(capacity * digestLength);
    this.sizes = new Float64Array(capacity);
    this.nameStarts = new Uint32Array(capacity);
    this.nameLengths = new Uint32Array(capacity);
    this.names = Buffer.alloc(capacity * 32);
  }

  get count(): number {
    return this.rows;
  }

  /**
   * Appends one signature: its digest as bytes (`digest[digestStart…]`), its size (ANY_SIZE for
   * `*`) and its name as UTF-8 bytes (`name[nameStart…nameEnd]`).
   */
  add(
    digest: Uint8Array,
    digestStart: number,
    size: number,
    name: Uint8Array,
    nameStart: number,
    nameEnd: number,
  ): void {
    if (this.rows === this.sizes.length) this.growRows();
    const row = this.rows;
    const length = this.digestLength;
    // Byte loops: a subarray per row costs more than copying 16–32 bytes (millions of rows).
    const digests = this.digests;
    for (let i = 0, at = row * length; i < length; i++)
      digests[at + i] = digest[digestStart + i] ?? 0;
    this.sizes[row] = size;
    const nameLength = nameEnd - nameStart;
    if (this.namesUsed + nameLength > this.names.length) this.growNames(nameLength);
    const names = this.names;
    for (let i = 0, at = this.namesUsed; i < nameLength; i++)
      names[at + i] = name[nameStart + i] ?? 0;
    this.nameStarts[row] = this.namesUsed;
    this.nameLengths[row] = nameLength;
    this.namesUsed += nameLength;
    this.rows += 1;
  }

  /** Appends every row of `other` (same digest length), copying its arrays in bulk. */
  append(other: HashTable): void {
    while (this.sizes.length < this.rows + other.rows) this.growRows();
    if (this.namesUsed + other.namesUsed > this.names.length) this.growNames(other.namesUsed);
    const length = this.digestLength;
    this.digests.set(other.digests.subarray(0, other.rows * length), this.rows * length);
    this.sizes.set(other.sizes.subarray(0, other.rows), this.rows);
    this.nameLengths.set(other.nameLengths.subarray(0, other.rows), this.rows);
    for (let row = 0; row < other.rows; row++) {
      this.nameStarts[this.rows + row] = (other.nameStarts[row] ?? 0) + this.namesUsed;
    }
    this.names.set(other.names.subarray(0, other.namesUsed), this.namesUsed);
    this.namesUsed += other.namesUsed;
    this.rows += other.rows;
  }

  /** The signatures with this digest whose size is `size` or any size (null: `*`). */
  lookup(digest: Uint8Array, size: number): { name: string; size: number | null }[] {
    if (digest.length !== this.digestLength || this.rows === 0) return [];
    const slots = this.index();
    const mask = slots.length - 1;
    const found: { name: string; size: number | null }[] = [];
    for (let slot = slotOf(digest, 0, mask); ; slot = (slot + 1) & mask) {
      const entry = slots[slot] ?? 0;
      if (entry === 0) return found;
      const row = entry - 1;
      if (!this.digestAt(row, digest)) continue;
      const rowSize = this.sizes[row] ?? ANY_SIZE;
      if (rowSize === ANY_SIZE) found.push({ name: this.nameAt(row), size: null });
      else if (rowSize === size) found.push({ name: this.nameAt(row), size });
    }
  }

  private digestAt(row: number, digest: Uint8Array): boolean {
    const length = this.digestLength;
    const start = row * length;
    for (let i = 0; i < length; i++) if (this.digests[start + i] !== digest[i]) return false;
    return true;
  }

  private nameAt(row: number): string {
    const start = this.nameStarts[row] ?? 0;
    return this.names.toString('utf8', start, start + (this.nameLengths[row] ?? 0));
  }

  /**
   * The slot table for every row, at most half full: built by the loader once loading is over
   * (or on the first lookup after rows were added).
   */
  index(): Int32Array {
    if (this.slots && this.indexedRows === this.rows) return this.slots;
    let capacity = 1024;
    while (capacity < this.rows * 2) capacity *= 2;
    const slots = new Int32Array(capacity);
    const mask = capacity - 1;
    const length = this.digestLength;
    for (let row = 0; row < this.rows; row++) {
      let slot = slotOf(this.digests, row * length, mask);
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = row + 1;
    }
    this.slots = slots;
    this.indexedRows = this.rows;
    return slots;
  }

  private growRows(): void {
    const capacity = this.sizes.length * 2;
    const digests = Buffer.alloc(capacity * this.digestLength);
    this.digests.copy(digests);
    this.digests = digests;
    this.sizes = grown(this.sizes, new Float64Array(capacity));
    this.nameStarts = grown(this.nameStarts, new Uint32Array(capacity));
    this.nameLengths = grown(this.nameLengths, new Uint32Array(capacity));
  }

  private growNames(needed: number): void {
    let capacity = this.names.length * 2;
    while (capacity < this.namesUsed + needed) capacity *= 2;
    const names = Buffer.alloc(capacity);
    this.names.copy(names, 0, 0, this.namesUsed);
    this.names = names;
  }
}

/** The size of a row whose signature matches files of any size (`*`). */
export const ANY_SIZE = -1;

/** The digest's first four bytes (at `at`), which are as good as random, masked to the table. */
function slotOf(digests: Uint8Array, at: number, mask: number): number {
  const word =
    ((digests[at] ?? 0) | ((digests[at + 1] ?? 0) << 8) | ((digests[at + 2] ?? 0) << 16)) +
    (digests[at + 3] ?? 0) * 0x1000000;
  return word & mask;
}

function grown<T extends Float64Array | Uint32Array>(from: T, to: T): T {
  to.set(from);
  return to;
}
