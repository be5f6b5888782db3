import { PDFDocument, PDFHexString, PDFName, StandardFonts } from 'pdf-lib';
import type { SensitiveType } from '../../core/sensitive-types.js';

/**
 * Documents whose sensitive values sit where a reader shows them but outside any body or page
 * text, built at run time: a message with values only in its header fields (one RFC 2047
 * encoded), a filled PDF form with values only in its fields and a comment, an HTML page with
 * values only in attributes (and one repeated by the text it labels). Each comes with its exact
 * counts.
 */

type Counts = Partial<Record<SensitiveType, number>>;

/**
 * From, To (folded, a Q-encoded display name), Cc and Reply-To: five addresses; a B-encoded
 * Subject holding an SSN and a card number, which only decoding shows. The body has none.
 */
export function headerOnlyMessage(): Buffer {
  const subject = Buffer.from('Überweisung: SSN 078-05-1120, Karte 4111 1111 1111 1111').toString(
    'base64',
  );
  return Buffer.from(
    [
      'From: Ada Lovelace <ada@example.com>',
      'To: alan.turing@example.org,',
      ' =?UTF-8?Q?Grace_H=C3=B6pper?= <grace@mail.example.org>',
      'Cc: billing@example.net',
      'Reply-To: support@example.net',
      `Subject: =?UTF-8?B?${subject}?=`,
      'Date: Thu, 31 Jul 2008 13:49:50 +0000',
      'Message-ID: <header-only@example.com>',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Hello,',
      'the details are in the subject line.',
      '',
    ].join('\r\n'),
  );
}

export const HEADER_ONLY_COUNTS: Counts = { credit_card: 1, us_ssn: 1, email: 5 };

/**
 * A tax form filled in with pdf-lib's form API: two SSNs and two card numbers in text fields
 * (each with the appearance stream that draws it), an address in a field's tooltip (`/TU`) and a
 * third card in a comment (`/Contents`); the page text holds labels only. `objectStreams`: the
 * objects are written in object streams (pdf-lib's default) or each on its own.
 */
export async function filledFormPdf(objectStreams: boolean): Promise<Buffer> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  const page = doc.addPage([612, 792]);
  const labels = ['Your social security number', 'Spouse', 'Card on file', 'Second card'];
  const values = ['123-45-6789', '078-05-1120', '4111 1111 1111 1111', '5555-5555-5555-4444'];
  const form = doc.getForm();
  labels.forEach((label, index) => {
    const y = 700 - index * 40;
    page.drawText(label, { x: 50, y, size: 11, font });
    const field = form.createTextField(`field${index}`);
    field.addToPage(page, { x: 250, y: y - 4, width: 250, height: 20 });
    // Filled in once on the page, as a reader fills a form: its appearance is made at saving.
    field.setText(values[index]);
  });
  form
    .getTextField('field0')
    .acroField.dict.set(PDFName.of('TU'), PDFHexString.fromText('Questions: help@example.net'));
  const note = doc.context.register(
    doc.context.obj({
      Type: 'Annot',
      Subtype: 'Text',
      Rect: [20, 500, 40, 520],
      Contents: PDFHexString.fromText('Refund to 3714 496353 98431'),
    }),
  );
  page.node.addAnnot(note);
  return Buffer.from(await doc.save({ useObjectStreams: objectStreams }));
}

export const FILLED_FORM_COUNTS: Counts = { credit_card: 3, us_ssn: 2, email: 1 };

/**
 * Values only in attributes: a mailto link whose text repeats its address (once), one whose text
 * does not, an input's value, a hidden input's, a meta tag's content, a tel link, and an element
 * whose title its text repeats (once).
 */
export function attributeHtml(): Buffer {
  return Buffer.from(
    [
      '<!doctype html>',
      '<html><head><title>Account</title>',
      '<meta name="author" content="grace@mail.example.org"></head><body>',
      '<p>Write to <a href="mailto:ada@example.com">ada@example.com</a> or',
      '<a href="mailto:alan.turing%40example.org?subject=Card%204111%201111%201111%201111">Alan</a>.</p>',
      '<form><label>SSN <input name="ssn" value="123-45-6789"></label>',
      '<input type="hidden" name="card" value="5555-5555-5555-4444"></form>',
      '<p><span title="078-05-1120">078-05-1120</span> <a href="tel:+1-202-555-0143">call us</a></p>',
      '</body></html>',
    ].join('\n'),
  );
}

export const ATTRIBUTE_HTML_COUNTS: Counts = { credit_card: 2, us_ssn: 2, email: 3, phone: 1 };
