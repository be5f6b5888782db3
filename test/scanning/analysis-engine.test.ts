import { describe, expect, it } from 'vitest';
import { AnalysisEngine } from '../../scanning/analysis/analysis-engine.js';
import type { Analyzer, PreparedCheck } from '../../scanning/analysis/analyzer.js';
import { EngineError } from '../../scanning/engine.js';
import { engineSet } from '../../scanning/engines.js';
import { defaultPlan, type ScanPlan } from '../../scanning/plan.js';
import { DEFAULT_LIMITS, encryptedZip, formatWorkspace, gzip, zip } from '../support/archives.js';

/**
 * The analysis engine's own contract, with a small text analyzer defined here (the real ones,
 * images and language, have their own tests): it is handed every piece it asks for, at every
 * depth, whole; it runs only when its plan asks; what cannot be opened is never clean.
 */

const MARKER = 'ANALYSIS-MARKER';

/** Finds MARKER in pieces that start with `text:`, up to `maxBytes`; counts its preparations. */
function markerAnalyzer(maxBytes = 1024): Analyzer & { prepared: number } {
  const check: PreparedCheck = {
    name: 'marker',
    version: '1',
    maxBytes,
    wants: (piece) => piece.head.subarray(0, 5).toString('latin1') === 'text:',
    check: (piece) =>
      Promise.resolve(
        piece.bytes.includes(MARKER)
          ? [{ path: piece.path, finding: 'content.en.language.nsfw.marker', signature: MARKER }]
          : [],
      ),
    tooLarge: (piece) => ({
      path: piece.path,
      finding: 'content.unscannable.language.limits-exceeded',
      signature: 'too large',
    }),
  };
  return {
    name: 'marker',
    category: 'unsafe_language',
    prepared: 0,
    prepare(plan) {
      this.prepared += 1;
      return Promise.resolve(plan.categories.includes('unsafe_language') ? check : undefined);
    },
    describe: () => ({ name: 'marker', version: '1' }),
    ping: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

const languagePlan: ScanPlan = { ...defaultPlan('t1'), categories: ['unsafe_language'] };

describe('the analysis engine', () => {
  const { ws, formats } = formatWorkspace();

  async function analyze(analyzer: Analyzer, content: Buffer, plan = languagePlan) {
    const engine = new AnalysisEngine([analyzer], {
      archive: DEFAULT_LIMITS,
      formats,
      scratchDir: ws.scratchDir,
    });
    const path = ws.write(content);
    return engine.scan({ path, size: content.length, name: 'upload' }, plan);
  }

  it('hands the analyzer the pieces it wants at every depth, with their paths', async () => {
    const inner = await zip([{ name: 'note.txt', data: Buffer.from(`text: a ${MARKER} b`) }]);
    const outer = gzip(await zip([{ name: 'inner.zip', data: inner }]));
    const [verdict] = await analyze(markerAnalyzer(), outer);
    expect(verdict?.engine).toBe('marker');
    expect(verdict?.findings).toEqual(['content.en.language.nsfw.marker']);
    expect(verdict?.detections?.[0]?.path).toEqual([
      'upload',
      '(gzip content)',
      'inner.zip',
      'note.txt',
    ]);
  });

  it('names the member, not its container too, when a stored member holds the match', async () => {
    const stored = await zip([
      { name: 'note.txt', data: Buffer.from(`text: ${MARKER}`), compress: false },
    ]);
    // The zip's own bytes start like text and hold the marker: only the member is named.
    const container = Buffer.concat([Buffer.from('text: '), stored]);
    const [verdict] = await analyze(markerAnalyzer(1 << 20), container);
    expect(verdict?.detections?.map((d) => d.path.join('/'))).toEqual(['upload/note.txt']);
  });

  it('reads a piece whole across many chunks', async () => {
    const text = Buffer.concat([
      Buffer.from('text:'),
      Buffer.alloc(200_000, 0x20),
      Buffer.from(MARKER),
    ]);
    const [verdict] = await analyze(markerAnalyzer(1 << 20), text);
    expect(verdict?.findings).toEqual(['content.en.language.nsfw.marker']);
  });

  it('reports a wanted piece past the analyzer limit instead of reading it', async () => {
    const text = Buffer.concat([
      Buffer.from('text:'),
      Buffer.alloc(5000, 0x20),
      Buffer.from(MARKER),
    ]);
    const [verdict] = await analyze(markerAnalyzer(1024), text);
    expect(verdict?.findings).toEqual(['content.unscannable.language.limits-exceeded']);
  });

  it('gives no verdict and walks nothing when the plan does not ask for the analyzer', async () => {
    const analyzer = markerAnalyzer();
    expect(await analyze(analyzer, Buffer.from(`text: ${MARKER}`), defaultPlan('t1'))).toEqual([]);
    expect(analyzer.prepared).toBe(1);
  });

  it('never calls content it could not open clean', async () => {
    const locked = encryptedZip([{ name: 'note.txt', data: Buffer.from(`text: ${MARKER}`) }]);
    const [verdict] = await analyze(markerAnalyzer(), locked);
    expect(verdict?.findings).toEqual(['content.unscannable.encrypted']);
  });
});

describe('an engine set with analyzers', () => {
  it('refuses a plan whose category nothing in the set detects, instead of calling it clean', async () => {
    const set = engineSet([]);
    const plan: ScanPlan = { ...defaultPlan('t1'), categories: ['unsafe_image'] };
    const failure = await set
      .scan({ path: '/nonexistent', size: 0 }, plan)
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(EngineError);
    expect((failure as EngineError).retryable).toBe(false);
  });
});
