import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { createLogger } from '../../core/logger.js';
import { AnalysisEngine } from '../../scanning/analysis/analysis-engine.js';
import { readCompoundFile } from '../../scanning/analysis/text/compound-file.js';
import {
  LANGUAGE_LIMITS_EXCEEDED,
  LanguageAnalyzer,
} from '../../scanning/analysis/language/language-analyzer.js';
import { LanguageRulesError } from '../../scanning/analysis/language/rule-pack.js';
import { YaraRunner } from '../../scanning/analysis/yara/yara-runner.js';
import { defaultPlan, type ScanPlan } from '../../scanning/plan.js';
import { DEFAULT_LIMITS, formatWorkspace, zip } from '../support/archives.js';
import { emlMessage } from '../support/mail-formats.js';
import { fileForm, randomContent } from '../support/content.js';
import { scaniiRequest, startTestService } from '../support/service.js';
import { flateStream, writePdf, type PdfBody } from '../support/pdf.js';
import {
  compoundFile,
  excelWorkbook,
  powerpointPresentation,
  wordDocument,
} from '../support/office-binary.js';

/**
 * The unsafe_language category end to end below the service: the project's English pack through
 * a real YARA runner, over content walked by the analysis engine (archives, mail, documents).
 */

const NSFW_0_TEST = 'C681D880-8EB3-4D8F-B2E6-FE25EB415C47';
const NSFW_TEST = 'E78F3BC5-9633-4FF8-9311-148ACC4880DF';

const languagePlan: ScanPlan = { ...defaultPlan('t1'), categories: ['malware', 'unsafe_language'] };
const logger = createLogger('silent');

/** Ordinary English, for the false positives a word list is prone to. */
const PROSE = [
  'The committee met on Tuesday in Scunthorpe to review the assessment of the classic',
  'Penistone bridge. The therapist, a keen analyst of grasshoppers, described her analysis of',
  'the cocktail menu at the Dickens museum, where a pussycat slept by the assistant manager.',
  'Shiitake and shitake mushrooms were served with a glass of sauvignon; the cocker spaniel',
  'chased a bass through the Essex marsh while the class passed the hotel reception.',
  'Graduates finished summa cum laude, and the speaker thanked everyone for their patience:',
  'analysis, documentation, grapefruit, peacock, titanic, butterscotch and Middlesex all',
  'appear in an ordinary paragraph without meaning anything unsafe at all. The gallery hung',
  'painted nudes beside a landscape; the curator found a chink in the armour of the argument,',
  'kept the rooms spick and span, and poof, the crowd was gone before the cocktails arrived.',
].join('\n');

describe('the language analyzer', () => {
  const { ws, formats } = formatWorkspace();
  const yara = new YaraRunner({ threads: 1, timeoutMs: 30_000 });
  const folders: string[] = [];
  afterAll(async () => {
    await yara.close();
    for (const folder of folders) rmSync(folder, { recursive: true, force: true });
  });

  /** Counts the scans that reach the runner. */
  const counted = { scans: 0 };
  const countingYara = {
    scan: (...args: Parameters<YaraRunner['scan']>) => {
      counted.scans += 1;
      return yara.scan(...args);
    },
  };

  const builtin = LanguageAnalyzer.load(logger, undefined, {
    yara: countingYara,
    maxBytes: 16 * 1024 * 1024,
  });

  async function analyze(
    content: Buffer,
    options: { analyzer?: LanguageAnalyzer; plan?: ScanPlan; name?: string } = {},
  ) {
    const engine = new AnalysisEngine([options.analyzer ?? (await builtin)], {
      archive: DEFAULT_LIMITS,
      formats,
      scratchDir: ws.scratchDir,
    });
    const file = ws.write(content);
    return engine.scan(
      { path: file, size: content.length, name: options.name ?? 'upload' },
      options.plan ?? languagePlan,
    );
  }

  async function findings(content: Buffer, name?: string): Promise<string[]> {
    const verdicts = await analyze(content, name === undefined ? {} : { name });
    expect(verdicts).toHaveLength(1);
    return verdicts[0]?.findings ?? [];
  }

  function folder(files: Record<string, string>): string {
    const dir = mkdtempSync(path.join(tmpdir(), 'arbiter-language-'));
    folders.push(dir);
    for (const [name, source] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      writeFileSync(path.join(dir, name), source);
    }
    return dir;
  }

  it('detects each documented test content in plain text, and records the pack', async () => {
    const [verdict] = await analyze(Buffer.from(`check ${NSFW_TEST} please\n`));
    expect(verdict?.engine).toBe('language-rules');
    expect(verdict?.version).toMatch(/^arbiter-language\/[0-9a-f]{12} \(\d+ rules, en\)$/);
    expect(verdict?.findings).toEqual(['content.en.language.nsfw.test']);
    expect(verdict?.detections?.[0]).toEqual({
      path: ['upload'],
      finding: 'content.en.language.nsfw.test',
      signature: 'content_en_language_nsfw_test',
    });
    expect(await findings(Buffer.from(NSFW_0_TEST))).toEqual(['content.en.language.nsfw.0']);
  });

  it('finds the test contents inside a zip, with the member path', async () => {
    const archive = await zip([
      { name: 'docs/a.txt', data: Buffer.from(`one ${NSFW_0_TEST}`) },
      { name: 'b.txt', data: Buffer.from(NSFW_TEST.toLowerCase()) },
    ]);
    const [verdict] = await analyze(archive, { name: 'bundle.zip' });
    expect(verdict?.findings).toEqual([
      'content.en.language.nsfw.0',
      'content.en.language.nsfw.test',
    ]);
    expect(verdict?.detections?.map((d) => d.path)).toContainEqual(['bundle.zip', 'docs/a.txt']);
  });

  it('reads an HTML page as its reader sees it: tags and references gone, inline tags inside words', async () => {
    const page = [
      '<!doctype html><html><head><title>Notes</title>',
      `<script>var hidden = "${NSFW_TEST}";</script><style>.x{}</style></head>`,
      `<body><p>Code: <b>${NSFW_0_TEST.slice(0, 10)}</b>${NSFW_0_TEST.slice(10)}</p>`,
      '<p>What the f<i>u</i>ck &amp; why</p><div>ass</div><div>hole</div></body></html>',
    ].join('\n');
    expect(await findings(Buffer.from(page), 'page.html')).toEqual([
      'content.en.language.nsfw.0',
      'content.en.language.nsfw.1',
    ]);
    // A comment inside a word is invisible: the word is whole.
    expect(await findings(Buffer.from('<div>bull<!-- x -->shit</div>'))).toEqual([
      'content.en.language.nsfw.1',
    ]);
    // A character reference inside a word is decoded: `sh&#105;t`.
    expect(await findings(Buffer.from('<p>oh sh&#105;t</p>'))).toEqual([
      'content.en.language.nsfw.1',
    ]);
  });

  it('reads the text of a Word document, joining the runs a word is split into', async () => {
    const run = (text: string, bold = false) =>
      `<w:r>${bold ? '<w:rPr><w:b/></w:rPr>' : ''}<w:t xml:space="preserve">${text}</w:t></w:r>`;
    const body = [
      `<w:p>${run('Reference ')}${run(NSFW_TEST.slice(0, 8))}${run(NSFW_TEST.slice(8), true)}</w:p>`,
      // Two paragraphs are two words, not one: "ass" and "hole" stay apart.
      `<w:p>${run('ass')}</w:p><w:p>${run('hole')}</w:p>`,
    ].join('');
    const documentXml = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>${body}</w:body></w:document>`;
    const docx = await zip([
      {
        name: '[Content_Types].xml',
        data: Buffer.from(
          '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
        ),
      },
      { name: 'word/document.xml', data: Buffer.from(documentXml) },
    ]);
    const [verdict] = await analyze(docx, { name: 'letter.docx' });
    expect(verdict?.findings).toEqual(['content.en.language.nsfw.test']);
    expect(verdict?.detections?.[0]?.path).toEqual(['letter.docx', 'word/document.xml']);
  });

  it('reads the shared strings of a workbook, the text of a slide and of an OpenDocument', async () => {
    const sst = `<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>total</t></si><si><r><t>${NSFW_0_TEST.slice(0, 4)}</t></r><r><rPr><b/></rPr><t>${NSFW_0_TEST.slice(4)}</t></r></si></sst>`;
    const slide = `<?xml version="1.0"?><p:sld xmlns:p="p" xmlns:a="a"><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r><a:rPr lang="en-US"/><a:t>${NSFW_TEST}</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sld>`;
    const book = await zip([
      { name: 'xl/sharedStrings.xml', data: Buffer.from(sst) },
      { name: 'ppt/slides/slide1.xml', data: Buffer.from(slide) },
    ]);
    expect(await findings(book)).toEqual([
      'content.en.language.nsfw.0',
      'content.en.language.nsfw.test',
    ]);
    // OpenDocument: spans join, paragraphs and `text:s` separate.
    const content = `<?xml version="1.0"?><office:document-content xmlns:office="o" xmlns:text="t"><office:body><office:text><text:p>bull<text:span text:style-name="T1">shit</text:span></text:p><text:p>ass<text:s/>hole</text:p></office:text></office:body></office:document-content>`;
    const odt = await zip([{ name: 'content.xml', data: Buffer.from(content) }]);
    expect(await findings(odt)).toEqual(['content.en.language.nsfw.1']);
  });

  it('reads the page text of a PDF from its content streams, compressed or not', async () => {
    const pdf = (content: PdfBody): Buffer =>
      writePdf([
        '<< /Type /Catalog /Pages 2 0 R >>',
        '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
        '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>',
        content,
      ]);
    const plain = Buffer.from(`BT /F1 12 Tf 72 712 Td (Test: ${NSFW_TEST}) Tj ET`);
    expect(await findings(pdf({ dict: '', data: plain }), 'plain.pdf')).toEqual([
      'content.en.language.nsfw.test',
    ]);
    // Compressed, and split by kerning inside a TJ array, with an escaped character.
    const kerned = Buffer.from(
      `BT /F1 12 Tf 72 712 Td [(${NSFW_0_TEST.slice(0, 12)}) -12 (${NSFW_0_TEST.slice(12, 18)}\\${NSFW_0_TEST.slice(18, 19)}${NSFW_0_TEST.slice(19)})] TJ ET`,
    );
    const [verdict] = await analyze(pdf(flateStream(kerned)), { name: 'kerned.pdf' });
    expect(verdict?.findings).toEqual(['content.en.language.nsfw.0']);
    expect(verdict?.detections?.[0]?.path).toEqual(['kerned.pdf', 'stream-4-0.bin']);
    // A wide gap in a TJ array is a space: two words, neither unsafe.
    const apart = Buffer.from('BT [(ass) -600 (hole)] TJ ET');
    expect(await findings(pdf(flateStream(apart)))).toEqual([]);
    // Strings shown one after the other are one word; hexadecimal strings are text too.
    const joined = Buffer.from('BT (sh) Tj <6974> Tj ET');
    expect(await findings(pdf(flateStream(joined)))).toEqual(['content.en.language.nsfw.1']);
  });

  it('reads the decoded parts of a mail message', async () => {
    const mail = emlMessage({
      text: 'Hello,\nsee the attached notes.\n',
      attachments: [
        { name: 'notes.txt', type: 'text/plain', data: Buffer.from(`id ${NSFW_TEST}\n`) },
      ],
    });
    // The attachment is base64 in the message: only the decoded part holds the text.
    expect(mail.includes(NSFW_TEST)).toBe(false);
    const [verdict] = await analyze(mail, { name: 'message.eml' });
    expect(verdict?.findings).toEqual(['content.en.language.nsfw.test']);
    expect(verdict?.detections?.[0]?.path).toEqual(['message.eml', 'notes.txt']);
  });

  it('reads what a reader sees outside bodies: a subject, a form field, an alt text', async () => {
    const subject = Buffer.from(`Re: ${NSFW_TEST}`).toString('base64');
    const mail = Buffer.from(
      `From: a@example.com\r\nTo: b@example.com\r\nSubject: =?UTF-8?B?${subject}?=\r\n` +
        'MIME-Version: 1.0\r\n\r\nHello.\r\n',
    );
    const [headers] = await analyze(mail, { name: 'subject.eml' });
    expect(headers?.findings).toEqual(['content.en.language.nsfw.test']);
    expect(headers?.detections?.[0]?.path).toEqual(['subject.eml', '(headers)']);
    const form = writePdf([
      '<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [4 0 R] >> >>',
      '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
      '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Annots [4 0 R] >>',
      `<< /FT /Tx /T (note) /V (${NSFW_0_TEST}) /Subtype /Widget /Rect [0 0 200 20] >>`,
    ]);
    expect(await findings(form, 'form.pdf')).toEqual(['content.en.language.nsfw.0']);
    const image = Buffer.from(`<html><body><img src="a.png" alt="${NSFW_TEST}"></body></html>`);
    expect(await findings(image, 'page.html')).toEqual(['content.en.language.nsfw.test']);
  });

  /** Made with LibreOffice from a few lines of our own (see test/fixtures/office/README.md). */
  const fixture = (name: string) =>
    readFileSync(new URL(`../fixtures/office/${name}`, import.meta.url));

  it('reads Word 97-2003 documents through their piece table, 8-bit and UTF-16 pieces alike', async () => {
    // A real document (LibreOffice's Word 97 export), walked as the service walks it: 7-Zip
    // hands over its streams too, which are binary and read as nothing.
    const [real] = await analyze(fixture('notes.doc'), { name: 'notes.doc' });
    expect(real?.findings).toEqual(['content.en.language.nsfw.0']);
    expect(real?.detections?.[0]?.path).toEqual(['notes.doc']);
    // The test content split over an 8-bit piece and a UTF-16 one, after a paragraph mark.
    const split = wordDocument([
      { text: 'Caf\u00e9 notes\r' },
      { text: NSFW_0_TEST.slice(0, 9) },
      { text: `${NSFW_0_TEST.slice(9)} \u0394elta\r`, wide: true },
    ]);
    expect(await findings(split, 'split.doc')).toEqual(['content.en.language.nsfw.0']);
    // Pieces are joined in piece-table order: a word split by the pieces of a fast save is one.
    expect(
      await findings(wordDocument([{ text: 'oh bull' }, { text: 'shit\r', wide: true }])),
    ).toEqual(['content.en.language.nsfw.1']);
    // Word's optional hyphen (0x1F) is invisible; a paragraph mark separates words.
    expect(await findings(wordDocument([{ text: 'bull\x1fshit\r' }]))).toEqual([
      'content.en.language.nsfw.1',
    ]);
    expect(await findings(wordDocument([{ text: 'ass\rhole\r' }]))).toEqual([]);
    // An object embedded in the document (a storage of its ObjectPool) is read too.
    const sheet = readCompoundFile(excelWorkbook({ shared: [NSFW_TEST] })).stream('Workbook');
    const report = wordDocument([{ text: 'See the table.\r' }], {
      extra: [{ name: 'ObjectPool/_1279313719/Workbook', data: sheet ?? Buffer.alloc(0) }],
    });
    const [embedded] = await analyze(report, { name: 'report.doc' });
    expect(embedded?.findings).toEqual(['content.en.language.nsfw.test']);
    expect(embedded?.detections?.[0]?.path).toEqual(['report.doc']);
    // Prose large enough for regular sectors (a WordDocument stream past 4 KiB) is clean.
    const prose = wordDocument([{ text: `${PROSE}\r`.repeat(6), wide: true }]);
    expect(await findings(prose, 'prose.doc')).toEqual([]);
  });

  it('reads the shared strings, cells, comments and sheet names of Excel 97-2003 workbooks', async () => {
    const [real] = await analyze(fixture('items.xls'), { name: 'items.xls' });
    expect(real?.findings).toEqual(['content.en.language.nsfw.0']);
    // A cell's comment (a TXO record and its CONTINUE records).
    expect(await findings(fixture('comment.xls'), 'comment.xls')).toEqual([
      'content.en.language.nsfw.test',
    ]);
    // A string cut by a CONTINUE record, its rest in UTF-16.
    const continued = excelWorkbook({
      shared: ['Total', 'Caf\u00e9'],
      continued: [NSFW_0_TEST.slice(0, 20), NSFW_0_TEST.slice(20)],
    });
    expect(await findings(continued, 'continued.xls')).toEqual(['content.en.language.nsfw.0']);
    expect(await findings(excelWorkbook({ shared: [], label: `id ${NSFW_TEST}` }))).toEqual([
      'content.en.language.nsfw.test',
    ]);
    // Two cells are two words.
    expect(await findings(excelWorkbook({ shared: ['ass', 'hole'] }))).toEqual([]);
    expect(await findings(excelWorkbook({ shared: PROSE.split('\n') }))).toEqual([]);
  });

  it('reads the text atoms of PowerPoint 97-2003 presentations, slides and shapes', async () => {
    const deck = powerpointPresentation({
      wide: ['Agenda for Tuesday'],
      narrow: [`Code ${NSFW_0_TEST}`],
    });
    expect(await findings(deck, 'deck.ppt')).toEqual(['content.en.language.nsfw.0']);
    expect(await findings(powerpointPresentation({ shape: `note ${NSFW_TEST}` }))).toEqual([
      'content.en.language.nsfw.test',
    ]);
    expect(await findings(powerpointPresentation({ wide: PROSE.split('\n') }))).toEqual([]);
  });

  it('reads RTF as a reader sees it: control words dropped, a word split by formatting found', async () => {
    const rtf = (body: string) =>
      Buffer.from(
        `{\\rtf1\\ansi\\ansicpg1252{\\fonttbl{\\f0\\fswiss Arial;}}{\\colortbl;\\red0\\green0\\blue0;}` +
          `{\\*\\generator Writer;}{\\info{\\title Notes}}\\f0\\fs24 ${body}\\par}`,
        'latin1',
      );
    expect(
      await findings(rtf(`Code: ${NSFW_0_TEST.slice(0, 8)}{\\b ${NSFW_0_TEST.slice(8)}}`), 'a.rtf'),
    ).toEqual(['content.en.language.nsfw.0']);
    expect(await findings(fixture('notes.rtf'), 'notes.rtf')).toEqual([
      'content.en.language.nsfw.0',
    ]);
    expect(await findings(rtf('What the f{\\b u}ck'))).toEqual(['content.en.language.nsfw.1']);
    // `\\'hh` and `\\uN` characters, a control word ending in a space inside the word.
    expect(await findings(rtf("sh\\'69t and Caf\\'e9 cr\\u232?me"))).toEqual([
      'content.en.language.nsfw.1',
    ]);
    expect(await findings(rtf('bull\\i shit\\i0'))).toEqual(['content.en.language.nsfw.1']);
    // Paragraphs separate words; hidden destinations are not text.
    expect(await findings(rtf('ass\\par hole{\\*\\bkmkstart fuck}'))).toEqual([]);
    expect(await findings(rtf(PROSE.replace(/\n/g, '\\par\n')))).toEqual([]);
  });

  it('reports a document whose text cannot be taken out, and leaves other compound files alone', async () => {
    const unsupported = ['content.unscannable.language.unsupported-method'];
    const corrupt = ['content.unscannable.language.corrupt'];
    const text = [{ text: `secret ${NSFW_0_TEST}\r` }];
    expect(await findings(wordDocument(text, { encrypted: true }), 'locked.doc')).toEqual(
      unsupported,
    );
    expect(await findings(excelWorkbook({ shared: ['x'], filePass: true }))).toEqual(unsupported);
    expect(
      await findings(compoundFile([{ name: 'EncryptedPackage', data: Buffer.alloc(64) }])),
    ).toEqual(unsupported);
    // A piece table that runs past its stream, and a file cut in half.
    expect(await findings(wordDocument(text, { clxLength: 4000 }), 'bad.doc')).toEqual(corrupt);
    const real = fixture('notes.doc');
    const [cut] = await analyze(real.subarray(0, real.length / 2), { name: 'cut.doc' });
    expect(cut?.findings).toContain('content.unscannable.language.corrupt');
    // A compound file that is no document (an installer's tables, a thumbnail cache) is no text
    // of its own, nor unscannable (its streams are still read, one by one, as any member is).
    const other = compoundFile([
      { name: 'Catalog', data: Buffer.alloc(300, 7) },
      { name: 'Summary', data: Buffer.alloc(5000, 1) },
    ]);
    expect(await findings(other, 'setup.msi')).toEqual([]);
  });

  it('reads the document streams of a compound file too large to read whole, one by one', async () => {
    const small = await LanguageAnalyzer.load(logger, undefined, { yara, maxBytes: 16 * 1024 });
    const pictures = [{ name: 'Pictures', data: randomContent(40_000) }];
    const book = excelWorkbook({ shared: ['Total', `id ${NSFW_0_TEST}`], extra: pictures });
    const [workbook] = await analyze(book, { analyzer: small, name: 'large.xls' });
    expect(workbook?.findings).toEqual(['content.en.language.nsfw.0']);
    expect(workbook?.detections?.[0]?.path).toEqual(['large.xls', 'Workbook']);
    // A Word document's text needs two streams together: not read, and said so.
    const doc = wordDocument([{ text: `${NSFW_0_TEST}\r` }], { extra: pictures });
    const [word] = await analyze(doc, { analyzer: small, name: 'large.doc' });
    expect(word?.findings).toEqual([LANGUAGE_LIMITS_EXCEEDED]);
    expect(word?.detections?.[0]?.path).toEqual(['large.doc', 'WordDocument']);
    // An object embedded in it is read alone, as its streams come.
    const sheet = readCompoundFile(excelWorkbook({ shared: [NSFW_TEST] })).stream('Workbook');
    const withSheet = wordDocument([{ text: 'See the table.\r' }], {
      extra: [...pictures, { name: 'ObjectPool/_1/Workbook', data: sheet ?? Buffer.alloc(0) }],
    });
    const [both] = await analyze(withSheet, { analyzer: small, name: 'large.doc' });
    expect(both?.findings).toEqual(['content.en.language.nsfw.test', LANGUAGE_LIMITS_EXCEEDED]);
    expect(both?.detections?.map((d) => d.path.join('/')).sort()).toEqual([
      'large.doc/ObjectPool/_1/Workbook',
      'large.doc/WordDocument',
    ]);
    // A large compound file that is no document (an installer) is neither read nor reported.
    const installer = compoundFile([{ name: 'Binary.Data', data: randomContent(40_000) }]);
    const [other] = await analyze(installer, { analyzer: small, name: 'setup.msi' });
    expect(other?.findings).toEqual([]);
    // Read whole when it fits: the streams are not read a second time.
    const [whole] = await analyze(excelWorkbook({ shared: [NSFW_0_TEST] }), { name: 'a.xls' });
    expect(whole?.detections?.map((d) => d.path)).toEqual([['a.xls']]);
  });

  it('detects real words of several themes, in any case and in common disguises', async () => {
    const text = [
      'What the FUCK is this.',
      'You absolute dickhead!',
      'Watch porn all day?',
      'sh1t happens',
      'feeling HoRnY',
    ].join('\n');
    expect(await findings(Buffer.from(text))).toEqual([
      'content.en.language.nsfw.0',
      'content.en.language.nsfw.1',
      'content.en.language.nsfw.2',
      'content.en.language.nsfw.5',
    ]);
    expect(await findings(Buffer.from('she sent a b!tch message'))).toEqual([
      'content.en.language.nsfw.2',
    ]);
    // Invisible characters inside a word do not hide it.
    expect(await findings(Buffer.from('mother\u200bfucker', 'utf8'))).toEqual([
      'content.en.language.nsfw.1',
    ]);
  });

  it('calls ordinary prose clean, and never matches a term inside a longer word', async () => {
    const [verdict] = await analyze(Buffer.from(PROSE));
    expect(verdict?.findings).toEqual([]);
    expect(await findings(Buffer.from('shitake fuckingham assholery pornography'))).toEqual([]);
    // Base64's `+` and `/` bound random letters: megabytes of it would hold short terms.
    const key = randomBytes(8_000_000).toString('base64').replace(/.{64}/g, '$&\n');
    expect(
      await findings(Buffer.from(`-----BEGIN DATA-----\n${key}\n-----END DATA-----\n`)),
    ).toEqual([]);
  });

  it('decodes UTF-16 text, with or without a byte order mark, and Latin-1 text', async () => {
    const sentence = `Caf\u00e9 note: ${NSFW_TEST}`;
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(sentence, 'utf16le')]);
    const be = Buffer.from(Buffer.from(sentence, 'utf16le')).swap16();
    expect(await findings(le)).toEqual(['content.en.language.nsfw.test']);
    expect(await findings(Buffer.concat([Buffer.from([0xfe, 0xff]), be]))).toEqual([
      'content.en.language.nsfw.test',
    ]);
    expect(await findings(Buffer.from(`${PROSE} ${sentence}`, 'utf16le'))).toEqual([
      'content.en.language.nsfw.test',
    ]);
    expect(await findings(Buffer.from('Caf\u00e9 cr\u00e8me: bullshit', 'latin1'))).toEqual([
      'content.en.language.nsfw.1',
    ]);
  });

  it('leaves binary pieces alone', async () => {
    const binary = Buffer.concat([
      Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]),
      Buffer.from(` ${NSFW_TEST} `),
    ]);
    const before = counted.scans;
    expect(await findings(binary)).toEqual([]);
    // Binary that starts as a byte order mark would: an OLE2 property set (its thumbnail).
    const propertySet = Buffer.concat([
      Buffer.from([0xfe, 0xff, 0, 0, 6, 2, 1, 0]),
      Buffer.alloc(16), // CLSID
      Buffer.from([1, 0, 0, 0]),
      randomBytes(16), // FMTID
      Buffer.from([0x30, 0, 0, 0, 0x20, 2, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0x18, 0, 0, 0]),
      Buffer.from([0x11, 0, 0, 0, 0x20, 0, 0, 0, 0x47, 0, 0, 0]),
      randomBytes(400), // a thumbnail
    ]);
    expect(await findings(propertySet)).toEqual([]);
    expect(counted.scans).toBe(before);
  });

  it('gives no verdict and does no YARA work when the category is off', async () => {
    const before = counted.scans;
    const verdicts = await analyze(Buffer.from(NSFW_TEST), { plan: defaultPlan('t1') });
    expect(verdicts).toEqual([]);
    expect(counted.scans).toBe(before);
  });

  it('reports text past its limit, and a scan past its time, as limits exceeded', async () => {
    const small = await LanguageAnalyzer.load(logger, undefined, { yara, maxBytes: 1024 });
    const [large] = await analyze(Buffer.from(`${'word '.repeat(400)}${NSFW_TEST}`), {
      analyzer: small,
    });
    expect(large?.findings).toEqual([LANGUAGE_LIMITS_EXCEEDED]);
    // A first scan starts a thread and compiles the pack: far longer than a millisecond.
    const hurried = new YaraRunner({ threads: 1, timeoutMs: 1 });
    try {
      const slow = await LanguageAnalyzer.load(logger, undefined, {
        yara: hurried,
        maxBytes: 1024,
      });
      const [verdict] = await analyze(Buffer.from(NSFW_TEST), { analyzer: slow });
      expect(verdict?.findings).toEqual([LANGUAGE_LIMITS_EXCEEDED]);
    } finally {
      await hurried.close();
    }
  });

  it('uses the pack of ARBITER_LANGUAGE_RULES_DIR instead of the built-in one', async () => {
    const dir = folder({
      'fr/jurons.yara': [
        'rule content_fr_language_nsfw_1 { strings: $ = "zut alors" fullword nocase condition: any of them }',
        'rule unrelated_rule { strings: $ = "zut" nocase condition: any of them }',
        // A private helper rule of the pack never reports, and is not counted.
        'private rule content_fr_language_nsfw_9 { strings: $ = "mince" condition: any of them }',
      ].join('\n'),
      'de/test.yar':
        'rule content_de_language_unsafe_test { strings: $ = "ZXCVT/DE" condition: any of them }',
      // A bundle of includes, as packs that ship each language alone also carry: skipped.
      'entrypoint.yara': '/* everything */\ninclude "fr/jurons.yara"\ninclude "de/test.yar"\n',
      'notes.txt': 'not rules',
      // Hidden folders are not read (a ConfigMap volume's data folder, `.git`).
      '.hidden/copy.yar': 'this is not YARA',
    });
    // A link to a rule file is read (a ConfigMap volume is links).
    const elsewhere = folder({
      'it.yar':
        'rule content_it_language_nsfw_2 { strings: $ = "porca miseria" nocase condition: any of them }',
    });
    symlinkSync(path.join(elsewhere, 'it.yar'), path.join(dir, 'it.yar'));
    const config = loadConfig({ ARBITER_LANGUAGE_RULES_DIR: dir });
    const custom = await LanguageAnalyzer.load(logger, config.language.rulesDir, {
      yara,
      maxBytes: config.language.maxBytes,
    });
    expect(custom.pack.version).toMatch(/^custom-language\/[0-9a-f]{12} \(3 rules, de, fr, it\)$/);
    const [verdict] = await analyze(Buffer.from('Oh, ZUT ALORS! ZXCVT/DE, porca miseria'), {
      analyzer: custom,
    });
    expect(verdict?.findings).toEqual([
      'content.de.language.unsafe.test',
      'content.fr.language.nsfw.1',
      'content.it.language.nsfw.2',
    ]);
    // The built-in pack is not used: its test content gives nothing here.
    const [other] = await analyze(Buffer.from(NSFW_TEST), { analyzer: custom });
    expect(other?.findings).toEqual([]);
  });

  it('refuses to start with a pack that does not compile, naming the file and line', async () => {
    const dir = folder({
      'en/fine.yar': 'rule content_en_language_nsfw_1 { strings: $ = "x1" condition: $ }\n',
      'en/zz-broken.yar': [
        '// a rule with a mistake',
        'rule content_en_language_nsfw_2 {',
        '  condition: undefined_thing',
        '}',
      ].join('\n'),
    });
    const failure = await LanguageAnalyzer.load(logger, dir, { yara, maxBytes: 1024 }).catch(
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(LanguageRulesError);
    expect((failure as Error).message).toContain(
      `${path.join('en', 'zz-broken.yar')}:3:14: unknown identifier \`undefined_thing\``,
    );
    const empty = await LanguageAnalyzer.load(logger, folder({ 'a.txt': 'x' }), {
      yara,
      maxBytes: 1024,
    }).catch((error: unknown) => error);
    expect((empty as Error).message).toMatch(/no \.yar or \.yara file/);
  });
});

describe('the language rules in the service', () => {
  it('give their findings through the Scanii API to a tenant with the category, and only to it', async () => {
    const service = await startTestService();
    try {
      const withLanguage = await service.createTenant('with-language');
      const without = await service.createTenant('malware-only');
      const settings = await service.admin(`/tenants/${withLanguage.id}/settings`, {
        method: 'PUT',
        body: '{"detection_categories":["malware","unsafe_language"]}',
      });
      expect(settings.status).toBe(200);
      const scan = async (tenant: { auth: string }) => {
        const response = await scaniiRequest(service, tenant, '/files', {
          method: 'POST',
          body: fileForm(Buffer.from(`notes: ${NSFW_0_TEST}\n`), {}, 'notes.txt'),
        });
        expect(response.status).toBe(201);
        return (await response.json()) as {
          findings: string[];
          engines: { name: string; version: string }[];
        };
      };
      const flagged = await scan(withLanguage);
      expect(flagged.findings).toEqual(['content.en.language.nsfw.0']);
      expect(flagged.engines.map((engine) => engine.name)).toContain('language-rules');
      const clean = await scan(without);
      expect(clean.findings).toEqual([]);
      expect(clean.engines.map((engine) => engine.name)).not.toContain('language-rules');
    } finally {
      await service.stop();
    }
  });
});

describe('the language rules at start-up', () => {
  it('stop the service from starting when a file does not compile, naming it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'arbiter-language-'));
    try {
      mkdirSync(path.join(dir, 'en'));
      writeFileSync(
        path.join(dir, 'en', 'bad.yar'),
        'rule content_en_language_nsfw_1 {\n  strings:\n',
      );
      const failure = await startTestService({ ARBITER_LANGUAGE_RULES_DIR: dir }).catch(
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(LanguageRulesError);
      expect((failure as Error).message).toContain(
        `${path.join('en', 'bad.yar')}:2:11: syntax error`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
