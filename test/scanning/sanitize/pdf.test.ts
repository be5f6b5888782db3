import { readFile } from 'node:fs/promises';
import { PDFDocument, PDFName, PDFString, StandardFonts, type PDFPage } from 'pdf-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSanitizerSet } from '../../../scanning/sanitize/index.js';
import { qpdf, sanitizeBench, type SanitizeBench } from '../../support/sanitize.js';

/**
 * PDFs with every kind of active content, built with pdf-lib's low-level objects; each copy is
 * checked by qpdf (an independent reader): valid, none of the active names left anywhere in the
 * file, the pages and their text kept.
 */

const set = createSanitizerSet();
let bench: SanitizeBench;
beforeAll(async () => {
  bench = await sanitizeBench(set);
});
afterAll(async () => {
  await bench.dispose();
  set.close();
});

const PAGE_TEXTS = ['Quarterly report', 'Second page'];

interface ActiveOptions {
  javascript?: boolean;
  openAction?: boolean;
  additionalActions?: boolean;
  launch?: boolean;
  embeddedFile?: boolean;
  fileAttachment?: boolean;
  richMedia?: boolean;
  xfa?: boolean;
  submit?: boolean;
  webLink?: boolean;
}

async function activePdf(options: ActiveOptions): Promise<Buffer> {
  const document = await PDFDocument.create();
  const font = await document.embedFont(StandardFonts.Helvetica);
  const pages: PDFPage[] = PAGE_TEXTS.map((text) => {
    const page = document.addPage([300, 200]);
    page.drawText(text, { x: 20, y: 100, size: 14, font });
    return page;
  });
  const context = document.context;
  const catalog = document.catalog;
  const javascript = (code: string) =>
    context.register(context.obj({ Type: 'Action', S: 'JavaScript', JS: PDFString.of(code) }));
  const annotate = (page: PDFPage, annotation: Record<string, unknown>) => {
    const ref = context.register(
      context.obj({ Type: 'Annot', Rect: [10, 10, 60, 60], ...annotation } as never),
    );
    const existing = page.node.Annots();
    if (existing) existing.push(ref);
    else page.node.set(PDFName.of('Annots'), context.obj([ref]));
  };
  if (options.javascript)
    catalog.set(
      PDFName.of('Names'),
      context.obj({
        JavaScript: context.obj({
          Names: [PDFString.of('init'), javascript('app.alert("names")')],
        }),
      }),
    );
  if (options.openAction) catalog.set(PDFName.of('OpenAction'), javascript('app.alert("open")'));
  if (options.additionalActions) {
    catalog.set(PDFName.of('AA'), context.obj({ WC: javascript('app.alert("close")') }));
    pages[0]!.node.set(PDFName.of('AA'), context.obj({ O: javascript('app.alert("page")') }));
  }
  if (options.launch)
    annotate(pages[0]!, {
      Subtype: 'Link',
      A: context.obj({
        S: 'Launch',
        F: PDFString.of('cmd.exe'),
        Win: { F: PDFString.of('cmd.exe') },
      }),
    });
  if (options.webLink)
    annotate(pages[0]!, {
      Subtype: 'Link',
      A: context.obj({ S: 'URI', URI: PDFString.of('https://example.com/') }),
    });
  if (options.submit)
    annotate(pages[1]!, {
      Subtype: 'Link',
      A: context.obj({ S: 'SubmitForm', F: PDFString.of('https://collector.example/') }),
    });
  if (options.embeddedFile)
    await document.attach(Buffer.from('MZ embedded payload'), 'payload.exe', {
      mimeType: 'application/octet-stream',
    });
  if (options.fileAttachment) {
    const stream = context.register(
      context.stream('MZ attached payload', { Type: 'EmbeddedFile' }),
    );
    annotate(pages[1]!, {
      Subtype: 'FileAttachment',
      FS: context.obj({ Type: 'Filespec', F: PDFString.of('tool.exe'), EF: { F: stream } }),
    });
  }
  if (options.richMedia)
    annotate(pages[1]!, {
      Subtype: 'RichMedia',
      RichMediaContent: context.obj({
        Assets: context.obj({
          Names: [PDFString.of('movie.swf'), context.register(context.stream('FWS flash'))],
        }),
      }),
    });
  if (options.xfa) {
    const xfa = context.register(context.stream('<xdp:xdp xmlns:xdp="http://ns.adobe.com/xdp/"/>'));
    catalog.set(PDFName.of('AcroForm'), context.obj({ Fields: [], XFA: xfa }));
    catalog.set(PDFName.of('NeedsRendering'), context.obj(true));
  }
  return Buffer.from(await document.save({ useObjectStreams: true }));
}

/** The copy as qpdf writes it in QDF form: every stream uncompressed, one object a line. */
async function qdfText(file: string): Promise<string> {
  const out = `${file}.qdf`;
  const result = qpdf('--qdf', '--object-streams=disable', file, out);
  expect([0, 3]).toContain(result.status);
  return (await readFile(out)).toString('latin1');
}

const ACTIVE_NAMES =
  /\/(JavaScript|JS|OpenAction|AA|Launch|EmbeddedFiles?|RichMedia|XFA|SubmitForm|NeedsRendering)\b/;

describe('PDF', () => {
  it('takes out JavaScript, OpenAction, /AA, Launch, embedded files, attachments, rich media, XFA and submit actions, keeping pages, text and web links', async () => {
    const pdf = await activePdf({
      javascript: true,
      openAction: true,
      additionalActions: true,
      launch: true,
      embeddedFile: true,
      fileAttachment: true,
      richMedia: true,
      xfa: true,
      submit: true,
      webLink: true,
    });
    const original = await qdfText(await bench.write('active.pdf', pdf));
    expect(original).toMatch(ACTIVE_NAMES);

    const { outcome, copyPath } = await bench.run(pdf, 'application/pdf');

    expect(outcome).toEqual({
      available: true,
      contentType: 'application/pdf',
      removed: [
        'additional-actions',
        'embedded-files',
        'javascript',
        'launch-actions',
        'open-action',
        'rich-media',
        'submit-actions',
        'xfa',
      ],
    });
    const check = qpdf('--check', copyPath!);
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(qpdf('--show-npages', copyPath!).stdout.trim()).toBe('2');
    const copy = await qdfText(copyPath!);
    expect(copy).not.toMatch(ACTIVE_NAMES);
    expect(copy).not.toMatch(/app\.alert|payload|cmd\.exe|tool\.exe|FWS flash|xdp:xdp|collector/);
    // qpdf's QDF form writes the pages' text as literal strings, as in the original.
    for (const text of PAGE_TEXTS) {
      expect(original).toContain(`(${text}) Tj`);
      expect(copy).toContain(`(${text}) Tj`);
    }
    expect(copy).toContain('(https://example.com/)');
  });

  it('names what an OpenAction or a page-open action ran', async () => {
    for (const options of [{ openAction: true }, { additionalActions: true }]) {
      const { outcome } = await bench.run(await activePdf(options), 'application/pdf');
      expect(outcome).toEqual({
        available: true,
        contentType: 'application/pdf',
        removed: options.openAction
          ? ['javascript', 'open-action']
          : ['additional-actions', 'javascript'],
      });
    }
  });

  it('lists nothing removed from a PDF without active content, and keeps its open-at destination', async () => {
    const document = await PDFDocument.load(await activePdf({ webLink: true }));
    const firstPage = document.getPage(0).ref;
    document.catalog.set(
      PDFName.of('OpenAction'),
      document.context.obj([firstPage, PDFName.of('Fit')]),
    );
    const pdf = Buffer.from(await document.save());
    const { outcome, copyPath } = await bench.run(pdf, 'application/pdf');
    expect(outcome).toEqual({ available: true, contentType: 'application/pdf', removed: [] });
    expect(await qdfText(copyPath!)).toMatch(/\/OpenAction \[/);
  });

  it('refuses an encrypted PDF', async () => {
    const plain = await bench.write('plain.pdf', await activePdf({}));
    const encrypted = `${plain}.encrypted`;
    expect(qpdf('--encrypt', 'user', 'owner', '256', '--', plain, encrypted).status).toBe(0);
    const { outcome, leftovers } = await bench.run(await readFile(encrypted), 'application/pdf');
    expect(outcome).toEqual({
      available: false,
      reason: 'encrypted PDF: its content cannot be rebuilt without the password',
    });
    expect(leftovers).toEqual([]);
  });

  it('refuses bytes that are not a PDF', async () => {
    const { outcome, leftovers } = await bench.run(
      Buffer.from('%PDF-1.7\nnot really'),
      'application/pdf',
    );
    expect(outcome.available).toBe(false);
    expect(!outcome.available && outcome.reason).toMatch(/^could not sanitize application\/pdf: /);
    expect(leftovers).toEqual([]);
  });
});
