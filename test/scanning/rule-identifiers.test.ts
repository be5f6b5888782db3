import { validate } from '@litko/yara-x';
import { describe, expect, it } from 'vitest';
import { declaredRules } from '../../scanning/analysis/yara/rule-identifiers.js';
import { COMPILE_OPTIONS } from '../../scanning/analysis/yara/compiler.js';

/**
 * The rule identifiers read from a source (what the rules API lists and counts) against the
 * compiler itself: every identifier found is one the compiler has declared (declaring it again is
 * its duplicate-rule error), and words that only look like declarations are not.
 */

const TRICKY = `import "pe"

// rule in_line_comment { condition: true }
/* rule in_block_comment { condition: true }
   rule also_in_block { condition: true } */
private rule first : tag_a tag_b {
  meta:
    note = "rule in_meta_string { condition: true }"
    escaped = "a \\" rule in_escaped_string"
  strings:
    $re = /rule in_regex \\/ [}{"\\/] x/i
    $hex = { 72 75 6C 65 [2-4] ( 41 | 42 ) ?? }
    $text = "}" nocase
  condition:
    filesize \\ 2 > 10 and ($re or $hex or $text) and "rule x" matches /rule{1,2}/
}

global rule
  second
{
  condition: first or filesize == 2
}

rule third{condition:second}
`;

/** Whether the compiler already has a rule of this name in `source`. */
function compilerDeclares(source: string, identifier: string): boolean {
  const outcome = validate(`${source}\nrule ${identifier} { condition: false }\n`, COMPILE_OPTIONS);
  return outcome.errors.some((error) => error.code === 'E012');
}

describe('declaredRules', () => {
  it('finds each declared rule with its place, and nothing in comments, strings or regexes', () => {
    expect(validate(TRICKY, COMPILE_OPTIONS).errors).toEqual([]);
    const rules = declaredRules(TRICKY);
    expect(rules).toEqual([
      { identifier: 'first', private: true, line: 6, column: 14 },
      { identifier: 'second', private: false, line: 19, column: 3 },
      { identifier: 'third', private: false, line: 24, column: 6 },
    ]);
    for (const { identifier } of rules) expect(compilerDeclares(TRICKY, identifier)).toBe(true);
    for (const decoy of [
      'in_line_comment',
      'in_block_comment',
      'also_in_block',
      'in_meta_string',
      'in_escaped_string',
      'in_regex',
    ])
      expect(compilerDeclares(TRICKY, decoy)).toBe(false);
  });

  it('counts a thousand generated rules', () => {
    const pack = Array.from(
      { length: 1000 },
      (_, i) => `rule pack_${i} { strings: $a = "needle-${i}" condition: $a }`,
    ).join('\n');
    expect(declaredRules(pack).map((rule) => rule.identifier)).toEqual(
      Array.from({ length: 1000 }, (_, i) => `pack_${i}`),
    );
  });
});
