import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import zlib from 'node:zlib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { pdfFormat } from '../../scanning/archives/formats/pdf.js';
import { DEFAULT_LIMITS, Workspace } from '../support/archives.js';
import { eicar } from '../support/content.js';
import {
  appendUpdate,
  attachmentPdf,
  flateStream,
  qpdf,
  qpdfAttachment,
  writePdf,
} from '../support/pdf.js';
import { TEST_EXECUTABLE } from '../support/test-executable-corpus.js';

// The PDF handler (scanning/archives/formats/pdf.ts) through the walker: streams decoded,
// embedded files named, object streams opened, empty-password encryption undone.

const ws = new Workspace();
afterAll(() => ws.remove());
afterEach(() => expect(ws.scratchFiles()).toEqual([]));

const clamExe = readFileSync(TEST_EXECUTABLE);
const sha1 = (data: Buffer) => createHash('sha1').update(data).digest('hex');
const walk = (content: Buffer, limits = DEFAULT_LIMITS) =>
  ws.walk(content, 'doc.pdf', limits, [pdfFormat]);

/** The members of a walk, as name → content (below 64 KiB) or sha1. */
async function members(content: Buffer, limits = DEFAULT_LIMITS) {
  const result = await walk(content, limits);
  const found = new Map(
    result.visited.filter((v) => v.depth === 1).map((v) => [v.path.slice('doc.pdf/'.length), v]),
  );
  return { result, found };
}

const text = Buffer.from('Some page text ------ long enough to be worth compressing. '.repeat(20));

describe('PDF documents', () => {
  it('hands over the strings of objects outside streams as (strings), appearance streams marked', async () => {
    const pdf = writePdf([
      '<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [4 0 R] >> >>',
      '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
      '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Annots [4 0 R] >>',
      // A field and its widget in one: a UTF-16 value, a tooltip, its appearance stream.
      '<< /FT /Tx /T (name) /V <FEFF00C400640061> /TU (Your\\nname) /Subtype /Widget ' +
        '/Rect [0 0 200 20] /AP << /N 5 0 R >> >>',
      { dict: '/Subtype /Form /BBox [0 0 200 20]', data: Buffer.from('BT 2 5 Td (Ada) Tj ET') },
    ]);
    const { result, found } = await members(pdf);
    expect(result.unscannable).toEqual([]);
    expect(found.get('(strings)')?.data?.toString()).toBe('name\nÄda\nYour\nname');
    expect(found.get('stream-5-0.bin')?.appearance).toBe(true);
    expect(found.get('stream-5-0.bin')?.data?.toString()).toBe('BT 2 5 Td (Ada) Tj ET');

    // Encrypted with an empty user password, each string with its object's key: decrypted.
    const encrypted = qpdf(pdf, ['--encrypt', '', 'owner-secret', '256', '--']);
    expect(encrypted.toString('latin1')).not.toContain('(name)');
    const opened = await members(encrypted);
    expect(opened.result.unscannable).toEqual([]);
    // qpdf writes the entries in an order of its own.
    const lines = opened.found.get('(strings)')?.data?.toString().split('\n');
    expect(lines?.sort()).toEqual(['name', 'name', 'Your', 'Äda'].sort());
  });

  it('reads the strings of its objects up to a bound, and says when there were more', async () => {
    // 300,000 one-byte strings: each costs its byte and its bookkeeping against the 8 MiB.
    const objects = Array.from({ length: 300 }, () => `[${'(a) '.repeat(1000)}]`);
    const pdf = writePdf(['<< /Type /Catalog >>', ...objects]);
    const { result, found } = await members(pdf);
    expect(result.unscannable).toMatchObject([
      {
        reason: 'limits-exceeded',
        path: ['doc.pdf', '(strings)'],
        detail: 'pdf: strings of its objects past 8388608 bytes were not read',
      },
    ]);
    const read = found.get('(strings)')?.length ?? 0;
    expect(read).toBeGreaterThan(400_000);
    expect(read).toBeLessThan(600_000);
  });

  it('finds the test executable in ClamAV’s own clam.pdf, by its attachment name', async () => {
    const { result, found } = await members(readFileSync('/usr/share/clamav-testfiles/clam.pdf'));
    expect(found.get('clam.exe')?.sha1).toBe(sha1(clamExe));
    expect(found.get('clam.exe')?.container).toBe('pdf');
    expect(result.unscannable).toEqual([]);
  });

  it('decodes every general-purpose filter, chains of them and PNG predictors', async () => {
    const deflated = zlib.deflateSync(text);
    const hexWithSpaces = deflated.toString('hex').replace(/(.{7})/g, '$1 \n');
    const pdf = writePdf([
      '<< /Type /Catalog >>',
      flateStream(text),
      { dict: '/Filter [/AHx /Fl]', data: Buffer.from(`${hexWithSpaces}>`) },
      { dict: '/Filter /ASCII85Decode', data: Buffer.from(`${ascii85(text)}~>`) },
      // The example of ISO 32000-1 §7.4.4.2: "-----A---B".
      { dict: '/Filter /LZWDecode', data: Buffer.from('800b6050220c0c8501', 'hex') },
      { dict: '/Filter /RunLengthDecode', data: runLength(text) },
      {
        dict: '/Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 8 >>',
        data: zlib.deflateSync(pngUpRows(text, 8)),
      },
      { dict: '/Filter /DCTDecode', data: Buffer.from('\xff\xd8\xff\xe0 not decoded', 'latin1') },
      { dict: '', data: Buffer.from('stored as is') },
      { dict: '/Filter /FlateDecode', data: zlib.deflateRawSync(text) },
    ]);
    const { result, found } = await members(pdf);
    expect(result.unscannable).toEqual([]);
    const data = (n: number) => found.get(`stream-${n}-0.bin`)?.data?.toString('latin1');
    for (const n of [2, 3, 4, 6]) expect(data(n), `object ${n}`).toBe(text.toString('latin1'));
    // Predictor rows are whole: the last one is padded with zeros.
    expect(data(7)?.replace(/\0+$/, '')).toBe(text.toString('latin1'));
    expect(data(5)).toBe('-----A---B');
    expect(data(8)).toBe('\xff\xd8\xff\xe0 not decoded');
    expect(data(9)).toBe('stored as is');
    // Raw deflate, without the zlib header some writers leave out.
    expect(data(10)).toBe(text.toString('latin1'));
  });

  it('finds streams whose /Length is indirect, wrong or missing', async () => {
    const pdf = writePdf([
      '<< /Type /Catalog >>',
      { ...flateStream(text), length: '5 0 R' },
      { dict: '', data: Buffer.from('wrong length'), length: '3' },
      { dict: '', data: Buffer.from('no length at all'), length: '' },
      String(zlib.deflateSync(text).length),
    ]);
    const { found } = await members(pdf);
    expect(found.get('stream-2-0.bin')?.data).toEqual(text);
    expect(found.get('stream-3-0.bin')?.data?.toString()).toBe('wrong length');
    expect(found.get('stream-4-0.bin')?.data?.toString()).toBe('no length at all');
  });

  it('reads objects that straddle the handler’s 1 MiB read window', async () => {
    const pdf = writePdf([
      '<< /Type /Catalog >>',
      ...Array.from({ length: 3 }, (_, i) => ({
        dict: '',
        data: Buffer.alloc(1024 * 1024 - 300 - i * 97, 0x41),
      })),
      { dict: `/Note (${'n'.repeat(20_000)})`, data: Buffer.from('straddling') },
    ]);
    const { found } = await members(pdf);
    expect(found.get('stream-5-0.bin')?.data?.toString()).toBe('straddling');
    expect(found.size).toBe(4);
  });

  it('names embedded files, including those an incremental update adds', async () => {
    const original = writePdf(attachmentPdf('report.exe', clamExe));
    const updated = appendUpdate(original, 5, [
      flateStream(eicar(), '/Type /EmbeddedFile'),
      '<< /Type /Filespec /UF <feff00650069006300610072002e0063006f006d> /EF << /F 5 0 R >> >>',
    ]);
    const { result, found } = await members(updated);
    expect(result.unscannable).toEqual([]);
    // Object 5 exists twice (the update replaces it): both versions are scanned.
    expect(found.get('report.exe')?.sha1).toBe(sha1(clamExe));
    expect(found.get('5-0-report.exe')?.data).toEqual(eicar());
  });

  it('opens attachments qpdf writes, with their file specification in an object stream', async () => {
    const pdf = qpdfAttachment('clam.exe', clamExe);
    expect(pdf.toString('latin1')).toContain('/Type /ObjStm');
    const { result, found } = await members(pdf);
    expect(result.unscannable).toEqual([]);
    expect(found.get('clam.exe')?.sha1).toBe(sha1(clamExe));
    expect([...found.keys()].some((name) => name.startsWith('objstm-'))).toBe(true);
  });

  it('decrypts documents whose user password is empty: RC4 40 and 128, AES-128, AES-256 (R5, R6)', async () => {
    for (const strength of [
      ['40'],
      ['128', '--use-aes=n'],
      ['128', '--use-aes=y'],
      ['256', '--force-R5'],
      ['256'],
    ]) {
      const pdf = qpdfAttachment('clam.exe', clamExe, [
        '--allow-weak-crypto',
        '--encrypt',
        '',
        'owner-secret',
        ...strength,
        '--',
      ]);
      expect(pdf.toString('latin1'), strength.join(' ')).toContain('/Encrypt');
      const { result, found } = await members(pdf);
      expect(result.unscannable, strength.join(' ')).toEqual([]);
      expect(found.get('clam.exe')?.sha1, strength.join(' ')).toBe(sha1(clamExe));
    }
  });

  it('reports a document that needs a password to open as encrypted', async () => {
    const pdf = qpdfAttachment('clam.exe', clamExe, ['--encrypt', 'user', 'owner', '256', '--']);
    const { result, found } = await members(pdf);
    expect(found.size).toBe(0);
    expect(result.unscannable).toEqual([
      { reason: 'encrypted', path: ['doc.pdf'], detail: 'pdf: encrypted with a user password' },
    ]);
    const custom = writePdf(
      ['<< /Type /Catalog >>', '<< /Filter /Adobe.PubSec /O <00> /U <00> >>'],
      {
        trailer: '/Encrypt 2 0 R',
      },
    );
    expect((await walk(custom)).unscannable).toMatchObject([
      { reason: 'encrypted', detail: 'pdf: encrypted with the Adobe.PubSec security handler' },
    ]);
  });

  it('scans what a truncated document holds, and reports damaged compressed data', async () => {
    const whole = writePdf(attachmentPdf('a.txt', text));
    const cut = whole.subarray(0, whole.indexOf('endstream'));
    const truncated = await members(cut);
    expect(truncated.result.unscannable).toEqual([]);
    expect(truncated.found.get('a.txt')?.data).toEqual(text);

    const garbage = Buffer.concat([Buffer.from([0x78, 0x9c]), Buffer.alloc(64, 0xff)]);
    const damaged = writePdf([
      '<< /Type /Catalog >>',
      { dict: '/Filter /FlateDecode', data: garbage },
    ]);
    expect((await walk(damaged)).unscannable).toMatchObject([
      { reason: 'corrupt', path: ['doc.pdf', 'stream-2-0.bin'] },
    ]);
  });

  it('applies the member and expansion limits to streams', async () => {
    const bomb = writePdf([
      '<< /Type /Catalog >>',
      { dict: '/Filter /FlateDecode', data: zlib.deflateSync(Buffer.alloc(20 * 1024 * 1024)) },
    ]);
    const exploded = await walk(bomb);
    expect(exploded.unscannable).toMatchObject([{ reason: 'limits-exceeded' }]);
    expect(exploded.unscannable[0]?.detail).toMatch(/^expansion ratio exceeds 200:1/);
    const many = writePdf([
      '<< /Type /Catalog >>',
      ...Array.from({ length: 10 }, (_, i) => flateStream(Buffer.from(`page ${i}`))),
    ]);
    const limited = await walk(many, { ...DEFAULT_LIMITS, maxMembers: 3 });
    expect(limited.visited).toHaveLength(4);
    expect(limited.unscannable).toMatchObject([{ reason: 'limits-exceeded' }]);
  });

  it('survives hostile syntax: deep nesting, endless dictionaries, stray keywords', async () => {
    const hostile = Buffer.concat([
      Buffer.from('%PDF-1.7\n1 0 obj\n'),
      Buffer.from('<<'.repeat(100_000)),
      Buffer.from('\nendobj\n2 0 obj\n<< /A [1 2 3 /B (unclosed string'),
      Buffer.alloc(2 * 1024 * 1024, 0x20),
      Buffer.from('\n3 0 obj\n<< >> stream\nlast\nendstream\n'),
      Buffer.from(`4 0 obj\n<< /Filter [${'/AHx '.repeat(10_000)}] >> stream\n41>\nendstream\n`),
    ]);
    const { result, found } = await members(hostile);
    expect(result.unscannable).toEqual([]);
    expect(found.get('stream-3-0.bin')?.data?.toString()).toBe('last');
    // A chain of 10,000 filters is cut to its first eight.
    expect(found.get('stream-4-0.bin')?.data?.toString()).toBe('');
  });

  it('recognises the header anywhere in the first 1024 bytes, and nothing without it', async () => {
    const pdf = writePdf(attachmentPdf('a.txt', text));
    const prefixed = Buffer.concat([Buffer.alloc(900, 0x20), pdf]);
    expect((await members(prefixed)).found.get('a.txt')?.data).toEqual(text);
    for (const plain of [
      'A note about PDF files: %PDF is how they start.\n',
      `${'x'.repeat(1100)}%PDF-1.4\n1 0 obj << >> stream\nhidden\nendstream\n`,
    ]) {
      const result = await walk(Buffer.from(plain));
      expect(result.visited).toHaveLength(1);
      expect(result.unscannable).toEqual([]);
    }
    // A text that merely starts like a PDF: nothing to open, nothing reported.
    const header = await walk(Buffer.from('%PDF-1.4\njust some words\n'));
    expect(header.visited).toHaveLength(1);
    expect(header.unscannable).toEqual([]);
  });
});

function ascii85(data: Buffer): string {
  let out = '';
  for (let at = 0; at < data.length; at += 4) {
    const group = Buffer.alloc(4);
    data.copy(group, 0, at, at + 4);
    const count = Math.min(4, data.length - at);
    let value = group.readUInt32BE(0);
    if (value === 0 && count === 4) {
      out += 'z';
      continue;
    }
    const digits: string[] = [];
    for (let i = 0; i < 5; i++) {
      digits.unshift(String.fromCharCode((value % 85) + 33));
      value = Math.floor(value / 85);
    }
    out += digits.slice(0, count + 1).join('');
  }
  return out;
}

/** RunLengthDecode's encoding: repeats of two or more bytes, literal runs between them. */
function runLength(data: Buffer): Buffer {
  const out: number[] = [];
  let at = 0;
  while (at < data.length) {
    let run = 1;
    while (at + run < data.length && run < 128 && data[at + run] === data[at]) run++;
    if (run >= 2) {
      out.push(257 - run, data[at]!);
      at += run;
      continue;
    }
    let end = at + 1;
    while (end < data.length && end - at < 128 && data[end] !== data[end - 1]) end++;
    out.push(end - at - 1, ...data.subarray(at, end));
    at = end;
  }
  out.push(128);
  return Buffer.from(out);
}

/** Rows of `columns` bytes, each with the PNG "up" filter (tag 2). */
function pngUpRows(data: Buffer, columns: number): Buffer {
  const rows: Buffer[] = [];
  let previous = Buffer.alloc(columns);
  for (let at = 0; at < data.length; at += columns) {
    const row = Buffer.alloc(columns);
    data.copy(row, 0, at, at + columns);
    const filtered = row.map((byte, i) => (byte - previous[i]!) & 0xff);
    rows.push(Buffer.from([2]), Buffer.from(filtered));
    previous = row;
  }
  return Buffer.concat(rows).subarray(0, Math.ceil(data.length / columns) * (columns + 1));
}
