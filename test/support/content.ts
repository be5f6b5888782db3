import { randomBytes } from 'node:crypto';
import { createHash } from 'node:crypto';
import { EICAR } from '../../scanning/eicar.js';

/** Test content is generated at run time: no antivirus-flagged file is stored in the repo. */
export const eicar = (): Buffer => Buffer.from(EICAR);
export const eicarWithNewline = (): Buffer => Buffer.concat([EICAR, Buffer.from('\n')]);

/**
 * What no format sniffer recognises opens these bytes: 0x7F, a NUL, then `ARBITER`. Without it,
 * about one random sample in 1,700 begins like MPEG audio, a transport stream, an MZ program, a
 * BMP, … (121 of 200,000 measured), and a test that meant opaque data sees a type or a format.
 */
const OPAQUE_OPENING = Buffer.from('7f0041524249544552', 'hex');

/** Random bytes that are no format: opaque data, sniffed as `application/octet-stream`. */
export function randomContent(bytes: number): Buffer {
  const content = randomBytes(bytes);
  OPAQUE_OPENING.copy(content, 0, 0, Math.min(bytes, OPAQUE_OPENING.length));
  return content;
}
export const sha1 = (data: Buffer): string => createHash('sha1').update(data).digest('hex');

export function fileForm(
  content: Buffer,
  fields: Record<string, string> = {},
  fileName = 'sample.bin',
): FormData {
  const form = new FormData();
  form.append('file', new Blob([content]), fileName);
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  return form;
}
