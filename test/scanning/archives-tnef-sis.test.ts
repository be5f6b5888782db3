import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createFormatSet } from '../../scanning/archives/formats/index.js';
import { DEFAULT_LIMITS, Workspace } from '../support/archives.js';
import { eicar } from '../support/content.js';
import { emlMessage, oldSisFile, sis9File, tnefFile } from '../support/mail-formats.js';

// TNEF (winmail.dat) and Symbian SIS packages in the archive walker.

const ws = new Workspace();
const formats = createFormatSet().handlers;
afterAll(() => ws.remove());
afterEach(() => expect(ws.scratchFiles()).toEqual([]));

const walk = (content: Buffer, name: string, limits = DEFAULT_LIMITS) =>
  ws.walk(content, name, limits, formats);
const members = (visited: { path: string; depth: number; data?: Buffer }[]) =>
  visited.filter((v) => v.depth > 0).map((v) => [v.path, v.data]);

const binary = Buffer.from(Array.from({ length: 20_000 }, (_, i) => (i * 7 + (i >> 9)) % 256));

describe('TNEF', () => {
  it('hands over the body and each attachment, named by its title before or after the data', async () => {
    const content = tnefFile(
      [
        { title: 'eicar.com', data: eicar() },
        { title: 'late-title.bin', data: binary, titleAfter: true },
      ],
      { body: 'the message text' },
    );
    const result = await walk(content, 'winmail.dat');
    expect(result.unscannable).toEqual([]);
    expect(members(result.visited)).toEqual([
      ['winmail.dat/body.txt', Buffer.from('the message text')],
      ['winmail.dat/eicar.com', eicar()],
      ['winmail.dat/late-title.bin', binary],
    ]);
  });

  it('is opened as a mail attachment', async () => {
    const tnef = tnefFile([{ title: 'eicar.com', data: eicar() }]);
    const message = emlMessage({
      attachments: [{ name: 'winmail.dat', data: tnef, type: 'application/ms-tnef' }],
    });
    const result = await walk(message, 'outlook.eml');
    expect(result.visited.find((v) => v.data?.equals(eicar()))?.path).toBe(
      'outlook.eml/winmail.dat/eicar.com',
    );
  });

  it('reports a checksum mismatch at the member, a cut or a bad attribute at the file', async () => {
    const damaged = await walk(
      tnefFile([{ title: 'a.bin', data: binary }], { damage: 'checksum' }),
      'sum.dat',
    );
    expect(damaged.unscannable).toEqual([
      {
        reason: 'corrupt',
        path: ['sum.dat', 'a.bin'],
        detail: 'tnef: a.bin: checksum mismatch',
      },
    ]);
    const whole = tnefFile([{ title: 'a.bin', data: binary }]);
    const cut = await walk(whole.subarray(0, whole.length - 5000), 'cut.dat');
    expect(cut.unscannable).toMatchObject([
      { reason: 'corrupt', path: ['cut.dat', 'a.bin'] },
      { reason: 'corrupt', path: ['cut.dat'] },
    ]);
    const badLevel = Buffer.from(whole);
    badLevel[6 + 15] = 9; // the level byte of the second attribute (the first has 4 bytes)
    const bad = await walk(badLevel, 'level.dat');
    expect(bad.unscannable).toMatchObject([{ reason: 'corrupt', path: ['level.dat'] }]);
  });
});

describe('SIS', () => {
  it('hands over the files of an old EPOC SIS, compressed or stored, by installed name', async () => {
    for (const stored of [false, true]) {
      const sis = oldSisFile(
        [
          { target: '!:\\system\\apps\\clam\\eicar.com', data: eicar() },
          { target: '!:\\system\\apps\\clam\\data.bin', data: binary },
        ],
        { stored },
      );
      const result = await walk(sis, 'app.sis');
      expect(result.unscannable).toEqual([]);
      expect(members(result.visited)).toEqual([
        ['app.sis/eicar.com', eicar()],
        ['app.sis/data.bin', binary],
      ]);
    }
  });

  it('hands over the files of a SIS 9.x package', async () => {
    for (const algorithm of [0, 1]) {
      const result = await walk(sis9File([eicar(), binary], { algorithm }), 'app9.sisx');
      expect(result.unscannable).toEqual([]);
      expect(members(result.visited)).toEqual([
        ['app9.sisx/file-1.bin', eicar()],
        ['app9.sisx/file-2.bin', binary],
      ]);
    }
  });

  it('names the files of a SIS 9.x package as its controller does', async () => {
    const sisx = sis9File([eicar(), binary], { names: ['eicar.com', 'data.bin'] });
    const result = await walk(sisx, 'named.sisx');
    expect(result.unscannable).toEqual([]);
    expect(members(result.visited)).toEqual([
      ['named.sisx/eicar.com', eicar()],
      ['named.sisx/data.bin', binary],
    ]);
  });

  it('reports a compression it does not know as unsupported-method, damage as corrupt', async () => {
    const unknown = await walk(sis9File([eicar()], { algorithm: 7 }), 'odd.sisx');
    expect(unknown.unscannable).toEqual([
      {
        reason: 'unsupported-method',
        path: ['odd.sisx', 'file-1.bin'],
        detail: 'sis: compression algorithm 7',
        method: 'sis:7',
      },
    ]);
    const sis = oldSisFile([{ target: 'x.bin', data: binary }]);
    const cut = await walk(sis.subarray(0, sis.length - 100), 'cut.sis');
    expect(cut.unscannable).toMatchObject([{ reason: 'corrupt', path: ['cut.sis', 'x.bin'] }]);
    const sis9 = sis9File([binary]);
    const cut9 = await walk(sis9.subarray(0, sis9.length - 100), 'cut.sisx');
    expect(cut9.unscannable).toMatchObject([{ reason: 'corrupt', path: ['cut.sisx'] }]);
  });

  it('stops a zlib bomb at the expansion-ratio limit', async () => {
    const bomb = oldSisFile([{ target: 'zeros.bin', data: Buffer.alloc(16 * 1024 * 1024) }]);
    const result = await walk(bomb, 'bomb.sis');
    expect(result.unscannable).toMatchObject([
      { reason: 'limits-exceeded', path: ['bomb.sis', 'zeros.bin'] },
    ]);
  });
});
