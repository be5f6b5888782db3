import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import yazl from 'yazl';
import { EICAR } from '../../scanning/eicar.js';

/**
 * The test signature database and the content it detects, generated deterministically.
 *
 * `test/fixtures/signatures/` is committed; its `.hdb`/`.hsb` hashes are of bytes produced by
 * `hashSample()` below and its `.ndb` lines are rendered from `BODY_SIGNATURES`, so the folder and
 * this file cannot drift apart (test/scanning/fixture-signatures.test.ts compares them). No
 * sample is stored in the repository: EICAR is assembled from scanning/eicar.ts at run time and
 * appears in the folder only hex-encoded.
 *
 * `generateCorpus()` builds the agreement corpus: every item carries the verdict class both
 * engines must give it. The labels were checked against clamd 1.4.6 (with `AlertExceedsMax` and
 * `AlertEncrypted`) by test/scanning/clamd-engine.test.ts.
 */

export const SIGNATURES_DIR = fileURLToPath(new URL('../fixtures/signatures/', import.meta.url));

// ---------------------------------------------------------------------------------------------
// Deterministic bytes

/** A seeded byte source (AES-128-CTR over zeros): the same seed gives the same bytes everywhere. */
export class SeededRandom {
  private readonly cipher;

  constructor(seed: string) {
    const key = createHash('sha256').update(`arbiter-corpus:${seed}`).digest();
    this.cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  }

  bytes(length: number): Buffer {
    return this.cipher.update(Buffer.alloc(length));
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + (this.bytes(4).readUInt32BE(0) % (max - min + 1));
  }

  pick<T>(values: readonly T[]): T {
    return values[this.int(0, values.length - 1)] as T;
  }
}

const ascii = (text: string): Buffer => Buffer.from(text, 'latin1');

// ---------------------------------------------------------------------------------------------
// Hash signatures (.hdb / .hsb)

export type HashSampleId = 'md5' | 'sha256' | 'sha1-any-size' | 'md5-wrong-size';

interface HashSampleSpec {
  id: HashSampleId;
  name: string;
  algorithm: 'md5' | 'sha1' | 'sha256';
  size: number;
  file: 'arbiter-test.hdb' | 'arbiter-test.hsb';
  /** How the size field is written: the real size, `*`, or a deliberately wrong size. */
  sizeField: 'exact' | 'any' | 'wrong';
  exercises: string;
}

export const HASH_SAMPLES: readonly HashSampleSpec[] = [
  {
    id: 'md5',
    name: 'Arbiter.Test.Md5-HDB',
    algorithm: 'md5',
    size: 3001,
    file: 'arbiter-test.hdb',
    sizeField: 'exact',
    exercises: '.hdb MD5 with size',
  },
  {
    id: 'md5-wrong-size',
    name: 'Arbiter.Test.WrongSize-HDB',
    algorithm: 'md5',
    size: 2048,
    file: 'arbiter-test.hdb',
    sizeField: 'wrong',
    exercises: '.hdb MD5 whose size does not match: never fires',
  },
  {
    id: 'sha256',
    name: 'Arbiter.Test.Sha256-HSB',
    algorithm: 'sha256',
    size: 4099,
    file: 'arbiter-test.hsb',
    sizeField: 'exact',
    exercises: '.hsb SHA-256 with size',
  },
  {
    id: 'sha1-any-size',
    name: 'Arbiter.Test.Sha1AnySize-HSB',
    algorithm: 'sha1',
    size: 777,
    file: 'arbiter-test.hsb',
    sizeField: 'any',
    exercises: '.hsb SHA-1 with size * (needs the :73 FLEVEL field)',
  },
];

/** The bytes a hash signature of the fixture folder describes. */
export function hashSample(id: HashSampleId): Buffer {
  const spec = HASH_SAMPLES.find((s) => s.id === id);
  if (!spec) throw new Error(`no hash sample ${id}`);
  return new SeededRandom(`hash-sample:${id}`).bytes(spec.size);
}

function hashLine(spec: HashSampleSpec): string {
  const digest = createHash(spec.algorithm).update(hashSample(spec.id)).digest('hex');
  if (spec.sizeField === 'any') return `${digest}:*:${spec.name}:73`;
  return `${digest}:${spec.sizeField === 'wrong' ? spec.size + 1 : spec.size}:${spec.name}`;
}

// ---------------------------------------------------------------------------------------------
// Body signatures (.ndb)

/** One element of a body pattern, rendered to ClamAV hex and able to produce matching bytes. */
export type Token =
  | { kind: 'literal'; text: string }
  | { kind: 'bytes'; hex: string }
  | { kind: 'any'; count: number }
  | { kind: 'high-nibble'; nibble: number }
  | { kind: 'low-nibble'; nibble: number }
  | { kind: 'star' }
  | { kind: 'gap'; min: number; max: number | null }
  | { kind: 'alternatives'; values: number[] };

const lit = (text: string): Token => ({ kind: 'literal', text });
const any = (count: number): Token => ({ kind: 'any', count });
const hi = (nibble: number): Token => ({ kind: 'high-nibble', nibble });
const lo = (nibble: number): Token => ({ kind: 'low-nibble', nibble });
const star: Token = { kind: 'star' };
const gap = (min: number, max: number | null): Token => ({ kind: 'gap', min, max });
const alt = (...values: number[]): Token => ({ kind: 'alternatives', values });

const hex2 = (byte: number) => byte.toString(16).padStart(2, '0');

export function renderToken(token: Token): string {
  switch (token.kind) {
    case 'literal':
      return ascii(token.text).toString('hex');
    case 'bytes':
      return token.hex;
    case 'any':
      return '??'.repeat(token.count);
    case 'high-nibble':
      return `${token.nibble.toString(16)}?`;
    case 'low-nibble':
      return `?${token.nibble.toString(16)}`;
    case 'star':
      return '*';
    case 'gap':
      if (token.max === token.min) return `{${token.min}}`;
      if (token.max === null) return `{${token.min}-}`;
      if (token.min === 0) return `{-${token.max}}`;
      return `{${token.min}-${token.max}}`;
    case 'alternatives':
      return `(${token.values.map(hex2).join('|')})`;
  }
}

export type BodyOffset = '*' | number | { eof: number };

export interface BodySignature {
  name: string;
  /** The wildcard forms and offset type this signature exercises. */
  exercises: string;
  offset: BodyOffset;
  tokens: Token[];
  /** Byte strings that look like a match but must not match (an engine that finds them is wrong). */
  nearMisses: Record<string, (rng: SeededRandom) => Buffer>;
}

/**
 * Per token, the bytes to emit instead of a random valid choice: a number is a length for
 * `any`/`star`/`gap` or the byte for a nibble/alternatives token.
 */
export type TokenChoices = Record<number, number>;

/** Bytes matching `tokens`, with free choices drawn from `rng` unless fixed by `choices`. */
export function matchBytes(tokens: Token[], rng: SeededRandom, choices: TokenChoices = {}): Buffer {
  const parts = tokens.map((token, index): Buffer => {
    const chosen = choices[index];
    switch (token.kind) {
      case 'literal':
        return ascii(token.text);
      case 'bytes':
        return Buffer.from(token.hex, 'hex');
      case 'any':
        return rng.bytes(token.count);
      case 'high-nibble':
        return Buffer.from([chosen ?? (token.nibble << 4) | rng.int(0, 15)]);
      case 'low-nibble':
        return Buffer.from([chosen ?? (rng.int(0, 15) << 4) | token.nibble]);
      case 'star':
        return filler(rng, chosen ?? rng.int(0, 4000));
      case 'gap':
        return filler(rng, chosen ?? rng.int(token.min, token.max ?? token.min + 4000));
      case 'alternatives':
        return Buffer.from([chosen ?? rng.pick(token.values)]);
    }
  });
  return Buffer.concat(parts);
}

/** Random bytes for gaps. */
const filler = (rng: SeededRandom, length: number) => rng.bytes(length);

/** The markers are long ASCII runs so that random filler never completes a pattern by chance. */
const LITERAL: Token[] = [lit('ARBITER-TEST-LITERAL-MARKER-0001')];
const ANY_BYTE: Token[] = [lit('ARB-ANYBYTE-HEAD'), any(3), lit('ARB-ANYBYTE-TAIL')];
const HIGH_NIBBLE: Token[] = [lit('ARB-HINIBBLE-HEAD'), hi(0x4), lit('ARB-HINIBBLE-TAIL')];
const LOW_NIBBLE: Token[] = [lit('ARB-LONIBBLE-HEAD'), lo(0x7), lit('ARB-LONIBBLE-TAIL')];
const STAR: Token[] = [lit('ARB-STAR-HEAD-0005'), star, lit('ARB-STAR-TAIL-0005')];
const FIXED: Token[] = [lit('ARB-FIXED-HEAD'), gap(16, 16), lit('ARB-FIXED-TAIL')];
const RANGE: Token[] = [lit('ARB-RANGE-HEAD'), gap(4, 12), lit('ARB-RANGE-TAIL')];
const UP_TO: Token[] = [lit('ARB-UPTO-HEAD'), gap(0, 8), lit('ARB-UPTO-TAIL')];
const AT_LEAST: Token[] = [lit('ARB-ATLEAST-HEAD'), gap(32, null), lit('ARB-ATLEAST-TAIL')];
const ALTERNATIVES: Token[] = [
  lit('ARB-ALTERNATIVES-HEAD'),
  alt(0x41, 0x5a, 0x7e),
  lit('ARB-ALTERNATIVES-TAIL'),
];
const COMBINED: Token[] = [
  lit('ARB-COMBO-HEAD'),
  hi(0xc),
  lo(0x3),
  any(1),
  alt(0x00, 0xff),
  lit('ARB-COMBO-MID'),
  gap(2, 5),
  lit('ARB-COMBO-MID2'),
  star,
  lit('ARB-COMBO-TAIL'),
];
const AT_OFFSET: Token[] = [lit('ARB-AT-OFFSET-65530')];
const AT_OFFSET_WILD: Token[] = [
  lit('ARB-OFFSET-WILD-HEAD'),
  gap(2, 6),
  lit('ARB-OFFSET-WILD-TAIL'),
];
const NEAR_EOF: Token[] = [lit('ARB-NEAR-EOF-64')];
const NEAR_EOF_WILD: Token[] = [
  lit('ARB-EOF-WILD-HEAD'),
  alt(0x61, 0x62),
  any(2),
  lit('ARB-EOF-WILD-MID'),
  gap(0, 4),
  lit('ARB-EOF-WILD-TAIL'),
];
const EICAR_TOKENS: Token[] = [{ kind: 'bytes', hex: EICAR.toString('hex') }];

/** EOF-300 leaves room for the widest match of NEAR_EOF_WILD. */
const NEAR_EOF_WILD_DISTANCE = 300;

const miss = (tokens: Token[], choices: TokenChoices) => (rng: SeededRandom) =>
  matchBytes(tokens, rng, choices);
const replaceText = (tokens: Token[], from: string, to: string): Token[] =>
  tokens.map((t) => (t.kind === 'literal' ? lit(t.text.replace(from, to)) : t));

export const BODY_SIGNATURES: readonly BodySignature[] = [
  {
    name: 'Arbiter.Test.Literal-NDB',
    exercises: 'plain hex, offset *',
    offset: '*',
    tokens: LITERAL,
    nearMisses: {
      'last-byte-differs': miss(replaceText(LITERAL, '0001', '0002'), {}),
      'prefix-only': () => ascii('ARBITER-TEST-LITERAL-MARKER-000'),
    },
  },
  {
    name: 'Arbiter.Test.AnyByte-NDB',
    exercises: '?? (any byte)',
    offset: '*',
    tokens: ANY_BYTE,
    nearMisses: {
      'two-bytes-between': (rng) =>
        Buffer.concat([ascii('ARB-ANYBYTE-HEAD'), rng.bytes(2), ascii('ARB-ANYBYTE-TAIL')]),
      'four-bytes-between': (rng) =>
        Buffer.concat([ascii('ARB-ANYBYTE-HEAD'), rng.bytes(4), ascii('ARB-ANYBYTE-TAIL')]),
    },
  },
  {
    name: 'Arbiter.Test.HighNibble-NDB',
    exercises: 'a? (high nibble fixed)',
    offset: '*',
    tokens: HIGH_NIBBLE,
    nearMisses: {
      'high-nibble-5': miss(HIGH_NIBBLE, { 1: 0x5f }),
      'low-nibble-4-instead': miss(HIGH_NIBBLE, { 1: 0x34 }),
    },
  },
  {
    name: 'Arbiter.Test.LowNibble-NDB',
    exercises: '?a (low nibble fixed)',
    offset: '*',
    tokens: LOW_NIBBLE,
    nearMisses: {
      'low-nibble-8': miss(LOW_NIBBLE, { 1: 0xa8 }),
      'high-nibble-7-instead': miss(LOW_NIBBLE, { 1: 0x71 }),
    },
  },
  {
    name: 'Arbiter.Test.Star-NDB',
    exercises: '* (any number of bytes)',
    offset: '*',
    tokens: STAR,
    nearMisses: {
      'tail-before-head': () => ascii('ARB-STAR-TAIL-0005 and then ARB-STAR-HEAD-0005'),
      'head-only': () => ascii('ARB-STAR-HEAD-0005'),
    },
  },
  {
    name: 'Arbiter.Test.Fixed-NDB',
    exercises: '{n} (exactly n bytes)',
    offset: '*',
    tokens: FIXED,
    nearMisses: { 'gap-15': miss(FIXED, { 1: 15 }), 'gap-17': miss(FIXED, { 1: 17 }) },
  },
  {
    name: 'Arbiter.Test.Range-NDB',
    exercises: '{n-m} (n to m bytes)',
    offset: '*',
    tokens: RANGE,
    nearMisses: { 'gap-3': miss(RANGE, { 1: 3 }), 'gap-13': miss(RANGE, { 1: 13 }) },
  },
  {
    name: 'Arbiter.Test.UpTo-NDB',
    exercises: '{-n} (at most n bytes)',
    offset: '*',
    tokens: UP_TO,
    nearMisses: { 'gap-9': miss(UP_TO, { 1: 9 }) },
  },
  {
    name: 'Arbiter.Test.AtLeast-NDB',
    exercises: '{n-} (at least n bytes)',
    offset: '*',
    tokens: AT_LEAST,
    nearMisses: { 'gap-31': miss(AT_LEAST, { 1: 31 }), 'gap-0': miss(AT_LEAST, { 1: 0 }) },
  },
  {
    name: 'Arbiter.Test.Alternatives-NDB',
    exercises: '(aa|bb|cc) single-byte alternatives',
    offset: '*',
    tokens: ALTERNATIVES,
    nearMisses: {
      'other-byte': miss(ALTERNATIVES, { 1: 0x42 }),
      'no-byte': () => ascii('ARB-ALTERNATIVES-HEADARB-ALTERNATIVES-TAIL'),
    },
  },
  {
    name: 'Arbiter.Test.Combined-NDB',
    exercises: 'a? ?a ?? (aa|bb) {n-m} * in one pattern, offset *',
    offset: '*',
    tokens: COMBINED,
    nearMisses: {
      'high-nibble-wrong': miss(COMBINED, { 1: 0xb0 }),
      'low-nibble-wrong': miss(COMBINED, { 2: 0x34 }),
      'alternative-wrong': miss(COMBINED, { 4: 0x01 }),
      'range-too-wide': miss(COMBINED, { 6: 6 }),
    },
  },
  {
    name: 'Arbiter.Test.AtOffset-NDB',
    exercises: 'offset n (the match starts at byte 65530, straddling 64 KiB)',
    offset: 65530,
    tokens: AT_OFFSET,
    nearMisses: {},
  },
  {
    name: 'Arbiter.Test.AtOffsetWild-NDB',
    exercises: 'offset n with {n-m} inside the pattern',
    offset: 1024,
    tokens: AT_OFFSET_WILD,
    nearMisses: {},
  },
  {
    name: 'Arbiter.Test.NearEnd-NDB',
    exercises: 'offset EOF-n (the match starts n bytes before the end)',
    offset: { eof: 64 },
    tokens: NEAR_EOF,
    nearMisses: {},
  },
  {
    name: 'Arbiter.Test.NearEndWild-NDB',
    exercises: 'offset EOF-n with (aa|bb) ?? {-n} inside the pattern',
    offset: { eof: NEAR_EOF_WILD_DISTANCE },
    tokens: NEAR_EOF_WILD,
    nearMisses: {},
  },
  {
    name: 'Arbiter.Test.EICAR-NDB',
    exercises:
      'the EICAR test string anywhere (hex-encoded here; mapped to content.malicious.eicar-test-signature)',
    offset: '*',
    tokens: EICAR_TOKENS,
    nearMisses: {
      'last-byte-missing': () => EICAR.subarray(0, EICAR.length - 1),
      'lower-case': () => ascii(EICAR.toString('latin1').toLowerCase()),
      'one-byte-changed': () => {
        const copy = Buffer.from(EICAR);
        copy[10] = 0x2d;
        return copy;
      },
    },
  },
];

export function renderOffset(offset: BodyOffset): string {
  if (offset === '*') return '*';
  if (typeof offset === 'number') return String(offset);
  return `EOF-${offset.eof}`;
}

export function bodySignatureLine(signature: BodySignature): string {
  return `${signature.name}:0:${renderOffset(signature.offset)}:${signature.tokens.map(renderToken).join('')}`;
}

/** The exact text of each file in test/fixtures/signatures (the folder is committed). */
export function fixtureSignatureFiles(): Record<string, string> {
  const header = (what: string) =>
    [
      `# Arbiter test signatures (${what}), generated from test/support/corpus.ts: edit there, then`,
      '# regenerate with `npx tsx test/support/corpus.ts --write-signatures`.',
    ].join('\n');
  const hashes = (file: HashSampleSpec['file']) =>
    HASH_SAMPLES.filter((s) => s.file === file).map(hashLine);
  return {
    'arbiter-test.hdb':
      [header('MD5:size:name of bytes from hashSample()'), ...hashes('arbiter-test.hdb')].join(
        '\n',
      ) + '\n',
    'arbiter-test.hsb':
      [
        header('SHA-256/SHA-1:size-or-*:name[:flevel] of bytes from hashSample()'),
        ...hashes('arbiter-test.hsb'),
      ].join('\n') + '\n',
    'arbiter-test.ndb':
      [
        header('name:target-type:offset:hex body patterns'),
        ...BODY_SIGNATURES.map(bodySignatureLine),
      ].join('\n') + '\n',
  };
}

// ---------------------------------------------------------------------------------------------
// The agreement corpus

export type VerdictClass = 'clean' | 'infected' | 'unscannable';

export interface CorpusItem {
  /** Unique, path-like, readable: `pattern/Arbiter.Test.Range-NDB/straddle-64k`. */
  name: string;
  content: Buffer;
  expected: VerdictClass;
  /**
   * Where clamd 1.4.6 is known to answer differently (it cannot flag what it does not detect):
   * the built-in engine must give `expected`, clamd gives this.
   */
  clamdExpected?: VerdictClass;
  /** Finding names either engine may report when they are known exactly (infected items). */
  findings?: string[];
  note?: string;
}

/** The class of a set of Arbiter findings: any malicious finding makes it infected. */
export function verdictClass(findings: readonly string[]): VerdictClass {
  if (findings.some((f) => f.startsWith('content.malicious.'))) return 'infected';
  if (findings.length > 0) return 'unscannable';
  return 'clean';
}

export const KIB = 1024;
export const MIB = 1024 * 1024;
const FIXED_DATE = new Date('2024-01-02T03:04:05Z');

/** `content` with `insert` written over it at `offset`. */
function overlay(content: Buffer, offset: number, insert: Buffer): Buffer {
  insert.copy(content, offset);
  return content;
}

/** Random bytes of `size` with `insert` at `offset`. */
function placed(rng: SeededRandom, size: number, offset: number, insert: Buffer): Buffer {
  if (offset + insert.length > size)
    throw new Error(`placement past the end (${offset}+${insert.length} > ${size})`);
  return overlay(rng.bytes(size), offset, insert);
}

const findingFor = (signatureName: string) =>
  /eicar/i.test(signatureName)
    ? 'content.malicious.eicar-test-signature'
    : `content.malicious.${signatureName.toLowerCase().replace(/[^a-z0-9.-]/g, '-')}`;

/** Instances of one body signature, in files that put it where chunked readers are weakest. */
function bodySignatureItems(signature: BodySignature, rng: SeededRandom): CorpusItem[] {
  const items: CorpusItem[] = [];
  const base = `pattern/${signature.name}`;
  const findings = [findingFor(signature.name)];
  const infected = (label: string, content: Buffer, note?: string) =>
    items.push({
      name: `${base}/${label}`,
      content,
      expected: 'infected',
      findings,
      ...(note ? { note } : {}),
    });
  const clean = (label: string, content: Buffer, note?: string) =>
    items.push({ name: `${base}/${label}`, content, expected: 'clean', ...(note ? { note } : {}) });
  const match = (choices: TokenChoices = {}) => matchBytes(signature.tokens, rng, choices);
  const { offset } = signature;

  if (offset === '*') {
    infected('alone', match());
    const embedded = match();
    infected('embedded', placed(rng, embedded.length + 6000, rng.int(100, 5000), embedded));
    const first = match();
    infected('at-start', placed(rng, first.length + 3000, 0, first));
    const last = match();
    infected('at-end', placed(rng, last.length + 3000, 3000, last));
    for (const [label, boundary] of [
      ['straddle-64k', 64 * KIB],
      ['straddle-128k', 128 * KIB],
      ['straddle-1m', MIB],
    ] as const) {
      const bytes = match();
      const start = boundary - Math.floor(bytes.length / 2);
      infected(
        label,
        placed(rng, boundary + 4 * KIB, start, bytes),
        `match spans byte ${boundary}`,
      );
    }
    for (const [label, make] of Object.entries(signature.nearMisses)) {
      const bytes = make(rng);
      clean(`miss-${label}`, placed(rng, bytes.length + 4000, 2000, bytes));
    }
  } else if (typeof offset === 'number') {
    const bytes = match();
    infected(`at-${offset}`, placed(rng, offset + bytes.length + 2000, offset, bytes));
    infected(`at-${offset}-ends-file`, placed(rng, offset + bytes.length, offset, match()));
    clean(
      `at-${offset - 1}`,
      placed(rng, offset + bytes.length + 2000, offset - 1, bytes),
      'one byte too early',
    );
    clean(
      `at-${offset + 1}`,
      placed(rng, offset + bytes.length + 2000, offset + 1, bytes),
      'one byte too late',
    );
    clean(
      `at-${offset + 4000}`,
      placed(rng, offset + bytes.length + 8000, offset + 4000, bytes),
      'elsewhere',
    );
  } else {
    const distance = offset.eof;
    const atEof = (size: number, shift: number, bytes = match()) =>
      placed(rng, size, size - distance + shift, bytes);
    infected(`eof-${distance}`, atEof(5000, 0));
    infected(
      `eof-${distance}-whole-file`,
      (() => {
        const bytes = match();
        return placed(rng, distance, 0, bytes);
      })(),
    );
    const straddling = match();
    const start = 64 * KIB - Math.floor(straddling.length / 2);
    infected(
      `eof-${distance}-straddle-64k`,
      atEof(start + distance, 0, straddling),
      'match spans byte 65536',
    );
    clean(`eof-${distance + 1}`, atEof(5000, -1), 'one byte too early');
    clean(
      `eof-${distance - 1}`,
      atEof(5000, 1, matchBytes(signature.tokens, rng, minimalChoices(signature.tokens))),
      'one byte too late',
    );
    clean('far-from-eof', placed(rng, 9000, 1000, match()), 'elsewhere');
  }
  return items;
}

/** The shortest match: every variable-length token at its minimum. */
function minimalChoices(tokens: Token[]): TokenChoices {
  const choices: TokenChoices = {};
  tokens.forEach((token, index) => {
    if (token.kind === 'star') choices[index] = 0;
    if (token.kind === 'gap') choices[index] = token.min;
  });
  return choices;
}

/** Cases where a streaming matcher has to keep more than the first candidate alive. */
function trickyItems(rng: SeededRandom): CorpusItem[] {
  const item = (
    name: string,
    expected: VerdictClass,
    content: Buffer,
    note: string,
  ): CorpusItem => ({ name: `tricky/${name}`, content, expected, note });
  // Near misses of patterns with unbounded gaps would combine across instances in one file.
  const bounded = BODY_SIGNATURES.filter(
    (s) => !s.tokens.some((t) => t.kind === 'star' || (t.kind === 'gap' && t.max === null)),
  );
  return [
    item(
      'range-decoy-head',
      'infected',
      Buffer.concat([
        rng.bytes(500),
        ascii('ARB-RANGE-HEAD'),
        rng.bytes(20),
        ascii('ARB-RANGE-HEAD'),
        rng.bytes(6),
        ascii('ARB-RANGE-TAIL'),
        rng.bytes(500),
      ]),
      'a first head too far away, a second one in range',
    ),
    item(
      'upto-decoy-head',
      'infected',
      Buffer.concat([
        rng.bytes(500),
        ascii('ARB-UPTO-HEAD'),
        rng.bytes(30),
        ascii('ARB-UPTO-HEAD'),
        rng.bytes(3),
        ascii('ARB-UPTO-TAIL'),
        rng.bytes(500),
      ]),
      'a first head too far away, a second one in range',
    ),
    item(
      'fixed-decoy-head',
      'infected',
      Buffer.concat([
        rng.bytes(500),
        ascii('ARB-FIXED-HEAD'),
        rng.bytes(2),
        ascii('ARB-FIXED-HEAD'),
        rng.bytes(16),
        ascii('ARB-FIXED-TAIL'),
        rng.bytes(500),
      ]),
      'two heads, only the second at the right distance',
    ),
    item(
      'star-far',
      'infected',
      (() => {
        const content = rng.bytes(MIB + 300 * KIB);
        overlay(content, 100, ascii('ARB-STAR-HEAD-0005'));
        return overlay(content, MIB + 200 * KIB, ascii('ARB-STAR-TAIL-0005'));
      })(),
      'head and tail 1.2 MiB apart',
    ),
    item(
      'at-least-far',
      'infected',
      (() => {
        const content = rng.bytes(2 * MIB + 10 * KIB);
        overlay(content, 10, ascii('ARB-ATLEAST-HEAD'));
        return overlay(content, 2 * MIB, ascii('ARB-ATLEAST-TAIL'));
      })(),
      'gap of about 2 MiB',
    ),
    item(
      'overlapping-literals',
      'infected',
      Buffer.concat([
        rng.bytes(300),
        ascii('ARBITER-TEST-LITERAL-MARKER-000ARBITER-TEST-LITERAL-MARKER-0001'),
        rng.bytes(300),
      ]),
      'a failed partial match immediately followed by a real one',
    ),
    item(
      'every-pattern-once',
      'infected',
      Buffer.concat(
        BODY_SIGNATURES.filter((s) => s.offset === '*').flatMap((s) => [
          rng.bytes(1000),
          matchBytes(s.tokens, rng),
        ]),
      ),
      'several signatures match: clamd reports one, the built-in engine may report all',
    ),
    item(
      'all-near-misses',
      'clean',
      Buffer.concat(
        bounded.flatMap((s) =>
          Object.values(s.nearMisses).map((make) => Buffer.concat([rng.bytes(200), make(rng)])),
        ),
      ),
      'the near misses of every bounded pattern in one file',
    ),
  ];
}

function hashItems(): CorpusItem[] {
  const items: CorpusItem[] = [];
  for (const spec of HASH_SAMPLES) {
    const sample = hashSample(spec.id);
    const findings = [findingFor(spec.name)];
    const base = `hash/${spec.name}`;
    if (spec.sizeField === 'wrong') {
      items.push({
        name: `${base}/exact`,
        content: sample,
        expected: 'clean',
        note: 'the hash matches but the size field does not',
      });
      continue;
    }
    items.push({ name: `${base}/exact`, content: sample, expected: 'infected', findings });
    const flipped = Buffer.from(sample);
    flipped[flipped.length >> 1] = (flipped[flipped.length >> 1] ?? 0) ^ 0x01;
    items.push({ name: `${base}/one-bit-flipped`, content: flipped, expected: 'clean' });
    items.push({
      name: `${base}/one-byte-longer`,
      content: Buffer.concat([sample, Buffer.from([0])]),
      expected: 'clean',
    });
  }
  return items;
}

function eicarItems(rng: SeededRandom): CorpusItem[] {
  const findings = ['content.malicious.eicar-test-signature'];
  const infected = (name: string, content: Buffer, note?: string): CorpusItem => ({
    name: `eicar/${name}`,
    content,
    expected: 'infected',
    findings,
    ...(note ? { note } : {}),
  });
  const big = rng.bytes(2 * MIB);
  overlay(big, MIB - 30, EICAR);
  return [
    infected('raw', Buffer.from(EICAR)),
    infected('newline', Buffer.concat([EICAR, ascii('\n')])),
    infected('crlf', Buffer.concat([EICAR, ascii('\r\n')])),
    infected('trailing-whitespace', Buffer.concat([EICAR, ascii('  \t \r\n\x1a')])),
    infected(
      'in-text',
      Buffer.concat([
        ascii('Dear reader,\nthe next line is a test.\n'),
        EICAR,
        ascii('\nRegards\n'),
      ]),
      'the built-in EICAR rule does not fire; the .ndb signature does',
    ),
    infected('in-binary', placed(rng, 9000, 4321, Buffer.from(EICAR))),
    infected('straddle-1m', big, 'spans byte 1048576 of a 2 MiB file'),
    {
      name: 'eicar/miss-truncated',
      content: EICAR.subarray(0, EICAR.length - 1),
      expected: 'clean',
    },
    {
      name: 'eicar/miss-lower-case',
      content: ascii(EICAR.toString('latin1').toLowerCase()),
      expected: 'clean',
    },
  ];
}

function cleanItems(rng: SeededRandom): CorpusItem[] {
  const sizes = [1, 2, 100, 4 * KIB, 64 * KIB - 1, 64 * KIB, 64 * KIB + 1, MIB + 17, 3 * MIB];
  const items: CorpusItem[] = sizes.map((size) => ({
    name: `clean/random-${size}`,
    content: rng.bytes(size),
    expected: 'clean',
  }));
  items.push({ name: 'clean/zeros-1m', content: Buffer.alloc(MIB), expected: 'clean' });
  items.push({
    name: 'clean/text',
    content: ascii('Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n'.repeat(2000)),
    expected: 'clean',
  });
  return items;
}

// --- archives

export interface ZipEntry {
  name: string;
  content: Buffer;
  /** Deflate (default) or store. */
  compress?: boolean;
}

export async function makeZip(entries: ZipEntry[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const entry of entries) {
    zip.addBuffer(entry.content, entry.name, {
      mtime: FIXED_DATE,
      compress: entry.compress ?? true,
    });
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** `content` as `innermost`, wrapped in `depth` zips (depth 1 = one zip holding the file). */
export async function nestedZip(
  innermost: string,
  content: Buffer,
  depth: number,
): Promise<Buffer> {
  let current = await makeZip([{ name: innermost, content }]);
  for (let level = 2; level <= depth; level++)
    current = await makeZip([{ name: `level-${level - 1}.zip`, content: current }]);
  return current;
}

export async function makeTar(entries: Array<{ name: string; content: Buffer }>): Promise<Buffer> {
  const pack = tar.pack();
  for (const entry of entries)
    pack.entry(
      { name: entry.name, size: entry.content.length, mtime: FIXED_DATE, mode: 0o644 },
      entry.content,
    );
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const crcTable = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 of `length` zero bytes, without allocating them. */
function crc32OfZeros(length: number): number {
  let crc = 0xffffffff;
  for (let i = 0; i < length; i++) crc = (crcTable[crc & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * A zip of `members` entries, each inflating to `mibPerMember` MiB of zeros from about 1 KiB per
 * MiB: the deflate stream is one fully flushed 1 MiB segment repeated, so it is built without
 * ever holding the expanded bytes. Several members matter: clamd trims a single member to
 * MaxFileSize and scans the rest silently, but flags the total passing MaxScanSize.
 */
export function zipBomb(members: number, mibPerMember: number): Buffer {
  const segment = zlib.deflateRawSync(Buffer.alloc(MIB), {
    level: 9,
    finishFlush: zlib.constants.Z_FULL_FLUSH,
  });
  const data = Buffer.concat([
    ...Array.from({ length: mibPerMember }, () => segment),
    Buffer.from([0x03, 0x00]),
  ]);
  const expanded = mibPerMember * MIB;
  if (expanded >= 2 ** 32)
    throw new Error('zipBomb writes no zip64 records: keep members under 4 GiB');
  const crc = crc32OfZerosFast(mibPerMember);
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (let i = 0; i < members; i++) {
    const name = ascii(`zeros-${i}.bin`);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed to extract
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt16LE(0x5822, 12); // 2024-01-02
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(expanded, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4); // version made by
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(8, 10);
    central.writeUInt16LE(0x5822, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(expanded, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, data);
    centrals.push(central, name);
    offset += local.length + name.length + data.length;
  }
  const centralSize = centrals.reduce((sum, b) => sum + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(members, 8);
  end.writeUInt16LE(members, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...centrals, end]);
}

/** CRC-32 of n MiB of zeros, from the 1 MiB value by running the table over zeros once per MiB. */
function crc32OfZerosFast(mebibytes: number): number {
  // zlib.crc32 (Node >= 20.15) accepts a running value; fall back to the table otherwise.
  const crc32 = (zlib as unknown as { crc32?: (data: Buffer, value?: number) => number }).crc32;
  if (!crc32) return crc32OfZeros(mebibytes * MIB);
  const zeros = Buffer.alloc(MIB);
  let value = 0;
  for (let i = 0; i < mebibytes; i++) value = crc32(zeros, value);
  return value >>> 0;
}

function crc32(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = (crcTable[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * A zip whose members are encrypted with the traditional PKWARE cipher (what `zip -P` writes),
 * stored uncompressed. Written here rather than by Info-ZIP so the bytes are deterministic (zip
 * -P draws a random encryption header).
 */
export function encryptedZip(
  entries: Array<{ name: string; content: Buffer }>,
  password = 'arbiter',
  seed = 'encrypted-zip',
): Buffer {
  const rng = new SeededRandom(seed);
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const crc = crc32(entry.content);
    const keys = new ZipCryptoKeys(ascii(password));
    const header = rng.bytes(12);
    header[11] = crc >>> 24; // the check byte
    const encrypted = keys.encrypt(Buffer.concat([header, entry.content]));
    const name = ascii(entry.name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0001, 6); // encrypted
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt16LE(0x5822, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(encrypted.length, 18);
    local.writeUInt32LE(entry.content.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0001, 8);
    central.writeUInt16LE(0, 10);
    central.writeUInt16LE(0x5822, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(encrypted.length, 20);
    central.writeUInt32LE(entry.content.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, encrypted);
    centrals.push(central, name);
    offset += local.length + name.length + encrypted.length;
  }
  const centralSize = centrals.reduce((sum, b) => sum + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...centrals, end]);
}

/** The traditional PKWARE stream cipher (APPNOTE 6.1). */
class ZipCryptoKeys {
  private k0 = 0x12345678;
  private k1 = 0x23456789;
  private k2 = 0x34567890;

  constructor(password: Buffer) {
    for (const byte of password) this.update(byte);
  }

  encrypt(plain: Buffer): Buffer {
    const out = Buffer.alloc(plain.length);
    for (let i = 0; i < plain.length; i++) {
      const temp = (this.k2 | 2) & 0xffff;
      const keyByte = ((temp * (temp ^ 1)) >>> 8) & 0xff;
      const byte = plain[i] as number;
      out[i] = byte ^ keyByte;
      this.update(byte);
    }
    return out;
  }

  private update(byte: number): void {
    this.k0 = crcStep(this.k0, byte);
    this.k1 = (Math.imul((this.k1 + (this.k0 & 0xff)) >>> 0, 134775813) + 1) >>> 0;
    this.k2 = crcStep(this.k2, this.k1 >>> 24);
  }
}

const crcStep = (crc: number, byte: number) =>
  ((crcTable[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8)) >>> 0;

async function archiveItems(rng: SeededRandom): Promise<CorpusItem[]> {
  const items: CorpusItem[] = [];
  const eicarFinding = ['content.malicious.eicar-test-signature'];
  const patternFile = (name: string) => {
    const signature = BODY_SIGNATURES.find((s) => s.name === name);
    if (!signature) throw new Error(`no signature ${name}`);
    const bytes = matchBytes(signature.tokens, rng);
    return { content: placed(rng, bytes.length + 3000, 1500, bytes), findings: [findingFor(name)] };
  };
  const rotating = [
    'Arbiter.Test.Combined-NDB',
    'Arbiter.Test.Range-NDB',
    'Arbiter.Test.HighNibble-NDB',
    'Arbiter.Test.Alternatives-NDB',
    'Arbiter.Test.AtLeast-NDB',
  ];

  for (let depth = 1; depth <= 5; depth++) {
    items.push({
      name: `zip/eicar-depth-${depth}.zip`,
      content: await nestedZip('eicar.com', Buffer.from(EICAR), depth),
      expected: 'infected',
      findings: eicarFinding,
    });
    const pattern = patternFile(rotating[depth - 1] as string);
    items.push({
      name: `zip/pattern-depth-${depth}.zip`,
      content: await nestedZip('sample.bin', pattern.content, depth),
      expected: 'infected',
      findings: pattern.findings,
    });
    items.push({
      name: `zip/clean-depth-${depth}.zip`,
      content: await nestedZip('clean.bin', rng.bytes(5000), depth),
      expected: 'clean',
    });
  }
  // Offsets are relative to the member, not to the archive.
  const atOffset = BODY_SIGNATURES.find(
    (s) => s.name === 'Arbiter.Test.AtOffset-NDB',
  ) as BodySignature;
  const offsetMember = placed(rng, 70 * KIB, 65530, matchBytes(atOffset.tokens, rng));
  items.push({
    name: 'zip/at-offset-member.zip',
    content: await makeZip([
      { name: 'a.txt', content: ascii('hello\n') },
      { name: 'offset.bin', content: offsetMember },
    ]),
    expected: 'infected',
    findings: [findingFor(atOffset.name)],
  });
  const nearEnd = BODY_SIGNATURES.find(
    (s) => s.name === 'Arbiter.Test.NearEnd-NDB',
  ) as BodySignature;
  const endMember = placed(rng, 5000, 5000 - 64, matchBytes(nearEnd.tokens, rng));
  items.push({
    name: 'zip/near-end-member-stored.zip',
    content: await makeZip([
      { name: 'end.bin', content: endMember, compress: false },
      { name: 'b.bin', content: rng.bytes(3000), compress: false },
    ]),
    expected: 'infected',
    findings: [findingFor(nearEnd.name)],
  });
  items.push({
    name: 'zip/md5-member.zip',
    content: await makeZip([{ name: 'dir/sample.dat', content: hashSample('md5') }]),
    expected: 'infected',
    findings: ['content.malicious.arbiter.test.md5-hdb'],
  });
  items.push({
    name: 'zip/sha1-member-in-nested.zip',
    content: await nestedZip('deep/sample.dat', hashSample('sha1-any-size'), 3),
    expected: 'infected',
    findings: ['content.malicious.arbiter.test.sha1anysize-hsb'],
  });
  items.push({
    name: 'zip/many-clean-members.zip',
    content: await makeZip(
      Array.from({ length: 60 }, (_, i) => ({
        name: `file-${i}.bin`,
        content: rng.bytes(rng.int(0, 3000)),
        compress: i % 2 === 0,
      })),
    ),
    expected: 'clean',
  });
  items.push({
    name: 'zip/eicar-among-clean.zip',
    content: await makeZip([
      ...Array.from({ length: 10 }, (_, i) => ({ name: `f${i}.bin`, content: rng.bytes(2000) })),
      { name: 'x/y/eicar.com', content: Buffer.from(EICAR) },
    ]),
    expected: 'infected',
    findings: eicarFinding,
  });

  const tarPattern = patternFile('Arbiter.Test.UpTo-NDB');
  items.push({
    name: 'tar/pattern.tar.gz',
    content: zlib.gzipSync(
      await makeTar([
        { name: 'readme.txt', content: ascii('hello\n') },
        { name: 'bin/sample.bin', content: tarPattern.content },
      ]),
    ),
    expected: 'infected',
    findings: tarPattern.findings,
  });
  items.push({
    name: 'tar/eicar.tar',
    content: await makeTar([{ name: 'eicar.com', content: Buffer.from(EICAR) }]),
    expected: 'infected',
    findings: eicarFinding,
  });
  items.push({
    name: 'tar/clean.tar.gz',
    content: zlib.gzipSync(
      await makeTar([
        { name: 'a.bin', content: rng.bytes(10_000) },
        { name: 'b.txt', content: ascii('just text\n') },
      ]),
    ),
    expected: 'clean',
  });
  items.push({
    name: 'tar/sha256-member.tar.gz',
    content: zlib.gzipSync(await makeTar([{ name: 'sample.dat', content: hashSample('sha256') }])),
    expected: 'infected',
    findings: ['content.malicious.arbiter.test.sha256-hsb'],
  });
  const gzPattern = patternFile('Arbiter.Test.Fixed-NDB');
  items.push({
    name: 'gzip/pattern.bin.gz',
    content: zlib.gzipSync(gzPattern.content),
    expected: 'infected',
    findings: gzPattern.findings,
  });
  items.push({
    name: 'gzip/pattern-in-zip.tar.gz',
    content: zlib.gzipSync(
      await makeTar([
        {
          name: 'inner.zip',
          content: await makeZip([{ name: 'eicar.com', content: Buffer.from(EICAR) }]),
        },
      ]),
    ),
    expected: 'infected',
    findings: eicarFinding,
  });

  items.push({
    name: 'unscannable/zip-bomb.zip',
    content: zipBomb(8, 64),
    expected: 'unscannable',
    note: '8 members of 64 MiB of zeros each, 512 MiB from ~530 KB (ratio ~1000:1)',
  });
  items.push({
    name: 'unscannable/encrypted.zip',
    content: encryptedZip([{ name: 'secret.txt', content: ascii('nothing to see here\n') }]),
    expected: 'unscannable',
    note: 'ZipCrypto (as zip -P writes): the member cannot be read',
  });
  // A truncated zip: clamd has no alert for broken archives, so it answers OK where the built-in
  // engine reports content.unscannable.corrupt.
  const whole = await makeZip([
    { name: 'a.bin', content: rng.bytes(20_000) },
    { name: 'b.bin', content: rng.bytes(20_000) },
  ]);
  items.push({
    name: 'unscannable/truncated.zip',
    content: whole.subarray(0, 30_000),
    expected: 'unscannable',
    clamdExpected: 'clean',
    note: 'cut inside the second member; no central directory',
  });
  // clamd also matches body signatures against the raw bytes of a container, so a stored member
  // is found even when the zip cannot be opened.
  const stored = await makeZip([
    { name: 'eicar.com', content: Buffer.from(EICAR), compress: false },
    { name: 'big.bin', content: rng.bytes(30_000), compress: false },
  ]);
  items.push({
    name: 'zip/truncated-stored-eicar.zip',
    content: stored.subarray(0, 5_000),
    expected: 'infected',
    findings: eicarFinding,
    note: 'the raw bytes hold EICAR; the archive itself is truncated',
  });
  items.push({
    name: 'unscannable/clean-depth-20.zip',
    content: await nestedZip('clean.bin', rng.bytes(1000), 20),
    expected: 'unscannable',
    note: 'deeper than the recursion limit (16)',
  });
  return items;
}

export interface CorpusOptions {
  /** Changes every random byte (the labels do not depend on it). */
  seed?: string;
}

/** The whole agreement corpus, about 30 MB, deterministic for a given seed. */
export async function generateCorpus(options: CorpusOptions = {}): Promise<CorpusItem[]> {
  const seed = options.seed ?? 'agreement-v1';
  const items: CorpusItem[] = [
    ...cleanItems(new SeededRandom(`${seed}:clean`)),
    ...hashItems(),
    ...eicarItems(new SeededRandom(`${seed}:eicar`)),
    ...BODY_SIGNATURES.flatMap((signature) =>
      bodySignatureItems(signature, new SeededRandom(`${seed}:${signature.name}`)),
    ),
    ...trickyItems(new SeededRandom(`${seed}:tricky`)),
    ...(await archiveItems(new SeededRandom(`${seed}:archives`))),
  ];
  const names = new Set<string>();
  for (const item of items) {
    if (names.has(item.name)) throw new Error(`duplicate corpus item ${item.name}`);
    names.add(item.name);
  }
  return items;
}

/** Writes the corpus under `dir` (names become relative paths) and returns each item's path. */
export async function writeCorpus(
  dir: string,
  items: CorpusItem[],
): Promise<Array<CorpusItem & { path: string }>> {
  const written: Array<CorpusItem & { path: string }> = [];
  for (const item of items) {
    const file = path.join(dir, ...item.name.split('/'));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, item.content);
    written.push({ ...item, path: file });
  }
  return written;
}

// `npx tsx test/support/corpus.ts --write-signatures` rewrites the committed fixture folder.
if (
  process.argv[1] &&
  fileURLToPath(import.meta.url) === path.resolve(process.argv[1]) &&
  process.argv.includes('--write-signatures')
) {
  for (const [file, text] of Object.entries(fixtureSignatureFiles())) {
    await mkdir(SIGNATURES_DIR, { recursive: true });
    await writeFile(path.join(SIGNATURES_DIR, file), text);
    console.log(`wrote ${path.join(SIGNATURES_DIR, file)}`);
  }
}
