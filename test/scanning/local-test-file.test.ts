import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { AnalysisEngine } from '../../scanning/analysis/analysis-engine.js';
import type { Analyzer } from '../../scanning/analysis/analyzer.js';
import { BuiltinEngine } from '../../scanning/builtin-engine.js';
import { engineSet } from '../../scanning/engines.js';
import { isLocalTestFile, LOCAL_TEST_FILE } from '../../scanning/local-test-file.js';
import { defaultPlan, type ScanPlan } from '../../scanning/plan.js';
import { DEFAULT_LIMITS, formatWorkspace, tar, zip } from '../support/archives.js';

const FINDING = 'content.malicious.local-test-file';

/**
 * Scanii's malware test content (docs/migration-from-scanii.md, "Test contents"): the built-in
 * engine reports it alone or padded with whitespace, inside archives too, and only for a scan
 * whose categories include malware.
 */
describe("the malware category's test content", () => {
  let dir: string;
  let engine: BuiltinEngine;
  const { ws, formats } = formatWorkspace();

  const scanBytes = async (
    name: string,
    content: Buffer,
    plan?: ScanPlan,
    analyzers: Analyzer[] = [],
  ) => {
    const file = path.join(dir, name);
    await writeFile(file, content);
    const analysis = new AnalysisEngine(analyzers, {
      archive: DEFAULT_LIMITS,
      formats,
      scratchDir: ws.scratchDir,
    });
    return engineSet([engine], analysis).scan({ path: file, size: content.length, name }, plan);
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-local-test-'));
    engine = await BuiltinEngine.load(undefined, createLogger('silent'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is found alone or followed by whitespace, written exactly as documented', async () => {
    expect((await scanBytes('alone.txt', LOCAL_TEST_FILE)).findings).toEqual([FINDING]);
    const padded = Buffer.concat([LOCAL_TEST_FILE, Buffer.from(' \r\n\t\n')]);
    expect((await scanBytes('padded.txt', padded)).findings).toEqual([FINDING]);
    const lower = Buffer.from(LOCAL_TEST_FILE.toString('latin1').toLowerCase());
    expect((await scanBytes('lower.txt', lower)).findings).toEqual([]);
  });

  it('is not found with other text around it, or cut short', async () => {
    const inText = Buffer.from(`see ${LOCAL_TEST_FILE.toString('latin1')} here`);
    expect((await scanBytes('in-text.txt', inText)).findings).toEqual([]);
    const followed = Buffer.concat([LOCAL_TEST_FILE, Buffer.from('x')]);
    expect((await scanBytes('followed.txt', followed)).findings).toEqual([]);
    expect(isLocalTestFile(LOCAL_TEST_FILE.subarray(0, 35))).toBe(false);
    expect(isLocalTestFile(Buffer.concat([LOCAL_TEST_FILE, Buffer.alloc(100, 0x20)]))).toBe(false);
  });

  it('is found inside archives, nested too', async () => {
    const inner = await zip([{ name: 'test.txt', data: LOCAL_TEST_FILE }]);
    const outer = await tar([{ name: 'inner.zip', data: inner }]);
    const { findings, verdicts } = await scanBytes('outer.tar', outer);
    expect(findings).toEqual([FINDING]);
    expect(verdicts[0]?.detections?.[0]?.path).toEqual(['outer.tar', 'inner.zip', 'test.txt']);
  });

  it('is not looked for when the plan leaves malware out', async () => {
    // A stand-in for the language analyzer (its own helper builds the real one): it serves the
    // category and finds nothing, so what remains is whether the malware engines ran.
    const language: Analyzer = {
      name: 'silent-language',
      category: 'unsafe_language',
      prepare: () =>
        Promise.resolve({
          name: 'silent-language',
          version: '1',
          maxBytes: 1024,
          wants: () => true,
          check: () => Promise.resolve([]),
          tooLarge: (piece) => ({
            path: piece.path,
            finding: 'content.unscannable.language.limits-exceeded',
            signature: 'too large',
          }),
        }),
      describe: () => ({ name: 'silent-language', version: '1' }),
      ping: () => Promise.resolve(),
      close: () => Promise.resolve(),
    };
    const noMalware: ScanPlan = { ...defaultPlan('t1'), categories: ['unsafe_language'] };
    const skipped = await scanBytes('skipped.txt', LOCAL_TEST_FILE, noMalware, [language]);
    expect(skipped.findings).toEqual([]);
    expect(skipped.verdicts.map((v) => v.engine)).toEqual(['silent-language']);
    const withMalware: ScanPlan = { ...noMalware, categories: ['malware', 'unsafe_language'] };
    const found = await scanBytes('found.txt', LOCAL_TEST_FILE, withMalware, [language]);
    expect(found.findings).toEqual([FINDING]);
  });
});
