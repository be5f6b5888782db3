import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  emptyHashDatabase,
  lookupHash,
  mergeHashes,
  parseHashes,
  type HashDatabase,
} from '../../scanning/hash-signatures.js';

// The compact hash store (scanning/hash-table.ts) behind `.hdb`/`.hsb`: what goes in must come
// out, with the official database's shapes (duplicates, `*` sizes, many rows).

const md5 = (text: string) => createHash('md5').update(text).digest('hex');
const parseHashLines = (text: string, file: string, db: HashDatabase) =>
  parseHashes(text, file, db, { md5Only: file.endsWith('.hdb') });

describe('hash signatures in the compact store', () => {
  it('finds each of many signatures by digest and size, and nothing else', () => {
    const db = emptyHashDatabase();
    const lines = Array.from({ length: 50_000 }, (_, i) => `${md5(`f${i}`)}:${100 + i}:Sig.${i}`);
    parseHashLines(lines.join('\n'), 'many.hdb', db);
    expect(db.count).toBe(50_000);
    for (const i of [0, 1, 777, 49_999]) {
      expect(lookupHash(db, 'md5', md5(`f${i}`), 100 + i)).toEqual([
        { name: `Sig.${i}`, size: 100 + i },
      ]);
      expect(lookupHash(db, 'md5', md5(`f${i}`), 99 + i)).toEqual([]);
    }
    expect(lookupHash(db, 'md5', md5('absent'), 100)).toEqual([]);
    expect(lookupHash(db, 'sha1', md5('f1'), 101)).toEqual([]);
  });

  it('keeps duplicates, `*` sizes, upper-case hex and non-ASCII names', () => {
    const db = emptyHashDatabase();
    const digest = createHash('sha256').update('x').digest('hex');
    parseHashLines(
      [
        `${digest}:10:First`,
        `${digest.toUpperCase()}:*:Any.Size:73`,
        `${digest}:11:Other.Size`,
        `${md5('y')}:5:Ünïcode.Näme`,
      ].join('\r\n'),
      'mixed.hsb',
      db,
    );
    expect(lookupHash(db, 'sha256', digest, 10)).toEqual([
      { name: 'First', size: 10 },
      { name: 'Any.Size', size: null },
    ]);
    expect(lookupHash(db, 'sha256', Buffer.from(digest, 'hex'), 12)).toEqual([
      { name: 'Any.Size', size: null },
    ]);
    expect(lookupHash(db, 'md5', md5('y'), 5)).toEqual([{ name: 'Ünïcode.Näme', size: 5 }]);
    expect(db.anySize).toEqual(new Set(['sha256']));
    expect(db.sizes.get('sha256')).toEqual(new Set([10, 11]));
  });

  it('reports bad lines by number and keeps the good ones', () => {
    const db = emptyHashDatabase();
    const parsed = parseHashLines(
      [
        '# a comment',
        `${md5('a')}:1:Good`,
        'nothex:1:Bad',
        `${md5('b')}:x:Bad`,
        `${md5('c')}:1:`,
      ].join('\n'),
      'bad.hdb',
      db,
    );
    expect(db.count).toBe(1);
    expect(parsed).toMatchObject({ loaded: 1, left: 0 });
    expect(parsed.problems.map((p) => [p.line, p.message])).toEqual([
      [3, 'the hash is not MD5, SHA-1 or SHA-256 hex'],
      [4, '"x" is not a size or *'],
      [5, 'the signature has no name'],
    ]);
  });

  it('answers lookups made between loads (the index follows new rows)', () => {
    const db = emptyHashDatabase();
    parseHashLines(`${md5('one')}:3:One`, 'a.hdb', db);
    expect(lookupHash(db, 'md5', md5('one'), 3)).toHaveLength(1);
    parseHashLines(`${md5('two')}:3:Two`, 'b.hdb', db);
    expect(lookupHash(db, 'md5', md5('two'), 3)).toEqual([{ name: 'Two', size: 3 }]);
  });

  it('leaves out what `keep` refuses, and merges one database into another', () => {
    const staged = emptyHashDatabase();
    const parsed = parseHashes(
      [`${md5('a')}:1:Keep.Me`, `${md5('b')}:2:Drop.Me`, `${md5('c')}:*:Keep.Too`].join('\n'),
      'x.hsb',
      staged,
      { md5Only: false, keep: (name, line) => name !== 'Drop.Me' || !line().includes(':2:') },
    );
    expect(parsed).toMatchObject({ loaded: 2, left: 1, problems: [] });
    const into = emptyHashDatabase();
    parseHashLines(`${md5('z')}:9:Already.There`, 'z.hdb', into);
    mergeHashes(into, staged);
    expect(into.count).toBe(3);
    expect(lookupHash(into, 'md5', md5('a'), 1)).toEqual([{ name: 'Keep.Me', size: 1 }]);
    expect(lookupHash(into, 'md5', md5('b'), 2)).toEqual([]);
    expect(lookupHash(into, 'md5', md5('c'), 5)).toEqual([{ name: 'Keep.Too', size: null }]);
    expect(lookupHash(into, 'md5', md5('z'), 9)).toEqual([{ name: 'Already.There', size: 9 }]);
    expect(into.anySize).toEqual(new Set(['md5']));
  });
});
