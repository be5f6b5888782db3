import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zlib from 'node:zlib';

/**
 * PDF fixtures, built at run time: a small writer for hand-made documents (any stream filter,
 * damaged lengths, incremental updates) and Debian's qpdf for what real tools write (attachments,
 * object streams, encryption).
 */

/** An object's body: PDF syntax, or a stream. */
export type PdfBody = string | PdfStream;
/** A stream: its dictionary's entries besides /Length, its data, and a /Length to declare. */
export interface PdfStream {
  dict: string;
  data: Buffer;
  length?: string;
}

/**
 * A PDF whose objects are numbered from 1 in the order given; the first is the catalog. `trailer`
 * adds trailer entries. The cross-reference table is correct unless `damaged` says otherwise.
 */
export function writePdf(objects: PdfBody[], options: { trailer?: string } = {}): Buffer {
  const parts: Buffer[] = [Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n', 'latin1')];
  const offsets = appendObjects(parts, objects, 1);
  parts.push(xrefAndTrailer(offsets, 1, length(parts), objects.length + 1, options.trailer ?? ''));
  return Buffer.concat(parts);
}

/** `pdf` with an incremental update appended: `objects` numbered from `first`. */
export function appendUpdate(pdf: Buffer, first: number, objects: PdfBody[]): Buffer {
  const previous = Number(/startxref\s+(\d+)/.exec(pdf.toString('latin1').slice(-64))?.[1] ?? 0);
  const parts: Buffer[] = [pdf];
  const offsets = appendObjects(parts, objects, first);
  const size = first + objects.length;
  parts.push(xrefAndTrailer(offsets, first, length(parts), size, `/Prev ${previous}`));
  return Buffer.concat(parts);
}

/** A stream object whose data is deflated (`/Filter /FlateDecode`). */
export function flateStream(data: Buffer, dict = ''): PdfStream {
  return { dict: `/Filter /FlateDecode ${dict}`, data: zlib.deflateSync(data) };
}

/**
 * A one-page document with `data` attached as `name` (objects: catalog, pages, page, filespec,
 * embedded file, content stream).
 */
export function attachmentPdf(name: string, data: Buffer, embedded?: PdfBody): PdfBody[] {
  return [
    `<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(${name}) 4 0 R] >> >> >>`,
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 6 0 R >>',
    `<< /Type /Filespec /F (${name}) /UF (${name}) /EF << /F 5 0 R >> >>`,
    embedded ?? flateStream(data, '/Type /EmbeddedFile'),
    flateStream(Buffer.from('BT /F1 12 Tf 72 712 Td (Hello) Tj ET')),
  ];
}

function appendObjects(parts: Buffer[], objects: PdfBody[], first: number): number[] {
  const offsets: number[] = [];
  objects.forEach((body, index) => {
    offsets.push(length(parts));
    const num = first + index;
    if (typeof body === 'string') {
      parts.push(Buffer.from(`${num} 0 obj\n${body}\nendobj\n`, 'latin1'));
      return;
    }
    const declared = body.length ?? String(body.data.length);
    parts.push(
      Buffer.from(`${num} 0 obj\n<< ${body.dict} /Length ${declared} >>\nstream\n`, 'latin1'),
      body.data,
      Buffer.from('\nendstream\nendobj\n'),
    );
  });
  return offsets;
}

function xrefAndTrailer(
  offsets: number[],
  first: number,
  at: number,
  size: number,
  extra: string,
): Buffer {
  const rows = offsets.map((offset) => `${String(offset).padStart(10, '0')} 00000 n \n`);
  const header =
    first === 1 ? `xref\n0 ${size}\n0000000000 65535 f \n` : `xref\n${first} ${offsets.length}\n`;
  return Buffer.from(
    `${header}${rows.join('')}trailer\n<< /Size ${size} /Root 1 0 R ${extra} >>\nstartxref\n${at}\n%%EOF\n`,
    'latin1',
  );
}

function length(parts: Buffer[]): number {
  return parts.reduce((sum, part) => sum + part.length, 0);
}

/** Runs qpdf on `input` (`qpdf <args> in.pdf out.pdf`); extra files are written beside it first. */
export function qpdf(input: Buffer, args: string[], files: Record<string, Buffer> = {}): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-qpdf-'));
  try {
    writeFileSync(join(dir, 'in.pdf'), input);
    for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
    try {
      execFileSync('qpdf', [...args, 'in.pdf', 'out.pdf'], { cwd: dir, stdio: 'pipe' });
    } catch (err) {
      // Exit code 3: done, with warnings.
      if ((err as { status?: number }).status !== 3) throw err;
    }
    return readFileSync(join(dir, 'out.pdf'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A plain one-page PDF with `data` attached as `name` by qpdf, in object streams. */
export function qpdfAttachment(name: string, data: Buffer, extra: string[] = []): Buffer {
  const plain = writePdf([
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>',
  ]);
  return qpdf(plain, ['--object-streams=generate', `--add-attachment`, name, '--', ...extra], {
    [name]: data,
  });
}
