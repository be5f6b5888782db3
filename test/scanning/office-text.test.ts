import { describe, expect, it } from 'vitest';
import { CompoundFileError, readCompoundFile } from '../../scanning/analysis/text/compound-file.js';
import { DocumentTextError } from '../../scanning/analysis/text/document-text-error.js';
import { sharedStrings, workbookText } from '../../scanning/analysis/text/excel-text.js';
import { officeDocumentText } from '../../scanning/analysis/text/office-text.js';
import { presentationText } from '../../scanning/analysis/text/powerpoint-text.js';
import { rtfText } from '../../scanning/analysis/text/rtf-text.js';
import { wordText } from '../../scanning/analysis/text/word-text.js';
import { compoundFile, excelWorkbook, wordDocument } from '../support/office-binary.js';

/** The text extractors of RTF and binary Office documents, one format at a time. */

/** What a reader refused the bytes with: the message, and the reason of a DocumentTextError. */
function failure(
  run: () => unknown,
): { message: string; reason?: string; error: Error } | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof DocumentTextError)
      return { message: error.message, reason: error.reason, error };
    if (error instanceof CompoundFileError) return { message: error.message, error };
    throw error;
  }
  return undefined;
}

describe('the compound file reader', () => {
  it('reads small streams from the mini stream and large ones from sectors', () => {
    const large = Buffer.alloc(10_000, 'abc');
    const file = readCompoundFile(
      compoundFile([
        { name: 'Small', data: Buffer.from('a short stream') },
        { name: 'Large', data: large },
        { name: 'Empty', data: Buffer.alloc(0) },
      ]),
    );
    expect([...file.streams].sort()).toEqual(['Empty', 'Large', 'Small']);
    expect(file.stream('small')?.toString()).toBe('a short stream');
    expect(file.stream('Large')?.equals(large)).toBe(true);
    expect(file.stream('Empty')?.length).toBe(0);
    expect(file.stream('Missing')).toBeUndefined();
  });

  it('refuses a sector chain that loops or leaves the file', () => {
    const bytes = compoundFile([{ name: 'Large', data: Buffer.alloc(5000, 1) }]);
    // The FAT is sector 0 (at 512): make the directory's sector point to itself.
    const directory = bytes.readUInt32LE(0x30);
    const looped = Buffer.from(bytes);
    looped.writeUInt32LE(directory, 512 + directory * 4);
    expect(failure(() => readCompoundFile(looped))?.message).toMatch(/loops/);
    expect(failure(() => readCompoundFile(bytes.subarray(0, 1024)))?.error).toBeInstanceOf(
      CompoundFileError,
    );
  });
});

describe('Word text', () => {
  it('takes the table stream the FIB names, and refuses a missing one', () => {
    const file = readCompoundFile(
      wordDocument([{ text: 'Hello\r' }, { text: 'there', wide: true }]),
    );
    const words = file.stream('WordDocument') ?? Buffer.alloc(0);
    expect(wordText(words, (name) => file.stream(name))).toBe('Hello there');
    expect(failure(() => wordText(words, () => undefined))?.message).toMatch(/table stream/);
  });

  it('reads a Word 95 document from fcMin to fcMac, and refuses a fast-saved one', () => {
    const fib = Buffer.alloc(0x300);
    fib.writeUInt16LE(0xa5ec, 0);
    fib.writeUInt16LE(0x68, 2);
    const text = Buffer.from('Caf\xe9 notes\rnext line', 'latin1');
    fib.writeUInt32LE(0x300, 0x18);
    fib.writeUInt32LE(0x300 + text.length, 0x1c);
    const document = Buffer.concat([fib, text]);
    expect(wordText(document, () => undefined)).toBe('Caf\u00e9 notes next line');
    document.writeUInt16LE(0x0004, 0x0a);
    expect(failure(() => wordText(document, () => undefined))?.message).toMatch(/fast-saved/);
  });
});

/** An SST record's data and the CONTINUE records after it. */
function sst(count: number, ...parts: Buffer[]): Buffer[] {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(count, 0);
  head.writeUInt32LE(count, 4);
  return [Buffer.concat([head, parts[0] ?? Buffer.alloc(0)]), ...parts.slice(1)];
}

describe('Excel text', () => {
  it('skips rich-text runs and phonetic data, across CONTINUE records too', () => {
    // "Rich": 2 runs (8 bytes) and 6 bytes of phonetic data; the runs cut by a CONTINUE.
    const rich = Buffer.concat([
      Buffer.from([4, 0, 0x0c, 2, 0, 6, 0, 0, 0]),
      Buffer.from('Rich'),
      Buffer.alloc(3),
    ]);
    const rest = Buffer.concat([Buffer.alloc(5), Buffer.alloc(6, 0xee)]);
    // "wide" in UTF-16, then "Name" whose characters start in a CONTINUE record (flags first).
    const wide = Buffer.concat([Buffer.from([4, 0, 1]), Buffer.from('wide', 'utf16le')]);
    const cut = Buffer.from([4, 0, 1]);
    const resumed = Buffer.concat([Buffer.from([0]), Buffer.from('Name')]);
    expect(sharedStrings(sst(3, rich, Buffer.concat([rest, wide, cut]), resumed))).toEqual([
      'Rich',
      'wide',
      'Name',
    ]);
  });

  it('refuses an encrypted workbook and a cut record', () => {
    const record = (type: number, data: Buffer) => {
      const header = Buffer.alloc(4);
      header.writeUInt16LE(type, 0);
      header.writeUInt16LE(data.length, 2);
      return Buffer.concat([header, data]);
    };
    const bof = record(0x0809, Buffer.from([0, 6, 5, 0, 0, 0, 0, 0]));
    expect(
      failure(() => workbookText(Buffer.concat([bof, record(0x2f, Buffer.alloc(4))])))?.reason,
    ).toBe('unsupported-method');
    expect(
      failure(() =>
        workbookText(Buffer.concat([bof, record(0xfc, Buffer.alloc(20))]).subarray(0, 20)),
      )?.reason,
    ).toBe('corrupt');
    expect(failure(() => workbookText(Buffer.from('not a workbook at all')))?.reason).toBe(
      'corrupt',
    );
  });
});

describe('PowerPoint text', () => {
  const record = (version: number, type: number, data: Buffer) => {
    const header = Buffer.alloc(8);
    header.writeUInt16LE(version, 0);
    header.writeUInt16LE(type, 2);
    header.writeUInt32LE(data.length, 4);
    return Buffer.concat([header, data]);
  };

  it('reads text atoms at any depth, and ignores the padding after the last record', () => {
    const atom = record(0, 0x0fa0, Buffer.from('deep text', 'utf16le'));
    const nested = record(0xf, 0x03e8, record(0xf, 0x0ff0, record(0xf, 0xf00d, atom)));
    const stream = Buffer.concat([
      nested,
      record(0, 0x0fa8, Buffer.from('bytes')),
      Buffer.alloc(12),
    ]);
    expect(presentationText(stream)).toBe('deep text\nbytes');
  });

  it('refuses an encrypted presentation and a record running past its container', () => {
    const crypt = record(0xf, 0x03e8, record(0xf, 0x2f14, Buffer.alloc(8)));
    expect(failure(() => presentationText(crypt))?.reason).toBe('unsupported-method');
    const overlong = record(0xf, 0x03e8, record(0, 0x0fa0, Buffer.alloc(8)));
    overlong.writeUInt32LE(100, 12);
    expect(failure(() => presentationText(overlong))?.reason).toBe('corrupt');
  });
});

describe('compound files', () => {
  /** The text of a compound file, and the reasons of what could not be read. */
  const read = (bytes: Buffer) => {
    const problems: string[] = [];
    const text = officeDocumentText(bytes, (problem) => problems.push(problem.reason));
    return { text, problems };
  };

  it('that hold no document give no text, and a damaged one is corrupt', () => {
    const other = compoundFile([{ name: 'Other', data: Buffer.from('x') }]);
    expect(read(other)).toEqual({ text: undefined, problems: [] });
    const damaged = Buffer.from(other);
    damaged.writeUInt16LE(7, 0x1e);
    expect(read(damaged)).toEqual({ text: undefined, problems: ['corrupt'] });
  });

  it('give the text of every document they hold, and report the one that cannot be read', () => {
    const sheet = readCompoundFile(excelWorkbook({ shared: ['embedded sheet'] })).stream(
      'Workbook',
    );
    const locked = readCompoundFile(excelWorkbook({ shared: ['x'], filePass: true })).stream(
      'Workbook',
    );
    const doc = wordDocument([{ text: 'main text\r' }], {
      extra: [
        { name: 'ObjectPool/_1/Workbook', data: sheet ?? Buffer.alloc(0) },
        { name: 'ObjectPool/_2/Workbook', data: locked ?? Buffer.alloc(0) },
      ],
    });
    expect(read(doc)).toEqual({
      text: 'main text \nSheet\nembedded sheet',
      problems: ['unsupported-method'],
    });
  });
});

describe('RTF text', () => {
  const rtf = (body: string) => rtfText(Buffer.from(`{\\rtf1\\ansi ${body}}`, 'latin1'));

  it('reads Unicode characters and skips their replacements as \\uc says', () => {
    expect(rtf('caf\\u233?')).toBe('caf\u00e9');
    expect(rtf("{\\uc2 a\\u8212\\'97\\'97b}")).toBe('a\u2014b');
    expect(rtf('{\\uc0 x\\u-3913 y}')).toBe('x\uf0b7y');
    expect(rtf('\\u55357?\\u56832?')).toBe('\u{1f600}');
  });

  it('skips destinations and binary data, keeps symbols', () => {
    expect(rtf('{\\*\\unknown {nested} text}visible')).toBe('visible');
    expect(
      rtf('{\\pict\\pngblip 89504e47}{\\field{\\*\\fldinst HYPERLINK "x"}{\\fldrslt link}}'),
    ).toBe('link');
    expect(rtf('a\\bin4 \x00\x01}{b')).toBe('ab');
    expect(rtf('non\\~breaking, opt\\-ional, dash\\_ed, \\{brace\\}')).toBe(
      'non\u00a0breaking, optional, dash-ed, {brace}',
    );
    expect(rtf('one\\par two\\tab three\\line four')).toBe('one\ntwo\tthree\nfour');
  });

  it('reads what it can of a damaged document', () => {
    expect(rtfText(Buffer.from('{\\rtf1 unclosed {\\b group', 'latin1'))).toBe('unclosed group');
    expect(rtfText(Buffer.from('{\\rtf1 closed}} extra}', 'latin1'))).toBe('closed extra');
  });
});
