/**
 * The installed names of a SIS 9.x package's files, from its SISController (already inflated):
 * SISController → SISInstallBlock → SISArray of SISFileDescription, each naming its target path
 * and the index of its SISFileData in the first SISDataUnit. Only names are read; a controller
 * that does not parse gives none (the files are then `file-<n>.bin`).
 */
const FIELD_STRING = 1;
const FIELD_ARRAY = 2;
const FIELD_CONTROLLER = 13;
const FIELD_FILE_DESCRIPTION = 24;
const FIELD_INSTALL_BLOCK = 28;
const FIELD_CAPABILITIES = 41;

interface Span {
  type: number;
  start: number;
  end: number;
}

export function controllerFileNames(controller: Buffer): Map<number, string> {
  const names = new Map<number, string>();
  try {
    const root = fieldAt(controller, 0, controller.length);
    if (root.type !== FIELD_CONTROLLER) return names;
    const block = fieldsIn(controller, root).find((f) => f.type === FIELD_INSTALL_BLOCK);
    if (!block) return names;
    const descriptions = fieldsIn(controller, block).find(
      (f) =>
        f.type === FIELD_ARRAY &&
        f.end - f.start >= 4 &&
        controller.readUInt32LE(f.start) === FIELD_FILE_DESCRIPTION,
    );
    if (!descriptions) return names;
    for (const element of arrayElements(controller, descriptions)) {
      const described = describe(controller, element);
      if (described) names.set(described.index, described.name);
    }
  } catch {
    // A damaged controller only costs the names.
  }
  return names;
}

/** A SISFileDescription: Target, MIMEType, [Capabilities], Hash, then fixed fields. */
function describe(buffer: Buffer, description: Span): { index: number; name: string } | undefined {
  const fields = fieldsIn(buffer, description);
  const target = fields[0];
  if (target?.type !== FIELD_STRING) return undefined;
  const hashAt = fields[2]?.type === FIELD_CAPABILITIES ? 3 : 2;
  const hash = fields[hashAt];
  if (!hash) return undefined;
  // After the hash: Operation (4), OperationOptions (4), Length (8), UncompressedLength (8),
  // FileIndex (4).
  const fixed = align4(hash.end);
  if (fixed + 28 > description.end) return undefined;
  const index = buffer.readUInt32LE(fixed + 24);
  const path = buffer.toString('utf16le', target.start, target.end);
  const name = path.split(/[/\\]/).pop();
  return name ? { index, name } : undefined;
}

function fieldAt(buffer: Buffer, at: number, limit: number): Span {
  const type = buffer.readUInt32LE(at);
  let length = buffer.readUInt32LE(at + 4);
  let start = at + 8;
  if (length & 0x80000000) {
    length = (length & 0x7fffffff) + buffer.readUInt32LE(at + 8) * 2 ** 31;
    start += 4;
  }
  const end = start + length;
  if (end > limit) throw new RangeError(`field ${type} at ${at} runs past its container`);
  return { type, start, end };
}

function fieldsIn(buffer: Buffer, parent: Span): Span[] {
  const fields: Span[] = [];
  for (let at = parent.start; at + 8 <= parent.end;) {
    const field = fieldAt(buffer, at, parent.end);
    fields.push(field);
    at = align4(field.end);
  }
  return fields;
}

/** The elements of a SISArray: a length each, no type. */
function arrayElements(buffer: Buffer, array: Span): Span[] {
  const type = buffer.readUInt32LE(array.start);
  const elements: Span[] = [];
  for (let at = array.start + 4; at + 4 <= array.end;) {
    const start = at + 4;
    const end = start + buffer.readUInt32LE(at);
    if (end > array.end) throw new RangeError(`array element at ${at} runs past its array`);
    elements.push({ type, start, end });
    at = align4(end);
  }
  return elements;
}

function align4(offset: number): number {
  return offset + ((4 - (offset % 4)) % 4);
}
