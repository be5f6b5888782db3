import { describe, expect, it } from 'vitest';
import type { ClassificationSettings } from '../../core/sensitive-types.js';
import { AnalysisEngine } from '../../scanning/analysis/analysis-engine.js';
import type { Piece } from '../../scanning/analysis/analyzer.js';
import { SensitiveDataAnalyzer } from '../../scanning/analysis/sensitive/sensitive-analyzer.js';
import { markupText } from '../../scanning/analysis/text/markup-text.js';
import { defaultPlan, type ScanPlan } from '../../scanning/plan.js';
import { CHUNK_CHARS } from '../../scanning/sensitive/classify.js';
import { DEFAULT_LIMITS, encryptedZip, formatWorkspace, zip } from '../support/archives.js';
import { compoundFile } from '../support/office-binary.js';
import { flateStream, writePdf } from '../support/pdf.js';
import { rawValues, textDocument } from '../support/sensitive-documents.js';
import {
  ATTRIBUTE_HTML_COUNTS,
  attributeHtml,
  FILLED_FORM_COUNTS,
  filledFormPdf,
  HEADER_ONLY_COUNTS,
  headerOnlyMessage,
} from '../support/unseen-text-documents.js';

/**
 * The `sensitive_data` analyzer below the service, over content walked by the analysis engine:
 * counts summed over pieces against the tenant's threshold, what could not be read (too large,
 * cut, encrypted, a document it cannot open) reported as unscannable beside the classification
 * of the rest, detections that never carry a value, worksheets read as a reader sees them, and
 * a large text classified without holding the event loop.
 */

const CARD = '4111 1111 1111 1111';
const OTHER_CARD = '5555-5555-5555-4444';

function planWith(classification?: ClassificationSettings): ScanPlan {
  return {
    ...defaultPlan('t1'),
    categories: ['sensitive_data'],
    ...(classification ? { classification } : {}),
  };
}

describe('the sensitive-data analyzer', () => {
  const { ws, formats } = formatWorkspace();

  async function analyze(
    content: Buffer,
    options: {
      name?: string;
      plan?: ScanPlan;
      analyzer?: SensitiveDataAnalyzer;
    } = {},
  ) {
    const analyzer = options.analyzer ?? new SensitiveDataAnalyzer({ maxBytes: 1024 * 1024 });
    const engine = new AnalysisEngine([analyzer], {
      archive: DEFAULT_LIMITS,
      formats,
      scratchDir: ws.scratchDir,
    });
    const file = ws.write(content);
    const verdicts = await engine.scan(
      { path: file, size: content.length, name: options.name ?? 'upload' },
      options.plan ?? planWith(),
    );
    expect(verdicts).toHaveLength(1);
    return verdicts[0]!;
  }

  it('does nothing for a plan without the category', async () => {
    const analyzer = new SensitiveDataAnalyzer({ maxBytes: 1024 });
    expect(await analyzer.prepare(defaultPlan('t1'))).toBeUndefined();
    expect(analyzer.describe()).toEqual({
      name: 'sensitive-data',
      version: 'arbiter-sensitive/1 (12 types)',
    });
  });

  it('sums a type over the pieces before judging it against min_matches, and places each', async () => {
    const archive = await zip([
      { name: 'a.txt', data: Buffer.from(`paid with ${CARD} and ${OTHER_CARD}\n`) },
      { name: 'notes/b.txt', data: Buffer.from(`refund to ${CARD}, mail ada@example.com\n`) },
    ]);
    const verdict = await analyze(archive, {
      name: 'bundle.zip',
      plan: planWith({ types: ['credit_card', 'email'], minMatches: 3 }),
    });
    // Two cards in one piece and one in the other: three, the threshold; one address is not.
    expect(verdict.classification).toEqual({
      result: 'sensitive',
      matches: { credit_card: 3 },
      samples: { credit_card: ['…1111', '…4444'] },
    });
    expect(verdict.findings).toEqual(['content.sensitive.credit_card']);
    expect(verdict.detections).toEqual([
      {
        path: ['bundle.zip', 'a.txt'],
        finding: 'content.sensitive.credit_card',
        signature: 'credit_card: 2 values',
      },
      {
        path: ['bundle.zip', 'notes/b.txt'],
        finding: 'content.sensitive.credit_card',
        signature: 'credit_card: 1 value',
      },
    ]);
    expect(verdict.version).toBe('arbiter-sensitive/1 (2 types, min_matches 3)');
  });

  it('puts a type, a count and a place in its detections, never a value', async () => {
    const verdict = await analyze(textDocument(), { name: 'customers.txt' });
    expect(verdict.detections?.length).toBeGreaterThan(5);
    for (const detection of verdict.detections ?? []) {
      expect(detection.signature).toMatch(/^[a-z_]+: \d+ values?$/);
      for (const value of rawValues()) expect(JSON.stringify(detection)).not.toContain(value);
    }
  });

  it('reports a piece past maxBytes as unscannable, and classifies the rest', async () => {
    const big = Buffer.from(`${CARD}\n${'filler line of an export\n'.repeat(100)}`);
    const archive = await zip([
      { name: 'small.txt', data: Buffer.from(`card ${OTHER_CARD}\n`) },
      { name: 'big.txt', data: big },
    ]);
    const verdict = await analyze(archive, {
      name: 'bundle.zip',
      analyzer: new SensitiveDataAnalyzer({ maxBytes: 1024 }),
    });
    expect(verdict.findings).toEqual([
      'content.sensitive.credit_card',
      'content.unscannable.sensitive.limits-exceeded',
    ]);
    expect(verdict.classification?.matches).toEqual({ credit_card: 1 });
    expect(verdict.detections).toContainEqual({
      path: ['bundle.zip', 'big.txt'],
      finding: 'content.unscannable.sensitive.limits-exceeded',
      signature: 'text larger than 1024 bytes',
    });
  });

  it('reports text cut at the classifier’s limit, counting what was read', async () => {
    const text = `first ${CARD}\n${'x'.repeat(200)}\nlast ${OTHER_CARD}\n`;
    const verdict = await analyze(Buffer.from(text), {
      name: 'long.txt',
      analyzer: new SensitiveDataAnalyzer({ maxBytes: 1024 * 1024, maxChars: 100 }),
    });
    expect(verdict.classification?.matches).toEqual({ credit_card: 1 });
    expect(verdict.detections).toContainEqual({
      path: ['long.txt'],
      finding: 'content.unscannable.sensitive.limits-exceeded',
      signature: 'text longer than 100 characters: the rest was not read',
    });
  });

  it('reports what it cannot open, beside the classification of what it can', async () => {
    const locked = encryptedZip([{ name: 'secret.txt', data: Buffer.from(`card ${CARD}\n`) }]);
    const encryptedWorkbook = compoundFile([
      { name: 'EncryptionInfo', data: Buffer.alloc(200, 1) },
      { name: 'EncryptedPackage', data: Buffer.alloc(600, 2) },
    ]);
    const archive = await zip([
      { name: 'locked.zip', data: locked },
      { name: 'budget.xlsx', data: encryptedWorkbook },
      { name: 'open.txt', data: Buffer.from(`card ${OTHER_CARD}\n`) },
    ]);
    const verdict = await analyze(archive, { name: 'bundle.zip' });
    expect(verdict.findings).toEqual([
      'content.sensitive.credit_card',
      'content.unscannable.encrypted',
      'content.unscannable.sensitive.unsupported-method',
    ]);
    expect(verdict.classification).toEqual({
      result: 'sensitive',
      matches: { credit_card: 1 },
      samples: { credit_card: ['…4444'] },
    });
  });

  it('says none, with nothing listed, for text below the threshold or with no values', async () => {
    const once = await analyze(Buffer.from(`only ${CARD} here\n`), {
      plan: planWith({ types: ['credit_card'], minMatches: 2 }),
    });
    expect(once.classification).toEqual({ result: 'none', matches: {}, samples: {} });
    expect(once.findings).toEqual([]);
    const prose = await analyze(Buffer.from('Nothing to see in this memo.\n'));
    expect(prose.classification).toEqual({ result: 'none', matches: {}, samples: {} });
  });

  it("reads a PDF object stream's strings, not its header of object numbers and offsets", async () => {
    // The header's pairs read as text would be a Visa number: 4111 1111 1111 1111.
    const objects = '<< /Type /Annot /Contents (refund to 5555-5555-5555-4444) >> << /T (x) >>';
    const objectStream = flateStream(
      Buffer.from(`4111 1111 1111 1111 ${objects}`),
      `/Type /ObjStm /N 2 /First 20`,
    );
    const pdf = writePdf([
      '<< /Type /Catalog /Pages 2 0 R >>',
      '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
      '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>',
      flateStream(Buffer.from('BT /F1 12 Tf 72 712 Td (Invoice 2024) Tj ET')),
      objectStream,
    ]);
    const verdict = await analyze(pdf, { name: 'invoice.pdf' });
    expect(verdict.classification?.matches).toEqual({ credit_card: 1 });
    expect(verdict.classification?.samples).toEqual({ credit_card: ['…4444'] });
  });

  it("reads a message's header fields, encoded words decoded, when the body holds nothing", async () => {
    const verdict = await analyze(headerOnlyMessage(), { name: 'mail.eml' });
    expect(verdict.classification?.matches).toEqual(HEADER_ONLY_COUNTS);
    expect(verdict.classification?.samples).toMatchObject({
      us_ssn: ['***-**-1120'],
      credit_card: ['…1111'],
    });
    // The values are placed in the fields, not in the body.
    expect(new Set(verdict.detections?.map((d) => d.path.join('/')))).toEqual(
      new Set(['mail.eml/(headers)']),
    );
  });

  it("reads a filled PDF form's field values, tooltip and comment once, whatever their objects", async () => {
    for (const objectStreams of [false, true]) {
      const verdict = await analyze(await filledFormPdf(objectStreams), { name: 'form.pdf' });
      // Each value once: from its field, not again from the appearance stream that draws it.
      expect(verdict.classification?.matches, `object streams: ${objectStreams}`).toEqual(
        FILLED_FORM_COUNTS,
      );
      const places = verdict.detections?.map((d) => d.path.at(-1) ?? '') ?? [];
      // The page's content stream holds labels only: none of the values is found there.
      for (const place of places) expect(place).toMatch(/^(?:\(strings\)|objstm-\d+-\d+\.bin)$/);
      if (!objectStreams) expect(places).toContain('(strings)');
    }
  });

  it('reads the attribute values a reader sees or follows, once when the text repeats them', async () => {
    const verdict = await analyze(attributeHtml(), { name: 'account.html' });
    expect(verdict.classification?.matches).toEqual(ATTRIBUTE_HTML_COUNTS);
    // Class names, ids, and other links are markup: an image's address is not an e-mail.
    const markup = Buffer.from(
      '<html><body><img src="logo@2x.png" class="id-4111111111111111">' +
        '<a href="https://example.com/u/123-45-6789">profile</a></body></html>',
    );
    const nothing = await analyze(markup, { name: 'plain.html' });
    expect(nothing.classification).toEqual({ result: 'none', matches: {}, samples: {} });
  });

  it("reads a worksheet as a reader sees it: cells apart, shared strings' indexes left out", () => {
    // Indexes 4, 1, 1, … would read as a card number were they text.
    const indexes = [4, ...Array<number>(15).fill(1)]
      .map(
        (index, column) => `<c r="${String.fromCharCode(65 + column)}1" t="s"><v>${index}</v></c>`,
      )
      .join('');
    const sheet =
      '<?xml version="1.0" encoding="UTF-8"?>' +
      '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>' +
      `<row r="1">${indexes}</row>` +
      '<row r="2"><c r="A2"><v>1040</v></c><c r="B2"><v>2.5</v></c>' +
      '<c r="C2" t="inlineStr"><is><t>paid</t></is></c></row>' +
      '</sheetData></worksheet>';
    expect(markupText(sheet).trim().split(/\s+/)).toEqual(['1040', '2.5', 'paid']);
  });

  it('lets the event loop run while it classifies a large text', async () => {
    const analyzer = new SensitiveDataAnalyzer({ maxBytes: 64 * 1024 * 1024 });
    const check = await analyzer.prepare(planWith());
    const prose = 'The committee reviewed the quarterly figures and agreed on the terms.\n';
    const block = `${prose.repeat(99)}Customer paid with ${CARD}.\n`;
    const blocks = Math.ceil((4 * CHUNK_CHARS) / block.length);
    const bytes = Buffer.from(block.repeat(blocks));
    const piece: Piece = {
      path: ['large.txt'],
      head: bytes.subarray(0, 4096),
      size: bytes.length,
      container: 'file',
      bytes,
    };
    let turns = 0;
    let running = true;
    const count = (): void => {
      turns += 1;
      if (running) setImmediate(count);
    };
    setImmediate(count);
    const detections = await check!.check(piece);
    running = false;
    expect(detections).toEqual([]);
    // The loop turned between the chunks: other work was not held up for the whole text.
    expect(turns).toBeGreaterThanOrEqual(3);
    expect(check!.conclude?.().classification?.matches).toEqual({ credit_card: blocks });
  });
});
