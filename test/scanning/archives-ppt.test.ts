import { readFileSync } from 'node:fs';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { ArchiveLimits } from '../../scanning/archives/index.js';
import { pptFormat } from '../../scanning/archives/formats/ppt.js';
import { DEFAULT_LIMITS, formatWorkspace } from '../support/archives.js';
import { eicar } from '../support/content.js';
import { ole2 } from '../support/ole2.js';
import {
  VBA_PROJECT_STG,
  container,
  documentStream,
  packageObject,
  presentation,
  record,
  storageRecord,
} from '../support/ppt.js';
import { CLAMAV_TESTFILES_DIR, TEST_EXECUTABLE } from '../support/test-executable-corpus.js';

// The PowerPoint handler (scanning/archives/formats/ppt.ts): the OLE2 files kept in the records
// of a presentation's `PowerPoint Document` stream are handed over as members.

const { ws, formats } = formatWorkspace();

const STREAM = 'PowerPoint Document';
const OBJECT = packageObject('eicar.com', eicar());

/** Walks a document stream as the OLE2 handler hands it over, with the PowerPoint handler only. */
const walkStream = (stream: Buffer, limits: ArchiveLimits = DEFAULT_LIMITS, name = STREAM) =>
  ws.walk(stream, name, limits, [pptFormat]);

describe('PowerPoint documents', () => {
  it('hands over each stored or compressed storage record, inside containers too', async () => {
    const vba = ole2([{ path: 'VBA/dir', data: Buffer.alloc(100, 1) }]);
    const stream = documentStream([
      storageRecord(OBJECT, { compressed: true }),
      container(0x03f8, [
        record(0x03ef, Buffer.alloc(24)),
        storageRecord(OBJECT, { compressed: false }),
      ]),
      storageRecord(vba, { compressed: true, type: VBA_PROJECT_STG }),
    ]);
    const result = await walkStream(stream);
    expect(result.unscannable).toEqual([]);
    const members = result.visited.filter((v) => v.depth === 1);
    expect(members.map((v) => [v.path, v.container, v.size])).toEqual([
      [`${STREAM}/embedded-object-1.ole`, 'ppt', OBJECT.length],
      [`${STREAM}/embedded-object-2.ole`, 'ppt', OBJECT.length],
      [`${STREAM}/vba-project-1.ole`, 'ppt', vba.length],
    ]);
    expect(members[0]?.data).toEqual(OBJECT);
    expect(members[1]?.data).toEqual(OBJECT);
    expect(members[2]?.data).toEqual(vba);
  });

  it('finds a packaged file in a presentation, through OLE2, the record and the package', async () => {
    for (const compressed of [true, false]) {
      const deck = presentation(documentStream([storageRecord(OBJECT, { compressed })]));
      const result = await ws.walk(deck, 'deck.ppt', DEFAULT_LIMITS, formats.handlers);
      expect(result.unscannable).toEqual([]);
      const found = result.visited.find((v) => v.container === 'ole-package');
      expect(found?.path).toBe(
        'deck.ppt/PowerPoint Document/embedded-object-1.ole/[1]Ole10Native/eicar.com',
      );
      expect(found?.data).toEqual(eicar());
    }
  });

  it("opens clamav-testfiles' clam.ppt down to the test executable", async () => {
    const deck = readFileSync(`${CLAMAV_TESTFILES_DIR}/clam.ppt`);
    const result = await ws.walk(deck, 'clam.ppt', DEFAULT_LIMITS, formats.handlers);
    expect(result.unscannable).toEqual([]);
    const exe = result.visited.find((v) => v.data?.equals(readFileSync(TEST_EXECUTABLE)));
    expect(exe?.path).toMatch(/^clam\.ppt\/PowerPoint Document\/embedded-object-1\.ole\//);
  });

  it('leaves other streams and other content alone', async () => {
    const stream = documentStream([storageRecord(OBJECT, { compressed: true })]);
    for (const [name, content] of [
      ['WordDocument', stream],
      ['Pictures', stream],
      ['ObjectPool/PowerPoint', stream],
      [STREAM, Buffer.from('PowerPoint Document, but only text in it\n'.repeat(20))],
      [STREAM, Buffer.alloc(2000)],
      [STREAM, Buffer.from([0x0f, 0x00])],
    ] as const) {
      const result = await walkStream(content, DEFAULT_LIMITS, name);
      expect(result.visited, name).toHaveLength(1);
      expect(result.unscannable, name).toEqual([]);
    }
    // An ordinary presentation without objects: every stream scanned, nothing unscannable.
    const plain = presentation(documentStream([]));
    const walked = await ws.walk(plain, 'plain.ppt', DEFAULT_LIMITS, formats.handlers);
    expect(walked.unscannable).toEqual([]);
    expect(walked.visited.map((v) => v.path)).not.toContainEqual(
      expect.stringMatching(/embedded-object/),
    );
    // Zero bytes after the last record (padding) are no damage.
    const padded = await walkStream(Buffer.concat([stream, Buffer.alloc(13)]));
    expect(padded.unscannable).toEqual([]);
  });

  it('reports damaged records as corrupt, never clean', async () => {
    const compressed = storageRecord(OBJECT, { compressed: true });
    const stream = documentStream([compressed]);
    const objectAt = stream.indexOf(compressed);
    const cases: Array<[string, Buffer, string[]]> = [
      [
        'cut inside the object',
        stream.subarray(0, objectAt + 60),
        [STREAM, 'embedded-object-1.ole'],
      ],
      ['cut inside a header', stream.subarray(0, objectAt + 5), [STREAM]],
      [
        'cut inside another record',
        Buffer.concat([stream, record(0x0ff5, Buffer.alloc(28))]).subarray(0, stream.length + 20),
        [STREAM],
      ],
      [
        'a record past its container',
        container(0x03e8, [record(0x03e9, Buffer.alloc(40), { length: 80 }), Buffer.alloc(20)]),
        [STREAM],
      ],
      [
        'a container cut short',
        container(0x03e8, [record(0x03e9, Buffer.alloc(40))]).subarray(0, 30),
        [STREAM],
      ],
      [
        'damaged zlib data',
        documentStream([
          record(0x1011, Buffer.from('\0\x10\0\0garbage, not zlib'), { instance: 1 }),
        ]),
        [STREAM, 'embedded-object-1.ole'],
      ],
      [
        'a size other than declared',
        documentStream([
          record(0x1011, Buffer.concat([Buffer.from([1, 0, 0, 0]), zlib.deflateSync(OBJECT)]), {
            instance: 1,
          }),
        ]),
        [STREAM, 'embedded-object-1.ole'],
      ],
      [
        'an unknown instance',
        documentStream([record(0x1011, OBJECT, { instance: 5 })]),
        [STREAM, 'embedded-object-1.ole'],
      ],
    ];
    for (const [label, content, path] of cases) {
      const result = await walkStream(content);
      expect(result.unscannable, label).toMatchObject([{ reason: 'corrupt', path }]);
    }
  });

  it('keeps an inflating object within the limits, and goes on after it', async () => {
    const zeros = Buffer.alloc(4 * 1024 ** 2);
    const stream = documentStream([
      storageRecord(zeros, { compressed: true }),
      storageRecord(OBJECT, { compressed: true }),
    ]);
    const ratio = await walkStream(stream, { ...DEFAULT_LIMITS, maxRatio: 10 });
    expect(ratio.unscannable).toMatchObject([
      { reason: 'limits-exceeded', path: [STREAM, 'embedded-object-1.ole'] },
    ]);
    expect(ratio.visited.find((v) => v.path.endsWith('embedded-object-2.ole'))?.data).toEqual(
      OBJECT,
    );
    const bytes = await walkStream(stream, { ...DEFAULT_LIMITS, maxExpandedBytes: 1024 ** 2 });
    expect(bytes.unscannable).toMatchObject([{ reason: 'limits-exceeded' }]);
  });
});
