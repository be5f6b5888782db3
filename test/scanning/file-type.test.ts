import { describe, expect, it } from 'vitest';
import { detectFileKind, HtmlMarkerScanner } from '../../scanning/file-type.js';
import { ContentScanner } from '../../scanning/matcher/index.js';
import { TextNormaliser } from '../../scanning/matcher/text-normalise.js';
import { buildSignatureDatabase } from '../../scanning/signatures/database.js';

const bytes = (hex: string, text = '') =>
  Buffer.concat([Buffer.from(hex, 'hex'), Buffer.from(text, 'latin1')]);

describe('file kinds for target types', () => {
  it('reads magic numbers at fixed offsets first', () => {
    expect(detectFileKind(bytes('4d5a9000'))).toBe('pe');
    expect(detectFileKind(bytes('d0cf11e0a1b11ae1'))).toBe('ole2');
    expect(detectFileKind(bytes('7f454c46020101'))).toBe('elf');
    expect(detectFileKind(bytes('cffaedfe07000001'))).toBe('macho');
    expect(detectFileKind(bytes('', '%PDF-1.7\n'))).toBe('pdf');
    expect(detectFileKind(bytes('', 'CWS\x09'))).toBe('swf');
    expect(detectFileKind(bytes('89504e470d0a1a0a'))).toBe('graphics');
    expect(detectFileKind(bytes('ffd8ffe0'))).toBe('graphics');
    expect(detectFileKind(bytes('', 'Received: from a by b\n'))).toBe('mail');
    expect(detectFileKind(bytes('504b0304'))).toBe('other');
  });

  it('types text-like formats clamd knows by their magic as other formats, not text', () => {
    expect(detectFileKind(bytes('', 'begin 644 file.bin\n'))).toBe('other');
    expect(detectFileKind(bytes('', '{\\rtf1\\ansi'))).toBe('other');
    expect(detectFileKind(bytes('', '070701000000'))).toBe('other');
  });

  it('tells text (ASCII, UTF-8, UTF-16) from binary data as ClamAV does', () => {
    expect(detectFileKind(bytes('', 'plain words\r\n\tand tabs'))).toBe('text');
    expect(detectFileKind(Buffer.from('naïve café ünïcode', 'utf8'))).toBe('text');
    expect(
      detectFileKind(Buffer.concat([bytes('fffe'), Buffer.from('wide text', 'utf16le')])),
    ).toBe('text');
    expect(detectFileKind(bytes('00010002'))).toBe('other');
    // As in ClamAV, without a byte order mark almost any data passes for UTF-16 text.
    expect(detectFileKind(bytes('000102030405'))).toBe('text');
  });

  it('retypes text or data by patterns anywhere in the head: HTML, mail, PDF, Java', () => {
    expect(detectFileKind(bytes('', 'hello <script>x</script>'))).toBe('html');
    expect(detectFileKind(bytes('', 'see <a class=x href="y">'))).toBe('html');
    // Only the cases ClamAV lists: "<sCrIpT" is not a marker.
    expect(detectFileKind(bytes('', 'hello <sCrIpT>'))).toBe('text');
    expect(detectFileKind(bytes('', 'x\nFrom: a\nContent-Type: text/plain\n'))).toBe('mail');
    expect(detectFileKind(bytes('00', 'junk %PDF-1.4 more'))).toBe('pdf');
    expect(detectFileKind(bytes('cafebabe00000034'))).toBe('java');
    expect(detectFileKind(bytes('cafebabe00000002'))).toBe('macho');
  });

  it('finds an HTML marker further on, wherever the chunks split it', () => {
    const text = Buffer.from(`${'words '.repeat(400)}<a id=1 class=x hRef=y>`);
    for (const size of [1, 3, 7, 64, text.length]) {
      const scanner = new HtmlMarkerScanner();
      for (let i = 0; i < text.length; i += size) scanner.update(text.subarray(i, i + size));
      expect(scanner.found).toBe(true);
    }
    const plain = new HtmlMarkerScanner();
    plain.update(Buffer.from('a <b> <i>text</i> and an <A name=x> without the attribute'));
    expect(plain.found).toBe(false);
  });
});

describe('the normalised copy of text', () => {
  it('lowers letters, makes whitespace runs one space and drops control and high bytes', () => {
    const normaliser = new TextNormaliser();
    const out = Buffer.from(
      normaliser.normalise(Buffer.from('Hello,\r\n\t  WORLD\x00\x01 \xe9t\xe9')),
    );
    expect(out.toString('latin1')).toBe('hello, world t');
  });

  it('is the same whatever the chunks, and a scan finds target 7 in it with 1-byte chunks', () => {
    const db = buildSignatureDatabase([
      {
        file: 'text.ndb',
        text: `Text.Seven:7:*:${Buffer.from('evil words here').toString('hex')}\n`,
      },
    ]);
    const scanner = new ContentScanner(db);
    const content = Buffer.from(`${'Filler line.\n'.repeat(100)}EVIL\r\n   Words\tHERE\n`);
    for (const size of [1, 5, 1023, 1024, 1025, content.length]) {
      const session = scanner.session(content.length);
      for (let i = 0; i < content.length; i += size) session.update(content.subarray(i, i + size));
      expect(session.finish()).toEqual(['Text.Seven']);
    }
    // Not in a file that is not text, nor in text that turns out to be HTML.
    const binary = scanner.session();
    binary.update(Buffer.concat([Buffer.from([0, 0, 0, 1]), content]));
    expect(binary.finish()).toEqual([]);
    const html = scanner.session();
    html.update(Buffer.concat([content, Buffer.from('<script>')]));
    expect(html.finish()).toEqual([]);
  });

  it('keeps for the copy only the signatures that could match normalised text', () => {
    const hex = (text: string) => Buffer.from(text, 'latin1').toString('hex');
    const scannerOf = (ndb: string) =>
      new ContentScanner(buildSignatureDatabase([{ file: 'a.ndb', text: `${ndb}\n` }]));
    // Upper case, NULs, bytes from 0x80 up and PE-only signatures never match the copy.
    expect(scannerOf(`Upper:0:*:${hex('EVIL WORDS')}`).text).toBeNull();
    expect(scannerOf('Binary:0:*:4d5a90000300').text).toBeNull();
    expect(scannerOf(`Pe:1:*:${hex('evil words')}`).text).toBeNull();
    const scanner = scannerOf(`Lower:0:*:${hex('evil words')}`);
    expect(scanner.text?.db.bodies.map((body) => body.name)).toEqual(['Lower']);
  });
});
