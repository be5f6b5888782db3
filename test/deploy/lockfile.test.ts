import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

interface LockPackage {
  optionalDependencies?: Record<string, string>;
}

/**
 * `npm ci` refuses a lock file that does not list every optional dependency of a package it
 * holds, even one for another platform. `npm install` leaves out an optional dependency the
 * registry does not have (`@litko/yara-x` names macOS builds that were never published), so
 * those entries are kept by hand (docs/decisions.md): this test catches an install that dropped
 * them before CI's `npm ci` does.
 */
describe('the lock file', () => {
  it('lists every optional dependency of every package it holds', () => {
    const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as {
      packages: Record<string, LockPackage>;
    };
    const missing: string[] = [];
    for (const [where, entry] of Object.entries(lock.packages)) {
      for (const name of Object.keys(entry.optionalDependencies ?? {})) {
        const nested = `${where}/node_modules/${name}`;
        if (!lock.packages[nested] && !lock.packages[`node_modules/${name}`])
          missing.push(`${name} (for ${where || 'the project'})`);
      }
    }
    expect(missing).toEqual([]);
  });
});
