import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { OvbaDecompressor, vbaFormat } from '../../scanning/archives/formats/vba.js';
import { BuiltinEngine } from '../../scanning/builtin-engine.js';
import { DEFAULT_LIMITS, Workspace, zip } from '../support/archives.js';
import { moduleStream } from '../support/vba.js';

// The VBA handler (scanning/archives/formats/vba.ts): a module stream handed over by an OLE2
// handler has its compressed source decompressed and scanned.

const ws = new Workspace();
afterAll(() => ws.remove());
afterEach(() => expect(ws.scratchFiles()).toEqual([]));

const SOURCE =
  'Attribute VB_Name = "Module1"\r\nSub AutoOpen()\r\n  Shell "cmd /c payload-marker-5150"\r\nEnd Sub\r\n';

describe('VBA module streams', () => {
  it('decompresses the example of [MS-OVBA] 3.2 (literal and copy tokens)', () => {
    const container = Buffer.from(
      '012fb00023616161626364658266007061676869' +
        '6a013808616b6c00306d6e6f700671027004107273747576107778797a003c',
      'hex',
    );
    const expected = '#aaabcdefaaaaghijaaaaaklaaamnopqaaaaaaaaaaaarstuvwxyzaaa';
    const whole = new OvbaDecompressor();
    expect(Buffer.concat([whole.write(container.subarray(1)), whole.end()]).toString()).toBe(
      expected,
    );
    const piecewise = new OvbaDecompressor();
    const parts = [...container.subarray(1)].map((byte) => piecewise.write(Buffer.from([byte])));
    expect(Buffer.concat([...parts, piecewise.end()]).toString()).toBe(expected);
  });

  it('finds the source after the p-code, in a stream named …/VBA/<module>', async () => {
    const long = `${SOURCE}${"' a comment line to make the source span chunks\r\n".repeat(200)}`;
    for (const name of ['Macros/VBA/Module1', '_VBA_PROJECT_CUR/VBA/ThisWorkbook', 'VBA/Sheet1']) {
      const result = await ws.walk(moduleStream(long), name, DEFAULT_LIMITS, [vbaFormat]);
      expect(result.unscannable).toEqual([]);
      const source = result.visited.find((v) => v.path === `${name}/source.vba`);
      expect(source?.length, name).toBe(long.length);
      expect(source?.container).toBe('vba');
    }
    const zipped = await zip([{ name: 'Macros/VBA/Module1', data: moduleStream(SOURCE) }]);
    const nested = await ws.walk(zipped, 'doc.zip', DEFAULT_LIMITS, [vbaFormat]);
    expect(nested.visited.find((v) => v.path.endsWith('/source.vba'))?.data?.toString()).toBe(
      SOURCE,
    );
  });

  it('leaves streams alone that are not in a VBA storage or hold no source', async () => {
    for (const [name, content] of [
      ['Module1', moduleStream(SOURCE)],
      ['Macros/VBA/_VBA_PROJECT', Buffer.from([0xcc, 0x61, 0xff, 0xff, 0x00, 0x00])],
      ['notes.txt', Buffer.from('Attribute VB_Name = "x"')],
    ] as const) {
      const result = await ws.walk(content, name, DEFAULT_LIMITS, [vbaFormat]);
      expect(result.visited, name).toHaveLength(1);
    }
  });

  it('survives damaged containers: bad tokens, cut chunks, endless headers', async () => {
    const stream = moduleStream(SOURCE);
    const start = stream.length - (SOURCE.length + Math.ceil(SOURCE.length / 8) + 3);
    const cut = stream.subarray(0, start + 40);
    const result = await ws.walk(cut, 'VBA/Module1', DEFAULT_LIMITS, [vbaFormat]);
    expect(result.unscannable).toEqual([]);
    expect(result.visited.find((v) => v.path.endsWith('source.vba'))?.data?.toString()).toMatch(
      /^Attribute VB_N/,
    );
    const hostile = Buffer.concat([
      stream.subarray(0, start + 14),
      Buffer.alloc(200_000, 0xff), // copy tokens pointing far before the chunk
    ]);
    const walked = await ws.walk(hostile, 'VBA/Module1', DEFAULT_LIMITS, [vbaFormat]);
    expect(walked.unscannable).toEqual([]);
  });

  it('lets the built-in engine match signatures on the decompressed source', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'arbiter-vba-'));
    try {
      await mkdir(path.join(dir, 'db'));
      const marker = Buffer.from('payload-marker-5150').toString('hex');
      await writeFile(path.join(dir, 'db', 'macro.ndb'), `Test.Macro-Marker:0:*:${marker}\n`);
      const engine = await BuiltinEngine.load(path.join(dir, 'db'), createLogger('silent'));
      const stream = moduleStream(SOURCE);
      // Compressed, the marker is cut by flag bytes: only the decoded source holds it whole.
      expect(stream.includes('payload-marker-5150')).toBe(false);
      const content = await zip([{ name: 'word/VBA/Module1', data: stream }]);
      await writeFile(path.join(dir, 'macro.zip'), content);
      const verdict = await engine.scan({
        path: path.join(dir, 'macro.zip'),
        size: content.length,
        name: 'macro.zip',
      });
      await engine.close();
      expect(verdict.findings).toEqual(['content.malicious.test.macro-marker']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
