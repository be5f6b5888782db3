/**
 * RTF fixtures, written by hand after [MS-OLEDS] (no Debian tool writes RTF with embedded
 * objects): an `\object` whose `\objdata` holds an OLE1 embedded object, either a `Package`
 * (the Packager's wrapper around a plain file) or any other class with its native data.
 */

/** The OLE1 EmbeddedObject of class `className` with `native` as its native data. */
export function ole1Object(className: string, native: Buffer): Buffer {
  return Buffer.concat([
    u32(0x0501), // OLEVersion
    u32(2), // FormatID: embedded
    lengthPrefixed(className),
    lengthPrefixed(''), // TopicName
    lengthPrefixed(''), // ItemName
    u32(native.length),
    native,
  ]);
}

/** The Packager's native data wrapping `data` as the file `name`. */
export function packageNative(name: string, data: Buffer): Buffer {
  const temp = Buffer.from(`C:\\Users\\me\\AppData\\Local\\Temp\\${name}\0`, 'latin1');
  return Buffer.concat([
    Buffer.from([2, 0]),
    Buffer.from(`${name}\0C:\\Users\\me\\Desktop\\${name}\0`, 'latin1'),
    u32(0x00030000),
    u32(temp.length),
    temp,
    u32(data.length),
    data,
  ]);
}

export interface RtfOptions {
  /** Characters between hex pairs (line breaks, spaces: what writers and obfuscators add). */
  separator?: string;
  /** Hex digits per line. */
  lineLength?: number;
}

/** An RTF document with `objdata` (already OLE1-wrapped, or not) embedded as an object. */
export function rtfWithObject(objdata: Buffer, options: RtfOptions = {}): Buffer {
  const hex = objdata.toString('hex');
  const line = options.lineLength ?? 64;
  const lines: string[] = [];
  for (let at = 0; at < hex.length; at += line) lines.push(hex.slice(at, at + line));
  const body = lines.join(options.separator ?? '\r\n');
  return Buffer.from(
    '{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0\\froman Times New Roman;}}\n' +
      '{\\pard\\plain Here is a file: {\\object\\objemb\\objw855\\objh765' +
      `{\\*\\objclass Package}{\\*\\objdata ${body}\n}` +
      '{\\result {\\pict\\wmetafile8 0100}}}\\par}\n}\n',
    'latin1',
  );
}

/** An RTF document with `data` as a `\bin` run (binary, not hex). */
export function rtfWithBin(data: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`{\\rtf1\\ansi{\\pard Some text {\\*\\blob\\bin${data.length} `, 'latin1'),
    data,
    Buffer.from('}\\par}}\n', 'latin1'),
  ]);
}

function u32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32LE(value);
  return out;
}

function lengthPrefixed(text: string): Buffer {
  if (text === '') return u32(0);
  const bytes = Buffer.from(`${text}\0`, 'latin1');
  return Buffer.concat([u32(bytes.length), bytes]);
}
