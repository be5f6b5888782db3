import type { BuiltinEngine } from '../../scanning/builtin-engine.js';
import { clamdAllMatches } from './clamd.js';

/** The signature names each engine gives one file, sorted. */
export interface NamesFromBoth {
  builtin: string[];
  clamd: string[];
}

/**
 * The names the built-in engine's detections carry and those a real clamd gives the same file
 * (ALLMATCHSCAN over its socket), for the agreement tests.
 */
export async function namesFromBoth(
  builtin: BuiltinEngine,
  clamdSocket: string,
  file: { path: string; size: number; name: string },
): Promise<NamesFromBoth> {
  const verdict = await builtin.scan(file);
  return {
    builtin: [...new Set((verdict.detections ?? []).map((d) => d.signature))].sort(),
    clamd: await clamdAllMatches(clamdSocket, file.path),
  };
}

/** One line per file the two engines name differently (empty when they agree on all). */
export function disagreementsOf(results: Map<string, NamesFromBoth>): string[] {
  const lines: string[] = [];
  for (const [name, { builtin, clamd }] of results) {
    if (builtin.join() === clamd.join()) continue;
    const onlyBuiltin = builtin.filter((n) => !clamd.includes(n));
    const onlyClamd = clamd.filter((n) => !builtin.includes(n));
    lines.push(
      `${name}: only built-in [${onlyBuiltin.join(', ')}], only clamd [${onlyClamd.join(', ')}]`,
    );
  }
  return lines;
}
