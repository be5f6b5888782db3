import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { BuiltinEngine } from '../../scanning/builtin-engine.js';
import { EICAR_FINDING } from '../../scanning/findings.js';
import {
  compressWith,
  DEFAULT_LIMITS,
  zip,
  type Visited,
  formatWorkspace,
  builtWith,
} from '../support/archives.js';
import { eicar, randomContent } from '../support/content.js';
import { mpackMessage, uuencoded } from '../support/mail-formats.js';
import { appendUpdate, flateStream, qpdf, writePdf } from '../support/pdf.js';
import { storedRar } from '../support/rar.js';
import { ole1Object, packageNative, rtfWithObject } from '../support/rtf.js';
import {
  TEST_EXECUTABLE,
  TEST_EXECUTABLE_FINDING,
  testExecutableDatabase,
} from '../support/test-executable-corpus.js';

// Past an archive's end (issue 19, item 3): what follows the end of a container 7-Zip opens —
// a second archive, appended data — is scanned as `(after the <format> data)`, the way gzip
// and tar are read past their ends. Each archive is written by the tool a user would use.

const { ws, formats } = formatWorkspace();

const TEXT = Buffer.from('plain text, nothing to see\n'.repeat(20));

/** An archive format: the handler that opens it, and how an archive of one file is written. */
interface Container {
  format: string;
  /** The archive holding `name` with `data`. */
  around(name: string, data: Buffer): Buffer;
}

const tool =
  (format: string, command: (name: string) => string): Container['around'] =>
  (name, data) =>
    builtWith({ [name]: data }, command(name), `t.${format}`);

const CONTAINERS: Container[] = [
  { format: '7z', around: tool('7z', (name) => `7z a -bd t.7z ${name}`) },
  { format: 'rar', around: (name, data) => storedRar([{ name, data }]) },
  { format: 'cab', around: tool('cab', (name) => `gcab -c t.cab ${name}`) },
  { format: 'arj', around: tool('arj', (name) => `arj a t.arj ${name}`) },
  {
    format: 'cpio',
    around: tool('cpio', (name) => `echo ${name} | cpio --quiet -o -H newc > t.cpio`),
  },
  {
    format: 'cpio',
    around: tool('cpio', (name) => `echo ${name} | cpio --quiet -o -H odc > t.cpio`),
  },
  {
    format: 'cpio',
    around: tool('cpio', (name) => `echo ${name} | cpio --quiet -o -H bin > t.cpio`),
  },
  {
    format: 'iso',
    around: tool('iso', (name) => `mkdir r && cp ${name} r && genisoimage -quiet -o t.iso r`),
  },
  { format: 'wim', around: tool('wim', (name) => `7z a -bd -twim t.wim ${name}`) },
  {
    format: 'ole2',
    around: tool('ole2', (name) => `msibuild t.ole2 -s T && msibuild t.ole2 -a Binary.b ${name}`),
  },
  {
    // An NSIS installer: a PE stub with its data after the image (the `sfx` handler).
    format: 'sfx',
    around: tool(
      'sfx',
      (name) =>
        `printf 'OutFile "t.sfx"\\nRequestExecutionLevel user\\nSection\\nSetOutPath $TEMP\\nFile ${name}\\nSectionEnd\\n' > s.nsi && makensis -V1 s.nsi`,
    ),
  },
];

/** A one-page PDF as qpdf writes it, then an incremental update holding `data` in a stream. */
function updatedPdf(data: Buffer): Buffer {
  const page = writePdf([
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>',
  ]);
  const pdf = qpdf(page, ['--object-streams=disable']);
  expect(pdf.toString('latin1')).toMatch(/%%EOF\s*$/);
  return appendUpdate(pdf, 100, [flateStream(data)]);
}

/**
 * Formats with no archive end to read past: a mail after its closing boundary, an RTF after its
 * closing brace, HTML, uuencoded text, a PDF after its last `%%EOF`.
 */
const DOCUMENTS: Array<[string, () => Buffer]> = [
  ['mail.eml', () => mpackMessage('readme.txt', TEXT)],
  ['doc.rtf', () => Buffer.from('{\\rtf1\\ansi plain text}\n')],
  ['page.html', () => Buffer.from('<html><body><p>plain text</p></body></html>\n')],
  ['text.uu', () => uuencoded('readme.txt', TEXT)],
  ['doc.pdf', () => updatedPdf(TEXT)],
];

const walk = (content: Buffer, name: string) =>
  ws.walk(content, name, DEFAULT_LIMITS, formats.handlers);

/** Whether a member at or under `prefix` holds exactly `data`. */
const holds = (visited: Visited[], prefix: string, data: Buffer) =>
  visited.some(
    (v) => (v.path === prefix || v.path.startsWith(`${prefix}/`)) && v.data?.equals(data),
  );

describe('what follows the end of an archive 7-Zip opens', () => {
  it.each(CONTAINERS.map((c) => [c.format, c] as const))(
    '%s: data, a second archive or a zip after it is scanned as (after the … data)',
    async (format, container) => {
      const clean = container.around('readme.txt', TEXT);
      const after = `t.${format}/(after the ${format} data)`;
      const tails: Array<[string, Buffer]> = [
        ['appended bytes', eicar()],
        ['a second archive', container.around('eicar.com', eicar())],
        ['a zip', await zip([{ name: 'eicar.com', data: eicar() }])],
      ];
      for (const [, tail] of tails) {
        const result = await walk(Buffer.concat([clean, tail]), `t.${format}`);
        expect(result.unscannable).toEqual([]);
        // The first archive still reads as itself.
        expect(holds(result.visited, `t.${format}`, TEXT)).toBe(true);
        expect(holds(result.visited, after, eicar())).toBe(true);
      }
    },
  );

  it.each(CONTAINERS.map((c) => [c.format, c] as const))(
    '%s: two clean archives back to back are clean, both read',
    async (format, container) => {
      const clean = container.around('readme.txt', TEXT);
      const result = await walk(Buffer.concat([clean, clean]), `t.${format}`);
      expect(result.unscannable).toEqual([]);
      expect(holds(result.visited, `t.${format}/(after the ${format} data)`, TEXT)).toBe(true);
      expect(result.visited.some((v) => v.data?.includes(eicar()))).toBe(false);
    },
  );

  it('reads what 7-Zip itself stops before, and what it warns of', () => {
    const first = builtWith({ 'readme.txt': TEXT }, '7z a -bd a.7z readme.txt', 'a.7z');
    const second = builtWith({ 'eicar.com': eicar() }, '7z a -bd b.7z eicar.com', 'b.7z');
    const listing = builtWith(
      { 'two.7z': Buffer.concat([first, second]) },
      '7z l -slt two.7z > listing.txt; true',
      'listing.txt',
    ).toString();
    // 7-Zip lists the first archive only and says how many bytes follow it.
    expect(listing).toContain('There are data after the end of archive');
    expect(listing).toContain(`Tail Size = ${second.length}`);
    expect(listing).toContain('Path = readme.txt');
    expect(listing).not.toContain('Path = eicar.com');
  });

  it('scans past the end of an archive whose members are all encrypted', async () => {
    const locked = builtWith({ 'readme.txt': TEXT }, '7z a -bd -psecret t.7z readme.txt', 't.7z');
    const result = await walk(Buffer.concat([locked, eicar()]), 't.7z');
    expect(result.unscannable).toMatchObject([
      { reason: 'encrypted', path: ['t.7z', 'readme.txt'] },
    ]);
    expect(holds(result.visited, 't.7z/(after the 7z data)', eicar())).toBe(true);
  });

  it('opens archives chained back to back one level deeper each, up to the depth limit', async () => {
    const sevenZip = (name: string, data: Buffer) =>
      builtWith({ [name]: data }, `7z a -bd t.7z ${name}`, 't.7z');
    const clean = sevenZip('readme.txt', TEXT);
    const chain = Buffer.concat([clean, clean, clean, sevenZip('eicar.com', eicar())]);
    const deep = await walk(chain, 'chain.7z');
    expect(deep.unscannable).toEqual([]);
    const after = '(after the 7z data)';
    expect(holds(deep.visited, `chain.7z/${after}/${after}/${after}`, eicar())).toBe(true);
    const shallow = await ws.walk(
      chain,
      'chain.7z',
      { ...DEFAULT_LIMITS, maxDepth: 2 },
      formats.handlers,
    );
    expect(shallow.unscannable).toMatchObject([
      { reason: 'limits-exceeded', path: ['chain.7z', after, after] },
    ]);
  });

  it('counts what follows the end once: not against the member limit', async () => {
    const sevenZip = CONTAINERS[0]?.around('readme.txt', TEXT) ?? Buffer.alloc(0);
    const limits = { ...DEFAULT_LIMITS, maxMembers: 1 };
    const result = await ws.walk(
      Buffer.concat([sevenZip, eicar()]),
      't.7z',
      limits,
      formats.handlers,
    );
    expect(result.unscannable).toEqual([]);
    expect(holds(result.visited, 't.7z/(after the 7z data)', eicar())).toBe(true);
  });

  it('ignores zero padding after the end, as it ignores it after gzip', async () => {
    const cab = CONTAINERS[2]?.around('readme.txt', TEXT) ?? Buffer.alloc(0);
    const result = await walk(Buffer.concat([cab, Buffer.alloc(4096)]), 't.cab');
    expect(result.unscannable).toEqual([]);
    expect(result.visited.map((v) => v.path).sort()).toEqual(['t.cab', 't.cab/readme.txt']);
  });

  it('scans past the end of an archive nested in another (no zip sweep there)', async () => {
    const sevenZip = CONTAINERS[0]?.around('readme.txt', TEXT) ?? Buffer.alloc(0);
    const inner = Buffer.concat([sevenZip, await zip([{ name: 'eicar.com', data: eicar() }])]);
    const outer = await zip([{ name: 'inner.7z', data: inner }]);
    const result = await walk(outer, 'outer.zip');
    expect(result.unscannable).toEqual([]);
    expect(holds(result.visited, 'outer.zip/inner.7z/(after the 7z data)', eicar())).toBe(true);
  });

  it('opens a zip right after an archive once, not again from the file’s end', async () => {
    const sevenZip = CONTAINERS[0]?.around('readme.txt', TEXT) ?? Buffer.alloc(0);
    const content = Buffer.concat([sevenZip, await zip([{ name: 'eicar.com', data: eicar() }])]);
    const result = await walk(content, 't.7z');
    const found = result.visited.filter((v) => v.data?.equals(eicar())).map((v) => v.path);
    expect(found).toEqual(['t.7z/(after the 7z data)/eicar.com']);
  });

  it('reads a PDF’s incremental update after %%EOF (every object, start to end)', async () => {
    const updated = updatedPdf(eicar());
    const check = builtWith({ 'u.pdf': updated }, 'qpdf --check u.pdf > check.txt', 'check.txt');
    expect(check.toString()).toContain('No syntax or stream encoding errors');
    const result = await walk(updated, 'updated.pdf');
    expect(result.unscannable).toEqual([]);
    expect(holds(result.visited, 'updated.pdf', eicar())).toBe(true);
  });
});

describe('documents read to the end of the file, past their own end', () => {
  it('reads an object in an RTF group after the closing brace', async () => {
    const object = rtfWithObject(ole1Object('Package', packageNative('e.com', eicar())));
    const content = Buffer.concat([Buffer.from('{\\rtf1\\ansi plain text}\n'), object]);
    const result = await walk(content, 'after.rtf');
    expect(result.unscannable).toEqual([]);
    expect(result.visited.find((v) => v.path === 'after.rtf/e.com')?.data).toEqual(eicar());
  });

  it('reads a data URI after </html> (browsers parse on)', async () => {
    const uri = `data:application/octet-stream;base64,${eicar().toString('base64')}`;
    const content = Buffer.from(
      `<html><body><p>plain text</p></body></html>\n<a href="${uri}">x</a>\n`,
    );
    const result = await walk(content, 'after.html');
    expect(result.unscannable).toEqual([]);
    expect(holds(result.visited, 'after.html', eicar())).toBe(true);
  });
});

describe('a zip after a document or mail (the sweep of the uploaded file)', () => {
  it.each(DOCUMENTS)('%s: the zip is opened, a clean one is clean', async (name, document) => {
    const before = document();
    const payload = await zip([{ name: 'eicar.com', data: eicar() }]);
    const result = await walk(Buffer.concat([before, payload]), name);
    expect(result.unscannable).toEqual([]);
    expect(result.visited.find((v) => v.path === `${name}/eicar.com`)?.data).toEqual(eicar());
    const clean = await walk(
      Buffer.concat([before, await zip([{ name: 'readme.txt', data: TEXT }])]),
      name,
    );
    expect(clean.unscannable).toEqual([]);
    expect(clean.visited.some((v) => v.data?.includes(eicar()))).toBe(false);
  });
});

describe('what follows the last bzip2 or xz stream', () => {
  const STREAMS = [
    ['bzip2', 'bz2'],
    ['xz', 'xz'],
  ] as const;
  const pack = (tool: string, data: Buffer) => compressWith(tool, ['-c'], data);
  /** What the tool's own decompressor hands out of `content` (stdout, whatever its exit code). */
  const decompressed = (tool: string, content: Buffer) =>
    execFileSync('sh', ['-c', `${tool} -dc 2>/dev/null; true`], { input: content });

  it.each(STREAMS)(
    '%s: appended bytes or an archive after the streams are scanned, the streams still read',
    async (tool, suffix) => {
      const sevenZip = CONTAINERS[0]?.around('eicar.com', eicar()) ?? Buffer.alloc(0);
      for (const streams of [
        pack(tool, TEXT),
        Buffer.concat([pack(tool, TEXT), pack(tool, TEXT)]),
      ]) {
        for (const tail of [eicar(), sevenZip, await zip([{ name: 'eicar.com', data: eicar() }])]) {
          const content = Buffer.concat([streams, tail]);
          const result = await walk(content, `t.${suffix}`);
          expect(result.unscannable).toEqual([]);
          expect(result.visited.find((v) => v.path === 't.' + suffix + '/t')?.data).toEqual(
            Buffer.concat(streams.length > pack(tool, TEXT).length ? [TEXT, TEXT] : [TEXT]),
          );
          expect(holds(result.visited, `t.${suffix}/(after the ${tool} data)`, eicar())).toBe(true);
        }
      }
    },
  );

  it('bzip2: what bzcat hands out and ignores', () => {
    const content = Buffer.concat([pack('bzip2', TEXT), eicar()]);
    // bzcat decodes the stream and ignores the rest ("trailing garbage after EOF ignored").
    expect(decompressed('bzip2', content)).toEqual(TEXT);
  });

  it.each(STREAMS)('%s: zero padding after the streams is nothing', async (tool, suffix) => {
    for (const zeros of [3, 8, 4096]) {
      const content = Buffer.concat([pack(tool, TEXT), Buffer.alloc(zeros)]);
      const result = await walk(content, `t.${suffix}`);
      expect(result.unscannable).toEqual([]);
      expect(result.visited.map((v) => v.path)).toEqual([`t.${suffix}`, `t.${suffix}/t`]);
    }
  });

  it.each(STREAMS)('%s: finds the end of a stream of several MiB', async (tool, suffix) => {
    const large = Buffer.from(randomContent(1536 * 1024).toString('base64'));
    const content = Buffer.concat([pack(tool, large), eicar()]);
    const result = await walk(content, `t.${suffix}`);
    expect(result.unscannable).toEqual([]);
    expect(result.visited.find((v) => v.path === `t.${suffix}/t`)?.length).toBe(large.length);
    expect(holds(result.visited, `t.${suffix}/(after the ${tool} data)`, eicar())).toBe(true);
  });

  it.each(STREAMS)('%s: a stream cut short is still corrupt', async (tool, suffix) => {
    const whole = pack(tool, Buffer.from(randomContent(20_000).toString('base64')));
    const result = await walk(whole.subarray(0, whole.length - 40), `t.${suffix}`);
    expect(result.unscannable.map((u) => u.reason)).toContain('corrupt');
  });
});

describe('the built-in engine alone, past the end of an archive', () => {
  let dir: string;
  let engine: BuiltinEngine;
  let seq = 0;
  const scan = async (content: Buffer, name: string) => {
    const file = join(dir, `content-${++seq}`);
    await writeFile(file, content);
    return engine.scan({ path: file, size: content.length, name });
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'arbiter-endmark-engine-'));
    mkdirSync(join(dir, 'sigs'));
    await writeFile(join(dir, 'sigs', 'test.hdb'), await testExecutableDatabase());
    engine = await BuiltinEngine.load(join(dir, 'sigs'), createLogger('silent'), {
      scratchDir: join(dir, 'scratch'),
    });
  });
  afterAll(async () => {
    await engine.close();
    await rm(dir, { recursive: true, force: true });
  });

  it.each(CONTAINERS.map((c) => [c.format, c] as const))(
    '%s: finds the test executable appended or in a second archive, EICAR in a zip after it',
    async (format, container) => {
      const exe = readFileSync(TEST_EXECUTABLE);
      const clean = container.around('readme.txt', TEXT);
      const appended = await scan(Buffer.concat([clean, exe]), `a.${format}`);
      expect(appended.findings).toEqual([TEST_EXECUTABLE_FINDING]);
      const second = container.around('clam.exe', exe);
      const twice = await scan(Buffer.concat([clean, second]), `b.${format}`);
      expect(twice.findings).toEqual([TEST_EXECUTABLE_FINDING]);
      const zipped = await zip([{ name: 'eicar.com', data: eicar() }]);
      const withZip = await scan(Buffer.concat([clean, zipped]), `c.${format}`);
      expect(withZip.findings).toEqual([EICAR_FINDING]);
      const bothClean = await scan(Buffer.concat([clean, clean]), `d.${format}`);
      expect(bothClean.findings).toEqual([]);
    },
  );

  it('finds the test executable after a bzip2 or xz stream, and none after a clean one', async () => {
    const exe = readFileSync(TEST_EXECUTABLE);
    for (const tool of ['bzip2', 'xz']) {
      const stream = compressWith(tool, ['-c'], TEXT);
      const appended = await scan(Buffer.concat([stream, exe]), `a.${tool}`);
      expect(appended.findings).toEqual([TEST_EXECUTABLE_FINDING]);
      const clean = await scan(Buffer.concat([stream, TEXT]), `b.${tool}`);
      expect(clean.findings).toEqual([]);
    }
  });

  it.each(DOCUMENTS)('%s: finds the test executable in a zip after it', async (name, document) => {
    const exe = readFileSync(TEST_EXECUTABLE);
    const zipped = await zip([{ name: 'clam.exe', data: exe }]);
    const found = await scan(Buffer.concat([document(), zipped]), name);
    expect(found.findings).toEqual([TEST_EXECUTABLE_FINDING]);
  });

  it('finds the test executable in a PDF’s incremental update', async () => {
    const exe = readFileSync(TEST_EXECUTABLE);
    const updated = updatedPdf(exe);
    expect((await scan(updated, 'updated.pdf')).findings).toEqual([TEST_EXECUTABLE_FINDING]);
    expect((await scan(updatedPdf(TEXT), 'clean.pdf')).findings).toEqual([]);
  });
});
