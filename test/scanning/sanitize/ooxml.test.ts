import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSanitizerSet } from '../../../scanning/sanitize/index.js';
import { zip } from '../../support/archives.js';
import { excelWorkbook, powerpointPresentation, wordDocument } from '../../support/ooxml.js';
import { officePackage, sanitizeBench, type SanitizeBench } from '../../support/sanitize.js';

/**
 * Office documents are rebuilt without their active parts; each copy is opened by Python's
 * zipfile and xml.etree and checked against the packaging rules Office checks on opening.
 */

const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';
const DOCM = 'application/vnd.ms-word.document.macroenabled.12';
const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
const XLSM = 'application/vnd.ms-excel.sheet.macroenabled.12';
const PPTX = 'application/vnd.openxmlformats-officedocument.presentationml.presentation';
const PPTM = 'application/vnd.ms-powerpoint.presentation.macroenabled.12';

const set = createSanitizerSet();
let bench: SanitizeBench;
beforeAll(async () => {
  bench = await sanitizeBench(set);
});
afterAll(async () => {
  await bench.dispose();
  set.close();
});

async function sanitized(bytes: Buffer, contentType: string) {
  const run = await bench.run(bytes, contentType);
  expect(run.outcome.available, JSON.stringify(run.outcome)).toBe(true);
  const report = officePackage(run.copyPath!);
  expect(report.problems).toEqual([]);
  return { ...run, report };
}

describe('Word', () => {
  it('takes macros, ActiveX, OLE objects, the external template, remote images and DDE out of a .docm, which becomes a .docx', async () => {
    const docm = await wordDocument({
      paragraphs: ['First paragraph', 'Second paragraph'],
      macros: true,
      activeX: true,
      oleObject: true,
      externalTemplate: true,
      remoteImage: true,
      ddeField: true,
      ddeSimpleField: true,
      hyperlinks: true,
    });
    const original = officePackage(await bench.write('input.docm', docm));
    expect(original.problems).toEqual([]);

    const { outcome, copy, report } = await sanitized(docm, DOCM);

    expect(outcome).toEqual({
      available: true,
      contentType: DOCX,
      removed: ['activex', 'dde-fields', 'external-relationships', 'macros', 'ole-objects'],
    });
    expect(report.mainType).toBe(`${DOCX}.main+xml`);
    expect(report.parts).toEqual([
      '[Content_Types].xml',
      '_rels/.rels',
      'docProps/core.xml',
      'word/_rels/document.xml.rels',
      'word/_rels/settings.xml.rels',
      'word/document.xml',
      'word/media/image1.png',
      'word/media/image2.png',
      'word/settings.xml',
      'word/styles.xml',
    ]);
    expect(report.relationships.filter((r) => r.external)).toEqual([
      {
        source: 'word/document.xml',
        type: 'hyperlink',
        target: 'https://example.com/',
        external: true,
      },
    ]);
    expect(report.relationships.map((r) => r.type)).not.toContain('attachedTemplate');
    expect(report.text).toEqual([
      'First paragraph',
      'Second paragraph',
      'our website',
      'the share',
      'field result kept',
      'simple field result',
      '1',
    ]);
    const text = copy!.toString('latin1');
    expect(text).not.toMatch(/vbaProject|DDE|calc\.exe|attacker\.example|tracker\.example/);
  });

  it('finds a DDE field whose name is split across runs, in a document with nothing else', async () => {
    const docx = await wordDocument({ paragraphs: ['Dear customer'], ddeField: true });
    const { outcome, copy, report } = await sanitized(docx, DOCX);
    expect(outcome).toEqual({ available: true, contentType: DOCX, removed: ['dde-fields'] });
    expect(report.text).toEqual(['Dear customer', 'field result kept', '1']);
    expect(copy!.toString('latin1')).not.toMatch(/calc\.exe|EAUTO/);
  });

  it('keeps a clean .docx as it is, part for part, listing nothing', async () => {
    const docx = await wordDocument({ paragraphs: ['Only text'], hyperlinks: false });
    const { outcome, report } = await sanitized(docx, DOCX);
    expect(outcome).toEqual({ available: true, contentType: DOCX, removed: [] });
    expect(report.text).toEqual(['Only text', '1']);
    expect(report.parts).toEqual(officePackage(await bench.write('clean.docx', docx)).parts);
  });
});

describe('Excel', () => {
  it('takes macros, macro sheets, DDE links and formulas and OLE objects out of a .xlsm, which becomes a .xlsx', async () => {
    const xlsm = await excelWorkbook({
      cells: ['Name', 'Total'],
      macros: true,
      macroSheet: true,
      ddeLink: true,
      ddeFormula: true,
      oleObject: true,
    });
    expect(officePackage(await bench.write('input.xlsm', xlsm)).problems).toEqual([]);

    const { outcome, copy, report } = await sanitized(xlsm, XLSM);

    expect(outcome).toEqual({
      available: true,
      contentType: XLSX,
      removed: ['dde-fields', 'macros', 'ole-objects'],
    });
    expect(report.mainType).toBe(`${XLSX}.main+xml`);
    expect(report.parts).toEqual([
      '[Content_Types].xml',
      '_rels/.rels',
      'xl/_rels/workbook.xml.rels',
      'xl/workbook.xml',
      'xl/worksheets/_rels/sheet1.xml.rels',
      'xl/worksheets/sheet1.xml',
    ]);
    expect(report.text).toEqual(['Name', 'Total']);
    const text = copy!.toString('latin1');
    expect(text).not.toMatch(/Auto_Open|Macro1|ddeLink|calc\.exe|oleObject|externalReference/);
  });
});

describe('PowerPoint', () => {
  it('takes macros, OLE objects and program links out of a .pptm, which becomes a .pptx', async () => {
    const pptm = await powerpointPresentation({
      texts: ['Quarterly results', 'Next steps'],
      macros: true,
      oleObject: true,
      programLink: true,
    });
    expect(officePackage(await bench.write('input.pptm', pptm)).problems).toEqual([]);

    const { outcome, copy, report } = await sanitized(pptm, PPTM);

    expect(outcome).toEqual({
      available: true,
      contentType: PPTX,
      removed: ['external-relationships', 'macros', 'ole-objects'],
    });
    expect(report.mainType).toBe(`${PPTX}.main+xml`);
    expect(report.text).toEqual(['Quarterly results', 'Next steps']);
    expect(report.parts).not.toContain('ppt/vbaProject.bin');
    const text = copy!.toString('latin1');
    expect(text).not.toMatch(/calc\.exe|oleObj|graphicFrame|ppaction/);
  });
});

describe('hostile packages', () => {
  it('refuses a zip bomb dressed as a .docx, by the inflated size, and leaves nothing', async () => {
    const bomb = await zip([
      { name: '[Content_Types].xml', data: Buffer.from('<Types/>') },
      { name: 'word/document.xml', data: Buffer.alloc(64 * 1024 * 1024, 0x20) },
    ]);
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const { outcome, leftovers } = await bench.run(bomb, DOCX, { maxBytes: 16 * 1024 * 1024 });
    expect(outcome).toEqual({
      available: false,
      reason: `zip entries inflate to more than the limit of ${16 * 1024 * 1024} bytes`,
    });
    expect(leftovers).toEqual([]);
  });

  it('refuses a package of too many entries, by its end record, before reading one', async () => {
    // An end of central directory record claiming 20001 entries: nothing else is needed to ask.
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(20_001, 8);
    end.writeUInt16LE(20_001, 10);
    const { outcome } = await bench.run(end, DOCX);
    expect(outcome).toEqual({
      available: false,
      reason: '20001 zip entries, over the limit of 20000',
    });
  });

  it('refuses a zip that is not an Office package, and XML with a document type', async () => {
    const notOffice = await zip([{ name: 'readme.txt', data: Buffer.from('hello') }]);
    expect((await bench.run(notOffice, DOCX)).outcome).toEqual({
      available: false,
      reason: 'not an Office Open XML package: no [Content_Types].xml',
    });
    const laughs = await wordDocument({ paragraphs: ['x'] });
    const withDoctype = await zip([
      {
        name: '[Content_Types].xml',
        data: Buffer.from('<!DOCTYPE lol [<!ENTITY lol "lol">]><Types/>'),
      },
      { name: 'word/document.xml', data: Buffer.from('<w:document/>') },
    ]);
    expect(laughs.length).toBeGreaterThan(0);
    expect((await bench.run(withDoctype, DOCX)).outcome).toEqual({
      available: false,
      reason: expect.stringMatching(
        /^could not sanitize .*: a document type declaration/,
      ) as unknown,
    });
  });
});
