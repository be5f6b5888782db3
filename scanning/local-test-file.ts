/**
 * Scanii's malware test content: this text alone (trailing whitespace allowed, as for EICAR) is
 * reported as `content.malicious.local-test-file` by the built-in engine, wherever it sits (a
 * file, an archive member, a mail attachment). Clients use it to check the malware category end
 * to end without a file that other antivirus software would quarantine on the way.
 */
export const LOCAL_TEST_FILE = Buffer.from('38DCC0C9-7FB6-4D0D-9C37-288A380C6BB9', 'latin1');

/** The signature name the matcher reports (scanning/findings.ts makes it the finding). */
export const LOCAL_TEST_FILE_SIGNATURE = 'Local-Test-File';

/** Like EICAR's: the text followed by whitespace, up to 128 bytes in all. */
export const MAX_LOCAL_TEST_FILE = 128;
const TRAILER = new Set([0x20, 0x09, 0x0a, 0x0d]);

export function isLocalTestFile(content: Uint8Array): boolean {
  if (content.length < LOCAL_TEST_FILE.length || content.length > MAX_LOCAL_TEST_FILE) return false;
  if (!LOCAL_TEST_FILE.equals(content.subarray(0, LOCAL_TEST_FILE.length))) return false;
  return content.subarray(LOCAL_TEST_FILE.length).every((byte) => TRAILER.has(byte));
}
