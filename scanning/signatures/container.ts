import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { Transform, pipeline, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { parseContainerHeader, type ContainerHeader } from './cvd.js';
import { verifyDigitalSignature, type RsaPublicKey } from './dsig.js';

/**
 * Reads the database files out of a ClamAV container (`.cvd`, `.cld`, `.cud`; header format in
 * cvd.ts) the way libclamav does, streaming: the body (a tar.gz, or a plain tar when it starts
 * with `COPYING`) is decompressed and split into members as the file is read, and only the
 * member being read is held in memory (up to MAX_MEMBER_BYTES).
 *
 * Checks, as ClamAV 1.x makes them:
 * - `.cvd`: the MD5 of the body must be the header's, and the header's `dsig` must be the RSA
 *   signature of that MD5 by the given key (dsig.ts; by default ClamAV's own);
 * - `.cud` (unsigned, built by `sigtool --unsigned`): the MD5 only (clamd checks neither; the
 *   MD5 is still there and catches a damaged file);
 * - `.cld` (a `.cvd` freshclam patched with incremental updates): neither, since its header
 *   keeps the MD5 and signature of the `.cvd` it was patched from (clamd skips them too).
 *
 * Members are regular files whose name has no `/` (libclamav refuses anything else).
 * A container failing any check throws a ContainerError: the caller must drop every member it was
 * given, since the digest is only known once the last byte is read.
 */

const HEADER_BYTES = 512;
const TAR_BLOCK = 512;
/** A member larger than this is refused: parsers take a member's text as one string. */
export const MAX_MEMBER_BYTES = 500 * 1024 ** 2;
/** Bytes decompressed from one container before it is refused (ClamAV's biggest is ~1 GiB). */
export const MAX_EXPANDED_BYTES = 4 * 1024 ** 3;

export type ContainerVerification =
  /** `.cvd`: MD5 and digital signature checked. */
  | 'signed'
  /** `.cud`: MD5 checked, no signature to check. */
  | 'digest'
  /** `.cld`: its header describes the `.cvd` it was patched from, so nothing can be checked. */
  | 'unchecked';

export interface ContainerContents {
  header: ContainerHeader;
  verification: ContainerVerification;
}

export class ContainerError extends Error {}

export interface ReadContainerOptions {
  /** The key `.cvd` signatures are checked with (ClamAV's own in production, a test key in tests). */
  publicKey: RsaPublicKey;
  /** Whether a member is wanted: unwanted members are skipped without being kept. */
  wants(member: string): boolean;
  /** Called with each wanted member's content, in the order of the tar. */
  onMember(member: string, content: Buffer): void;
  maxMemberBytes?: number;
  maxExpandedBytes?: number;
}

/** The kind of container a file name is, by its extension. */
export function containerKind(file: string): 'cvd' | 'cld' | 'cud' | undefined {
  const extension = path.extname(file).toLowerCase();
  if (extension === '.cvd' || extension === '.cld' || extension === '.cud')
    return extension.slice(1) as 'cvd' | 'cld' | 'cud';
  return undefined;
}

/** Reads and checks a container, handing its wanted members over as it goes (see above). */
export async function readContainer(
  filePath: string,
  options: ReadContainerOptions,
): Promise<ContainerContents> {
  const file = path.basename(filePath);
  const kind = containerKind(file);
  if (!kind) throw new ContainerError(`${file} is not a .cvd, .cld or .cud file`);
  const { header, dsig, start } = await readHead(filePath, file);
  if (kind === 'cvd' && !verifyDigitalSignature(header.md5, dsig, options.publicKey)) {
    throw new ContainerError(
      `${file}: the digital signature does not match the MD5 in the header (not signed by the expected key)`,
    );
  }
  const md5 = createHash('md5');
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      md5.update(chunk);
      done(null, chunk);
    },
  });
  const source = createReadStream(filePath, { start: HEADER_BYTES });
  const compressed = !start.startsWith('COPYING');
  const noop = () => undefined;
  const body: Readable = compressed
    ? pipeline(source, tap, createGunzip(), noop)
    : pipeline(source, tap, noop);
  const tar = new TarReader(file, options);
  try {
    for await (const chunk of body) tar.push(chunk as Buffer);
  } catch (error) {
    source.destroy();
    if (error instanceof ContainerError) throw error;
    throw new ContainerError(`${file}: ${describe(error)}`);
  }
  tar.finish();
  const actual = md5.digest('hex');
  if (kind !== 'cld' && actual !== header.md5) {
    throw new ContainerError(
      `${file} is damaged: the MD5 of its content is ${actual}, its header says ${header.md5}`,
    );
  }
  return {
    header,
    verification: kind === 'cvd' ? 'signed' : kind === 'cud' ? 'digest' : 'unchecked',
  };
}

/** The header, its `dsig` field, and the first bytes after it (to tell tar from tar.gz). */
async function readHead(
  filePath: string,
  file: string,
): Promise<{ header: ContainerHeader; dsig: string; start: string }> {
  const handle = await open(filePath, 'r');
  try {
    const buffer = Buffer.alloc(HEADER_BYTES + 7);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    if (bytesRead < HEADER_BYTES + 2) throw new ContainerError(`${file} is too short`);
    const text = buffer.toString('latin1', 0, HEADER_BYTES);
    const parsed = parseContainerHeader(text, file);
    if (!parsed) throw new ContainerError(`${file} does not start with a ClamAV database header`);
    const md5 = parsed.md5.toLowerCase();
    if (!/^[0-9a-f]{32}$/.test(md5)) throw new ContainerError(`${file}: the header's MD5 is malformed`);
    const dsig = text.replace(/[\s\0]+$/, '').split(':')[6] ?? '';
    return {
      header: { ...parsed, md5, file },
      dsig,
      start: buffer.toString('latin1', HEADER_BYTES, bytesRead),
    };
  } catch (error) {
    if (error instanceof ContainerError) throw error;
    throw new ContainerError(`${file}: ${describe(error)}`);
  } finally {
    await handle.close();
  }
}

/**
 * A streaming reader of the tar inside a container, with libclamav's rules: 512-byte headers
 * (name in the first 100 bytes, octal size at 124, type at 156), regular files only, no `/` in
 * names, and the archive ends at a block starting with a zero byte.
 */
class TarReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The member being read: its name, bytes left, padding after it, and whether it is kept. */
  private member: { name: string; left: number; pad: number; keep: boolean } | undefined;
  private kept: Buffer[] = [];
  private ended = false;
  private expanded = 0;
  private readonly maxMember: number;
  private readonly maxExpanded: number;

  constructor(
    private readonly file: string,
    private readonly options: ReadContainerOptions,
  ) {
    this.maxMember = options.maxMemberBytes ?? MAX_MEMBER_BYTES;
    this.maxExpanded = options.maxExpandedBytes ?? MAX_EXPANDED_BYTES;
  }

  push(chunk: Buffer): void {
    this.expanded += chunk.length;
    if (this.expanded > this.maxExpanded) {
      throw new ContainerError(`${this.file} expands to more than ${this.maxExpanded} bytes`);
    }
    if (this.ended) return; // what follows the end of the tar only counts for the MD5
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.drain();
  }

  finish(): void {
    if (this.member || (!this.ended && this.pendingBytes > 0)) {
      throw new ContainerError(`${this.file} is truncated: its tar ends inside a member`);
    }
  }

  private drain(): void {
    for (;;) {
      const member = this.member;
      if (member) {
        if (member.left > 0) {
          if (this.pendingBytes === 0) return;
          const piece = this.take(Math.min(member.left, this.pendingBytes));
          member.left -= piece.length;
          if (member.keep) this.kept.push(piece);
          continue;
        }
        if (member.keep) {
          const content = Buffer.concat(this.kept);
          this.kept = [];
          member.keep = false;
          this.options.onMember(member.name, content);
        }
        if (member.pad > 0) {
          if (this.pendingBytes === 0) return;
          member.pad -= this.take(Math.min(member.pad, this.pendingBytes)).length;
          continue;
        }
        this.member = undefined;
      }
      if (this.pendingBytes < TAR_BLOCK) return;
      const block = this.take(TAR_BLOCK);
      if (block[0] === 0) {
        this.ended = true;
        this.pending = [];
        this.pendingBytes = 0;
        return;
      }
      this.member = this.memberOf(block);
    }
  }

  private memberOf(block: Buffer): { name: string; left: number; pad: number; keep: boolean } {
    const nameEnd = block.indexOf(0);
    const name = block.toString('latin1', 0, nameEnd < 0 || nameEnd > 100 ? 100 : nameEnd);
    if (name.includes('/'))
      throw new ContainerError(`${this.file}: member "${name}" has a path; containers hold files only`);
    const type = block[156];
    if (type !== 0x30 && type !== 0) {
      throw new ContainerError(`${this.file}: member "${name}" is not a regular file`);
    }
    const sizeText = block.toString('latin1', 124, 136).replace(/[\0 ]+$/, '').trim();
    if (!/^[0-7]{1,12}$/.test(sizeText))
      throw new ContainerError(`${this.file}: member "${name}" has no valid size`);
    const size = parseInt(sizeText, 8);
    const keep = this.options.wants(name);
    if (keep && size > this.maxMember) {
      throw new ContainerError(
        `${this.file}: member "${name}" is larger than ${this.maxMember} bytes`,
      );
    }
    return { name, left: size, pad: (TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK, keep };
  }

  /** Takes the next `count` bytes (count <= pendingBytes). */
  private take(count: number): Buffer {
    const parts: Buffer[] = [];
    let needed = count;
    while (needed > 0) {
      const head = this.pending[0]!;
      if (head.length <= needed) {
        parts.push(head);
        this.pending.shift();
        needed -= head.length;
      } else {
        parts.push(head.subarray(0, needed));
        this.pending[0] = head.subarray(needed);
        needed = 0;
      }
    }
    this.pendingBytes -= count;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
