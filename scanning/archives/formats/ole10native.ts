import type { FormatHandler, UnpackContext, UnpackInput } from '../format.js';

/**
 * A file embedded in an Office document as an OLE "Package" object: the `\x01Ole10Native` stream
 * of an OLE2 storage (7-Zip names it `[1]Ole10Native`). The stream wraps the file in a small
 * header — size, type 2, label, original path, a temporary path, the file's size — and the file
 * follows; unwrapped, it is scanned as itself (a hash signature matches it, not its wrapper).
 */
export function createOle10NativeFormat(): FormatHandler {
  return {
    name: 'ole-package',
    input: 'stream',
    // The member's name is its storage path (`ObjectPool/_1279313719/[1]Ole10Native`).
    sniff: (head, name) =>
      name.split('/').pop() === STREAM_NAME && head.length >= 6 && head.readUInt16LE(4) === PACKAGE,
    unpack,
  };
}

const STREAM_NAME = '[1]Ole10Native';
const PACKAGE = 2;
/** The header's strings are paths: anything longer is no package header. */
const MAX_HEADER = 4096;

interface PackageHeader {
  name: string;
  dataStart: number;
  dataSize: number;
}

/** The header, 'more' when `bytes` ends inside it, undefined when it is no package header. */
function parseHeader(bytes: Buffer): PackageHeader | 'more' | undefined {
  let at = 6;
  /** The NUL-terminated string at `at` (moving past it); null while its end is not there yet. */
  const string = (): string | null => {
    const end = bytes.indexOf(0, at);
    if (end < 0) return null;
    const text = bytes.toString('latin1', at, end);
    at = end + 1;
    return text;
  };
  const incomplete = () => (bytes.length >= MAX_HEADER ? undefined : 'more');
  const label = string();
  if (label === null) return incomplete();
  const path = string();
  if (path === null) return incomplete();
  if (bytes.length < at + 8) return 'more';
  const tempLength = bytes.readUInt32LE(at + 4);
  if (tempLength > MAX_HEADER) return undefined;
  at += 8 + tempLength;
  if (bytes.length < at + 4) return incomplete();
  const dataSize = bytes.readUInt32LE(at);
  const name = path.split(/[\\/]/).pop() || label || '(embedded file)';
  return { name, dataStart: at + 4, dataSize };
}

async function unpack(input: UnpackInput, context: UnpackContext): Promise<void> {
  if (input.kind !== 'stream') return;
  const chunks = input.chunks[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  let header = parseHeader(head);
  while (header === 'more' || head.length < 6) {
    const next = await chunks.next();
    if (next.done) return; // too short for a package: scanned as it is
    head = Buffer.concat([head, next.value]);
    header = parseHeader(head);
  }
  if (!header) return; // another kind of native data: scanned as it is
  const { name, dataStart, dataSize } = header;
  async function* embedded(): AsyncGenerator<Buffer> {
    let remaining = dataSize;
    const first = head.subarray(dataStart, dataStart + remaining);
    remaining -= first.length;
    if (first.length > 0) yield first;
    while (remaining > 0) {
      const next = await chunks.next();
      if (next.done) throw new Error(`the embedded file is cut short (${remaining} bytes missing)`);
      const part = next.value.subarray(0, remaining);
      remaining -= part.length;
      yield part;
    }
  }
  await context.member(name, embedded(), { size: dataSize });
}
