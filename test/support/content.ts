import { randomBytes } from 'node:crypto';
import { createHash } from 'node:crypto';
import { EICAR } from '../../scanning/eicar.js';

/** Test content is generated at run time: no antivirus-flagged file is stored in the repo. */
export const eicar = (): Buffer => Buffer.from(EICAR);
export const eicarWithNewline = (): Buffer => Buffer.concat([EICAR, Buffer.from('\n')]);
export const randomContent = (bytes: number): Buffer => randomBytes(bytes);
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
