import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RtfReader, rtfFormat, type RtfEvent } from '../../scanning/archives/formats/rtf.js';
import { DEFAULT_LIMITS, Workspace, zip } from '../support/archives.js';
import { eicar } from '../support/content.js';
import { ole1Object, packageNative, rtfWithBin, rtfWithObject } from '../support/rtf.js';
import { CLAMAV_TESTFILES_DIR, TEST_EXECUTABLE } from '../support/test-executable-corpus.js';

// The RTF handler (scanning/archives/formats/rtf.ts) through the walker: embedded objects'
// payloads and \bin runs become members; hostile input costs neither memory nor time.

const ws = new Workspace();
afterAll(() => ws.remove());
afterEach(() => expect(ws.scratchFiles()).toEqual([]));

const clamExe = readFileSync(TEST_EXECUTABLE);
const sha1 = (data: Buffer) => createHash('sha1').update(data).digest('hex');

async function members(content: Buffer, limits = DEFAULT_LIMITS) {
  const result = await ws.walk(content, 'doc.rtf', limits, [rtfFormat]);
  const found = new Map(
    result.visited.filter((v) => v.depth === 1).map((v) => [v.path.slice('doc.rtf/'.length), v]),
  );
  return { result, found };
}

describe('RTF documents', () => {
  it('extracts the packaged file of ClamAV’s own clam.exe.rtf under its name', async () => {
    const { result, found } = await members(readFileSync(`${CLAMAV_TESTFILES_DIR}/clam.exe.rtf`));
    expect(result.unscannable).toEqual([]);
    expect([...found.keys()]).toEqual(['clam.exe']);
    expect(found.get('clam.exe')).toMatchObject({ sha1: sha1(clamExe), container: 'rtf' });
  });

  it('extracts a Package object whatever the spacing of its hex', async () => {
    const objdata = ole1Object('Package', packageNative('invoice.exe', clamExe));
    for (const options of [{}, { separator: ' \t\r\n ', lineLength: 1 }, { lineLength: 7 }]) {
      const { result, found } = await members(rtfWithObject(objdata, options));
      expect(result.unscannable).toEqual([]);
      expect(found.get('invoice.exe')?.sha1).toBe(sha1(clamExe));
    }
  });

  it('scans the native data of other objects, and object data without an OLE1 header', async () => {
    const other = await members(rtfWithObject(ole1Object('Word.Document.8', eicar())));
    expect(other.found.get('object-1-Word.Document.8.bin')?.data).toEqual(eicar());
    const bare = await members(rtfWithObject(clamExe));
    expect(bare.found.get('object-1.bin')?.sha1).toBe(sha1(clamExe));
  });

  it('takes \\bin runs as binary data, inside an object or on their own', async () => {
    const alone = await members(rtfWithBin(clamExe));
    expect(alone.found.get('bin-1.bin')?.sha1).toBe(sha1(clamExe));

    const objdata = ole1Object('Package', packageNative('mixed.exe', clamExe));
    const half = Math.floor(objdata.length / 2);
    const rest = objdata.subarray(half);
    const mixed = Buffer.concat([
      Buffer.from(`{\\rtf1{\\object{\\*\\objdata ${objdata.subarray(0, half).toString('hex')}`),
      Buffer.from(`\\bin${rest.length} `),
      rest,
      Buffer.from('}}}'),
    ]);
    const { result, found } = await members(mixed);
    expect(result.unscannable).toEqual([]);
    expect([...found.keys()]).toEqual(['mixed.exe']);
    expect(found.get('mixed.exe')?.sha1).toBe(sha1(clamExe));
  });

  it('reads the same tokens whatever the chunks the document arrives in', () => {
    const doc = Buffer.concat([
      rtfWithObject(ole1Object('Package', packageNative('a.exe', clamExe))).subarray(0, -4),
      Buffer.from('{\\*\\x\\bin3 \x00}\x01}\\objdata'),
    ]);
    const whole = summarize(readAll(doc, doc.length));
    expect(summarize(readAll(doc, 1))).toEqual(whole);
    expect(summarize(readAll(doc, 5))).toEqual(whole);
    expect(whole.map((e) => e.kind)).toEqual([
      'object-start',
      'object-data',
      'object-end',
      'bin-start',
      'bin-data',
      'bin-end',
      'object-start',
      'object-end',
    ]);
  });

  it('scans what an unfinished object holds, and opens RTF inside other containers', async () => {
    const cut = rtfWithObject(ole1Object('Package', packageNative('cut.exe', clamExe)));
    const truncated = cut.subarray(0, cut.indexOf('{\\result'));
    const { found } = await members(truncated);
    expect(found.get('cut.exe')?.sha1).toBe(sha1(clamExe));

    const zipped = await zip([{ name: 'letter.rtf', data: rtfWithBin(eicar()) }]);
    const walked = await ws.walk(zipped, 'mail.zip', DEFAULT_LIMITS, [rtfFormat]);
    expect(walked.visited.map((v) => `${v.path}@${v.container ?? '-'}`)).toContain(
      'mail.zip/letter.rtf/bin-1.bin@rtf',
    );
  });

  it('survives hostile documents: unbalanced braces, endless hex, huge \\bin claims', async () => {
    const braces = Buffer.concat([
      Buffer.from('{\\rtf1'),
      Buffer.alloc(2_000_000, '{'),
      Buffer.alloc(2_000_000, '}'),
      Buffer.alloc(1000, '}'),
    ]);
    expect((await members(braces)).result.unscannable).toEqual([]);

    const endless = Buffer.concat([
      Buffer.from('{\\rtf1{\\*\\objdata '),
      Buffer.alloc(16 * 1024 * 1024, '4'),
    ]);
    const hex = await members(endless);
    expect(hex.found.get('object-1.bin')?.length).toBe(8 * 1024 * 1024);

    const claim = await members(Buffer.from('{\\rtf1{\\bin9999999999 only a few bytes}}'));
    expect(claim.found.get('bin-1.bin')?.data?.toString()).toBe('only a few bytes}}');
  });

  it('counts objects against the member limit', async () => {
    const object = `{\\object{\\*\\objdata ${ole1Object('Package', packageNative('x.exe', eicar())).toString('hex')}}}`;
    const many = Buffer.from(`{\\rtf1${object.repeat(10)}}`);
    const limited = await members(many, { ...DEFAULT_LIMITS, maxMembers: 3 });
    expect(limited.result.visited.filter((v) => v.depth === 1)).toHaveLength(3);
    expect(limited.result.unscannable).toMatchObject([{ reason: 'limits-exceeded' }]);
  });

  it('recognises `{\\rt` at the start only', async () => {
    const { found } = await members(
      Buffer.concat([Buffer.from('\xef\xbb\xbf', 'latin1'), rtfWithBin(eicar())]),
    );
    expect(found.get('bin-1.bin')?.data).toEqual(eicar());
    for (const plain of [
      '{"rtf": "\\\\bin4 abcd"}',
      ' {\\rtf1 {\\bin4 abcd}}',
      'Notes on {\\rtf1',
    ]) {
      const result = await ws.walk(Buffer.from(plain), 'notes.txt', DEFAULT_LIMITS, [rtfFormat]);
      expect(result.visited, plain).toHaveLength(1);
    }
  });
});

function readAll(doc: Buffer, chunk: number): RtfEvent[] {
  const reader = new RtfReader();
  const events: RtfEvent[] = [];
  for (let at = 0; at < doc.length; at += chunk)
    events.push(...reader.read(doc.subarray(at, at + chunk)));
  events.push(...reader.finish());
  return events;
}

/** Events with consecutive data joined (chunking splits data differently). */
function summarize(events: RtfEvent[]): Array<{ kind: string; data?: string; size?: number }> {
  const out: Array<{ kind: string; data?: string; size?: number }> = [];
  for (const event of events) {
    const last = out.at(-1);
    if ('data' in event && last?.kind === event.kind) last.data += event.data.toString('hex');
    else if ('data' in event) out.push({ kind: event.kind, data: event.data.toString('hex') });
    else out.push({ ...event });
  }
  return out;
}
