import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sniffContentType } from '../../scanning/content-type.js';
import { SeededRandom, makeTar, makeZip } from '../support/corpus.js';

/**
 * Content types are sniffed from the bytes (docs/api.md: `content_type` without a charset).
 * Every sample is built here from the smallest header the format needs.
 */

const WORD_MAIN =
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml';
const SHEET_MAIN = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml';
const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';
const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

const contentTypes = (part: string, type: string) =>
  Buffer.from(
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' +
      '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
      '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>' +
      '<Default Extension="xml" ContentType="application/xml"/>' +
      `<Override PartName="${part}" ContentType="${type}"/></Types>`,
  );

/** A DOS stub with `e_lfanew` pointing at a PE header for i386. */
function minimalPe(): Buffer {
  const image = Buffer.alloc(512);
  image.write('MZ', 0, 'latin1');
  image.writeUInt32LE(0x80, 0x3c);
  image.write('PE\0\0', 0x80, 'latin1');
  image.writeUInt16LE(0x014c, 0x84); // Machine: i386
  image.writeUInt16LE(1, 0x86); // NumberOfSections
  image.writeUInt16LE(0xe0, 0x94); // SizeOfOptionalHeader
  image.writeUInt16LE(0x0102, 0x96); // Characteristics: executable, 32-bit
  image.writeUInt16LE(0x010b, 0x98); // PE32 optional header magic
  return image;
}

/** An ELF64 little-endian header of an x86-64 executable. */
function minimalElf(): Buffer {
  const header = Buffer.alloc(64);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]).copy(header, 0);
  header.writeUInt16LE(2, 16); // ET_EXEC
  header.writeUInt16LE(0x3e, 18); // x86-64
  header.writeUInt32LE(1, 20);
  return header;
}

const PDF = Buffer.from(
  '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n',
  'latin1',
);
// A 1×1 PNG, a minimal JFIF JPEG (SOI, APP0, EOI) and a 1×1 GIF89a.
const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d4948445200000001000000010806000000' +
    '1f15c4890000000d4944415478da63f8ffff3f0005fe02fea7d6a4810000000049454e44ae426082',
  'hex',
);
const JPEG = Buffer.from('ffd8ffe000104a46494600010100000100010000ffd9', 'hex');
const GIF = Buffer.from('474946383961010001000000002c00000000010001000002024401003b', 'hex');

describe('content type sniffing', () => {
  let dir: string;
  let seq = 0;
  const sniff = async (content: Buffer) => {
    const file = path.join(dir, `sample-${++seq}`);
    await writeFile(file, content);
    return sniffContentType(file);
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-content-type-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('recognises archives: zip, gzip, tar', async () => {
    const rng = new SeededRandom('content-type-archives');
    expect(await sniff(await makeZip([{ name: 'a.bin', content: rng.bytes(100) }]))).toBe(
      'application/zip',
    );
    expect(await sniff(zlib.gzipSync(rng.bytes(1000)))).toBe('application/gzip');
    expect(await sniff(await makeTar([{ name: 'a.txt', content: Buffer.from('hello\n') }]))).toBe(
      'application/x-tar',
    );
  });

  it('recognises executables: PE as application/x-msdownload, ELF', async () => {
    expect(await sniff(minimalPe())).toBe('application/x-msdownload');
    expect(await sniff(minimalElf())).toBe('application/x-elf');
  });

  it('recognises PDF and images', async () => {
    expect(await sniff(PDF)).toBe('application/pdf');
    expect(await sniff(PNG)).toBe('image/png');
    expect(await sniff(JPEG)).toBe('image/jpeg');
    expect(await sniff(GIF)).toBe('image/gif');
  });

  it('tells zip-based Office documents from plain zips', async () => {
    const docx = await makeZip([
      { name: '[Content_Types].xml', content: contentTypes('/word/document.xml', WORD_MAIN) },
      { name: 'word/document.xml', content: Buffer.from('<w:document/>') },
    ]);
    expect(await sniff(docx)).toBe(DOCX);
    const xlsx = await makeZip([
      { name: '[Content_Types].xml', content: contentTypes('/xl/workbook.xml', SHEET_MAIN) },
      { name: 'xl/workbook.xml', content: Buffer.from('<workbook/>'), compress: false },
    ]);
    expect(await sniff(xlsx)).toBe(XLSX);
  });

  it('recognises an Office document whose [Content_Types].xml lies beyond the first 4100 bytes', async () => {
    // Word writes [Content_Types].xml first; other tools put large parts before it.
    const rng = new SeededRandom('content-type-docx');
    const docx = await makeZip([
      { name: 'word/media/image1.png', content: rng.bytes(20_000) },
      { name: '[Content_Types].xml', content: contentTypes('/word/document.xml', WORD_MAIN) },
      { name: 'word/document.xml', content: Buffer.from('<w:document/>') },
    ]);
    expect(await sniff(docx)).toBe(DOCX);
  });

  it('calls UTF-8 text text/plain, also when a multi-byte character straddles byte 4100', async () => {
    expect(await sniff(Buffer.from('hello world\n'))).toBe('text/plain');
    expect(await sniff(Buffer.from('Grüße, 日本語, emoji 😀\n'))).toBe('text/plain');
    for (const character of ['é', '€', '😀']) {
      const width = Buffer.byteLength(character);
      for (let cut = 1; cut < width; cut++) {
        // The character starts `cut` bytes before the 4100-byte boundary and ends after it.
        const text = Buffer.concat([
          Buffer.from('a'.repeat(4100 - cut)),
          Buffer.from(character.repeat(50)),
          Buffer.from(' end\n'),
        ]);
        expect(await sniff(text), `${character} cut after ${cut} bytes`).toBe('text/plain');
      }
    }
  });

  it('calls binary noise and non-UTF-8 bytes application/octet-stream', async () => {
    // Seeded noise whose first bytes happen to match no magic number.
    expect(await sniff(new SeededRandom('content-type-noise').bytes(10_000))).toBe(
      'application/octet-stream',
    );
    expect(await sniff(Buffer.from('text with a NUL\0 byte'))).toBe('application/octet-stream');
    expect(await sniff(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0x6f, 0x6b]))).toBe(
      'application/octet-stream',
    );
  });

  it('never fails on broken headers: a cut zip is still a zip', async () => {
    const rng = new SeededRandom('content-type-broken');
    const whole = await makeZip([{ name: 'a.bin', content: rng.bytes(30_000) }]);
    expect(await sniff(whole.subarray(0, 5000))).toBe('application/zip');
    expect(await sniff(minimalPe().subarray(0, 2))).toBe('application/x-msdownload');
  });
});
