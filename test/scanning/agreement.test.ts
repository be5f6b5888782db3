import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { BuiltinEngine } from '../../scanning/builtin-engine.js';
import { ClamdEngine } from '../../scanning/clamd-engine.js';
import type { EngineVerdict } from '../../scanning/engine.js';
import { EICAR_FINDING } from '../../scanning/findings.js';
import {
  craftedZip,
  localRecord,
  localRecords,
  overlappingZip,
  rawEntry,
  streamedZip,
} from '../support/archives.js';
import { startTestClamd, type TestClamd } from '../support/clamd.js';
import { eicar } from '../support/content.js';
import {
  SIGNATURES_DIR,
  generateCorpus,
  verdictClass,
  writeCorpus,
  type CorpusItem,
  type VerdictClass,
} from '../support/corpus.js';

/**
 * Zips laid out as no archiver writes them, which the built-in engine reads further than clamd
 * 1.4.6 does (docs/engines.md, "What the walker reads in a zip"). clamd, run on the same files,
 * reports each of them clean: it does not scan a member only a local header describes, and does
 * not flag these overlapping entries. They are labelled with what clamd gives, so the gap stays
 * documented and the test notices the day clamd closes it.
 */
async function zipLayoutItems(): Promise<CorpusItem[]> {
  const hidden = rawEntry('hidden.com', eicar());
  const listed = rawEntry('readme.txt', Buffer.from('nothing to see here'));
  const first = localRecords([hidden, listed]);
  const around = [
    rawEntry('a.txt', Buffer.from('first')),
    hidden,
    rawEntry('b.txt', Buffer.from('last')),
  ];
  const between = localRecords(around);
  const quotedInner = rawEntry('inner.txt', Buffer.from('quoted '.repeat(500)));
  const prefix = Buffer.from('outer text before the quoted entry\n');
  const outer = rawEntry(
    'outer.txt',
    Buffer.concat([prefix, localRecord(quotedInner), Buffer.from('and after\n')]),
    0,
  );
  const localOnly: Pick<CorpusItem, 'expected' | 'clamdExpected' | 'findings'> = {
    expected: 'infected',
    clamdExpected: 'clean',
    findings: [EICAR_FINDING],
  };
  const overlap: Pick<CorpusItem, 'expected' | 'clamdExpected'> = {
    expected: 'unscannable',
    clamdExpected: 'clean',
  };
  return [
    {
      name: 'zip-layout/local-only-eicar-first.zip',
      content: craftedZip(first.bytes, [{ ...listed, offset: first.offsets[1] ?? 0 }]),
      ...localOnly,
      note: 'deflated EICAR under a local header the central directory leaves out',
    },
    {
      name: 'zip-layout/local-only-eicar-between.zip',
      content: craftedZip(between.bytes, [
        { ...around[0]!, offset: between.offsets[0] ?? 0 },
        { ...around[2]!, offset: between.offsets[2] ?? 0 },
      ]),
      ...localOnly,
      note: 'the same, between two listed members',
    },
    {
      name: 'zip-layout/overlap-1000-entries.zip',
      content: overlappingZip(1000, 1024 ** 2),
      ...overlap,
      note: '1,000 entries sharing 1 MiB of deflated zeros: 1 GB from 60 KB',
    },
    {
      name: 'zip-layout/quoted-overlap.zip',
      content: craftedZip(localRecord(outer), [
        { ...outer, offset: 0 },
        { ...quotedInner, offset: 30 + outer.name.length + prefix.length },
      ]),
      ...overlap,
      note: "an entry's local header inside another entry's stored data",
    },
    {
      name: 'zip-layout/streamed.zip',
      content: await streamedZip([
        { name: 'a.txt', data: Buffer.from('streamed '.repeat(1000)) },
        { name: 'b.txt', data: Buffer.from('with data descriptors') },
      ]),
      expected: 'clean',
      note: 'an ordinary zip with data descriptors: both engines agree',
    },
  ];
}

/**
 * The agreement test (docs/engines.md, "Without clamd: the warning"): the same committed signature folder loaded by the built-in
 * engine (walking archives) and by a real clamd, the whole generated corpus through both. Every
 * item must get the same verdict class from both engines, except where the corpus documents a
 * clamd gap (`clamdExpected`), where the built-in engine must still give the labelled class.
 * Unscannable content is never clean in either engine (clamd runs with AlertExceedsMax and
 * AlertEncrypted; see test/support/clamd.ts).
 */
describe('the built-in engine and clamd agree on the generated corpus', () => {
  let clamd: TestClamd;
  let dir: string;
  let builtin: BuiltinEngine;
  let clamdEngine: ClamdEngine;
  let outcomes: Array<{
    item: CorpusItem & { path: string };
    builtin: EngineVerdict;
    clamd: EngineVerdict;
  }>;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-agreement-'));
    const logger = createLogger('silent');
    const [started, items] = await Promise.all([
      startTestClamd(),
      generateCorpus().then(async (corpus) =>
        writeCorpus(path.join(dir, 'corpus'), [...corpus, ...(await zipLayoutItems())]),
      ),
    ]);
    clamd = started;
    builtin = await BuiltinEngine.load(SIGNATURES_DIR, logger, {
      scratchDir: path.join(dir, 'scratch'),
    });
    clamdEngine = await ClamdEngine.create(
      { address: clamd.unixAddress, timeoutMs: 20_000, poolSize: 4 },
      logger,
    );
    // The built-in engine runs alongside clamd; two at a time keeps both cores busy.
    const results: typeof outcomes = [];
    const queue = [...items];
    const scanNext = async (): Promise<void> => {
      for (let item = queue.shift(); item; item = queue.shift()) {
        const target = {
          path: item.path,
          size: item.content.length,
          name: path.basename(item.path),
        };
        const [fromBuiltin, fromClamd] = await Promise.all([
          builtin.scan(target),
          clamdEngine.scan(target),
        ]);
        results.push({ item, builtin: fromBuiltin, clamd: fromClamd });
      }
    };
    await Promise.all([scanNext(), scanNext(), scanNext()]);
    outcomes = results.sort((a, b) => (a.item.name < b.item.name ? -1 : 1));
  }, 120_000);

  afterAll(async () => {
    await clamdEngine?.close();
    await clamd?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const describeOutcome = (label: string, expected: VerdictClass, verdict: EngineVerdict) =>
    `${label}: expected ${expected}, got ${verdictClass(verdict.findings)} [${verdict.findings.join(', ')}]`;

  it('covers the whole corpus, every class included', () => {
    expect(outcomes.length).toBeGreaterThan(190);
    const classes = new Set(outcomes.map((o) => o.item.expected));
    expect([...classes].sort()).toEqual(['clean', 'infected', 'unscannable']);
  });

  it('gives the same verdict class in both engines for every item without a documented clamd gap', () => {
    const disagreements = outcomes
      .filter(({ item }) => item.clamdExpected === undefined)
      .filter(
        ({ builtin, clamd }) => verdictClass(builtin.findings) !== verdictClass(clamd.findings),
      )
      .map(
        ({ item, builtin, clamd }) =>
          `${item.name}: built-in [${builtin.findings.join(', ')}], clamd [${clamd.findings.join(', ')}]`,
      );
    expect(disagreements).toEqual([]);
  });

  it('gives every item its labelled class: the built-in engine always, clamd unless a gap is documented', () => {
    const wrong: string[] = [];
    for (const { item, builtin, clamd } of outcomes) {
      if (verdictClass(builtin.findings) !== item.expected)
        wrong.push(describeOutcome(`built-in ${item.name}`, item.expected, builtin));
      const clamdExpected = item.clamdExpected ?? item.expected;
      if (verdictClass(clamd.findings) !== clamdExpected)
        wrong.push(describeOutcome(`clamd ${item.name}`, clamdExpected, clamd));
    }
    expect(wrong).toEqual([]);
    // The documented gaps are real gaps (otherwise the label should go).
    const gaps = outcomes.filter(({ item }) => item.clamdExpected !== undefined);
    expect(gaps.length).toBeGreaterThan(0);
    for (const { item, clamd } of gaps) {
      expect(verdictClass(clamd.findings), item.name).toBe(item.clamdExpected);
    }
  });

  it('never reports unscannable content as clean', () => {
    for (const { item, builtin, clamd } of outcomes) {
      if (item.expected !== 'unscannable') continue;
      expect(builtin.findings.length, `built-in ${item.name}`).toBeGreaterThan(0);
      expect(
        builtin.findings.every((f) => f.startsWith('content.unscannable.')),
        `built-in ${item.name}: ${builtin.findings.join(', ')}`,
      ).toBe(true);
      if (item.clamdExpected !== 'clean') {
        expect(clamd.findings.length, `clamd ${item.name}`).toBeGreaterThan(0);
      }
    }
    const findingsOf = (name: string) =>
      outcomes.find((o) => o.item.name === name)?.builtin.findings;
    expect(findingsOf('unscannable/encrypted.zip')).toEqual(['content.unscannable.encrypted']);
    expect(findingsOf('unscannable/zip-bomb.zip')).toEqual(['content.unscannable.limits-exceeded']);
    expect(findingsOf('unscannable/clean-depth-20.zip')).toEqual([
      'content.unscannable.limits-exceeded',
    ]);
    expect(findingsOf('unscannable/truncated.zip')).toEqual(['content.unscannable.corrupt']);
  });

  it('reports the labelled finding names in both engines', () => {
    const wrong: string[] = [];
    for (const { item, builtin, clamd } of outcomes) {
      if (item.expected !== 'infected' || !item.findings) continue;
      const malicious = builtin.findings.filter((f) => f.startsWith('content.malicious.'));
      if (malicious.join() !== [...item.findings].sort().join())
        wrong.push(`built-in ${item.name}: [${builtin.findings.join(', ')}]`);
      // clamd names one signature per file: it must be one of the labelled ones.
      if (item.clamdExpected === undefined && !item.findings.includes(clamd.findings[0] ?? ''))
        wrong.push(`clamd ${item.name}: [${clamd.findings.join(', ')}]`);
    }
    expect(wrong).toEqual([]);
  });

  it('finds EICAR in zips nested 1 to 5 deep in both engines, and names the member path', () => {
    for (let depth = 1; depth <= 5; depth++) {
      const name = `zip/eicar-depth-${depth}.zip`;
      const outcome = outcomes.find((o) => o.item.name === name);
      expect(outcome, name).toBeDefined();
      expect(outcome!.builtin.findings, `built-in ${name}`).toEqual([EICAR_FINDING]);
      expect(outcome!.clamd.findings, `clamd ${name}`).toEqual([EICAR_FINDING]);
      const inner = Array.from({ length: depth - 1 }, (_, i) => `level-${depth - 1 - i}.zip`);
      const detections = outcome!.builtin.detections ?? [];
      expect(detections.map(({ path, finding }) => ({ path, finding }))).toEqual([
        { path: [`eicar-depth-${depth}.zip`, ...inner, 'eicar.com'], finding: EICAR_FINDING },
      ]);
      expect(detections[0]?.signature).toMatch(/eicar/i);
    }
  });

  it('leaves nothing behind in the scratch folder', async () => {
    expect(await readdir(path.join(dir, 'scratch')).catch(() => [])).toEqual([]);
  });
});
