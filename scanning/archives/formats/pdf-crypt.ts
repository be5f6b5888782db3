import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import type { ByteStream } from './pdf-filters.js';
import { asDict, asName, asNumber, type PdfDict, type PdfValue } from './pdf-syntax.js';

/**
 * The PDF standard security handler (ISO 32000-2 §7.6.4), for the common case of an empty user
 * password: a document anyone may open (the password only guards editing or printing) is
 * decrypted, with RC4 (40 to 128 bits), AES-128 or AES-256 (revisions 2 to 6), as ClamAV does.
 * A document that needs a password to open, or another security handler, stays `encrypted`.
 */
export interface PdfDecryption {
  /** False for what the document leaves in clear: cross-reference streams, metadata if so told. */
  appliesTo(dict: PdfDict): boolean;
  stream(data: ByteStream, num: number, gen: number): ByteStream;
  string(data: Buffer, num: number, gen: number): Buffer;
}

export type Encryption =
  { kind: 'open'; decryption: PdfDecryption } | { kind: 'locked'; detail: string };

type Method = 'rc4' | 'aes-128' | 'aes-256' | 'none';

/** The padding string of Algorithm 2: an empty password is exactly this. */
const PAD = Buffer.from('28bf4e5e4e758a4164004e56fffa01082e2e00b6d0683e802f0ca9fe6453697a', 'hex');

export function openEncryption(handler: PdfDict, id: PdfValue | undefined): Encryption {
  const filter = asName(handler.get('Filter'));
  if (filter !== 'Standard')
    return { kind: 'locked', detail: `encrypted with the ${filter ?? 'unnamed'} security handler` };
  const version = asNumber(handler.get('V')) ?? 0;
  const revision = asNumber(handler.get('R')) ?? 0;
  const owner = handler.get('O');
  const user = handler.get('U');
  if (!Buffer.isBuffer(owner) || !Buffer.isBuffer(user))
    return { kind: 'locked', detail: 'encrypted, with a damaged security handler' };
  const encryptMetadata = handler.get('EncryptMetadata') !== false;
  const streamMethod = methodOf(handler, 'StmF', version);
  const stringMethod = methodOf(handler, 'StrF', version);
  if (!streamMethod || !stringMethod)
    return { kind: 'locked', detail: 'encrypted with an unknown crypt filter' };
  let key: Buffer | undefined;
  if (revision >= 2 && revision <= 4) {
    const firstId = Array.isArray(id) && Buffer.isBuffer(id[0]) ? id[0] : Buffer.alloc(0);
    const length = version === 1 ? 40 : (asNumber(handler.get('Length')) ?? 40);
    const permissions = (asNumber(handler.get('P')) ?? 0) | 0;
    key = legacyKey({ revision, owner, user, permissions, firstId, length, encryptMetadata });
  } else if (revision === 5 || revision === 6) {
    const userKey = handler.get('UE');
    if (Buffer.isBuffer(userKey)) key = aes256Key(revision, user, userKey);
  } else {
    return { kind: 'locked', detail: `encrypted with security handler revision ${revision}` };
  }
  if (!key) return { kind: 'locked', detail: 'encrypted with a user password' };
  return {
    kind: 'open',
    decryption: decryption(key, { stream: streamMethod, string: stringMethod }, encryptMetadata),
  };
}

/** The method of crypt filter `/StmF` or `/StrF` (version 4 and 5), or of the whole document. */
function methodOf(handler: PdfDict, which: 'StmF' | 'StrF', version: number): Method | undefined {
  if (version === 1 || version === 2) return 'rc4';
  if (version !== 4 && version !== 5) return undefined;
  const name = asName(handler.get(which)) ?? 'Identity';
  if (name === 'Identity') return 'none';
  const cfm = asName(asDict(asDict(handler.get('CF'))?.get(name))?.get('CFM'));
  if (cfm === 'V2') return 'rc4';
  if (cfm === 'AESV2') return 'aes-128';
  if (cfm === 'AESV3') return 'aes-256';
  if (cfm === 'None') return 'none';
  return undefined;
}

interface LegacyParams {
  revision: number;
  owner: Buffer;
  user: Buffer;
  permissions: number;
  firstId: Buffer;
  length: number;
  encryptMetadata: boolean;
}

/** Algorithms 2 and 6/7 (revisions 2–4): the file key for the empty password, if it is valid. */
function legacyKey(params: LegacyParams): Buffer | undefined {
  const bytes = params.revision === 2 ? 5 : Math.min(16, Math.max(5, params.length / 8));
  const p = Buffer.alloc(4);
  p.writeInt32LE(params.permissions);
  const md5 = createHash('md5').update(PAD).update(params.owner.subarray(0, 32)).update(p);
  md5.update(params.firstId);
  if (params.revision >= 4 && !params.encryptMetadata) md5.update(Buffer.from('ffffffff', 'hex'));
  let digest = md5.digest();
  if (params.revision >= 3) {
    for (let i = 0; i < 50; i++)
      digest = createHash('md5').update(digest.subarray(0, bytes)).digest();
  }
  const key = digest.subarray(0, bytes);
  if (params.revision === 2)
    return rc4(key, PAD).equals(params.user.subarray(0, 32)) ? key : undefined;
  let check = rc4(key, createHash('md5').update(PAD).update(params.firstId).digest());
  for (let i = 1; i <= 19; i++)
    check = rc4(
      key.map((byte) => byte ^ i),
      check,
    );
  return check.equals(params.user.subarray(0, 16)) ? key : undefined;
}

/** Algorithms 2.A/11 (revisions 5 and 6): the file key for the empty password, if valid. */
function aes256Key(revision: number, user: Buffer, userKey: Buffer): Buffer | undefined {
  if (user.length < 48 || userKey.length < 32) return undefined;
  const password = Buffer.alloc(0);
  const hash = revision === 5 ? sha256Hash : hardenedHash;
  if (!hash(password, user.subarray(32, 40)).equals(user.subarray(0, 32))) return undefined;
  const intermediate = hash(password, user.subarray(40, 48));
  const decipher = createDecipheriv('aes-256-cbc', intermediate, Buffer.alloc(16));
  decipher.setAutoPadding(false);
  return Buffer.concat([decipher.update(userKey.subarray(0, 32)), decipher.final()]);
}

function sha256Hash(password: Buffer, salt: Buffer): Buffer {
  return createHash('sha256').update(password).update(salt).digest();
}

/** Algorithm 2.B (revision 6), for the user password (no user key data). */
function hardenedHash(password: Buffer, salt: Buffer): Buffer {
  let k = createHash('sha256').update(password).update(salt).digest();
  for (let round = 0; ; round++) {
    const k1 = Buffer.concat(Array<Buffer>(64).fill(Buffer.concat([password, k])));
    const cipher = createCipheriv('aes-128-cbc', k.subarray(0, 16), k.subarray(16, 32));
    cipher.setAutoPadding(false);
    const e = Buffer.concat([cipher.update(k1), cipher.final()]);
    let sum = 0;
    for (let i = 0; i < 16; i++) sum += e[i]!;
    k = createHash(['sha256', 'sha384', 'sha512'][sum % 3]!)
      .update(e)
      .digest();
    if (round >= 63 && e[e.length - 1]! <= round + 1 - 32) break;
  }
  return k.subarray(0, 32);
}

function decryption(
  fileKey: Buffer,
  methods: { stream: Method; string: Method },
  encryptMetadata: boolean,
): PdfDecryption {
  const objectKey = (num: number, gen: number, method: Method): Buffer => {
    if (method === 'aes-256') return fileKey;
    const salt = method === 'aes-128' ? Buffer.from('sAlT') : Buffer.alloc(0);
    const id = Buffer.from([
      num & 0xff,
      (num >> 8) & 0xff,
      (num >> 16) & 0xff,
      gen & 0xff,
      (gen >> 8) & 0xff,
    ]);
    const digest = createHash('md5').update(fileKey).update(id).update(salt).digest();
    return digest.subarray(0, Math.min(fileKey.length + 5, 16));
  };
  return {
    appliesTo(dict) {
      const type = asName(dict.get('Type'));
      if (methods.stream === 'none' || type === 'XRef') return false;
      if (type === 'Metadata' && !encryptMetadata) return false;
      // A stream's own Crypt filter (usually /Identity) overrides the document's.
      const filter = dict.get('Filter');
      return !(
        asName(filter) === 'Crypt' ||
        (Array.isArray(filter) && asName(filter[0]) === 'Crypt')
      );
    },
    stream(data, num, gen) {
      const method = methods.stream;
      const key = objectKey(num, gen, method);
      return method === 'rc4' ? rc4Stream(data, key) : aesStream(data, key);
    },
    string(data, num, gen) {
      const method = methods.string;
      if (method === 'none') return data;
      const key = objectKey(num, gen, method);
      if (method === 'rc4') return rc4(key, data);
      return aesString(data, key) ?? data;
    },
  };
}

/** RC4, written out: OpenSSL 3 keeps it in its legacy provider, which Node does not load. */
class Rc4 {
  private readonly s = new Uint8Array(256);
  private i = 0;
  private j = 0;

  constructor(key: Uint8Array) {
    for (let i = 0; i < 256; i++) this.s[i] = i;
    for (let i = 0, j = 0; i < 256; i++) {
      j = (j + this.s[i]! + key[i % key.length]!) & 0xff;
      [this.s[i], this.s[j]] = [this.s[j]!, this.s[i]!];
    }
  }

  process(data: Uint8Array): Buffer {
    const out = Buffer.alloc(data.length);
    const s = this.s;
    for (let n = 0; n < data.length; n++) {
      this.i = (this.i + 1) & 0xff;
      this.j = (this.j + s[this.i]!) & 0xff;
      const t = s[this.i]!;
      s[this.i] = s[this.j]!;
      s[this.j] = t;
      out[n] = data[n]! ^ s[(s[this.i]! + s[this.j]!) & 0xff]!;
    }
    return out;
  }
}

function rc4(key: Uint8Array, data: Uint8Array): Buffer {
  return new Rc4(key).process(data);
}

async function* rc4Stream(data: ByteStream, key: Buffer): ByteStream {
  const cipher = new Rc4(key);
  for await (const chunk of data) yield cipher.process(chunk);
}

/**
 * AES-CBC with the IV in the first 16 bytes and PKCS#7 padding: the last block is held back
 * until the end so its padding can be removed.
 */
async function* aesStream(data: ByteStream, key: Buffer): ByteStream {
  const algorithm = key.length === 32 ? 'aes-256-cbc' : 'aes-128-cbc';
  let iv = Buffer.alloc(0);
  let decipher: ReturnType<typeof createDecipheriv> | undefined;
  let held = Buffer.alloc(0);
  for await (const chunk of data) {
    let input = chunk;
    if (!decipher) {
      iv = Buffer.concat([iv, input]);
      if (iv.length < 16) continue;
      input = iv.subarray(16);
      decipher = createDecipheriv(algorithm, key, iv.subarray(0, 16));
      decipher.setAutoPadding(false);
    }
    const out = Buffer.concat([held, decipher.update(input)]);
    held = out.subarray(Math.max(0, out.length - 16));
    if (out.length > 16) yield out.subarray(0, out.length - 16);
  }
  if (!decipher) return;
  try {
    held = Buffer.concat([held, decipher.final()]);
  } catch {
    // Not a whole number of blocks (a truncated stream): what was decrypted is kept.
  }
  yield withoutPadding(held);
}

function aesString(data: Buffer, key: Buffer): Buffer | undefined {
  if (data.length < 32 || data.length % 16 !== 0) return undefined;
  const algorithm = key.length === 32 ? 'aes-256-cbc' : 'aes-128-cbc';
  const decipher = createDecipheriv(algorithm, key, data.subarray(0, 16));
  decipher.setAutoPadding(false);
  return withoutPadding(Buffer.concat([decipher.update(data.subarray(16)), decipher.final()]));
}

function withoutPadding(block: Buffer): Buffer {
  const pad = block.at(-1) ?? 0;
  if (pad < 1 || pad > 16 || pad > block.length) return block;
  for (let i = block.length - pad; i < block.length; i++) if (block[i] !== pad) return block;
  return block.subarray(0, block.length - pad);
}
