import { describe, expect, it } from 'vitest';
import { RE2 } from 're2-wasm';
import { ContentScanner } from '../../scanning/matcher/index.js';
import { buildSignatureDatabase } from '../../scanning/signatures/database.js';
import { parseLdbLine, type LogicalSignature } from '../../scanning/signatures/ldb.js';
import { translatePcre } from '../../scanning/signatures/pcre.js';

const body = Buffer.from('abcd').toString('hex');

function parsed(line: string): LogicalSignature {
  const result = parseLdbLine(line);
  if (!result.ok) throw new Error(result.message);
  return result.signature;
}

function problem(line: string): string {
  const result = parseLdbLine(line);
  if (result.ok) throw new Error(`"${line}" parsed`);
  return result.message;
}

/** The PCRE of a two-subsignature line `0&1;abcd;<sub>`. */
const pcreOf = (sub: string) => parsed(`P;Target:0;0&1;${body};${sub}`).subsignatures[1]!.pcre!;

/** Runs a pattern's translation over latin1 bytes: the first match's start, or -1. */
function firstMatch(pattern: string, flags: string, content: string): number {
  const translated = translatePcre(pattern, flags);
  if (!translated.ok) throw new Error(translated.message);
  return new RE2(translated.pcre.source, 'u').exec(content)?.index ?? -1;
}

describe('PCRE subsignatures: parsing', () => {
  it('reads the offset, trigger, pattern and flags', () => {
    const signature = parsed(`P;Target:0;0&1;${body};10,5:0>1/a;b\\/c/gre`);
    const sub = signature.subsignatures[1]!;
    expect(sub.forms).toEqual([]);
    expect(sub.offset).toEqual({ kind: 'absolute', offset: 10, shift: 5 });
    expect(sub.pcre).toMatchObject({
      pattern: 'a;b\\/c',
      global: true,
      rolling: true,
      encompass: true,
      anchored: false,
      trigger: { kind: 'sub', id: 0, count: { op: '>', value: 1 } },
    });
    // Counting keeps as many starts as the trigger's count can tell apart too.
    expect(signature.countCap).toBe(2);
    expect(pcreOf('*:0/abc/').pattern).toBe('abc');
    expect(pcreOf('EOF-20:0/abc/').pattern).toBe('abc');
  });

  it('takes every flag ClamAV knows, in any order', () => {
    for (const flags of ['i', 's', 'm', 'x', 'A', 'E', 'U', 'g', 'r', 'e', 'gresmixAEU', 'UEA']) {
      expect(parseLdbLine(`P;Target:0;0&1;${body};0/a.c/${flags}`).ok).toBe(true);
    }
    expect(pcreOf('0/abc/A').anchored).toBe(true);
  });

  it('splits the line as clamd does: ; and : inside a regex are part of it', () => {
    const signature = parsed(`P;Target:0;0&1&2;${body};0/x;y:z/;1/q\\/;r/i`);
    expect(signature.subsignatures.map((s) => s.pcre?.pattern)).toEqual([
      undefined,
      'x;y:z',
      'q\\/;r',
    ]);
  });

  it('matches bytes 0x80–0xFF and NUL as bytes, with PCRE2’s C-locale classes', () => {
    const content = Buffer.from([0x41, 0x00, 0xff, 0x80, 0xc0, 0x0b, 0x85, 0xa0, 0x0a]).toString(
      'latin1',
    );
    expect(firstMatch('\\x00\\xff\\x80', '', content)).toBe(1);
    expect(firstMatch('[\\x80-\\xff]{3}', '', content)).toBe(2);
    // No case outside ASCII: à (0xe0) does not match À (0xc0).
    expect(firstMatch('\\xe0', 'i', content)).toBe(-1);
    expect(firstMatch('a', 'i', content)).toBe(0);
    // \s has VT; \w and \W leave bytes above 0x7f non-word; \v has NEL; \h has NBSP.
    expect(firstMatch('\\s', '', content)).toBe(5);
    expect(firstMatch('\\w\\W', '', content)).toBe(0);
    expect(firstMatch('\\v\\v', '', content)).toBe(5);
    expect(firstMatch('\\h', '', content)).toBe(7);
    expect(firstMatch('[^\\x00-\\x7f]{3}', '', content)).toBe(2);
    // . stops at LF only; with s it does not.
    expect(firstMatch('\\xa0.', '', content)).toBe(-1);
    expect(firstMatch('\\xa0.', 's', content)).toBe(7);
    // PCRE's $ also before a final newline; E makes it the very end only.
    expect(firstMatch('\\xa0$', '', content)).toBe(7);
    expect(firstMatch('\\xa0$', 'E', content)).toBe(-1);
  });

  it('skips, with the construct named, what RE2 cannot run exactly', () => {
    const cases: [string, RegExp][] = [
      ['0/a(?=b)/', /lookaround/],
      ['0/(?<!a)b/', /lookaround/],
      ['0/(a)\\1/', /backreferences/],
      ['0/(?<n>a)\\k<n>/', /backreferences/],
      ['0/(?>ab)/', /atomic/],
      ['0/a++/', /possessive/],
      ['0/(a(?R))/', /recursion/],
      ['0/(?(1)a|b)/', /conditional/],
      ['0/(*FAIL)/', /verbs/],
      ['0/\\Ga/', /\\G/],
      ['0/a\\Kb/', /\\K/],
      ['0/\\R/', /\\R/],
      ['0/\\X/', /\\X/],
      ['0/\\p{L}/', /Unicode properties/],
      ['0/a$/g', /\$ \(end, or before a final newline\)/],
      ['0/a$b/', /\$ \(end, or before a final newline\)/],
      ['0/a*/g', /empty string/],
      ['0/(?:a?)+b/g', /repeated part that can match the empty string/],
      ['0/a{1001}/', /repetition counts above 1000/],
      ['0/(?:(?:a{10}){10}){11}/', /product is above 1000/],
      ['0/a(?m)^/', /multiline \^/],
      ['0/a{,3}/', /\{,n\}/],
      ['0/(?J)a/', /group options other than/],
    ];
    for (const [sub, reason] of cases) {
      const message = problem(`P;Target:0;0&1;${body};${sub}`);
      expect(message, sub).toMatch(/^skipped: subsignature 1: PCRE construct RE2 cannot run: /);
      expect(message, sub).toMatch(reason);
    }
  });

  it('skips counts above 64 with a PCRE subsignature that counts every match', () => {
    expect(parseLdbLine(`P;Target:0;0&1>64;${body};0/a/g`).ok).toBe(true);
    expect(parseLdbLine(`P;Target:0;0&1>65;${body};0/a/`).ok).toBe(true);
    expect(problem(`P;Target:0;0&1>65;${body};0/a/g`)).toMatch(
      /^skipped: counts above 64 with a PCRE/,
    );
  });

  it('refuses what clamd refuses (it then refuses the whole database)', () => {
    const lines = [
      `R;Target:0;0&1;${body};0/abc`,
      `R;Target:0;0&1;${body};/abc/`,
      `R;Target:0;0&1;${body};0//`,
      `R;Target:0;0&1;${body};1/abc/`,
      `R;Target:0;0&1&2;${body};2/abc/;${body}`,
      `R;Target:0;0&1;${body};0/abc/z`,
      `R;Target:0;0&1;${body};0/(abc/`,
      `R;Target:0;0&1;${body};0/abc)/`,
      `R;Target:0;0&1;${body};0/[abc/`,
      `R;Target:0;0&1;${body};0/a**/`,
      `R;Target:0;0&1;${body};0/*a/`,
      `R;Target:0;0&1;${body};0/a\\x{100}/`,
      `R;Target:0;0&1;${body};0/\\o{400}/`,
      `R;Target:0;0&1;${body};0/a{3,2}/`,
      `R;Target:0;0&1;${body};0/a{70000}/`,
      `R;Target:0;0&1;${body};EP+0:0/abc/`,
      `R;Target:0;0&1;${body};0/abc\\/`,
      `R;Target:0;0&1;${body};0:1/ab/:x`,
      `R;Target:0;0&1;${body};0/a\\ib/`,
      `R;Target:0;0&1;${body};0/[[:foo:]]/`,
      `R;Target:0;0&1;${body};0/[z-a]/`,
      `R;Target:0;0&1;${body};0/[\\d-z]/`,
      `R;Target:0;0&1;${body};0/[[:alpha:]-z]/`,
      `R;Target:0;0&1;${body};0&/abc/`,
      `R;Target:0;0&1;${body};0/\\c/`,
      `R;Target:0;0;${body};0/abc/`,
    ];
    for (const line of lines) {
      const message = problem(line);
      expect(message, line).not.toMatch(/^skipped/);
    }
  });

  it('adds nothing to scans when the database has no PCRE signature', () => {
    const plain = new ContentScanner(
      buildSignatureDatabase([{ file: 'x.ldb', text: `A;Target:0;0;${body}` }]),
    );
    expect(plain.logical?.pcre).toBeNull();
    const withPcre = new ContentScanner(
      buildSignatureDatabase([{ file: 'x.ldb', text: `A;Target:0;0&1;${body};0/abc/` }]),
    );
    expect(withPcre.logical?.pcre).not.toBeNull();
  });

  it('counts skipped PCRE lines in the load report with their reason', () => {
    const db = buildSignatureDatabase([
      {
        file: 'x.ldb',
        text: [
          `A;Target:0;0&1;${body};0/abc\\d+/i`,
          `B;Target:0;0&1;${body};0/a(?=b)/`,
          `C;Target:0;0&1;${body};0/(a)\\1/`,
        ].join('\n'),
      },
    ]);
    expect(db.logical.map((s) => s.name)).toEqual(['A']);
    const ldb = db.report.types.find((r) => r.type === 'ldb')!;
    expect(ldb.loaded).toBe(1);
    expect(ldb.skipped).toBe(2);
    expect(Object.keys(ldb.reasons).join()).toMatch(/lookaround/);
  });
});
