import type { ListedMember } from '../archives/index.js';
import type { ContainerMetadataSignature, SizeRange } from '../signatures/cdb.js';
import { ENGINE_FLEVEL } from '../signatures/mdb.js';
import { translatePosixPattern } from './file-name-regex.js';

/**
 * Container metadata signatures (`.cdb`) against the members the archive walker lists, as ClamAV
 * matches them (`cli_matchmeta`): every field given must hold, a `*` field always holds. Only zip,
 * tar and 7z members are listed, so a signature for another container type is skipped at load,
 * and one for any container (`*`) applies to those members only. A field this engine does not
 * know for a member (a tar's size inside a gzip, a 7z member's position) never holds: a
 * signature constraining it does not match, never a false positive.
 */

/** What each ClamAV container type is among the walker's containers. */
const CONTAINERS: Readonly<Record<string, string>> = {
  CL_TYPE_ZIP: 'zip',
  CL_TYPE_POSIX_TAR: 'tar',
  CL_TYPE_7Z: '7z',
};
/**
 * The name ClamAV matches: at most 255 bytes of a zip member's name, the 100-byte name field of
 * a tar header; a 7z member's whole name (up to 1024 characters here). It also bounds what a
 * pattern is run on.
 */
const NAME_LENGTH: Readonly<Record<string, number>> = { zip: 255, tar: 100, '7z': 1024 };

export const CDB_SKIP_REASONS = {
  container: 'container type not listed with its metadata (only zip, POSIX tar and 7z are)',
  level: 'functionality level range excludes this engine',
  sevenZipPosition: 'FilePos of a 7z member is not known',
} as const;

interface CompiledSignature {
  signature: ContainerMetadataSignature;
  name: RegExp | undefined;
}

/**
 * Whether the built-in engine can match the signature, and its file name pattern compiled; the
 * reason it cannot otherwise (counted as skipped in the load report).
 */
export function compileMetadataSignature(
  signature: ContainerMetadataSignature,
): CompiledSignature | { reason: string } {
  const { minLevel, maxLevel } = signature;
  if (
    (minLevel !== undefined && minLevel > ENGINE_FLEVEL) ||
    (maxLevel ?? Infinity) < ENGINE_FLEVEL
  )
    return { reason: CDB_SKIP_REASONS.level };
  if (signature.containerType !== undefined && !Object.hasOwn(CONTAINERS, signature.containerType))
    return { reason: CDB_SKIP_REASONS.container };
  if (signature.containerType === 'CL_TYPE_7Z' && signature.position !== undefined)
    return { reason: CDB_SKIP_REASONS.sevenZipPosition };
  if (signature.fileNamePattern === undefined) return { signature, name: undefined };
  const translated = translatePosixPattern(signature.fileNamePattern);
  if ('reason' in translated) return translated;
  return { signature, name: translated.regex };
}

/** The loaded `.cdb` signatures, indexed by the walker's container name. */
export class ContainerMetadataMatcher {
  private readonly byContainer = new Map<string, CompiledSignature[]>();
  /** Signatures for any container (`*`). */
  private readonly anyContainer: CompiledSignature[] = [];
  readonly size: number;

  constructor(signatures: readonly ContainerMetadataSignature[]) {
    let size = 0;
    for (const signature of signatures) {
      const compiled = compileMetadataSignature(signature);
      if ('reason' in compiled) continue;
      size += 1;
      const type = signature.containerType;
      if (type === undefined) {
        this.anyContainer.push(compiled);
        continue;
      }
      const container = CONTAINERS[type] ?? '';
      const list = this.byContainer.get(container) ?? [];
      list.push(compiled);
      this.byContainer.set(container, list);
    }
    this.size = size;
  }

  /** The names of the signatures the member's metadata matches. */
  match(member: ListedMember): string[] {
    const length = NAME_LENGTH[member.container];
    if (length === undefined) return [];
    const name = member.name.slice(0, length);
    const typed = this.byContainer.get(member.container) ?? [];
    const matched = new Set<string>();
    const check = (signatures: CompiledSignature[], as: ListedMember) => {
      for (const compiled of signatures) {
        if (matches(compiled, as, name)) matched.add(compiled.signature.name);
      }
    };
    if (!member.documentLike) {
      check(typed, member);
      check(this.anyContainer, member);
      return [...matched];
    }
    // ClamAV types a zip laid out as an office document as that document, so signatures for
    // zips do not apply to its members as listed; but it also opens each local header past the
    // first as a zip embedded there, whose member is then at position 0 of a zip of unknown size.
    check(this.anyContainer, member);
    if (member.position !== undefined && member.position > 1) {
      const embedded = { ...member, position: 0, containerSize: undefined };
      check(typed, embedded);
      check(this.anyContainer, embedded);
    }
    return [...matched];
  }
}

function matches(compiled: CompiledSignature, member: ListedMember, name: string): boolean {
  const { signature } = compiled;
  if (signature.encrypted !== undefined && signature.encrypted !== member.encrypted) return false;
  if (!inRange(signature.containerSize, member.containerSize)) return false;
  if (!inRange(signature.compressedSize, member.compressedSize)) return false;
  if (!inRange(signature.size, member.size)) return false;
  if (!inRange(signature.position, member.position)) return false;
  return compiled.name === undefined || compiled.name.test(name);
}

/** ClamAV's CDBRANGE: equal bounds match exactly; otherwise a bound of 0 is no bound. */
function inRange(range: SizeRange | undefined, value: number | undefined): boolean {
  if (range === undefined) return true;
  if (value === undefined) return false;
  if (range.low === range.high) return value === range.low;
  return !((range.low !== 0 && range.low > value) || (range.high !== 0 && range.high < value));
}
