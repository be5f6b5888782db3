import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { clamdSettings, startEmbeddedClamd } from '../../core/embedded-clamd.js';
import { createLogger } from '../../core/logger.js';
import { createEngineSet } from '../../scanning/engines.js';
import { CLAMD_BINARY } from '../support/clamd.js';

/**
 * ARBITER_SIGNATURES_DETECT_PUA, through the engines as the service builds them: the built-in
 * engine (createEngineSet) and the private clamd (its generated clamd.conf) both detect a `.ndu`
 * signature with the setting on, and neither with it off.
 */

const MARKER = 'arbiter-pua-setting-marker';
const hex = (text: string) => Buffer.from(text).toString('hex');

describe('ARBITER_SIGNATURES_DETECT_PUA', () => {
  let dir: string;
  let dbDir: string;
  let content: string;
  let size: number;
  const logger = createLogger('silent');

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-pua-'));
    dbDir = path.join(dir, 'db');
    await mkdir(dbDir);
    await writeFile(path.join(dbDir, 'test.ndu'), `PUA.Win.Tool.ArbiterTest:0:*:${hex(MARKER)}\n`);
    // clamd will not start on a database it loads nothing from: one signature it always loads.
    await writeFile(
      path.join(dbDir, 'test.ndb'),
      `Arbiter.Test.Other:0:*:${hex('never-present')}\n`,
    );
    content = path.join(dir, 'content.bin');
    const bytes = Buffer.from(`\0\0some bytes ${MARKER} more bytes\0\0`);
    size = bytes.length;
    await writeFile(content, bytes);
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  for (const setting of ['true', 'false'] as const) {
    it(`with ${setting}: both engines ${setting === 'true' ? 'detect' : 'ignore'} a .ndu signature`, async () => {
      const config = loadConfig({
        ARBITER_DATA_DIR: path.join(dir, `data-${setting}`),
        ARBITER_SIGNATURES_DIR: dbDir,
        ARBITER_ENGINES: 'builtin,clamd',
        ARBITER_SIGNATURES_DETECT_PUA: setting,
      });
      expect(config.detectPua).toBe(setting === 'true');
      const clamd = await startEmbeddedClamd({
        binary: CLAMD_BINARY,
        databaseDir: dbDir,
        dir: path.join(dir, `clamd-${setting}`),
        settings: clamdSettings(config, undefined),
        startTimeoutMs: 30_000,
        logger,
      });
      const set = await createEngineSet(config, logger, {
        engines: ['builtin', 'clamd'],
        clamdAddress: clamd.address,
      });
      try {
        const { verdicts } = await set.scan({ path: content, size, name: 'content.bin' });
        const findings = Object.fromEntries(verdicts.map((v) => [v.engine, v.findings]));
        if (setting === 'true') {
          expect(findings.builtin).toEqual([expect.stringMatching(/arbitertest/i)]);
          expect(findings.clamd).toEqual([expect.stringMatching(/arbitertest/i)]);
        } else {
          expect(findings).toEqual({ builtin: [], clamd: [] });
        }
      } finally {
        await set.close();
        await clamd.stop();
      }
    });
  }
});
