import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { BuiltinEngine } from '../../scanning/builtin-engine.js';
import { isEicar } from '../../scanning/eicar.js';
import { maliciousFinding } from '../../scanning/findings.js';
import { eicar, randomContent } from '../support/content.js';

const digest = (algorithm: string, data: Buffer) => createHash(algorithm).update(data).digest('hex');

describe('the built-in engine', () => {
  let dir: string;
  let engine: BuiltinEngine;
  const byMd5 = randomContent(3000);
  const bySha256 = randomContent(5000);
  const bySha1AnySize = randomContent(700);
  const clean = randomContent(4096);
  const files = new Map<string, Buffer>();

  const scan = async (name: string) => {
    const content = files.get(name)!;
    return engine.scan({ path: path.join(dir, name), size: content.length });
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-engine-'));
    const sigs = path.join(dir, 'sigs');
    await import('node:fs/promises').then((fs) => fs.mkdir(sigs));
    await writeFile(
      path.join(sigs, 'test.hdb'),
      [
        '# comment lines and blank lines are ignored',
        '',
        `${digest('md5', byMd5)}:${byMd5.length}:Test.Md5-Sample`,
        `${digest('md5', clean)}:1:Test.Wrong-Size`,
        'not-a-hash:12:Broken.Line',
      ].join('\n'),
    );
    await writeFile(
      path.join(sigs, 'test.hsb'),
      [`${digest('sha256', bySha256)}:${bySha256.length}:Test.Sha256 Sample`, `${digest('sha1', bySha1AnySize)}:*:Test.Sha1-Any:73`, `${digest('sha256', clean)}:x:Bad.Size`].join('\n'),
    );
    for (const [name, content] of Object.entries({ byMd5, bySha256, bySha1AnySize, clean, eicar: eicar(), eicarPadded: Buffer.concat([eicar(), Buffer.from(' \r\n\t')]), eicarPlusJunk: Buffer.concat([eicar(), Buffer.from('junk')]) })) {
      files.set(name, content);
      await writeFile(path.join(dir, name), content);
    }
    engine = await BuiltinEngine.load(sigs, createLogger('silent'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('matches MD5, SHA-1 and SHA-256 hash signatures, honouring the size field', async () => {
    expect((await scan('byMd5')).findings).toEqual(['content.malicious.test.md5-sample']);
    expect((await scan('bySha256')).findings).toEqual(['content.malicious.test.sha256-sample']);
    expect((await scan('bySha1AnySize')).findings).toEqual(['content.malicious.test.sha1-any']);
    expect((await scan('clean')).findings).toEqual([]);
  });

  it('skips lines it cannot parse and still loads the rest', () => {
    expect(engine.version).toMatch(/\(4 signatures\)$/);
  });

  it('recognises EICAR alone or followed by whitespace, not followed by other bytes', async () => {
    expect((await scan('eicar')).findings).toEqual(['content.malicious.eicar-test-signature']);
    expect((await scan('eicarPadded')).findings).toEqual(['content.malicious.eicar-test-signature']);
    expect((await scan('eicarPlusJunk')).findings).toEqual([]);
    expect(isEicar(eicar().subarray(0, 60))).toBe(false);
  });

  it('turns signature names into lower-case dotted findings', () => {
    expect(maliciousFinding('Win.Trojan.Agent-1234567.UNOFFICIAL')).toBe('content.malicious.win.trojan.agent-1234567');
    expect(maliciousFinding('Weird Name/With:Chars')).toBe('content.malicious.weird-name-with-chars');
    expect(maliciousFinding('Eicar-Signature')).toBe('content.malicious.eicar-test-signature');
  });
});
