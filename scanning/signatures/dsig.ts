/**
 * The digital signature of ClamAV's `.cvd` containers (the `dsig` field of the header): textbook
 * RSA over the MD5 of the container's body, as ClamAV 1.x checks it (its "legacy" signature; newer
 * ClamAV can also check a detached `.cvd.sign` file, which this does not read).
 *
 * - The signature text is a number written in 6-bit digits, least significant digit first, with
 *   the alphabet `a-z A-Z 0-9 + /` (not base64's order).
 * - Raised to the public exponent modulo the public modulus, it must give the 16 bytes of the
 *   MD5 (big-endian, left-padded with zeros), which are compared, as lower-case hex, with the MD5
 *   the header names. A result longer than 16 bytes is a mismatch.
 *
 * The header's MD5 must in turn be the MD5 of the body (checked by container.ts while it reads).
 */

export interface RsaPublicKey {
  modulus: bigint;
  exponent: bigint;
}

/** The key ClamAV's own builds check official `.cvd` files with (its published constants). */
export const CLAMAV_PUBLIC_KEY: RsaPublicKey = {
  modulus: BigInt(
    '118640995551645342603070001658453189751527774412027743746599405743243142607464144767361060640655844749760788890022283424922762488917565551002467771109669598189410434699034532232228621591089508178591428456220796841621637175567590476666928698770143328137383952820383197532047771780196576957695822641224262693037',
  ),
  exponent: 100001027n,
};

const DIGITS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/';
const MD5_BYTES = 16;
/** Far longer than any signature of a 1024-bit (or 4096-bit) key: refused before any maths. */
const MAX_SIGNATURE_LENGTH = 1024;

/** The number a signature text stands for; undefined when it has a character outside the alphabet. */
export function decodeSignatureNumber(text: string): bigint | undefined {
  let value = 0n;
  for (let i = text.length - 1; i >= 0; i -= 1) {
    const digit = DIGITS.indexOf(text.charAt(i));
    if (digit < 0) return undefined;
    value = (value << 6n) | BigInt(digit);
  }
  return value;
}

/** The inverse of decodeSignatureNumber (used to sign test fixtures). */
export function encodeSignatureNumber(value: bigint): string {
  let text = '';
  let rest = value;
  do {
    text += DIGITS.charAt(Number(rest & 63n));
    rest >>= 6n;
  } while (rest > 0n);
  return text;
}

/** base^exponent mod modulus, square-and-multiply. */
export function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  if (modulus === 1n) return 0n;
  let result = 1n;
  let b = base % modulus;
  let e = exponent;
  while (e > 0n) {
    if ((e & 1n) === 1n) result = (result * b) % modulus;
    e >>= 1n;
    b = (b * b) % modulus;
  }
  return result;
}

/**
 * Whether `signature` is the key holder's signature of `md5Hex` (32 hex digits). Never throws:
 * a malformed signature or digest is simply not a valid one.
 */
export function verifyDigitalSignature(
  md5Hex: string,
  signature: string,
  key: RsaPublicKey,
): boolean {
  if (!/^[0-9a-f]{32}$/.test(md5Hex)) return false;
  if (signature.length === 0 || signature.length > MAX_SIGNATURE_LENGTH) return false;
  const number = decodeSignatureNumber(signature);
  if (number === undefined || key.modulus <= 1n) return false;
  const plain = modPow(number, key.exponent, key.modulus);
  if (plain >= 1n << BigInt(MD5_BYTES * 8)) return false;
  return plain.toString(16).padStart(MD5_BYTES * 2, '0') === md5Hex;
}
