import { compile, validate, type YaraX } from '@litko/yara-x';
import { COMPILE_OPTIONS, describeCompilerMessage } from './compiler.js';
import type { YaraTask, YaraTaskResult } from './yara-runner.js';

/**
 * A YARA worker thread (yara-runner.ts): checks sources, and scans bytes with rule sets compiled
 * on first use and kept while they are used (a tenant's pack is compiled once per thread, not
 * once per file).
 */

/** Compiled rule sets kept per thread, least recently used dropped first. */
const KEPT = 32;

const compiled = new Map<string, YaraX>();

function rulesFor(key: string, source: string): YaraX {
  const found = compiled.get(key);
  if (found) {
    compiled.delete(key);
    compiled.set(key, found);
    return found;
  }
  // The binding declares compile's result as a type it does not export (`YaraXImpl`).
  const rules = compile(source, COMPILE_OPTIONS) as unknown as YaraX;
  compiled.set(key, rules);
  if (compiled.size > KEPT) {
    const oldest = compiled.keys().next().value;
    if (oldest !== undefined) compiled.delete(oldest);
  }
  return rules;
}

export default function run(task: YaraTask): YaraTaskResult {
  if (task.kind === 'check') {
    const outcome = validate(task.source, COMPILE_OPTIONS);
    return {
      kind: 'check',
      errors: outcome.errors.map(describeCompilerMessage),
      warnings: outcome.warnings.map(describeCompilerMessage),
    };
  }
  const rules = rulesFor(task.rules.key, task.rules.source);
  const matches = rules.scan(
    Buffer.from(task.bytes.buffer, task.bytes.byteOffset, task.bytes.byteLength),
  );
  return {
    kind: 'scan',
    matches: matches.map((match) => ({
      rule: match.ruleIdentifier,
      namespace: match.namespace,
      meta: match.meta as Record<string, unknown>,
      tags: match.tags,
    })),
  };
}
