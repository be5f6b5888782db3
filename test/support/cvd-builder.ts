import { createHash, generateKeyPairSync } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import {
  encodeSignatureNumber,
  modPow,
  type RsaPublicKey,
} from '../../scanning/signatures/dsig.js';

/**
 * ClamAV database containers made in the test, in the layout sigtool writes: a 512-byte header
 * `ClamAV-VDB:<built>:<version>:<signatures>:<level>:<md5>:<dsig>:<builder>:<unix time>` padded
 * with spaces, then a tar.gz of the files. `.cvd` files are signed the way ClamAV signs its own
 * (textbook RSA of the body's MD5, written in ClamAV's 6-bit digits) with a key pair generated
 * here, whose public half the loader is given in place of ClamAV's.
 */

export interface TestSigningKey {
  publicKey: RsaPublicKey;
  privateExponent: bigint;
}

export function generateSigningKey(): TestSigningKey {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const jwk = privateKey.export({ format: 'jwk' });
  const number = (field: string | undefined) =>
    BigInt(`0x${Buffer.from(field ?? '', 'base64url').toString('hex')}`);
  return {
    publicKey: { modulus: number(jwk.n), exponent: number(jwk.e) },
    privateExponent: number(jwk.d),
  };
}

/** The `dsig` of an MD5 (hex) under the key. */
export function signMd5(md5Hex: string, key: TestSigningKey): string {
  return encodeSignatureNumber(
    modPow(BigInt(`0x${md5Hex}`), key.privateExponent, key.publicKey.modulus),
  );
}

/** One tar member as libclamav reads it (name, octal size, type '0'), and its padded data. */
export function tarMember(name: string, data: Buffer | string, type = '0'): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'latin1');
  header.write('0000644\0', 100, 'latin1');
  header.write('0000000\0', 108, 'latin1');
  header.write('0000000\0', 116, 'latin1');
  header.write(`${bytes.length.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  header.write('00000000000\0', 136, 'latin1');
  header.write('        ', 148, 'latin1');
  header.write(type, 156, 'latin1');
  header.write('ustar\0' + '00', 257, 'latin1');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  const padding = Buffer.alloc((512 - (bytes.length % 512)) % 512);
  return Buffer.concat([header, bytes, padding]);
}

/** A tar of the files (COPYING first, as sigtool writes it) with its two end blocks. */
export function tarOf(files: Record<string, string>): Buffer {
  const members = Object.entries({ COPYING: 'Arbiter test signatures\n', ...files }).map(
    ([name, text]) => tarMember(name, text),
  );
  return Buffer.concat([...members, Buffer.alloc(1024)]);
}

export interface ContainerOptions {
  version: number;
  /** Signatures declared in the header (default: the lines of the files). */
  signatures?: number;
  /** Signs with this key (a `.cvd`); unsigned (`dsig` left empty, as a `.cud`) without one. */
  key?: TestSigningKey;
  /** The body after the header (default: gzip of the tar of the files). */
  body?: Buffer;
  /** The MD5 the header names (default: the body's). */
  md5?: string;
  /** The unix time it was built (default: now). */
  builtAt?: number;
}

/** A container of the files: header then body, signed when a key is given. */
export function buildContainer(files: Record<string, string>, options: ContainerOptions): Buffer {
  const body = options.body ?? gzipSync(tarOf(files));
  const md5 = options.md5 ?? createHash('md5').update(body).digest('hex');
  const dsig = options.key ? signMd5(md5, options.key) : '';
  const declared =
    options.signatures ??
    Object.values(files).reduce(
      (sum, text) => sum + text.split('\n').filter((l) => l.trim() !== '').length,
      0,
    );
  const builtAt = options.builtAt ?? Math.floor(Date.now() / 1000);
  const header = [
    'ClamAV-VDB',
    '05 Dec 2026 03-00 +0000',
    options.version,
    declared,
    90,
    md5,
    dsig,
    'arbiter-tests',
    builtAt,
  ].join(':');
  return Buffer.concat([Buffer.from(header.padEnd(512, ' '), 'latin1'), body]);
}
