import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { SENSITIVE_TYPES, type SensitiveType } from '../core/sensitive-types.js';
import { AnalysisEngine } from '../scanning/analysis/analysis-engine.js';
import { SensitiveDataAnalyzer } from '../scanning/analysis/sensitive/sensitive-analyzer.js';
import { createFormatSet } from '../scanning/archives/formats/index.js';
import { DEFAULT_ARCHIVE_LIMITS } from '../scanning/builtin-engine.js';
import { defaultPlan } from '../scanning/plan.js';
import { classifyText } from '../scanning/sensitive/classify.js';
import {
  docxDocument,
  documentLines,
  KNOWN_COUNTS,
  pdfDocument,
} from '../test/support/sensitive-documents.js';
import {
  awsAccessKeys,
  awsSecretKeys,
  cardNumbers,
  emails,
  githubTokens,
  groupedInFours,
  ibanOf,
  ibans,
  jwts,
  luhnCheckDigit,
  privateKeys,
  slackTokens,
  ssns,
  stripeKeys,
} from '../test/support/sensitive-values.js';
import { MIB, median } from './engine-measure.js';
import type { BenchSection } from './report.js';
import { envInt, fmt, log } from './support.js';

/**
 * Benchmark: what the `sensitive_data` category costs and how well it tells values from
 * look-alikes.
 *
 * - Classification MB/s on the same text as a plain text file, a PDF (page text drawn with a
 *   standard font, content streams compressed) and a DOCX, through the analysis engine (walk,
 *   extraction, classification), beside the classifier alone on the text and a plain pass of
 *   one combined regular expression of the detectors' candidate shapes, without validation, over
 *   the file's bytes and over the text.
 * - Precision and recall per type on a labelled corpus generated here: true values of each type
 *   (check digits computed, as issuers make them) and look-alikes (orders failing Luhn, random
 *   nine-digit ids, base64 blobs, hashes, IBANs with wrong check digits, SSNs in ranges never
 *   issued, impossible phone numbers, truncated tokens), each line labelled; the same for the
 *   plain regular expressions.
 */

export interface SensitiveBenchSettings {
  /** Text in each input, in MiB. */
  textMiB: number;
  rounds: number;
  /** True values per type, and look-alikes per kind, in the labelled corpus. */
  corpus: number;
}

export function sensitiveBenchSettings(): SensitiveBenchSettings {
  return {
    textMiB: envInt('BENCH_SENSITIVE_MIB', 4),
    rounds: envInt('BENCH_SENSITIVE_ROUNDS', 3),
    corpus: envInt('BENCH_SENSITIVE_CORPUS', 200),
  };
}

/**
 * The candidate shapes of each type, as a first-pass filter would write them: no check digit,
 * no issuer table, no label, no context. What the detectors add is the validation.
 */
const CANDIDATES: Record<SensitiveType, RegExp> = {
  credit_card: /\b(?:\d[ -]?){12,18}\d\b/g,
  iban: /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b/g,
  us_ssn: /\b\d{3}-\d{2}-\d{4}\b/g,
  email: /[\w.+-]+@[\w-]+(?:\.[\w-]+)+/g,
  phone: /\+?\(?\d[\d ().-]{6,18}\d/g,
  aws_access_key: /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g,
  aws_secret_key: /(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{40}(?![A-Za-z0-9+/])/g,
  private_key: /-----BEGIN [A-Z ]*PRIVATE KEY[A-Z ]*-----/g,
  jwt: /\beyJ[\w-]+\.[\w-]+\.[\w-]*/g,
  github_token: /\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,})/g,
  slack_token: /\bxox[abprs]-[\w-]+|hooks\.slack\.com\/services\/\S+/g,
  stripe_key: /\b[sr]k_(?:live|test)_\w+/g,
};

const COMBINED = new RegExp(
  Object.values(CANDIDATES)
    .map((pattern) => `(?:${pattern.source})`)
    .join('|'),
  'g',
);

function countMatches(pattern: RegExp, text: string): number {
  const regex = new RegExp(pattern.source, pattern.flags);
  let count = 0;
  while (regex.exec(text) !== null) count += 1;
  return count;
}

/** Words for clean prose between the records. */
const WORDS = (
  'the quarterly review covers the accounts opened this year and the terms agreed with each ' +
  'customer so that the team can follow up on renewals and answer questions about invoices'
).split(' ');

/** `bytes` of prose with the documents' records and credentials every 4 KiB or so. */
function benchLines(bytes: number): { lines: string[]; blocks: number } {
  const lines: string[] = [];
  let length = 0;
  let blocks = 0;
  let state = 7;
  while (length < bytes) {
    for (let line = 0; line < 30; line++) {
      const words: string[] = [];
      for (let w = 0; w < 18; w++) {
        state = (state * 1103515245 + 12345) & 0x7fffffff;
        words.push(WORDS[state % WORDS.length]!);
      }
      const text = `${words.join(' ')}.`;
      lines.push(text);
      length += text.length + 1;
    }
    for (const line of documentLines()) {
      lines.push(line);
      length += line.length + 1;
    }
    blocks += 1;
  }
  return { lines, blocks };
}

interface ThroughputRow {
  input: string;
  fileBytes: number;
  textBytes: number;
  /** MB/s of file, and of the text it holds. */
  engine: number;
  engineText: number;
  classifier: number;
  /** The classifier alone with every type but `phone`. */
  classifierNoPhone: number;
  regexFile: number;
  regexText: number;
  regexFileCandidates: number;
  regexTextCandidates: number;
  counted: number;
  expected: number;
}

async function measureThroughput(
  settings: SensitiveBenchSettings,
  dir: string,
): Promise<ThroughputRow[]> {
  const { lines, blocks } = benchLines(settings.textMiB * MIB);
  const text = `${lines.join('\n')}\n`;
  const expected = Object.values(KNOWN_COUNTS).reduce((sum, count) => sum + count, 0) * blocks;
  log(`sensitive: building a ${settings.textMiB} MiB text, its PDF and its DOCX`);
  const inputs = [
    { input: 'text (.txt)', name: 'customers.txt', bytes: Buffer.from(text) },
    { input: 'PDF', name: 'customers.pdf', bytes: await pdfDocument(lines) },
    { input: 'DOCX', name: 'customers.docx', bytes: await docxDocument(lines) },
  ];
  const formats = createFormatSet({ sevenZip: { workers: 1 } });
  const engine = new AnalysisEngine([new SensitiveDataAnalyzer({ maxBytes: 256 * MIB })], {
    archive: DEFAULT_ARCHIVE_LIMITS,
    formats,
    scratchDir: dir,
  });
  const plan = { ...defaultPlan('bench'), categories: ['sensitive_data' as const] };
  const rows: ThroughputRow[] = [];
  try {
    // Untimed: the first calls compile the patterns and load libphonenumber-js's metadata.
    classifyText(text.slice(0, 64 * 1024), { types: SENSITIVE_TYPES });
    // The classifier alone, and the regex over the text, are the same for the three inputs.
    const classifierTimes: number[] = [];
    const noPhoneTimes: number[] = [];
    const regexTextTimes: number[] = [];
    let regexTextCandidates = 0;
    for (let round = 0; round < settings.rounds; round++) {
      let started = performance.now();
      classifyText(text, { types: SENSITIVE_TYPES });
      classifierTimes.push(performance.now() - started);
      started = performance.now();
      classifyText(text, { types: SENSITIVE_TYPES.filter((type) => type !== 'phone') });
      noPhoneTimes.push(performance.now() - started);
      started = performance.now();
      regexTextCandidates = countMatches(COMBINED, text);
      regexTextTimes.push(performance.now() - started);
    }
    const rate = (bytes: number, times: number[]) => bytes / MIB / (median(times) / 1000);
    for (const { input, name, bytes } of inputs) {
      log(`sensitive: ${input} (${fmt.num(bytes.length / MIB, 1)} MiB)`);
      const file = path.join(dir, name);
      await writeFile(file, bytes);
      const engineTimes: number[] = [];
      const regexFileTimes: number[] = [];
      let counted = 0;
      let regexFileCandidates = 0;
      await engine.scan({ path: file, size: bytes.length, name }, plan);
      for (let round = 0; round < settings.rounds; round++) {
        let started = performance.now();
        const [verdict] = await engine.scan({ path: file, size: bytes.length, name }, plan);
        engineTimes.push(performance.now() - started);
        counted = Object.values(verdict?.classification?.matches ?? {}).reduce(
          (sum, count) => sum + count,
          0,
        );
        started = performance.now();
        regexFileCandidates = countMatches(COMBINED, bytes.toString('latin1'));
        regexFileTimes.push(performance.now() - started);
      }
      rows.push({
        input,
        fileBytes: bytes.length,
        textBytes: Buffer.byteLength(text),
        engine: rate(bytes.length, engineTimes),
        engineText: rate(Buffer.byteLength(text), engineTimes),
        classifier: rate(Buffer.byteLength(text), classifierTimes),
        classifierNoPhone: rate(Buffer.byteLength(text), noPhoneTimes),
        regexFile: rate(bytes.length, regexFileTimes),
        regexText: rate(Buffer.byteLength(text), regexTextTimes),
        regexFileCandidates,
        regexTextCandidates,
        counted,
        expected,
      });
    }
  } finally {
    await engine.close();
  }
  return rows;
}

interface Labelled {
  line: string;
  /** The type of the value the line holds; undefined for a look-alike. */
  type: SensitiveType | undefined;
}

const sample = <T>(arbitrary: fc.Arbitrary<T>, count: number, seed: number): T[] =>
  fc.sample(arbitrary, { numRuns: count, seed });

/** Fictional US numbers (555-0100 to 555-0199) in real area codes, and UK drama numbers. */
function phones(count: number): string[] {
  const areas = [202, 212, 213, 305, 312, 415, 512, 617, 646, 702, 718, 805, 917];
  return Array.from({ length: count }, (_, index) => {
    const last = String(index % 100).padStart(2, '0');
    return index % 3 === 2
      ? `+44 20 7946 0${String(index % 1000).padStart(3, '0')}`
      : `(${areas[index % areas.length]}) 555-01${last}`;
  });
}

/** True values of every type, in the lines they would sit in. */
function trueValues(count: number): Labelled[] {
  const of = (type: SensitiveType, values: string[], line: (value: string) => string) =>
    values.map((value) => ({ line: line(value), type }));
  const cards = sample(cardNumbers, count, 1).map((card, index) =>
    index % 2 === 0 && card.length === 16
      ? groupedInFours(card, index % 4 === 0 ? ' ' : '-')
      : card,
  );
  return [
    ...of('credit_card', cards, (v) => `Paid with card ${v} on the 3rd.`),
    ...of('iban', sample(ibans, count, 2), (v) => `Transfer to ${v} please.`),
    ...of('us_ssn', sample(ssns, count, 3), (v) => `Employee record, SSN ${v}.`),
    ...of('email', sample(emails, count, 4), (v) => `Write to ${v} for details.`),
    ...of('phone', phones(count), (v) => `Call ${v} after nine.`),
    ...of('aws_access_key', sample(awsAccessKeys, count, 5), (v) => `key id ${v}`),
    ...of('aws_secret_key', sample(awsSecretKeys, count, 6), (v) => `aws_secret_access_key = ${v}`),
    ...of('private_key', sample(privateKeys, Math.min(count, 50), 7), (v) => v),
    ...of('jwt', sample(jwts, count, 8), (v) => `Authorization: Bearer ${v}`),
    ...of('github_token', sample(githubTokens, count, 9), (v) => `token ${v}`),
    ...of('slack_token', sample(slackTokens, count, 10), (v) => `SLACK=${v}`),
    ...of('stripe_key', sample(stripeKeys, count, 11), (v) => `STRIPE_KEY=${v}`),
  ];
}

/** Digits from a fixed seed, so that the corpus is the same on every run. */
function digitSource(seed: number): (length: number) => string {
  let state = seed;
  return (length) => {
    let digits = '';
    while (digits.length < length) {
      state = (state * 1103515245 + 12345) % 2147483648;
      digits += String(Math.floor(state / 65536) % 10);
    }
    return digits;
  };
}

/** A UUID's shape from a hash, so that the corpus is the same on every run. */
function uuidShaped(index: number): string {
  const hex = createHash('md5').update(`uuid ${index}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

/** What the values are confused with, `count` of each kind. */
function lookAlikes(count: number): Labelled[] {
  const digits = digitSource(99);
  const lines: string[] = [];
  const validIban = ibanOf('DE', '370400440532013000');
  for (let index = 0; index < count; index++) {
    const body = `${index % 2 === 0 ? '4' : '5'}${digits(14)}`;
    const wrong = String((Number(luhnCheckDigit(body)) + 1 + (index % 9)) % 10);
    const blob = createHash('sha512').update(`blob ${index}`).digest('base64');
    lines.push(
      `Order ${body}${wrong} shipped`,
      `customer id ${digits(9)}`,
      `tracking ${digits(10)} and ${digits(12)}`,
      `attachment: ${blob}`,
      `sha256 ${createHash('sha256').update(String(index)).digest('hex')}`,
      `uuid ${uuidShaped(index)}`,
      `SSN ${['000', '666', '912'][index % 3]}-${digits(2)}-${digits(4)}`,
      `phone (123) 456-${digits(4)}`,
      `build 5.4.${index}-150-generic at ${1_700_000_000 + index * 3600}`,
      `key id AKIA${digits(8)}`,
      `token ghp_${digits(12)}`,
      `STRIPE_KEY=sk_live_${digits(10)}`,
      `eyJub3QiOiJqc29uIn0.e30.${digits(8)}`,
    );
  }
  // IBANs with every check digit but the right one.
  for (let check = 0; check < Math.min(count, 100); check++) {
    const wrong = `DE${String(check).padStart(2, '0')}${validIban.slice(4)}`;
    if (wrong !== validIban) lines.push(`IBAN ${wrong}`);
  }
  return lines.map((line) => ({ line, type: undefined }));
}

interface Score {
  values: number;
  found: number;
  falsePositives: number;
}

function score(
  corpus: readonly Labelled[],
  count: (line: string, type: SensitiveType) => number,
): Map<SensitiveType, Score> {
  const scores = new Map<SensitiveType, Score>(
    SENSITIVE_TYPES.map((type) => [type, { values: 0, found: 0, falsePositives: 0 }]),
  );
  for (const { line, type: labelled } of corpus) {
    for (const type of SENSITIVE_TYPES) {
      const got = count(line, type);
      const entry = scores.get(type)!;
      if (type === labelled) {
        entry.values += 1;
        entry.found += Math.min(1, got);
        entry.falsePositives += Math.max(0, got - 1);
      } else {
        entry.falsePositives += got;
      }
    }
  }
  return scores;
}

interface PrecisionRow {
  type: SensitiveType;
  values: number;
  detector: Score;
  regex: Score;
}

function measurePrecision(settings: SensitiveBenchSettings): {
  rows: PrecisionRow[];
  lookAlikes: number;
} {
  const alikes = lookAlikes(settings.corpus);
  const corpus = [...trueValues(settings.corpus), ...alikes];
  const classified = new Map<string, Partial<Record<SensitiveType, number>>>();
  for (const { line } of corpus)
    classified.set(line, classifyText(line, { types: SENSITIVE_TYPES }).matches);
  const detector = score(corpus, (line, type) => classified.get(line)?.[type] ?? 0);
  const regex = score(corpus, (line, type) => countMatches(CANDIDATES[type], line));
  return {
    rows: SENSITIVE_TYPES.map((type) => ({
      type,
      values: detector.get(type)!.values,
      detector: detector.get(type)!,
      regex: regex.get(type)!,
    })),
    lookAlikes: alikes.length,
  };
}

const candidates = (count: number) =>
  `${fmt.int(count)} ${count === 1 ? 'candidate' : 'candidates'}`;

const precision = (s: Score) =>
  s.found + s.falsePositives === 0 ? 1 : s.found / (s.found + s.falsePositives);
const recall = (s: Score) => (s.values === 0 ? 1 : s.found / s.values);

export async function runSensitive(settings = sensitiveBenchSettings()): Promise<BenchSection> {
  const dir = await mkdtemp(path.join(tmpdir(), 'arbiter-bench-sensitive-'));
  try {
    const throughput = await measureThroughput(settings, dir);
    log('sensitive: precision and recall on the labelled corpus');
    const { rows, lookAlikes: alikes } = measurePrecision(settings);
    return section(settings, throughput, rows, alikes);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function section(
  settings: SensitiveBenchSettings,
  throughput: ThroughputRow[],
  precisionRows: PrecisionRow[],
  lookAlikeLines: number,
): BenchSection {
  const mbs = (value: number) => fmt.num(value, 1);
  const pct = (value: number) => `${fmt.num(value * 100, 1)} %`;
  const text = throughput[0];
  const total = (pick: (row: PrecisionRow) => Score) =>
    precisionRows.reduce(
      (sum, row) => ({
        values: sum.values + pick(row).values,
        found: sum.found + pick(row).found,
        falsePositives: sum.falsePositives + pick(row).falsePositives,
      }),
      { values: 0, found: 0, falsePositives: 0 },
    );
  const detectorTotal = total((row) => row.detector);
  const regexTotal = total((row) => row.regex);
  const reading: string[] = [];
  if (text)
    reading.push(
      `The classifier alone read the ${settings.textMiB} MiB text at ${mbs(text.classifier)} MB/s; ` +
        `one combined regular expression of the candidate shapes, without validation, at ` +
        `${mbs(text.regexText)} MB/s over the same text. Through the analysis engine (walk, ` +
        `reading, classification) the text file went at ${mbs(text.engine)} MB/s. Without ` +
        `\`phone\` the classifier read ${mbs(text.classifierNoPhone)} MB/s: finding and validating ` +
        `phone numbers (libphonenumber-js) took ${fmt.pct(1 - text.classifier / text.classifierNoPhone)} ` +
        "of the classifier's time.",
    );
  for (const row of throughput.slice(1))
    reading.push(
      `The ${row.input} (${fmt.num(row.fileBytes / MIB, 1)} MiB, its text compressed) went through ` +
        `the engine at ${mbs(row.engine)} MB/s of file (${mbs(row.engineText)} MB/s of the text it ` +
        `holds), counting ${fmt.int(row.counted)} of the ` +
        `${fmt.int(row.expected)} values; the regular expression over its bytes ran at ` +
        `${mbs(row.regexFile)} MB/s and met ${candidates(row.regexFileCandidates)}: a pass ` +
        `over a document's raw bytes does not see its text.`,
    );
  reading.push(
    `On the labelled corpus the detectors found ${fmt.int(detectorTotal.found)} of ` +
      `${fmt.int(detectorTotal.values)} values with ${fmt.int(detectorTotal.falsePositives)} false ` +
      `positives (precision ${pct(precision(detectorTotal))}, recall ${pct(recall(detectorTotal))}); ` +
      `the candidate regular expressions, ${fmt.int(regexTotal.found)} with ` +
      `${fmt.int(regexTotal.falsePositives)} false positives (precision ` +
      `${pct(precision(regexTotal))}): the validation is what keeps order numbers, ids and blobs out.`,
  );
  return {
    title: 'Sensitive data: classification speed, precision and recall',
    measured:
      `Speed: the same ${settings.textMiB} MiB of text (prose with three customers' records and ` +
      'five credentials every 4 KiB or so) as a text file, a PDF drawn with `pdf-lib` (a standard ' +
      'font, compressed content streams, 38 lines a page) and a DOCX (a paragraph a line), each ' +
      'scanned by the analysis engine with only the `sensitive_data` analyzer and every type on ' +
      `(walk, reading, classification), median of ${settings.rounds} rounds after an untimed one, ` +
      'in MB/s of the file and of the text it holds. ' +
      `Accuracy: a corpus of ${settings.corpus} true values of each type (${settings.corpus > 50 ? 50 : settings.corpus} PEM ` +
      'private keys), generated with their check digits as issuers make them, each on a line of ' +
      `context, and ${fmt.int(lookAlikeLines)} look-alike lines (orders failing Luhn, nine- to ` +
      'twelve-digit ids, base64 blobs, hashes, UUIDs, IBANs with wrong check digits, SSNs in ' +
      'ranges never issued, impossible phone numbers, truncated keys and tokens, a JWT without ' +
      '`alg`), each line classified alone.',
    baseline:
      'The classifier alone over the same text (no walk, no reading), and a plain pass of one ' +
      "combined regular expression of the detectors' candidate shapes, without validation, over " +
      "the file's bytes and over the text, in the same run. Accuracy: the same candidate " +
      'expressions, type by type, on the same corpus.',
    tables: [
      {
        caption: 'Classification speed (MB/s)',
        columns: [
          'Input',
          'File MiB',
          'Analysis engine (file)',
          'Analysis engine (text)',
          'Classifier alone (text)',
          'Regex over the file',
          'Regex over the text',
          'Values counted / in it',
        ],
        rows: throughput.map((row) => [
          row.input,
          fmt.num(row.fileBytes / MIB, 2),
          mbs(row.engine),
          mbs(row.engineText),
          mbs(row.classifier),
          `${mbs(row.regexFile)} (${candidates(row.regexFileCandidates)})`,
          `${mbs(row.regexText)} (${candidates(row.regexTextCandidates)})`,
          `${fmt.int(row.counted)} / ${fmt.int(row.expected)}`,
        ]),
      },
      {
        caption: 'Precision and recall on the labelled corpus',
        columns: [
          'Type',
          'Values',
          'Found',
          'False positives',
          'Precision',
          'Recall',
          'Regex precision',
          'Regex recall',
        ],
        rows: [
          ...precisionRows.map((row) => [
            `\`${row.type}\``,
            row.values,
            row.detector.found,
            row.detector.falsePositives,
            pct(precision(row.detector)),
            pct(recall(row.detector)),
            pct(precision(row.regex)),
            pct(recall(row.regex)),
          ]),
          [
            'all',
            detectorTotal.values,
            detectorTotal.found,
            detectorTotal.falsePositives,
            pct(precision(detectorTotal)),
            pct(recall(detectorTotal)),
            pct(precision(regexTotal)),
            pct(recall(regexTotal)),
          ],
        ],
      },
    ],
    reading,
    notes: [
      'A false positive is a value counted on a line that holds none of that type (a look-alike, ' +
        "or another type's value: a card number that is also read as a phone number counts " +
        'against `phone`); a value counted twice on its own line counts once found, once false.',
      'The corpus is generated here from the formats the detectors document (docs/sensitive-data.md): ' +
        'it measures how look-alikes are kept out and that every documented form is found, not ' +
        'recall on the odder forms real documents hold.',
      'The text row of the engine and the classifier alone classify the same text (the engine adds ' +
        'the walk and reads it in chunks); on a shared machine (load average in the run line) ' +
        'their difference is within the noise. A PDF costs more than its text: the walker decodes ' +
        'each page’s content stream and its object streams, and each page is a piece of its own.',
      'Phone numbers are read in the default region (`US`); numbers written nationally must be ' +
        'formatted, which is why bare ten-digit ids are not counted (docs/sensitive-data.md).',
      'Settings: `BENCH_SENSITIVE_MIB` (text per input), `BENCH_SENSITIVE_ROUNDS`, ' +
        '`BENCH_SENSITIVE_CORPUS` (values per type, look-alikes per kind).',
    ],
  };
}
