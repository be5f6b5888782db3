import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compile, validate, type YaraX } from '@litko/yara-x';
import type { Logger } from '../../../core/logger.js';
import {
  COMPILE_OPTIONS,
  describeCompilerMessage,
  type CompilerMessage,
} from '../yara/compiler.js';
import { declaredRules } from '../yara/rule-identifiers.js';
import type { RuleSet } from '../yara/yara-runner.js';

/**
 * A language rule pack: the `.yar`/`.yara` files of a folder, read recursively in path order and
 * compiled as one rule set. The built-in pack is `rules/` beside this module (copied into
 * `dist/` by the build), a folder per ISO 639-1 code; `ARBITER_LANGUAGE_RULES_DIR` names
 * another one to use instead. A rule reports a finding when it is named
 * `content_<language>_language_<…>`: `content_en_language_nsfw_3` → `content.en.language.nsfw.3`.
 */
export interface LanguagePack {
  rules: RuleSet;
  /** `arbiter-language/<sha256 of the source, short> (<n> rules, en)`, recorded with results. */
  version: string;
  /** Rules that report a finding. */
  ruleCount: number;
  /** ISO 639-1 codes the rules name, sorted. */
  languages: string[];
}

/** The built-in pack's folder, beside this module in the sources and in `dist/`. */
export const BUILTIN_RULES_DIR = fileURLToPath(new URL('./rules/', import.meta.url));

/** `content_<language>_language_<…>`: the language is the first part (`en` of `en_racial`). */
const LANGUAGE_RULE = /^content_([a-z]{2,3})(?:_[a-z0-9]+)*?_language_\w+$/;

/** The finding a rule reports, or undefined for a rule that does not follow the naming. */
export function languageFinding(rule: string): string | undefined {
  return LANGUAGE_RULE.test(rule) ? rule.replace(/_/g, '.') : undefined;
}

/** The documented test contents (docs/engines.md) and the finding each must give. */
export const DOCUMENTED_TEST_CONTENTS: readonly { text: string; finding: string }[] = [
  { text: 'C681D880-8EB3-4D8F-B2E6-FE25EB415C47', finding: 'content.en.language.nsfw.0' },
  { text: 'E78F3BC5-9633-4FF8-9311-148ACC4880DF', finding: 'content.en.language.nsfw.test' },
];

/** A pack that cannot be used: the message names each file and line at fault. */
export class LanguageRulesError extends Error {
  override name = 'LanguageRulesError';
}

interface PackFile {
  /** Relative to the pack's folder. */
  name: string;
  /** First line of the file in the combined source (1-based) and its number of lines. */
  firstLine: number;
  lines: number;
}

/**
 * Reads and checks a pack once, at start-up: a file that does not compile fails the start with
 * its name and line. Files made only of `include` statements (the bundles of packs that also
 * ship each language alone) are skipped, since every file of the folder is read anyway and
 * includes are off. Rules not named for a language are reported and never give findings.
 * A pack other than the built-in one is tried on the documented test contents, with a warning
 * for each it does not detect.
 */
export async function loadLanguagePack(
  logger: Logger,
  dir: string | undefined,
): Promise<LanguagePack> {
  const folder = dir ?? BUILTIN_RULES_DIR;
  const files = await ruleFiles(folder);
  const parts: string[] = [];
  const layout: PackFile[] = [];
  let nextLine = 1;
  for (const file of files) {
    const source = await readFile(path.join(folder, file), 'utf8');
    if (isIncludeBundle(source)) {
      logger.warn({ file, folder }, 'language rules: skipped a file of include statements only');
      continue;
    }
    const lines = source.split('\n').length;
    layout.push({ name: file, firstLine: nextLine, lines });
    parts.push(source);
    nextLine += lines;
  }
  if (layout.length === 0)
    throw new LanguageRulesError(`language rules: no .yar or .yara file with rules in ${folder}`);
  const source = parts.join('\n');
  const outcome = validate(source, COMPILE_OPTIONS);
  if (outcome.errors.length > 0) {
    const problems = outcome.errors.map((raw) => placed(describeCompilerMessage(raw), layout));
    throw new LanguageRulesError(
      `language rules in ${folder} do not compile:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
  for (const raw of outcome.warnings)
    logger.warn({ folder }, `language rules: ${placed(describeCompilerMessage(raw), layout)}`);
  const names = ruleNames(source);
  const ignored = names.filter((name) => languageFinding(name) === undefined);
  if (ignored.length > 0)
    logger.warn(
      { folder, rules: ignored.slice(0, 20), count: ignored.length },
      'language rules: rules not named content_<language>_language_<…> give no finding',
    );
  const reporting = names.filter((name) => languageFinding(name) !== undefined);
  const languages = [
    ...new Set(reporting.map((name) => LANGUAGE_RULE.exec(name)?.[1] ?? '')),
  ].sort();
  const sha = createHash('sha256').update(source).digest('hex').slice(0, 12);
  const pack: LanguagePack = {
    rules: { key: `language:${sha}`, source },
    version: `${dir === undefined ? 'arbiter-language' : 'custom-language'}/${sha} (${reporting.length} rules, ${languages.join(', ')})`,
    ruleCount: reporting.length,
    languages,
  };
  if (dir !== undefined) warnOfMissingTestContents(pack, logger, folder);
  return pack;
}

/**
 * The pack's rule files, relative to `folder`, in path order. Links to files count (a Kubernetes
 * ConfigMap volume is links into a hidden folder); hidden files and folders do not (that
 * ConfigMap folder, `.git`), so no file is read twice.
 */
async function ruleFiles(folder: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(folder, { recursive: true, withFileTypes: true });
  } catch (error) {
    throw new LanguageRulesError(
      `language rules: cannot read ${folder}: ${(error as Error).message}`,
    );
  }
  const files: string[] = [];
  for (const entry of entries) {
    const file = path.relative(folder, path.join(entry.parentPath, entry.name));
    if (!/\.yara?$/i.test(entry.name) || file.split(path.sep).some((part) => part.startsWith('.')))
      continue;
    if (entry.isFile() || (entry.isSymbolicLink() && (await isFileBehindLink(folder, file))))
      files.push(file);
  }
  return files.sort();
}

async function isFileBehindLink(folder: string, file: string): Promise<boolean> {
  return stat(path.join(folder, file)).then(
    (target) => target.isFile(),
    () => false,
  );
}

/** Only comments and `include "…"` lines. */
function isIncludeBundle(source: string): boolean {
  const code = withoutComments(source)
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  return code.length > 0 && code.every((line) => /^include\s+"[^"]*"$/.test(line));
}

function withoutComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

/** The identifiers of the rules a source declares, private rules (they never match) aside. */
function ruleNames(source: string): string[] {
  return declaredRules(source)
    .filter((rule) => !rule.private)
    .map((rule) => rule.identifier);
}

/** A compiler message placed in its file: `en/profanity.yar:12:5: unknown identifier …`. */
function placed(message: CompilerMessage, layout: readonly PackFile[]): string {
  const line = message.line;
  const file =
    line === undefined
      ? undefined
      : layout.find((f) => line >= f.firstLine && line < f.firstLine + f.lines);
  if (!file || line === undefined) return message.message;
  const column = message.column === undefined ? '' : `:${message.column}`;
  return `${file.name}:${line - file.firstLine + 1}${column}: ${message.message}`;
}

/**
 * Clients check the category with the documented test contents: say at start-up when a pack
 * of the operator's does not detect them (its own numbering may not have them).
 */
function warnOfMissingTestContents(pack: LanguagePack, logger: Logger, folder: string): void {
  // The binding declares compile's result as a type it does not export (`YaraXImpl`).
  const rules = compile(pack.rules.source, COMPILE_OPTIONS) as unknown as YaraX;
  for (const { text, finding } of DOCUMENTED_TEST_CONTENTS) {
    const found = rules
      .scan(Buffer.from(text))
      .map((match) => languageFinding(match.ruleIdentifier));
    if (!found.includes(finding))
      logger.warn(
        { folder, text, finding },
        'language rules: this pack does not detect a documented test content (see docs/engines.md, "Unsafe language")',
      );
  }
}
