import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { BuiltinEngine } from '../../scanning/builtin-engine.js';
import { ClamdEngine } from '../../scanning/clamd-engine.js';
import type { EngineVerdict } from '../../scanning/engine.js';
import { EICAR_FINDING } from '../../scanning/findings.js';
import { startTestClamd, type TestClamd } from '../support/clamd.js';
import {
  SIGNATURES_DIR,
  generateCorpus,
  verdictClass,
  writeCorpus,
  type CorpusItem,
  type VerdictClass,
} from '../support/corpus.js';

/**
 * The agreement test (issue 3 §6): the same committed signature folder loaded by the built-in
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
      generateCorpus().then((corpus) => writeCorpus(path.join(dir, 'corpus'), corpus)),
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
