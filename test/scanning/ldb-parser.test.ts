import { describe, expect, it } from 'vitest';
import { parsePe, PE_HEAD_BYTES } from '../../scanning/pe.js';
import {
  containerType,
  evaluateExpression,
  parseExpression,
  parseLdbLine,
  parseLdbText,
  type LogicalSignature,
} from '../../scanning/signatures/ldb.js';
import { buildSignatureDatabase } from '../../scanning/signatures/database.js';
import { parseMdbLine, parseMdbText } from '../../scanning/signatures/mdb.js';
import { lookupHash } from '../../scanning/hash-signatures.js';
import { buildPe } from '../support/pe-builder.js';

const hex = (text: string) => Buffer.from(text).toString('hex');

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

/** The expression as a string with explicit grouping, to check how it was read. */
function shape(text: string): string {
  const show = (e: ReturnType<typeof parseExpression>): string => {
    if (e.kind === 'sub') return e.count ? `${e.id}${e.count.op}${e.count.value}` : `${e.id}`;
    const inner = `(${show(e.left)}${e.kind === 'and' ? '&' : '|'}${show(e.right)})`;
    if (!e.count) return inner;
    return `${inner}${e.count.op}${e.count.value}${e.count.distinct ? `,${e.count.distinct}` : ''}`;
  };
  return show(parseExpression(text));
}

describe('logical expressions', () => {
  it('groups as ClamAV does: first operator at the top level, last inside a counted group', () => {
    expect(shape('0')).toBe('0');
    expect(shape('0&1')).toBe('(0&1)');
    expect(shape('0&1|2')).toBe('(0&(1|2))');
    expect(shape('0|1&2')).toBe('(0|(1&2))');
    expect(shape('(0|1)&2')).toBe('((0|1)&2)');
    expect(shape('(0|1&2)>1')).toBe('((0|1)&2)>1');
    expect(shape('((0|1))')).toBe('(0|1)');
    expect(shape('(0&1)|(2&3)')).toBe('((0&1)|(2&3))');
  });

  it('reads counts on subsignatures and on groups, with a distinct-subsignature minimum', () => {
    expect(shape('0>2')).toBe('0>2');
    expect(shape('0=0&1<3')).toBe('(0=0&1<3)');
    expect(shape('(0|1)=3,2')).toBe('(0|1)=3,2');
    expect(shape('(0|1)>3&2')).toBe('((0|1)>3&2)');
  });

  it('refuses malformed expressions', () => {
    for (const text of [
      '',
      '0&',
      '&0',
      '(0|1',
      '0|1)',
      '(0)>2',
      'a',
      '0>',
      '(0|1)>',
      '(0|1)2',
      '0&&1',
    ]) {
      expect(() => parseExpression(text), text).toThrow();
    }
    expect(() => parseExpression(`${'('.repeat(100)}0${')'.repeat(100)}`)).toThrow(/deeply/);
  });

  it('evaluates counts as ClamAV does', () => {
    const holds = (text: string, counts: number[]) =>
      evaluateExpression(parseExpression(text), counts);
    expect(holds('0&1', [1, 1])).toBe(true);
    expect(holds('0&1', [1, 0])).toBe(false);
    expect(holds('0|1', [0, 2])).toBe(true);
    expect(holds('0>2', [3])).toBe(true);
    expect(holds('0>2', [2])).toBe(false);
    expect(holds('0=2', [2])).toBe(true);
    expect(holds('0<2', [0])).toBe(true); // a count below n holds with no match at all
    expect(holds('(0|1)>2', [2, 1])).toBe(true);
    expect(holds('(0|1)>2', [2, 0])).toBe(false);
    expect(holds('(0|1)=3,2', [2, 1])).toBe(true);
    expect(holds('(0|1)=3,2', [3, 0])).toBe(false);
    expect(holds('(0&1)<1', [0, 0])).toBe(true); // a group that does not hold counts 0
    expect(holds('(0&1)<1', [1, 1])).toBe(false);
    // A counted group passes its total up, not its subsignatures.
    expect(holds('((0|1)>0|2)=3,2', [2, 1, 0])).toBe(false);
    expect(holds('((0|1)>0|2)=4,1', [2, 1, 1])).toBe(true);
  });
});

describe('.ldb lines', () => {
  it('reads the target description block', () => {
    const signature = parsed(
      `Sig;Engine:51-255,Target:1,FileSize:10-2000,EntryPoint:0-4096,NumberOfSections:2-5;0;${hex('abc')}`,
    );
    expect(signature).toMatchObject({
      name: 'Sig',
      target: 1,
      fileSize: [10, 2000],
      entryPoint: [0, 4096],
      sections: [2, 5],
    });
    expect(parsed(`Sig;Target:0;0;${hex('abc')}`).target).toBe(0);
    const container = (type: string) =>
      parsed(`S;Engine:81-255,Target:0,Container:${type};0;${hex('abc')}`).container;
    for (const type of ['CL_TYPE_ZIP', 'CL_TYPE_GZ', 'CL_TYPE_ANY', 'CL_TYPE_7Z', 'CL_TYPE_XZ']) {
      expect(container(type)).toBe(type);
    }
    expect([containerType('zip'), containerType('file'), containerType('rar5')]).toEqual([
      'CL_TYPE_ZIP',
      'CL_TYPE_ANY',
      undefined,
    ]);
  });

  it('reads every offset form', () => {
    const offsetOf = (offset: string) =>
      parsed(`S;Engine:51-255,Target:1;0;${offset}:${hex('abc')}`).subsignatures[0]!.offset;
    expect(offsetOf('*')).toEqual({ kind: 'any' });
    expect(offsetOf('12')).toEqual({ kind: 'absolute', offset: 12, shift: 0 });
    expect(offsetOf('12,5')).toEqual({ kind: 'absolute', offset: 12, shift: 5 });
    expect(offsetOf('EOF-20,3')).toEqual({ kind: 'eof', offset: 20, shift: 3 });
    expect(offsetOf('EP+7')).toEqual({ kind: 'ep', delta: 7, shift: 0 });
    expect(offsetOf('EP-7,2')).toEqual({ kind: 'ep', delta: -7, shift: 2 });
    expect(offsetOf('S2+30')).toEqual({ kind: 'section', index: 2, offset: 30, shift: 0 });
    expect(offsetOf('SL+4,8')).toEqual({ kind: 'last-section', offset: 4, shift: 8 });
    expect(offsetOf('SE1')).toEqual({ kind: 'section-entire', index: 1, shift: 0 });
    expect(offsetOf('VI')).toEqual({ kind: 'version' });
    // clamd reads anything that starts with "VI" as the version information offset.
    expect(offsetOf('VI,4')).toEqual({ kind: 'version' });
    expect(offsetOf('VIX')).toEqual({ kind: 'version' });
  });

  it('reads VI subsignatures clamd matches in one piece, for PE files only', () => {
    const vi = (body: string, target = 1) =>
      parseLdbLine(`S;Engine:51-255,Target:${target};0;VI:${body}`);
    expect(vi(`${hex('ab')}{4}${hex('cd')}[1-2]${hex('e')}`).ok).toBe(true);
    expect(vi(`${hex('ab')}??(41|42)`).ok).toBe(true);
    const refused = vi(hex('abc'), 0);
    expect(refused.ok ? '' : refused.message).toMatch(/clamd refuses the database/);
    const elf = vi(hex('abc'), 6);
    expect(elf.ok ? '' : elf.message).toMatch(/^skipped: .*ELF/);
  });

  it('builds the forms of the modifiers: wide, wide and ASCII, case-insensitive', () => {
    const forms = (modifiers: string) =>
      parsed(`S;Target:0;0;${hex('Ab')}7c::${modifiers}`).subsignatures[0]!.forms.map((form) => ({
        bytes: form.elements.map((e) => (e.kind === 'byte' ? e.value : -1)),
        nocase: form.nocase,
      }));
    expect(forms('w')).toEqual([{ bytes: [0x41, 0, 0x62, 0, 0x7c, 0], nocase: false }]);
    expect(forms('wa')).toEqual([
      { bytes: [0x41, 0, 0x62, 0, 0x7c, 0], nocase: false },
      { bytes: [0x41, 0x62, 0x7c], nocase: false },
    ]);
    expect(forms('i')).toEqual([{ bytes: [0x61, 0x62, 0x7c], nocase: true }]);
    expect(forms('iw')).toEqual([{ bytes: [0x61, 0, 0x62, 0, 0x7c, 0], nocase: true }]);
    // Wide keeps {n} as written and turns [x-y] into {x-y}, as ClamAV does.
    const wide = parsed(`S;Target:0;0;4142{3}4344[1-2]45::w`).subsignatures[0]!.forms[0]!.elements;
    expect(
      wide.filter((e) => e.kind === 'gap').map((e) => e.kind === 'gap' && [e.min, e.max]),
    ).toEqual([
      [3, 3],
      [1, 2],
    ]);
  });

  it('marks fullword forms (::f), the wide one by UTF-16 characters, and rewrites [x-y] as clamd', () => {
    const forms = (modifiers: string, body = `${hex('Ab')}7c`) =>
      parsed(`S;Target:0;0;${body}::${modifiers}`).subsignatures[0]!.forms.map((form) => ({
        fullword: form.fullword,
        nocase: form.nocase,
        length: form.elements.length,
      }));
    expect(forms('f')).toEqual([{ fullword: 'byte', nocase: false, length: 3 }]);
    expect(forms('fi')).toEqual([{ fullword: 'byte', nocase: true, length: 3 }]);
    expect(forms('wf')).toEqual([{ fullword: 'wide', nocase: false, length: 6 }]);
    expect(forms('iawf')).toEqual([
      { fullword: 'wide', nocase: true, length: 6 },
      { fullword: 'byte', nocase: true, length: 3 },
    ]);
    expect(forms('w')).toEqual([{ fullword: undefined, nocase: false, length: 6 }]);
    // `[1-2]` becomes a range that splits the body, as `{1-2}` does: clamd rewrites it so.
    const bracket = parsed(`S;Target:0;0;4142[1-2]4344::f`).subsignatures[0]!.forms[0]!;
    expect(bracket.elements[2]).toMatchObject({ kind: 'gap', min: 1, max: 2, split: true });
    expect(bracket.variable).toBe(true);
    // Counted, a fullword form of variable length is skipped as any other.
    expect(problem(`S;Target:0;0>1;4142{1-2}4344::f`)).toMatch(/^skipped: .*variable length/);
  });

  it('skips, with the reason, what it does not match', () => {
    const body = hex('abc');
    expect(problem(`S;Target:0;0&1;${body};0/a(?=b)/i`)).toMatch(
      /^skipped: (subsignature \d+: )?PCRE/,
    );
    expect(problem(`S;Target:0;0&1;${body};0:0/(d)\\1/`)).toMatch(
      /^skipped: (subsignature \d+: )?PCRE/,
    );
    expect(problem(`S;Target:0;0&1;${body};\${1-2}0$`)).toMatch(
      /^skipped: (subsignature \d+: )?macro subsignatures/,
    );
    expect(problem(`S;Target:0;0;0(>>2#ib2#=12)`)).toMatch(
      /^skipped: (subsignature \d+: )?byte-compare/,
    );
    expect(problem(`S;Target:0;0;fuzzy_img#af2ad01ed42993c7`)).toMatch(
      /^skipped: (subsignature \d+: )?fuzzy image/,
    );
    expect(problem(`S;Engine:51-255,Target:1;0;VI:${body}{2-5}${body}`)).toMatch(
      /^skipped: (subsignature \d+: )?a VI subsignature with \{n-m\}/,
    );
    expect(problem(`S;Engine:51-255,Target:1;0;VI:${body}*${body}`)).toMatch(/^skipped: .*VI/);
    expect(problem(`S;Engine:51-255,Target:1;0;VI:${body}{128}${body}`)).toMatch(/^skipped: .*VI/);
    expect(problem(`S;Engine:51-255,Target:1;0;VI:${body}[1-2]${body}::f`)).toMatch(
      /^skipped: .*VI/,
    );
    expect(problem(`S;Engine:51-255,Target:1;0;VI:${body}[1-2]${body}::w`)).toMatch(
      /^skipped: .*VI/,
    );
    expect(problem(`S;Engine:51-255,Target:1;0;VI:41[1-2]${body}`)).toMatch(
      /^skipped: .*VI subsignature that starts with a byte and a \[n-m\]/,
    );
    expect(problem(`S;Engine:51-255,Target:1;0;$1$:${body}`)).toMatch(
      /^skipped: (subsignature \d+: )?macro/,
    );
    expect(problem(`S;Engine:51-255,Target:3;0;${body}`)).toMatch(
      /^skipped: (subsignature \d+: )?target type 3 \(HTML\) is matched by clamd against its normalised forms/,
    );
    expect(problem(`S;Engine:51-255,Target:13;0;${body}`)).toMatch(
      /^skipped: (subsignature \d+: )?target type 13 \(Internal\)/,
    );
    expect(problem(`S;Engine:51-255,Target:6;0;EP+1:${body}`)).toMatch(
      /^skipped: (subsignature \d+: )?entry point, section and version information offsets of ELF files/,
    );
    expect(problem(`S;Engine:51-255,Target:15;0;${body}`)).toMatch(
      /^skipped: (subsignature \d+: )?target type 15/,
    );
    expect(problem(`S;Engine:81-255,Target:1,Container:CL_TYPE_RAR;0;${body}`)).toMatch(
      /^skipped: (subsignature \d+: )?Container:CL_TYPE_RAR is not supported/,
    );
    expect(problem(`S;Engine:81-255,Target:0,Intermediates:CL_TYPE_ZIP;0;${body}`)).toMatch(
      /^skipped: (subsignature \d+: )?the Intermediates/,
    );
    expect(problem(`S;Engine:81-255,Target:1,IconGroup1:X;0;${body}`)).toMatch(
      /^skipped: (subsignature \d+: )?icon matching/,
    );
    expect(problem(`S;Engine:81-255,Target:0,HandlerType:CL_TYPE_MSEXE;0;${body}`)).toMatch(
      /^skipped: (subsignature \d+: )?HandlerType/,
    );
    expect(problem(`S;Engine:81-255,Target:0,Whatever:1;0;${body}`)).toMatch(
      /^skipped: (subsignature \d+: )?the unknown attribute Whatever/,
    );
    expect(problem(`S;Engine:51-100,Target:0;0;${body}`)).toMatch(
      /^skipped: (subsignature \d+: )?Engine:51-100 excludes functionality level 215/,
    );
    expect(problem(`S;Engine:300-400,Target:0;0;${body}`)).toMatch(
      /^skipped: (subsignature \d+: )?Engine/,
    );
    expect(problem(`S;Target:0;0;4?4243::i`)).toMatch(
      /^skipped: (subsignature \d+: )?nibble wildcards/,
    );
    expect(problem(`S;Target:0;0;!(41|42)4344::i`)).toMatch(
      /^skipped: (subsignature \d+: )?negated alternatives/,
    );
    expect(problem(`S;Target:0;0>1;${body}*${body}`)).toMatch(
      /^skipped: (subsignature \d+: )?subsignature 0 has a variable length/,
    );
    expect(problem(`S;Target:0;(0|1)>1;${body};${body}{5-}${body}`)).toMatch(/variable length/);
    expect(problem(`S;Target:0;0=2;${body}{1-4}${body}`)).toMatch(/variable length/);
    expect(problem(`S;Target:0;0>0;${body}[1-2]${body}`)).toMatch(/variable length/);
    expect(problem(`S;Target:0;(0&1)<2;${body};(41|4242)${body}`)).toMatch(/variable length/);
    // Fixed lengths may be counted.
    expect(parseLdbLine(`S;Target:0;0=2;${body}{4}??${body}(41|42)`).ok).toBe(true);
    expect(problem(`S;Target:0;0;10:${body}*${body}`)).toMatch(/needs the offset \*/);
    expect(problem(`S;Target:0;0;EOF-2000000:${body}`)).toMatch(
      /^skipped: (subsignature \d+: )?EOF-2000000/,
    );
    // Found once, not counted: allowed.
    expect(parseLdbLine(`S;Target:0;0&1;${body}*${body};${body}`).ok).toBe(true);
  });

  it('refuses, with the reason, lines clamd would refuse', () => {
    const body = hex('abc');
    expect(problem(`S;Target:0`)).toMatch(/expected Name;/);
    expect(problem(`;Target:0;0;${body}`)).toMatch(/no name/);
    expect(problem(`S;Target:0;0&1;${body}`)).toMatch(/subsignatures 0..1 but the line has 1/);
    expect(problem(`S;Target:0;0;${body};${body}`)).toMatch(
      /subsignatures 0..0 but the line has 2/,
    );
    expect(problem(`S;;0;${body}`)).toMatch(/empty/);
    expect(problem(`S;Engine:51-255;0;${body}`)).toMatch(/no Target/);
    expect(problem(`S;Target:0,Engine:51-255;0;${body}`)).toMatch(/Engine must be the first/);
    expect(problem(`S;Target:0,FileSize:1-2;0;${body}`)).toMatch(/need Engine/);
    expect(problem(`S;Engine:51-255,Target:0,FileSize:12;0;${body}`)).toMatch(/not a range/);
    expect(problem(`S;Engine:51-255,Target:0,EntryPoint:1-2;0;${body}`)).toMatch(/need Target 1/);
    expect(problem(`S;Target:0;0;EP+1:${body}`)).toMatch(/need Target 1, 6 or 9/);
    expect(problem(`S;Target:0;0;S1+1:${body}`)).toMatch(/need Target 1, 6 or 9/);
    expect(problem(`S;Target:0;0;${body}::x`)).toMatch(/unknown modifier "x"/);
    expect(problem(`S;Target:0;0;zz`)).toMatch(/subsignature 0: .*not a hex byte/);
    expect(problem(`S;Target:0;0;a:b:c:d:e`)).toMatch(/expected \[offset:\]hex/);
    const many = Array.from({ length: 65 }, () => body);
    expect(problem(`S;Target:0;${many.map((_, i) => i).join('|')};${many.join(';')}`)).toMatch(
      /subsignature 64 is past|more than 64/,
    );
  });

  it('reports problems with file and line, and keeps the good lines', () => {
    const { signatures, problems } = parseLdbText(
      `# comment\n\nGood;Target:0;0;${hex('abc')}\r\nBad;Target:0;0&1;${hex('abc')}\n`,
      'x.ldb',
    );
    expect(signatures.map((s) => [s.name, s.line])).toEqual([['Good', 3]]);
    expect(problems).toEqual([
      { file: 'x.ldb', line: 4, message: expect.stringMatching(/subsignatures/) as string },
    ]);
  });

  it('caps counting at what the expression can tell apart', () => {
    expect(parsed(`S;Target:0;0;${hex('abc')}`).countCap).toBe(1);
    expect(parsed(`S;Target:0;0>5&1=2;${hex('abc')};${hex('abd')}`).countCap).toBe(6);
    expect(parsed(`S;Target:0;(0|1)=9,2;${hex('abc')};${hex('abd')}`).countCap).toBe(10);
    expect(problem(`S;Target:0;0>65536;${hex('abc')}`)).toMatch(
      /^skipped: (subsignature \d+: )?counts above 65535/,
    );
  });
});

describe('.mdb and .msb lines', () => {
  const md5 = 'd41d8cd98f00b204e9800998ecf8427e';
  const sha1 = 'da39a3ee5e6b4b0d3255bfef95601890afd80709';
  const sha256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

  it('reads size, hash by its length, name and levels', () => {
    expect(parseMdbLine(`512:${md5}:A`)).toEqual({
      name: 'A',
      algorithm: 'md5',
      hash: md5,
      size: 512,
    });
    expect(parseMdbLine(`512:${sha1.toUpperCase()}:B:20`)).toMatchObject({
      algorithm: 'sha1',
      hash: sha1,
    });
    expect(parseMdbLine(`*:${sha256}:C:73`)).toEqual({
      name: 'C',
      algorithm: 'sha256',
      hash: sha256,
      size: null,
    });
    expect(parseMdbLine(`512:${md5}:D:51:255`)).toMatchObject({ name: 'D' });
  });

  it('refuses or skips, with the reason', () => {
    expect(parseMdbLine(`512:${md5}`)).toMatch(/expected PESectionSize/);
    expect(parseMdbLine(`512:${md5}:A:1:2:3`)).toMatch(/too many fields/);
    expect(parseMdbLine(`*:${md5}:A`)).toMatch(/MinFL of at least 73/);
    expect(parseMdbLine(`*:${md5}:A:60`)).toMatch(/MinFL of at least 73/);
    expect(parseMdbLine(`0:${md5}:A`)).toMatch(/out of range/);
    expect(parseMdbLine(`x:${md5}:A`)).toMatch(/not a size/);
    expect(parseMdbLine(`512:abc:A`)).toMatch(/not MD5, SHA-1 or SHA-256/);
    expect(parseMdbLine(`512:${md5}:`)).toMatch(/no name/);
    expect(parseMdbLine(`512:${md5}:A:x`)).toMatch(/not a number/);
    expect(parseMdbLine(`512:${md5}:A:300`)).toMatch(/needs functionality level 300/);
    expect(parseMdbLine(`512:${md5}:A:51:100`)).toMatch(/only for functionality levels up to 100/);
  });

  it('reports problems by file and line', () => {
    const result = parseMdbText(`#c\n512:${md5}:A\nbad\n`, 'x.mdb');
    expect(result.signatures).toHaveLength(1);
    expect(result.problems).toEqual([
      { file: 'x.mdb', line: 3, message: expect.any(String) as string },
    ]);
  });
});

describe('the PE parser', () => {
  const sample = () =>
    buildPe({
      sections: [
        { data: Buffer.alloc(100, 1) },
        { data: Buffer.alloc(900, 2) },
        { data: Buffer.alloc(10, 3) },
      ],
      entry: { section: 1, offset: 0x20 },
      overlay: Buffer.from('overlay'),
    });

  it('reads sections and maps the entry point to a file offset', () => {
    const pe = sample();
    const result = parsePe(pe.bytes, pe.bytes.length);
    expect(result).toEqual({
      ok: true,
      pe: {
        pe32plus: false,
        entryPoint: pe.entryPoint,
        entryPointRva: pe.sections[1]!.rva + 0x20,
        sections: pe.sections.map((s) => ({ rva: s.rva, vsz: 0x1000, raw: s.raw, rsz: s.rawSize })),
        headerSize: 0x1000,
        resources: { rva: 0, size: 0 },
      },
    });
  });

  it('cuts a section at the end of the file and drops one past it, as ClamAV does', () => {
    const pe = sample();
    const cut = pe.sections[2]!.raw + 4;
    const result = parsePe(pe.bytes.subarray(0, cut), cut);
    expect(result.ok && result.pe.sections.map((s) => s.rsz)).toEqual([0x200, 0x400, 4]);
    const shorter = pe.sections[2]!.raw;
    const gone = parsePe(pe.bytes.subarray(0, shorter), shorter);
    expect(gone.ok && gone.pe.sections.map((s) => s.rsz)).toEqual([0x200, 0x400, 0]);
  });

  it('reads PE32+ headers', () => {
    const pe = sample();
    const bytes = Buffer.from(pe.bytes);
    const optional = 0x80 + 24;
    bytes.writeUInt16LE(0x20b, optional);
    // PE32+ moves NumberOfRvaAndSizes to 108; the same optional header size still fits 14 dirs.
    bytes.writeUInt32LE(14, optional + 108);
    const result = parsePe(bytes, bytes.length);
    expect(result.ok && result.pe.pe32plus).toBe(true);
    expect(result.ok && result.pe.sections).toHaveLength(3);
  });

  it('says why a file is no PE, without throwing', () => {
    const pe = sample().bytes;
    const reason = (bytes: Buffer) => {
      const result = parsePe(bytes, bytes.length);
      return result.ok ? 'ok' : result.reason;
    };
    expect(reason(Buffer.from('hello'))).toMatch(/MZ/);
    expect(reason(pe.subarray(0, 40))).toMatch(/truncated DOS header/);
    const edit = (at: number, write: (b: Buffer) => void) => {
      const copy = Buffer.from(pe);
      write(copy);
      return reason(copy.subarray(0, Math.max(at, 0) || copy.length));
    };
    expect(edit(0, (b) => b.writeUInt32LE(0, 0x3c))).toMatch(/e_lfanew is 0/);
    expect(edit(0, (b) => b.writeUInt32LE(PE_HEAD_BYTES * 4, 0x3c))).toMatch(/out of reach/);
    expect(edit(0, (b) => b.write('NE', 0x80, 'latin1'))).toMatch(/no PE signature/);
    expect(edit(0, (b) => b.writeUInt16LE(0, 0x86))).toMatch(/no sections/);
    expect(edit(0, (b) => b.writeUInt16LE(60, 0x94))).toMatch(/optional header too small/);
    expect(edit(0, (b) => b.writeUInt16LE(0xffff, 0x86))).toMatch(/section table out of reach/);
    expect(edit(0, (b) => b.writeUInt32LE(0x7fffffff, 0x80 + 24 + 16))).toMatch(
      /entry point is in no section/,
    );
    expect(edit(0, (b) => b.writeUInt32LE(0x90000000, 0x80 + 24 + 0xe0 + 12))).toMatch(
      /past 2 GiB/,
    );
  });
});

describe('the loader', () => {
  it('reads .ldb and .mdb/.msb files alongside the others (PUA .ldu/.mdu/.msu only on request), with their problems', () => {
    const md5 = 'd41d8cd98f00b204e9800998ecf8427e';
    const sources = [
      { file: 'a.ldb', text: `A;Target:0;0;${hex('abc')}\nBad;Target:0;0;/x/\n` },
      { file: 'b.ldu', text: `B;Target:0;0;${hex('abd')}\n` },
      { file: 'c.mdb', text: `512:${md5}:C\n` },
      { file: 'd.msb', text: `*:${md5}:D:73\n` },
      { file: 'e.mdu', text: `512:${md5}:E\n` },
      { file: 'f.msu', text: `512:${md5}:F:300\n` },
    ];
    const db = buildSignatureDatabase(sources);
    expect(db.logical.map((s) => s.name)).toEqual(['A']);
    const sectionNames = (d: typeof db) =>
      [512, 4096].flatMap((size) =>
        lookupHash(d.sectionHashes, 'md5', md5, size).map((s) => s.name),
      );
    expect(sectionNames(db)).toEqual(['C', 'D', 'D']); // D: any size
    expect(db.sectionHashes.count).toBe(2);
    expect(db.count).toBe(3);
    expect(db.problems.map((p) => [p.file, p.line])).toEqual([
      ['a.ldb', 2],
      ['f.msu', 1],
    ]);
    const withPua = buildSignatureDatabase(sources, { detectPua: true });
    expect(withPua.logical.map((s) => s.name)).toEqual(['A', 'B']);
    expect(sectionNames(withPua)).toEqual(['C', 'D', 'E', 'D']);
  });
});
