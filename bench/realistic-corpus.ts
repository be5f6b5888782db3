import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import yauzl from 'yauzl';
import { gzip, tar, zip } from '../test/support/archives.js';
import { int, pick, seededRng, type Rng } from '../test/support/signature-gen.js';
import { envInt } from './support.js';

const run = promisify(execFile);

/**
 * A corpus of realistic files, built at bench time from what Debian installs on the machine
 * (nothing of it is committed): real Windows PE executables (the launchers inside Debian's
 * setuptools and pip wheels, ClamAV's packed test executables), real ELF programs and shared
 * libraries, and PDFs, Office documents (docx, xlsx), archives (zip, tar.gz, 7z) and mail built
 * here around real text (Debian's copyright files and changelogs) and real binaries. The
 * selection is deterministic for a given machine: sorted listings and a seeded generator.
 */

export const CORPUS_KINDS = ['pe', 'elf', 'pdf', 'office', 'archive', 'mail'] as const;
export type CorpusKind = (typeof CORPUS_KINDS)[number];

export interface CorpusFile {
  kind: CorpusKind;
  path: string;
  size: number;
  name: string;
}

export interface CorpusSettings {
  /** Scales every count but the PE files (all of them are taken): 100 = the default corpus. */
  percent: number;
}

export function corpusSettings(): CorpusSettings {
  return { percent: envInt('BENCH_OFFICIAL_CORPUS_PERCENT', 100) };
}

/** Files per kind at 100 %. */
const COUNTS = { elf: 120, pdf: 40, docx: 24, xlsx: 16, zip: 10, tgz: 10, sevenZip: 6, mail: 30 };

const WHEELS_DIR = '/usr/share/python-wheels';
const CLAMAV_TESTFILES_DIR = '/usr/share/clamav-testfiles';
const ELF_DIRS = ['/usr/bin', '/usr/lib/x86_64-linux-gnu'];
const DOC_DIR = '/usr/share/doc';
const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const MIB = 1024 * 1024;

/** What the generated files are made of: real binaries and real text from the machine. */
export interface Sources {
  pe: Array<{ name: string; data: Buffer }>;
  elfPaths: string[];
  texts: string[];
}

export async function buildRealisticCorpus(
  dir: string,
  settings: CorpusSettings,
): Promise<{ files: CorpusFile[]; sources: Sources }> {
  await mkdir(dir, { recursive: true });
  const scaled = (count: number) => Math.max(1, Math.round((count * settings.percent) / 100));
  const rng = seededRng(0xc0_4905);
  const sources: Sources = {
    pe: await windowsExecutables(),
    elfPaths: await elfSample(scaled(COUNTS.elf)),
    texts: await debianTexts(),
  };
  if (sources.texts.length === 0) throw new Error(`no text found under ${DOC_DIR}`);
  const files: CorpusFile[] = [];
  const add = async (kind: CorpusKind, name: string, data: Buffer) => {
    const file = path.join(dir, kind, name);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, data);
    files.push({ kind, path: file, size: data.length, name });
  };

  for (const pe of sources.pe) await add('pe', pe.name, pe.data);
  for (const elf of sources.elfPaths) {
    await add(
      'elf',
      `${path.basename(path.dirname(elf))}-${path.basename(elf)}`,
      await readFile(elf),
    );
  }
  for (let i = 0; i < scaled(COUNTS.pdf); i++) {
    const attachment = i % 2 === 1 ? await realBinary(rng, sources) : undefined;
    await add('pdf', `document-${i}.pdf`, pdf(pagesOf(rng, sources, int(rng, 3, 30)), attachment));
  }
  for (let i = 0; i < scaled(COUNTS.docx); i++) {
    await add(
      'office',
      `report-${i}.docx`,
      await docx(paragraphsOf(rng, sources, int(rng, 40, 400))),
    );
  }
  for (let i = 0; i < scaled(COUNTS.xlsx); i++) {
    await add('office', `sheet-${i}.xlsx`, await xlsx(rng, sources, int(rng, 200, 3000)));
  }
  for (let i = 0; i < scaled(COUNTS.zip); i++) {
    await add('archive', `bundle-${i}.zip`, await zip(await archiveMembers(rng, sources)));
  }
  for (let i = 0; i < scaled(COUNTS.tgz); i++) {
    const members = await archiveMembers(rng, sources);
    await add('archive', `bundle-${i}.tar.gz`, gzip(await tar(members.map(asTarEntry))));
  }
  for (let i = 0; i < scaled(COUNTS.sevenZip); i++) {
    await add('archive', `bundle-${i}.7z`, await sevenZip(dir, await archiveMembers(rng, sources)));
  }
  for (let i = 0; i < scaled(COUNTS.mail); i++) {
    const attachments = [];
    for (let k = int(rng, 1, 3); k > 0; k--) attachments.push(await realBinary(rng, sources));
    await add(
      'mail',
      `message-${i}.eml`,
      mail(rng, paragraphsOf(rng, sources, int(rng, 3, 30)), attachments),
    );
  }
  return { files, sources };
}

// ---------------------------------------------------------------------------------------------
// Real files from the machine

/** The `.exe` launchers inside Debian's Python wheels, then ClamAV's packed test executables. */
async function windowsExecutables(): Promise<Array<{ name: string; data: Buffer }>> {
  const found: Array<{ name: string; data: Buffer }> = [];
  const wheels = (await readdir(WHEELS_DIR).catch(() => [] as string[]))
    .filter((name) => name.endsWith('.whl'))
    .sort();
  for (const wheel of wheels) {
    const archive = await yauzl.openPromise(path.join(WHEELS_DIR, wheel));
    try {
      for await (const entry of archive.eachEntry()) {
        if (!entry.fileName.toLowerCase().endsWith('.exe')) continue;
        const data = await collect(await archive.openReadStreamPromise(entry));
        found.push({ name: `${wheel.split('-')[0]}-${path.basename(entry.fileName)}`, data });
      }
    } finally {
      archive.close();
    }
  }
  const testfiles = (await readdir(CLAMAV_TESTFILES_DIR).catch(() => [] as string[]))
    .filter((name) => name.endsWith('.exe'))
    .sort();
  for (const name of testfiles) {
    found.push({
      name: `clamav-${name}`,
      data: await readFile(path.join(CLAMAV_TESTFILES_DIR, name)),
    });
  }
  return found.filter((file) => file.data.subarray(0, 2).toString('latin1') === 'MZ');
}

/**
 * `count` ELF programs and libraries (16 KiB to 24 MiB, no symlinks), evenly spread over the
 * list of all of them sorted by size: small tools, typical libraries and a few large ones.
 */
async function elfSample(count: number): Promise<string[]> {
  const all: Array<{ file: string; size: number }> = [];
  for (const dir of ELF_DIRS) {
    for (const name of (await readdir(dir).catch(() => [] as string[])).sort()) {
      const file = path.join(dir, name);
      const info = await lstat(file);
      if (!info.isFile() || info.size < 16 * 1024 || info.size > 24 * MIB) continue;
      if (await startsWith(file, ELF_MAGIC)) all.push({ file, size: info.size });
    }
  }
  all.sort((a, b) => a.size - b.size || (a.file < b.file ? -1 : 1));
  if (all.length <= count) return all.map((e) => e.file);
  return Array.from(
    { length: count },
    (_, i) => all[Math.floor(((i + 0.5) * all.length) / count)]!.file,
  );
}

/** Debian's copyright files and changelogs, as ASCII text (one string per package). */
async function debianTexts(): Promise<string[]> {
  const texts: string[] = [];
  for (const pkg of (await readdir(DOC_DIR).catch(() => [] as string[])).sort()) {
    const parts: string[] = [];
    const copyright = await readFile(path.join(DOC_DIR, pkg, 'copyright')).catch(() => undefined);
    if (copyright) parts.push(copyright.toString('latin1'));
    const changelog = await readFile(path.join(DOC_DIR, pkg, 'changelog.Debian.gz')).catch(
      () => undefined,
    );
    if (changelog) parts.push(zlib.gunzipSync(changelog).toString('latin1'));
    const text = parts.join('\n').replace(/[^\t\n\x20-\x7e]/g, '?');
    if (text.length > 200) texts.push(text);
  }
  return texts;
}

async function startsWith(file: string, magic: Buffer): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(magic.length);
    await handle.read(head, 0, magic.length, 0);
    return head.equals(magic);
  } finally {
    await handle.close();
  }
}

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** One of the real executables (PE or ELF), for attachments and archive members. */
async function realBinary(rng: Rng, sources: Sources): Promise<{ name: string; data: Buffer }> {
  if (sources.pe.length > 0 && rng() < 0.3) return pick(rng, sources.pe);
  const elf = pick(rng, sources.elfPaths);
  return { name: path.basename(elf), data: await readFile(elf) };
}

function linesOf(rng: Rng, sources: Sources, count: number): string[] {
  const lines = pick(rng, sources.texts).split('\n');
  const start = int(rng, 0, Math.max(0, lines.length - count));
  const out = lines.slice(start, start + count);
  while (out.length < count)
    out.push(
      ...pick(rng, sources.texts)
        .split('\n')
        .slice(0, count - out.length),
    );
  return out;
}

function pagesOf(rng: Rng, sources: Sources, pages: number): string[][] {
  return Array.from({ length: pages }, () => linesOf(rng, sources, 56).map((l) => l.slice(0, 95)));
}

function paragraphsOf(rng: Rng, sources: Sources, count: number): string[] {
  return linesOf(rng, sources, count).filter((line) => line.trim() !== '');
}

// ---------------------------------------------------------------------------------------------
// Documents

const pdfString = (text: string) => `(${text.replace(/[\\()]/g, (c) => `\\${c}`)})`;

/**
 * A PDF 1.7 file: Helvetica text pages whose content streams are Flate-compressed, and
 * optionally an embedded file (a Flate-compressed `/EmbeddedFile` stream, as mail attachments
 * travel inside PDFs).
 */
export function pdf(pages: string[][], attachment?: { name: string; data: Buffer }): Buffer {
  const objects: Buffer[] = [];
  const add = (body: string | Buffer) => {
    objects.push(typeof body === 'string' ? Buffer.from(body, 'latin1') : body);
    return objects.length;
  };
  const stream = (dict: string, data: Buffer) => {
    const deflated = zlib.deflateSync(data);
    return Buffer.concat([
      Buffer.from(`<< ${dict} /Length ${deflated.length} /Filter /FlateDecode >>\nstream\n`),
      deflated,
      Buffer.from('\nendstream'),
    ]);
  };
  const catalog = add(''); // filled in below, once the page tree and attachment are known
  const pageTree = add('');
  const font = add('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>');
  const kids: number[] = [];
  for (const lines of pages) {
    const text = lines.map((line) => `${pdfString(line)} '`).join('\n');
    const content = add(
      stream('', Buffer.from(`BT /F1 10 Tf 12 TL 50 760 Td\n${text}\nET`, 'latin1')),
    );
    kids.push(
      add(
        `<< /Type /Page /Parent ${pageTree} 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 ${font} 0 R >> >> /Contents ${content} 0 R >>`,
      ),
    );
  }
  objects[pageTree - 1] = Buffer.from(
    `<< /Type /Pages /Kids [${kids.map((k) => `${k} 0 R`).join(' ')}] /Count ${kids.length} >>`,
  );
  let names = '';
  if (attachment) {
    const embedded = add(
      stream(`/Type /EmbeddedFile /Params << /Size ${attachment.data.length} >>`, attachment.data),
    );
    const spec = add(
      `<< /Type /Filespec /F ${pdfString(attachment.name)} /UF ${pdfString(attachment.name)} /EF << /F ${embedded} 0 R >> >>`,
    );
    names = ` /Names << /EmbeddedFiles << /Names [${pdfString(attachment.name)} ${spec} 0 R] >> >>`;
  }
  objects[catalog - 1] = Buffer.from(`<< /Type /Catalog /Pages ${pageTree} 0 R${names} >>`);

  const parts: Buffer[] = [Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n', 'latin1')];
  let offset = parts[0]!.length;
  const offsets: number[] = [];
  objects.forEach((body, index) => {
    offsets.push(offset);
    const object = Buffer.concat([
      Buffer.from(`${index + 1} 0 obj\n`),
      body,
      Buffer.from('\nendobj\n'),
    ]);
    parts.push(object);
    offset += object.length;
  });
  const xref = [
    'xref',
    `0 ${objects.length + 1}`,
    '0000000000 65535 f ',
    ...offsets.map((at) => `${String(at).padStart(10, '0')} 00000 n `),
    'trailer',
    `<< /Size ${objects.length + 1} /Root ${catalog} 0 R >>`,
    'startxref',
    `${offset}`,
    '%%EOF',
    '',
  ].join('\n');
  parts.push(Buffer.from(xref, 'latin1'));
  return Buffer.concat(parts);
}

const xmlText = (text: string) =>
  text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

const XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n';
const RELS_NS = 'http://schemas.openxmlformats.org/package/2006/relationships';
const OFFICE_DOCUMENT_REL =
  'http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument';

function contentTypes(overrides: Record<string, string>): string {
  return (
    `${XML_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>' +
    '<Default Extension="xml" ContentType="application/xml"/>' +
    Object.entries(overrides)
      .map(([part, type]) => `<Override PartName="${part}" ContentType="${type}"/>`)
      .join('') +
    '</Types>'
  );
}

function relationships(targets: Array<{ id: string; type: string; target: string }>): string {
  return (
    `${XML_HEAD}<Relationships xmlns="${RELS_NS}">` +
    targets
      .map((t) => `<Relationship Id="${t.id}" Type="${t.type}" Target="${t.target}"/>`)
      .join('') +
    '</Relationships>'
  );
}

/** A Word document (OOXML): the parts Word needs, with the paragraphs as runs of text. */
export function docx(paragraphs: string[]): Promise<Buffer> {
  const body = paragraphs
    .map((p) => `<w:p><w:r><w:t xml:space="preserve">${xmlText(p)}</w:t></w:r></w:p>`)
    .join('');
  return zip([
    {
      name: '[Content_Types].xml',
      data: Buffer.from(
        contentTypes({
          '/word/document.xml':
            'application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml',
        }),
      ),
    },
    {
      name: '_rels/.rels',
      data: Buffer.from(
        relationships([{ id: 'rId1', type: OFFICE_DOCUMENT_REL, target: 'word/document.xml' }]),
      ),
    },
    {
      name: 'word/document.xml',
      data: Buffer.from(
        `${XML_HEAD}<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>${body}</w:body></w:document>`,
      ),
    },
  ]);
}

/** An Excel workbook (OOXML): one sheet of text cells (shared strings) and numbers. */
function xlsx(rng: Rng, sources: Sources, rows: number): Promise<Buffer> {
  const strings = paragraphsOf(rng, sources, Math.min(rows, 500));
  const cells: string[] = [];
  for (let r = 1; r <= rows; r++) {
    const text = `<c r="A${r}" t="s"><v>${r % strings.length}</v></c>`;
    const numbers = ['B', 'C', 'D', 'E']
      .map((col) => `<c r="${col}${r}"><v>${(rng() * 100000).toFixed(2)}</v></c>`)
      .join('');
    cells.push(`<row r="${r}">${text}${numbers}</row>`);
  }
  const main = 'http://schemas.openxmlformats.org/spreadsheetml/2006/main';
  const rel = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';
  const type = 'application/vnd.openxmlformats-officedocument.spreadsheetml';
  return zip([
    {
      name: '[Content_Types].xml',
      data: Buffer.from(
        contentTypes({
          '/xl/workbook.xml': `${type}.sheet.main+xml`,
          '/xl/worksheets/sheet1.xml': `${type}.worksheet+xml`,
          '/xl/sharedStrings.xml': `${type}.sharedStrings+xml`,
        }),
      ),
    },
    {
      name: '_rels/.rels',
      data: Buffer.from(
        relationships([{ id: 'rId1', type: OFFICE_DOCUMENT_REL, target: 'xl/workbook.xml' }]),
      ),
    },
    {
      name: 'xl/workbook.xml',
      data: Buffer.from(
        `${XML_HEAD}<workbook xmlns="${main}" xmlns:r="${rel}"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`,
      ),
    },
    {
      name: 'xl/_rels/workbook.xml.rels',
      data: Buffer.from(
        relationships([
          { id: 'rId1', type: `${rel}/worksheet`, target: 'worksheets/sheet1.xml' },
          { id: 'rId2', type: `${rel}/sharedStrings`, target: 'sharedStrings.xml' },
        ]),
      ),
    },
    {
      name: 'xl/worksheets/sheet1.xml',
      data: Buffer.from(
        `${XML_HEAD}<worksheet xmlns="${main}"><sheetData>${cells.join('')}</sheetData></worksheet>`,
      ),
    },
    {
      name: 'xl/sharedStrings.xml',
      data: Buffer.from(
        `${XML_HEAD}<sst xmlns="${main}" count="${strings.length}" uniqueCount="${strings.length}">${strings.map((s) => `<si><t xml:space="preserve">${xmlText(s)}</t></si>`).join('')}</sst>`,
      ),
    },
  ]);
}

// ---------------------------------------------------------------------------------------------
// Archives and mail

/** Four to fourteen members: real binaries and text files, as a software bundle holds. */
async function archiveMembers(
  rng: Rng,
  sources: Sources,
): Promise<Array<{ name: string; data: Buffer }>> {
  const members: Array<{ name: string; data: Buffer }> = [];
  const names = new Set<string>();
  for (let k = int(rng, 4, 14); k > 0; k--) {
    const member =
      rng() < 0.6
        ? await realBinary(rng, sources)
        : {
            name: `README-${k}.txt`,
            data: Buffer.from(linesOf(rng, sources, int(rng, 50, 2000)).join('\n')),
          };
    if (names.has(member.name)) continue;
    names.add(member.name);
    members.push({ name: `bundle/${member.name}`, data: member.data });
  }
  return members;
}

const asTarEntry = (member: { name: string; data: Buffer }) => ({
  name: member.name,
  content: member.data,
});

/** A 7z archive written by Debian's `7z` (p7zip), LZMA at a moderate level. */
async function sevenZip(
  work: string,
  members: Array<{ name: string; data: Buffer }>,
): Promise<Buffer> {
  const staging = path.join(work, '.7z-staging');
  await rm(staging, { recursive: true, force: true });
  for (const member of members) {
    await mkdir(path.dirname(path.join(staging, member.name)), { recursive: true });
    await writeFile(path.join(staging, member.name), member.data);
  }
  const out = path.join(work, '.7z-out.7z');
  await rm(out, { force: true });
  await run('7z', ['a', '-mx=3', '-mmt=1', out, '.'], { cwd: staging });
  const data = await readFile(out);
  await rm(staging, { recursive: true, force: true });
  await rm(out, { force: true });
  return data;
}

/** A MIME message: a text part and base64 attachments. */
export function mail(
  rng: Rng,
  paragraphs: string[],
  attachments: Array<{ name: string; data: Buffer }>,
): Buffer {
  const boundary = `----=_Part_${int(rng, 100000, 999999)}`;
  const base64 = (data: Buffer) => data.toString('base64').replace(/.{76}/g, '$&\r\n');
  const parts = [
    [
      'Content-Type: text/plain; charset=us-ascii',
      'Content-Transfer-Encoding: 7bit',
      '',
      paragraphs.join('\r\n'),
    ].join('\r\n'),
    ...attachments.map((a) =>
      [
        `Content-Type: application/octet-stream; name="${a.name}"`,
        `Content-Disposition: attachment; filename="${a.name}"`,
        'Content-Transfer-Encoding: base64',
        '',
        base64(a.data),
      ].join('\r\n'),
    ),
  ];
  const headers = [
    `From: Build Robot <robot${int(rng, 1, 99)}@example.org>`,
    'To: Operations <ops@example.org>',
    `Subject: ${(paragraphs[0] ?? 'report').slice(0, 60)}`,
    `Date: Sat, 05 Dec 2026 ${String(int(rng, 0, 23)).padStart(2, '0')}:${String(int(rng, 0, 59)).padStart(2, '0')}:00 +0000`,
    `Message-ID: <${int(rng, 1, 1e9)}@example.org>`,
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
  ];
  const body = parts.map((part) => `--${boundary}\r\n${part}\r\n`).join('');
  return Buffer.from(`${headers.join('\r\n')}\r\n\r\n${body}--${boundary}--\r\n`, 'latin1');
}

// ---------------------------------------------------------------------------------------------
// Files that must be detected

export interface PlantedFile {
  path: string;
  size: number;
  name: string;
  /** The signature both engines must report, and its kind (for the report). */
  signature: string;
  how: string;
}

/**
 * A few files that do match signatures of the generated database, one per signature type, so
 * both engines are seen to detect (and the verdicts can be compared). Returns the files and the
 * database lines that name them.
 */
export async function writePlantedFiles(
  dir: string,
  sources: Sources,
): Promise<{
  files: PlantedFile[];
  lines: Record<'hdb' | 'hsb' | 'mdb' | 'ndb' | 'ldb', string[]>;
}> {
  await mkdir(dir, { recursive: true });
  const rng = seededRng(0x91a7_7ed0);
  const files: PlantedFile[] = [];
  const lines = {
    hdb: [] as string[],
    hsb: [] as string[],
    mdb: [] as string[],
    ndb: [] as string[],
    ldb: [] as string[],
  };
  const plant = async (name: string, data: Buffer, signature: string, how: string) => {
    const file = path.join(dir, name);
    await writeFile(file, data);
    files.push({ path: file, size: data.length, name, signature, how });
  };
  const digest = (algorithm: string, data: Buffer) =>
    createHash(algorithm).update(data).digest('hex');
  const elf = await readFile(sources.elfPaths[Math.floor(sources.elfPaths.length / 2)]!);

  // Whole-file MD5 and SHA-256: a PDF and an ELF binary with a changed byte (new digests).
  const document = pdf(pagesOf(rng, sources, 3));
  lines.hdb.push(`${digest('md5', document)}:${document.length}:Pdf.Planted.Md5-1-0`);
  await plant('planted-md5.pdf', document, 'Pdf.Planted.Md5-1-0', 'whole-file MD5 (.hdb)');
  const binary = Buffer.from(elf);
  binary.writeUInt8(binary.readUInt8(binary.length - 1) ^ 0x5a, binary.length - 1);
  lines.hsb.push(`${digest('sha256', binary)}:${binary.length}:Unix.Planted.Sha256-1-0`);
  await plant('planted-sha256.bin', binary, 'Unix.Planted.Sha256-1-0', 'whole-file SHA-256 (.hsb)');

  // A body signature: bytes inserted in the middle of a real binary.
  const marker = Buffer.from(`arbiter-planted-${int(rng, 1e6, 9e6)}`, 'latin1');
  const bodyHex = `${marker.subarray(0, 8).toString('hex')}{2-6}${marker.subarray(10).toString('hex')}`;
  lines.ndb.push(`Unix.Planted.Body-1-0:0:*:${bodyHex}`);
  const withBody = Buffer.concat([
    elf.subarray(0, elf.length >> 1),
    marker,
    elf.subarray(elf.length >> 1),
  ]);
  await plant('planted-body.bin', withBody, 'Unix.Planted.Body-1-0', 'body signature (.ndb)');
  await plant(
    'planted-body.zip',
    await zip([{ name: 'tools/planted-body.bin', data: withBody }]),
    'Unix.Planted.Body-1-0',
    'body signature (.ndb), in a zip',
  );

  // A logical signature: two strings in a mail's text part (one wide, one any case).
  const first = 'powershell -ExecutionPolicy Bypass';
  const second = 'Invoke-WebRequest -Uri';
  lines.ldb.push(
    `Email.Planted.Logical-1-0;Engine:51-255,Target:0;0&1;${Buffer.from(first).toString('hex')}::i;${Buffer.from(second).toString('hex')}`,
  );
  const text = [...paragraphsOf(rng, sources, 20), first.toUpperCase(), second];
  await plant(
    'planted-logical.txt',
    Buffer.from(text.join('\n'), 'latin1'),
    'Email.Planted.Logical-1-0',
    'logical signature (.ldb)',
  );

  // A PE section hash: the first section of a real Windows executable.
  // A byte of the section is changed, so that the corpus's copy of the executable stays clean.
  const pe = sources.pe[0] ? Buffer.from(sources.pe[0].data) : undefined;
  const section = pe ? firstSection(pe) : undefined;
  if (pe && section) {
    section.writeUInt8(section.readUInt8(section.length >> 1) ^ 0x5a, section.length >> 1);
    lines.mdb.push(`${section.length}:${digest('md5', section)}:Win.Planted.Section-1-0`);
    await plant('planted-section.exe', pe, 'Win.Planted.Section-1-0', 'PE section MD5 (.mdb)');
  }
  return { files, lines };
}

/** The raw data of a PE file's first section with any (`.mdb` hashes sections by raw size). */
function firstSection(data: Buffer): Buffer | undefined {
  if (data.length < 0x40) return undefined;
  const header = data.readUInt32LE(0x3c);
  if (header + 24 > data.length || data.readUInt32LE(header) !== 0x00004550) return undefined;
  const sections = data.readUInt16LE(header + 6);
  const table = header + 24 + data.readUInt16LE(header + 20);
  for (let i = 0; i < sections && table + 40 * (i + 1) <= data.length; i++) {
    const rawSize = data.readUInt32LE(table + 40 * i + 16);
    const rawOffset = data.readUInt32LE(table + 40 * i + 20);
    if (rawSize > 0 && rawOffset + rawSize <= data.length)
      return data.subarray(rawOffset, rawOffset + rawSize);
  }
  return undefined;
}
