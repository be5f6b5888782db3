import { createHash } from 'node:crypto';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import yazl from 'yazl';
import type { SensitiveType } from '../../core/sensitive-types.js';
import { emlMessage } from './mail-formats.js';
import { base64url, luhnCheckDigit } from './sensitive-values.js';

/**
 * Documents holding a known number of sensitive values of each type, in every format the
 * `sensitive_data` category reads, built at run time (nothing of it is stored in the repository):
 * the same records and credentials in each, so each document's counts are KNOWN_COUNTS. Then a
 * document of look-alikes that must classify as nothing. No vitest here: the benchmark builds
 * its corpus with these too.
 */

export interface PersonRecord {
  name: string;
  card: string;
  iban: string;
  ssn: string;
  email: string;
  phone: string;
}

/** Three customers: issuers' test card numbers, registry example IBANs, fictional numbers. */
export const PEOPLE: readonly PersonRecord[] = [
  {
    name: 'Ada Lovelace',
    card: '4111 1111 1111 1111',
    iban: 'DE89 3704 0044 0532 0130 00',
    ssn: '123-45-6789',
    email: 'ada@example.com',
    phone: '(202) 555-0143',
  },
  {
    name: 'Alan Turing',
    card: '5555-5555-5555-4444',
    iban: 'GB82WEST12345698765432',
    ssn: '078-05-1120',
    email: 'alan.turing@example.org',
    phone: '415-555-2671',
  },
  {
    name: 'Grace Hopper',
    card: '371449635398431',
    iban: 'NL91ABNA0417164300',
    ssn: '219-09-9999',
    email: 'grace@mail.example.org',
    phone: '+44 20 7946 0958',
  },
];

/**
 * Credentials in their formats, assembled here rather than written out whole (a secret scanner
 * reading the repository has nothing to flag).
 */
export const CREDENTIALS = {
  awsAccessKey: ['AKIA', 'Q2W3E4R5T6Y7U2I3'].join(''),
  awsSecretKey: ['wJalrXUtnFEMI', 'K7MDENG', 'bPxRfiCYEXAMPLEKEY'].join('/'),
  githubToken: ['ghp', 'A1b2C3d4'.repeat(4) + 'E5f6'].join('_'),
  stripeKey: ['sk', 'live', 'Q1w2E3r4'.repeat(3)].join('_'),
  jwt: [
    base64url({ alg: 'HS256', typ: 'JWT' }),
    base64url({ sub: '1234567890', name: 'Ada' }),
    'SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
  ].join('.'),
} as const;

/** Each document's counts (in the types' order): every record's six values, each credential once. */
export const KNOWN_COUNTS: Partial<Record<SensitiveType, number>> = {
  credit_card: 3,
  iban: 3,
  us_ssn: 3,
  email: 3,
  phone: 3,
  aws_access_key: 1,
  aws_secret_key: 1,
  jwt: 1,
  github_token: 1,
  stripe_key: 1,
};

/** The message's counts (emlDocument): its From and To fields are two more addresses. */
export const MESSAGE_COUNTS: Partial<Record<SensitiveType, number>> = {
  ...KNOWN_COUNTS,
  email: (KNOWN_COUNTS.email ?? 0) + 2,
};

/** Every raw value the documents hold, as written and (numbers) as bare digits. */
export function rawValues(): string[] {
  const values = [
    ...PEOPLE.flatMap((person) => [
      person.card,
      person.iban,
      person.ssn,
      person.email,
      person.phone,
    ]),
    ...Object.values(CREDENTIALS),
  ];
  const bare = PEOPLE.flatMap((person) => [
    person.card.replace(/\D/g, ''),
    person.iban.replace(/\s/g, ''),
    person.ssn.replace(/\D/g, ''),
  ]);
  return [...new Set([...values, ...bare])];
}

function personLine(person: PersonRecord): string {
  return `Customer ${person.name}: card ${person.card}, IBAN ${person.iban}, SSN ${person.ssn}, e-mail ${person.email}, phone ${person.phone}.`;
}

function credentialLines(): string[] {
  return [
    `Deploy with aws_access_key_id = ${CREDENTIALS.awsAccessKey} and aws_secret_access_key = ${CREDENTIALS.awsSecretKey}`,
    `The CI token is ${CREDENTIALS.githubToken} and billing uses ${CREDENTIALS.stripeKey}`,
    `Session: ${CREDENTIALS.jwt}`,
  ];
}

/** The lines every document shows, in order: a title, the records, the credentials. */
export function documentLines(): string[] {
  return ['Quarterly customer review', ...PEOPLE.map(personLine), ...credentialLines()];
}

export function textDocument(): Buffer {
  return Buffer.from(`${documentLines().join('\n')}\n`);
}

const CSV_HEADER = 'name,card,iban,ssn,email,phone';

/** A record's fields in the order of CSV_HEADER. */
const fieldsOf = (p: PersonRecord): string[] => [p.name, p.card, p.iban, p.ssn, p.email, p.phone];

function csvRows(people: readonly PersonRecord[]): string[] {
  return people.map((person) => fieldsOf(person).join(','));
}

export function csvDocument(): Buffer {
  const notes = credentialLines().map((line) => `"${line}",,,,,`);
  return Buffer.from(`${[CSV_HEADER, ...csvRows(PEOPLE), ...notes].join('\r\n')}\r\n`);
}

export function jsonDocument(): Buffer {
  return Buffer.from(
    JSON.stringify(
      {
        customers: PEOPLE,
        deploy: {
          aws_access_key_id: CREDENTIALS.awsAccessKey,
          aws_secret_access_key: CREDENTIALS.awsSecretKey,
        },
        ci_token: CREDENTIALS.githubToken,
        billing_key: CREDENTIALS.stripeKey,
        session: CREDENTIALS.jwt,
      },
      null,
      2,
    ),
  );
}

const escapeXml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function htmlDocument(): Buffer {
  const rows = PEOPLE.map(
    (p) =>
      `<tr><td>${p.name}</td><td>${p.card}</td><td>${p.iban}</td><td>${p.ssn}</td><td><a href="#${p.name.split(' ')[0]}">${p.email}</a></td><td>${p.phone}</td></tr>`,
  ).join('\n');
  const notes = credentialLines()
    .map((line) => `<p>${escapeXml(line)}</p>`)
    .join('\n');
  return Buffer.from(
    `<!doctype html>\n<html><head><title>Quarterly customer review</title><style>td { padding: 2px }</style></head>\n<body><table>\n${rows}\n</table>\n${notes}\n</body></html>\n`,
  );
}

/**
 * A PDF whose page text is drawn with a standard font, so its content streams hold the text: a
 * line a row, 38 rows a page.
 */
export async function pdfDocument(lines = documentLines()): Promise<Buffer> {
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  for (let first = 0; first < lines.length; first += PDF_ROWS) {
    const page = pdf.addPage([842, 595]);
    lines.slice(first, first + PDF_ROWS).forEach((line, row) => {
      page.drawText(line, { x: 20, y: 560 - row * 14, size: 7, font });
    });
  }
  return Buffer.from(await pdf.save());
}

const PDF_ROWS = 38;

function zipOf(entries: ReadonlyArray<[string, string | Buffer]>): Promise<Buffer> {
  const archive = new yazl.ZipFile();
  for (const [name, data] of entries) {
    archive.addBuffer(typeof data === 'string' ? Buffer.from(data) : data, name, {
      // An OpenDocument's `mimetype` comes first, stored.
      compress: name !== 'mimetype',
    });
  }
  archive.end();
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    archive.outputStream.on('data', (chunk: Buffer) => chunks.push(chunk));
    archive.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    archive.outputStream.on('error', reject);
  });
}

const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n';
const RELATIONSHIPS = 'http://schemas.openxmlformats.org/package/2006/relationships';
const OFFICE_DOCUMENT =
  'http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument';

/**
 * A Word document: one paragraph a line, and the first customer's card split across two runs,
 * as Word writes text whose formatting changes mid-number.
 */
export function docxDocument(lines = documentLines()): Promise<Buffer> {
  const run = (text: string) => `<w:r><w:t xml:space="preserve">${escapeXml(text)}</w:t></w:r>`;
  const paragraphs = lines.map((line) => {
    const card = PEOPLE[0]!.card;
    if (!line.includes(card)) return `<w:p>${run(line)}</w:p>`;
    const [before = '', after = ''] = line.split(card);
    const bold = `<w:r><w:rPr><w:b/></w:rPr><w:t>${card.slice(0, 9)}</w:t></w:r>`;
    return `<w:p>${run(before)}${bold}${run(card.slice(9))}${run(after)}</w:p>`;
  });
  const main = 'http://schemas.openxmlformats.org/wordprocessingml/2006/main';
  return zipOf([
    [
      '[Content_Types].xml',
      `${XML_DECLARATION}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`,
    ],
    [
      '_rels/.rels',
      `${XML_DECLARATION}<Relationships xmlns="${RELATIONSHIPS}"><Relationship Id="rId1" Type="${OFFICE_DOCUMENT}" Target="word/document.xml"/></Relationships>`,
    ],
    [
      'word/document.xml',
      `${XML_DECLARATION}<w:document xmlns:w="${main}"><w:body>${paragraphs.join('')}</w:body></w:document>`,
    ],
  ]);
}

/**
 * A workbook: the records' cells as shared strings (the sheet holds their indexes), the
 * credentials as inline strings, and a column of plain numbers (row totals).
 */
export function xlsxDocument(): Promise<Buffer> {
  const strings = [...CSV_HEADER.split(','), ...PEOPLE.flatMap(fieldsOf)];
  const shared = (text: string) => strings.indexOf(text);
  const rows: string[] = [];
  const cellsOf = (texts: string[], row: number) =>
    texts
      .map((text, column) => {
        const ref = `${String.fromCharCode(65 + column)}${row}`;
        return `<c r="${ref}" t="s"><v>${shared(text)}</v></c>`;
      })
      .join('');
  rows.push(`<row r="1">${cellsOf(CSV_HEADER.split(','), 1)}</row>`);
  PEOPLE.forEach((person, index) => {
    const row = index + 2;
    rows.push(
      `<row r="${row}">${cellsOf(fieldsOf(person), row)}<c r="G${row}"><v>${1040 + index}</v></c></row>`,
    );
  });
  credentialLines().forEach((line, index) => {
    const row = PEOPLE.length + 2 + index;
    rows.push(
      `<row r="${row}"><c r="A${row}" t="inlineStr"><is><t>${escapeXml(line)}</t></is></c></row>`,
    );
  });
  const main = 'http://schemas.openxmlformats.org/spreadsheetml/2006/main';
  const relationship = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';
  return zipOf([
    [
      '[Content_Types].xml',
      `${XML_DECLARATION}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>`,
    ],
    [
      '_rels/.rels',
      `${XML_DECLARATION}<Relationships xmlns="${RELATIONSHIPS}"><Relationship Id="rId1" Type="${OFFICE_DOCUMENT}" Target="xl/workbook.xml"/></Relationships>`,
    ],
    [
      'xl/workbook.xml',
      `${XML_DECLARATION}<workbook xmlns="${main}" xmlns:r="${relationship}"><sheets><sheet name="Customers" sheetId="1" r:id="rId1"/></sheets></workbook>`,
    ],
    [
      'xl/_rels/workbook.xml.rels',
      `${XML_DECLARATION}<Relationships xmlns="${RELATIONSHIPS}"><Relationship Id="rId1" Type="${relationship}/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="${relationship}/sharedStrings" Target="sharedStrings.xml"/></Relationships>`,
    ],
    [
      'xl/worksheets/sheet1.xml',
      `${XML_DECLARATION}<worksheet xmlns="${main}"><sheetData>${rows.join('')}</sheetData></worksheet>`,
    ],
    [
      'xl/sharedStrings.xml',
      `${XML_DECLARATION}<sst xmlns="${main}" count="${strings.length}" uniqueCount="${strings.length}">${strings.map((text) => `<si><t>${escapeXml(text)}</t></si>`).join('')}</sst>`,
    ],
  ]);
}

/** An OpenDocument text: a paragraph a line, the first e-mail address inside a styled span. */
export function odtDocument(): Promise<Buffer> {
  const email = PEOPLE[0]!.email;
  const paragraphs = documentLines()
    .map(
      (line) =>
        `<text:p text:style-name="Standard">${escapeXml(line).replace(email, `<text:span text:style-name="T1">${email}</text:span>`)}</text:p>`,
    )
    .join('');
  const mime = 'application/vnd.oasis.opendocument.text';
  return zipOf([
    ['mimetype', mime],
    [
      'META-INF/manifest.xml',
      `${XML_DECLARATION}<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="${mime}"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>`,
    ],
    [
      'content.xml',
      `${XML_DECLARATION}<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:text>${paragraphs}</office:text></office:body></office:document-content>`,
    ],
  ]);
}

/** An RTF document: a paragraph a line, the card numbers in bold. */
export function rtfDocument(): Buffer {
  const escapeRtf = (text: string) => text.replace(/[\\{}]/g, (c) => `\\${c}`);
  const paragraphs = documentLines().map((line) => {
    let escaped = escapeRtf(line);
    for (const { card } of PEOPLE) escaped = escaped.replace(card, `{\\b ${card}}`);
    return `${escaped}\\par`;
  });
  return Buffer.from(
    `{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0 Times New Roman;}}\\f0\\fs22\n${paragraphs.join('\n')}\n}\n`,
  );
}

/**
 * A message: the first record in its body, the others and the credentials in a CSV attached,
 * sent by the first customer to the last (two more addresses: MESSAGE_COUNTS).
 */
export function emlDocument(): Buffer {
  const [first, ...others] = PEOPLE;
  const notes = credentialLines().map((line) => `"${line}",,,,,`);
  const last = PEOPLE[PEOPLE.length - 1]!;
  return emlMessage({
    subject: 'Quarterly customer review',
    from: `${first!.name} <${first!.email}>`,
    to: `${last.name} <${last.email}>`,
    text: `Hello,\n\n${personLine(first!)}\nThe others are attached.\n`,
    attachments: [
      {
        name: 'customers.csv',
        type: 'text/csv',
        data: Buffer.from([CSV_HEADER, ...csvRows(others), ...notes].join('\r\n')),
      },
    ],
  });
}

/** Every format above, by the name it is uploaded with. */
export async function everyFormat(): Promise<Record<string, Buffer>> {
  return {
    'customers.txt': textDocument(),
    'customers.csv': csvDocument(),
    'customers.json': jsonDocument(),
    'customers.html': htmlDocument(),
    'customers.pdf': await pdfDocument(),
    'customers.docx': await docxDocument(),
    'customers.xlsx': await xlsxDocument(),
    'customers.odt': await odtDocument(),
    'customers.rtf': rtfDocument(),
    'customers.eml': emlDocument(),
  };
}

/**
 * A zip of several documents, one of them in a zip of its own: the counts are `documents` times
 * KNOWN_COUNTS, and the message's two addresses (`counts`).
 */
export async function bundleOfDocuments(): Promise<{
  bundle: Buffer;
  documents: number;
  counts: Partial<Record<SensitiveType, number>>;
}> {
  const inner = await zipOf([
    ['mail/customers.eml', emlDocument()],
    ['customers.odt', await odtDocument()],
  ]);
  const bundle = await zipOf([
    ['reports/customers.pdf', await pdfDocument()],
    ['reports/customers.docx', await docxDocument()],
    ['exports/customers.csv', csvDocument()],
    ['archive/older.zip', inner],
  ]);
  // One of them is the message, whose From and To are two more addresses.
  const counts = countsTimes(5);
  return { bundle, documents: 5, counts: { ...counts, email: (counts.email ?? 0) + 2 } };
}

/** The counts of a document of everyFormat: the message's From and To are addresses too. */
export function knownCounts(name: string): Partial<Record<SensitiveType, number>> {
  return name.endsWith('.eml') ? MESSAGE_COUNTS : KNOWN_COUNTS;
}

/** KNOWN_COUNTS times `documents`. */
export function countsTimes(documents: number): Partial<Record<SensitiveType, number>> {
  return Object.fromEntries(
    Object.entries(KNOWN_COUNTS).map(([type, count]) => [type, count * documents]),
  );
}

/** A deterministic source of digits, so that a failure can be replayed. */
function* digitStream(seed: number): Generator<number> {
  let state = seed;
  for (;;) {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    yield Math.floor(state / 65_536) % 10;
  }
}

function digitsFrom(stream: Generator<number>, length: number): string {
  let digits = '';
  while (digits.length < length) digits += String(stream.next().value);
  return digits;
}

/**
 * What sensitive values are confused with, `lines` of each kind: order numbers shaped like
 * Visa and Mastercard numbers whose check digit is wrong, random nine-digit ids (an SSN's
 * length, without a label), base64 blobs (a secret key's alphabet), hashes and timestamps.
 */
export function lookAlikeText(lines = 50): string {
  const stream = digitStream(42);
  const out: string[] = ['Order log'];
  for (let index = 0; index < lines; index += 1) {
    const body = `${index % 2 === 0 ? '4' : '5'}${digitsFrom(stream, 14)}`;
    const wrong = String((Number(luhnCheckDigit(body)) + 1 + (index % 9)) % 10);
    out.push(`Order ${body}${wrong} shipped to warehouse ${digitsFrom(stream, 3)}`);
    out.push(`customer id ${digitsFrom(stream, 9)} account ${digitsFrom(stream, 9)}`);
    const blob = createHash('sha512').update(`blob ${index}`).digest('base64');
    out.push(`attachment: ${blob}${blob}`);
    out.push(`sha256 ${createHash('sha256').update(String(index)).digest('hex')}`);
    out.push(`at ${1_700_000_000 + index * 3_600} (epoch), build 5.4.${index}-150-generic`);
  }
  return `${out.join('\n')}\n`;
}
