/**
 * The EICAR anti-malware test file. It is assembled here at run time rather than stored, so that
 * no file in the repository is itself flagged by antivirus software.
 */
export const EICAR = Buffer.from(
  ['X5O!P%@AP[4\\PZX54(P^)7CC)7}$', 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'].join(''),
  'latin1',
);

/** Vendors accept EICAR followed by whitespace (a trailing newline, say) up to 128 bytes. */
const MAX_EICAR_FILE = 128;
const TRAILER = new Set([0x20, 0x09, 0x0a, 0x0d, 0x1a]);

export function isEicar(content: Buffer): boolean {
  if (content.length < EICAR.length || content.length > MAX_EICAR_FILE) return false;
  if (!content.subarray(0, EICAR.length).equals(EICAR)) return false;
  return content.subarray(EICAR.length).every((byte) => TRAILER.has(byte));
}
