import { readFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { BuiltinEngine } from '../../scanning/builtin-engine.js';
import { clamdAllMatches, startTestClamd, type TestClamd } from '../support/clamd.js';
import { ole2 } from '../support/ole2.js';
import { buildPe } from '../support/pe-builder.js';

/** The target types the built-in engine matches besides 0, with the kind of file each names. */
const TARGETS = [1, 2, 4, 5, 6, 7, 9, 10, 11, 12] as const;

const marker = (target: number) => `arbiter-target-${target}-marker-5c2e`;
const hex = (text: string) => Buffer.from(text, 'latin1').toString('hex');
/** Every target's marker, as ASCII text. */
const MARKERS = TARGETS.map(marker).join(' ; ');
/** Matched only where upper case is lowered and runs of whitespace are made one space. */
const NORMALISED_ONLY = 'arbiter normalised generic 9a41';

const utf16 = (text: string) =>
  Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);

/** A file of each kind, every one holding every target's marker. */
async function samples(): Promise<Record<string, Buffer>> {
  const markers = Buffer.from(MARKERS, 'latin1');
  const padding = Buffer.alloc(64, 0);
  return {
    pe: buildPe({ sections: [{ data: markers }], entry: { section: 0, offset: 0 } }).bytes,
    ole2: ole2([{ path: 'Contents', data: Buffer.concat([padding, markers, padding]) }]),
    mail: Buffer.from(
      `From: sender@example.com\nTo: someone@example.com\nSubject: a note\n\n${MARKERS}\n`,
    ),
    png: Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), padding, markers]),
    gif: Buffer.concat([Buffer.from('GIF89a'), padding, markers]),
    elf: Buffer.concat([await readFile('/bin/true'), markers]),
    text: Buffer.from(
      `Some text.\n${MARKERS}\nThe ${NORMALISED_ONLY.toUpperCase().replace(/ /g, ' \t\r\n ')} end.\n`,
    ),
    'text-utf16': utf16(`${MARKERS}\n${NORMALISED_ONLY.toUpperCase()}\n`),
    'text-html-later': Buffer.from(`${'Plain words. '.repeat(120)}\n<script>\n${MARKERS}\n`),
    html: Buffer.from(`<html><body>${MARKERS}</body></html>\n`),
    macho: Buffer.concat([Buffer.from('feedface', 'hex'), Buffer.alloc(28, 0), markers]),
    pdf: Buffer.from(`%PDF-1.4\n%${MARKERS}\n%%EOF\n`),
    swf: Buffer.concat([Buffer.from('FWS'), Buffer.from([9, 0, 1, 0, 0]), markers]),
    java: Buffer.concat([Buffer.from('cafebabe00000034', 'hex'), padding, markers]),
    binary: Buffer.concat([Buffer.from([0, 1, 2, 3, 0xfe]), markers]),
  };
}

function database(): { ndb: string; ldb: string } {
  const ndb = [
    `Target.Generic.Normalised:0:*:${hex(NORMALISED_ONLY)}`,
    ...TARGETS.map((target) => `Target.Ndb.T${target}:${target}:*:${hex(marker(target))}`),
  ];
  const ldb = TARGETS.map((target) => {
    const text = marker(target);
    const [first, second] = [text.slice(0, 16), text.slice(16)];
    return `Target.Ldb.T${target};Engine:51-255,Target:${target};0&1;${hex(first)};${hex(second)}`;
  });
  return { ndb: `${ndb.join('\n')}\n`, ldb: `${ldb.join('\n')}\n` };
}

/**
 * Signatures of every target type ClamAV defines that the built-in engine matches, against a file
 * of each kind that holds every target's marker: the built-in engine and a real clamd must find
 * the same names in each, and each file must be found by its own target's signatures.
 */
describe('the built-in engine and clamd agree on target types', () => {
  let dir: string;
  let clamd: TestClamd;
  let builtin: BuiltinEngine;
  let files: Record<string, Buffer>;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-agree-targets-'));
    const db = path.join(dir, 'db');
    await mkdir(db);
    const { ndb, ldb } = database();
    await writeFile(path.join(db, 'targets.ndb'), ndb);
    await writeFile(path.join(db, 'targets.ldb'), ldb);
    files = await samples();
    for (const [name, bytes] of Object.entries(files)) await writeFile(path.join(dir, name), bytes);
    const logger = createLogger('silent');
    [clamd, builtin] = await Promise.all([
      startTestClamd({ databaseDir: db }),
      BuiltinEngine.load(db, logger),
    ]);
  }, 60_000);

  afterAll(async () => {
    await clamd?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const scanBoth = async (name: string) => {
    const file = path.join(dir, name);
    const [verdict, clamdNames] = await Promise.all([
      builtin.scan({ path: file, size: files[name]!.length, name }),
      clamdAllMatches(clamd.socketPath, file),
    ]);
    const names = [...new Set((verdict.detections ?? []).map((d) => d.signature))].sort();
    return { builtin: names, clamd: clamdNames };
  };

  const own: Record<string, number | undefined> = {
    pe: 1,
    ole2: 2,
    mail: 4,
    png: 5,
    gif: 5,
    elf: 6,
    text: 7,
    'text-utf16': 7,
    macho: 9,
    pdf: 10,
    swf: 11,
    java: 12,
  };

  it.each(Object.keys(own).concat(['text-html-later', 'html', 'binary']))(
    'both find the same signatures in %s',
    async (name) => {
      const found = await scanBoth(name);
      expect(found.builtin).toEqual(found.clamd);
      const target = own[name];
      if (target !== undefined) {
        expect(found.builtin).toContain(`Target.Ndb.T${target}`);
        expect(found.builtin).toContain(`Target.Ldb.T${target}`);
      }
    },
  );

  it('both match target type 7 and generic signatures against the normalised copy of text', async () => {
    const found = await scanBoth('text');
    expect(found.builtin).toContain('Target.Generic.Normalised');
    expect(found.builtin).toContain('Target.Ndb.T7');
  });

  it('neither matches target type 7 in text that turns out to be HTML', async () => {
    const found = await scanBoth('text-html-later');
    expect(found.builtin).not.toContain('Target.Ndb.T7');
  });
});
