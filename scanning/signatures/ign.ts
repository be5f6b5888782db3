import { createHash } from 'node:crypto';
import type { SignatureProblem } from './ndb.js';

/**
 * ClamAV's lists of signatures to disable, `.ign2` and the older `.ign` (libclamav's
 * cli_loadign reads both the same way). One entry per line:
 *
 * - `Name`: every signature with that name;
 * - `Name:md5`: only the signature whose database line (without its line break) has that MD5,
 *   so an entry stops applying once the signature is changed;
 * - `db:line:Name` (the old `.ign` form): the signature with that name (the database and line
 *   number are not checked, as in ClamAV).
 *
 * Names are compared as ClamAV compares them: a `.UNOFFICIAL` suffix or a trailing `.{…}` clause
 * of the signature's name is left out.
 */

export interface IgnoreEntry {
  name: string;
  /** Lower-case hex MD5 of the signature line, when the entry names one. */
  md5?: string;
  line: number;
}

export function parseIgnoreText(
  text: string,
  file: string,
): { signatures: IgnoreEntry[]; problems: SignatureProblem[]; warnings: SignatureProblem[] } {
  const signatures: IgnoreEntry[] = [];
  const problems: SignatureProblem[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index += 1) {
    const line = (lines[index] ?? '').replace(/\r$/, '');
    if (line.trim() === '' || line.startsWith('#')) continue;
    const fields = line.split(':');
    const problem = (message: string) => problems.push({ file, line: index + 1, message });
    if (fields.length > 3) {
      problem('expected Name, Name:md5 or db:line:Name');
      continue;
    }
    const name = fields.length === 3 ? fields[2]! : fields[0]!;
    if (name === '') {
      problem('the entry names no signature');
      continue;
    }
    if (fields.length === 2) {
      const md5 = fields[1]!.toLowerCase();
      if (!/^[0-9a-f]{32}$/.test(md5)) {
        problem('the MD5 after the name is not 32 hex digits');
        continue;
      }
      signatures.push({ name, md5, line: index + 1 });
    } else {
      signatures.push({ name, line: index + 1 });
    }
  }
  return { signatures, problems, warnings: [] };
}

/** The ignore entries read so far; checked for every signature loaded after them. */
export class IgnoreList {
  /** Name → the line MD5s it names (`null`: any line). */
  private readonly entries = new Map<string, Set<string | null>>();

  add(entries: readonly IgnoreEntry[]): void {
    for (const { name, md5 } of entries) {
      let set = this.entries.get(name);
      if (!set) this.entries.set(name, (set = new Set()));
      set.add(md5 ?? null);
    }
  }

  /** An independent copy: a container adds to its copy, which replaces the list if it loads. */
  copy(): IgnoreList {
    const copy = new IgnoreList();
    for (const [name, md5s] of this.entries) copy.entries.set(name, new Set(md5s));
    return copy;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Whether the signature `name`, read from the line `lineText()` returns, is disabled. */
  disables(name: string, lineText: () => string): boolean {
    const md5s = this.entries.get(comparableName(name));
    if (!md5s) return false;
    if (md5s.has(null)) return true;
    return md5s.has(createHash('md5').update(lineText()).digest('hex'));
  }
}

/** The name as ClamAV compares it with ignore entries (cli_signorm). */
function comparableName(name: string): string {
  if (name.length > 3 && name.endsWith('}')) {
    const clause = name.lastIndexOf('.{');
    if (clause >= 0) return name.slice(0, clause);
  }
  if (name.length > 11 && name.endsWith('.UNOFFICIAL')) return name.slice(0, -11);
  return name;
}
