import type { SignatureProblem } from './ndb.js';

/**
 * ClamAV's container metadata signatures (`.cdb`), which name an archive member by its metadata
 * rather than its bytes:
 *
 *     VirusName:ContainerType:ContainerSize:FileNameREGEX:FileSizeInContainer:FileSizeReal:
 *     IsEncrypted:FilePos:Res1:Res2[:MinFL[:MaxFL]]
 *
 * Parsed and checked for form so that a database's counts are exact; the built-in engine does
 * not match them (the loader reports them as skipped).
 */

export interface ContainerMetadataSignature {
  name: string;
  containerType: string;
  fileNamePattern: string;
  line: number;
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
  return { name, containerType, fileNamePattern: pattern };
}
