import type { SignatureProblem } from './ndb.js';

/**
 * ClamAV's container metadata signatures (`.cdb`), which name an archive member by its metadata
 * rather than its bytes:
 *
 *     VirusName:ContainerType:ContainerSize:FileNameREGEX:FileSizeInContainer:FileSizeReal:
 *     IsEncrypted:FilePos:Res1:Res2[:MinFL[:MaxFL]]
 *
 * Parsed and checked for form here; matcher/container-metadata.ts decides which ones the
 * built-in engine can match and matches them against the members the archive walker lists.
 * `Res1` and `Res2` are read by ClamAV but never compared, so they are not kept.
 */

export interface ContainerMetadataSignature {
  name: string;
  /** A `CL_TYPE_*` name, or undefined for `*` (any container). */
  containerType: string | undefined;
  containerSize: SizeRange | undefined;
  /** A POSIX extended regular expression, or undefined for `*` (any name). */
  fileNamePattern: string | undefined;
  /** The member's size inside the container (compressed size). */
  compressedSize: SizeRange | undefined;
  /** The member's real (uncompressed) size. */
  size: SizeRange | undefined;
  encrypted: boolean | undefined;
  /** The member's position in the container, as ClamAV counts it (from 1 for zip and tar). */
  position: SizeRange | undefined;
  /** The functionality levels the signature is for (ClamAV skips it outside them). */
  minLevel: number | undefined;
  maxLevel: number | undefined;
  line: number;
}

/**
 * `n` (low = high = n) or `n-m`. As ClamAV compares them: equal bounds must match exactly;
 * otherwise a bound of 0 is no bound (`0-100` is "at most 100", `100-0` "at least 100").
 */
export interface SizeRange {
  low: number;
  high: number;
}

const SIZE = /^(\*|\d{1,15}(-\d{1,15})?)$/;

export function parseCdbText(
  text: string,
  file: string,
): {
  signatures: ContainerMetadataSignature[];
  problems: SignatureProblem[];
  warnings: SignatureProblem[];
} {
  const signatures: ContainerMetadataSignature[] = [];
  const problems: SignatureProblem[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index += 1) {
    const line = (lines[index] ?? '').replace(/\r$/, '');
    if (line.trim() === '' || line.startsWith('#')) continue;
    const message = checkLine(line);
    if (typeof message === 'string') problems.push({ file, line: index + 1, message });
    else signatures.push({ ...message, line: index + 1 });
  }
  return { signatures, problems, warnings: [] };
}

function checkLine(line: string): Omit<ContainerMetadataSignature, 'line'> | string {
  const fields = line.split(':');
  if (fields.length < 10 || fields.length > 12)
    return 'expected VirusName:ContainerType:ContainerSize:FileNameREGEX:FileSizeInContainer:FileSizeReal:IsEncrypted:FilePos:Res1:Res2[:MinFL[:MaxFL]]';
  const [name, containerType, containerSize, pattern, sizeIn, sizeReal, encrypted, position] =
    fields as [string, string, string, string, string, string, string, string];
  if (name === '') return 'the signature has no name';
  if (containerType !== '*' && !/^CL_TYPE_[A-Z0-9_]+$/.test(containerType))
    return 'the container type is neither * nor a CL_TYPE_ name';
  for (const size of [containerSize, sizeIn, sizeReal, position]) {
    if (!SIZE.test(size)) return 'a size or position is neither *, n nor n-m';
  }
  if (!/^(\*|0|1)$/.test(encrypted)) return 'IsEncrypted is neither *, 0 nor 1';
  if (pattern === '') return 'the file name pattern is empty';
  for (const level of fields.slice(10)) {
    if (!/^\d{1,6}$/.test(level)) return 'a functionality level is not a number';
  }
  return {
    name,
    containerType: containerType === '*' ? undefined : containerType,
    containerSize: sizeRange(containerSize),
    fileNamePattern: pattern === '*' ? undefined : pattern,
    compressedSize: sizeRange(sizeIn),
    size: sizeRange(sizeReal),
    encrypted: encrypted === '*' ? undefined : encrypted === '1',
    position: sizeRange(position),
    minLevel: fields[10] === undefined ? undefined : Number(fields[10]),
    maxLevel: fields[11] === undefined ? undefined : Number(fields[11]),
  };
}

function sizeRange(field: string): SizeRange | undefined {
  if (field === '*') return undefined;
  const [low, high = low] = field.split('-').map(Number) as [number, number?];
  return { low, high };
}
