import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../core/logger.js';
import { BuiltinEngine } from '../scanning/builtin-engine.js';
import { ClamdEngine } from '../scanning/clamd-engine.js';
import type { ScanTarget } from '../scanning/engine.js';
import { isUnscannableFinding, maliciousFinding } from '../scanning/findings.js';
import { seededRng } from '../test/support/signature-gen.js';
import {
  RATE_COLUMNS,
  builtinInChild,
  clamdSignatureCount,
  measureThroughput,
  mib,
  procMemory,
  startBenchClamd,
  type Scan,
  type Throughput,
} from './engine-measure.js';
import {
  DATABASE_TYPES,
  HASH_SPLIT,
  officialDatabaseSettings,
  writeOfficialDatabase,
  type OfficialDatabase,
  type OfficialDatabaseSettings,
} from './official-database.js';
import {
  CORPUS_KINDS,
  buildRealisticCorpus,
  corpusSettings,
  writePlantedFiles,
  type CorpusFile,
  type CorpusKind,
  type CorpusSettings,
  type PlantedFile,
} from './realistic-corpus.js';
import type { BenchSection, BenchTable } from './report.js';
import { envInt, fmt, log, onCleanup } from './support.js';

/**
 * Benchmark: the built-in engine beside clamd on a database shaped like ClamAV's official one
 * (bench/official-database.ts: 4 million hashes, 100,000 body and 20,000 logical signatures,
 * generated) and on a corpus of realistic files (bench/realistic-corpus.ts: PE and ELF
 * executables, PDFs, Office documents, archives, mail), both built at bench time:
 *
 * - throughput per kind of file and overall: each engine's real `scan()`, one file at a time
 *   (clamd over INSTREAM through ClamdEngine), MB/s and files/s, the median of the rounds;
 * - load time: the built-in engine in a fresh process until `BuiltinEngine.load` returns; clamd
 *   from spawn to the first PONG;
 * - resident memory: the peak RSS (VmHWM) of the fresh built-in process after loading and after
 *   scanning the corpus, and clamd's after loading and after the throughput rounds;
 * - verdicts: what each engine flagged in the corpus (nothing should match), and a few planted
 *   files that match one signature of each type, so both engines are seen to detect.
 */

export interface OfficialBenchSettings {
  database: OfficialDatabaseSettings;
  corpus: CorpusSettings;
  rounds: number;
  /** Time one engine may spend on one kind of file (at least one file is always scanned). */
  cellSeconds: number;
  /** How long clamd may take to load the database. */
  clamdStartSeconds: number;
}

export function officialBenchSettings(): OfficialBenchSettings {
  return {
    database: officialDatabaseSettings(),
    corpus: corpusSettings(),
    rounds: envInt('BENCH_OFFICIAL_ROUNDS', 3),
    cellSeconds: envInt('BENCH_OFFICIAL_CELL_SECONDS', 20),
    clamdStartSeconds: envInt('BENCH_OFFICIAL_CLAMD_START_SECONDS', 180),
  };
}

interface EngineRun {
  version: string;
  /** Fresh process to ready: the built-in engine's load, clamd's spawn → first PONG. */
  loadMs: number;
  /** VmHWM after loading and after scanning the corpus; VmRSS after scanning. */
  memory: { loaded: number; scanned: number; rss: number };
  throughput: Throughput[];
  /** Findings per corpus file and per planted file, by path. */
  verdicts: Map<string, string[]>;
  /** Signatures the engine says it loaded (undefined: it did not say). */
  signatures: number | undefined;
  /** What else the engine said about its load. */
  loadDetail: string;
}

/**
 * The files of each kind in a seeded random order: when a slow engine runs out of time in a
 * round, the files it did scan are a fair sample of the kind (the ELF files, for one, are
 * selected in order of size).
 */
function kindGroups(files: CorpusFile[]): Array<{ label: string; files: CorpusFile[] }> {
  const rng = seededRng(0x0dd_5eed);
  return CORPUS_KINDS.map((kind) => ({
    label: kind,
    files: files
      .filter((f) => f.kind === kind)
      .map((file) => ({ file, key: rng() }))
      .sort((a, b) => a.key - b.key)
      .map(({ file }) => file),
  })).filter((group) => group.files.length > 0);
}

/** The throughput rounds, then each planted file once; every verdict is kept. */
async function scanEverything(
  scan: Scan,
  corpus: CorpusFile[],
  planted: PlantedFile[],
  settings: OfficialBenchSettings,
  what: string,
): Promise<{ throughput: Throughput[]; verdicts: Map<string, string[]> }> {
  const verdicts = new Map<string, string[]>();
  const keep = (target: ScanTarget, verdict: { findings: string[] }) =>
    verdicts.set(target.path, verdict.findings);
  const throughput = await measureThroughput(scan, kindGroups(corpus), settings, what, keep);
  for (const file of planted) keep(file, await scan(file));
  return { throughput, verdicts };
}

async function runBuiltin(
  db: OfficialDatabase,
  corpus: CorpusFile[],
  planted: PlantedFile[],
  settings: OfficialBenchSettings,
  work: string,
): Promise<EngineRun> {
  // A fresh process: load time, then memory after loading and after scanning every file once.
  const steps = await builtinInChild(
    db.dir,
    path.join(work, 'scratch-child'),
    [...corpus, ...planted].map(({ path, size, name }) => ({ path, size, name })),
    600_000,
  );
  const loaded = steps[1];
  const last = steps.at(-1);
  if (!loaded || !last || steps.length !== corpus.length + planted.length + 2)
    throw new Error(`the engine child process reported ${steps.length} steps`);
  log(`  built-in: loaded in ${fmt.ms(loaded.ms, 0)} (VmHWM ${mib(loaded.hwm)})`);

  // Throughput in this process, through the same `scan()` the worker calls.
  const engine = await BuiltinEngine.load(db.dir, createLogger('silent'), {
    scratchDir: path.join(work, 'scratch'),
  });
  try {
    const described = engine.describe();
    const { throughput, verdicts } = await scanEverything(
      (t) => engine.scan(t),
      corpus,
      planted,
      settings,
      'built-in',
    );
    return {
      version: engine.version,
      loadMs: loaded.ms,
      memory: { loaded: loaded.hwm, scanned: last.hwm, rss: last.rss },
      throughput,
      verdicts,
      signatures: described.signatures,
      loadDetail:
        `read ${engine.database.files.join(', ')}; ${fmt.int(described.problems ?? 0)} lines skipped, ` +
        `${fmt.int(described.warnings ?? 0)} loaded with a caveat`,
    };
  } finally {
    await engine.close();
  }
}

async function runClamd(
  db: OfficialDatabase,
  corpus: CorpusFile[],
  planted: PlantedFile[],
  settings: OfficialBenchSettings,
): Promise<EngineRun> {
  const clamd = await startBenchClamd(
    db.dir,
    Math.max(...[...corpus, ...planted].map((f) => f.size)),
    settings.clamdStartSeconds * 1000,
  );
  const unregister = onCleanup(() => clamd.stop());
  try {
    const pid = clamd.pid();
    if (pid === undefined) throw new Error('clamd is not running');
    const loaded = await procMemory(pid);
    log(`  clamd: loaded in ${fmt.ms(clamd.lastStartMs(), 0)} (VmHWM ${mib(loaded.hwm)})`);
    const engine = await ClamdEngine.create(
      { address: clamd.unixAddress, timeoutMs: 600_000, poolSize: 1 },
      createLogger('silent'),
    );
    try {
      const { throughput, verdicts } = await scanEverything(
        (t) => engine.scan(t),
        corpus,
        planted,
        settings,
        'clamd',
      );
      return {
        version: engine.currentVersion ?? 'unknown',
        loadMs: clamd.lastStartMs(),
        memory: { loaded: loaded.hwm, ...(await scannedMemory(pid)) },
        throughput,
        verdicts,
        signatures: await clamdSignatureCount(clamd),
        loadDetail: 'its log line "Loaded N signatures."',
      };
    } finally {
      await engine.close();
    }
  } finally {
    unregister();
    await clamd.stop();
  }
}

async function scannedMemory(pid: number): Promise<{ scanned: number; rss: number }> {
  const { hwm, rss } = await procMemory(pid);
  return { scanned: hwm, rss };
}

export async function runEnginesOfficial(
  settings = officialBenchSettings(),
): Promise<BenchSection> {
  const loadAtStart = loadavg()[0] ?? 0;
  const work = await mkdtemp(path.join(tmpdir(), 'arbiter-bench-official-'));
  const removeWork = onCleanup(() => rm(work, { recursive: true, force: true }));
  try {
    log('engines-official: building the corpus');
    let started = performance.now();
    const { files: corpus, sources } = await buildRealisticCorpus(
      path.join(work, 'corpus'),
      settings.corpus,
    );
    const planted = await writePlantedFiles(path.join(work, 'planted'), sources);
    const corpusSeconds = (performance.now() - started) / 1000;
    log(`engines-official: writing the database`);
    started = performance.now();
    const db = await writeOfficialDatabase(path.join(work, 'db'), settings.database, planted.lines);
    const databaseSeconds = (performance.now() - started) / 1000;
    log(`  ${fmt.int(db.total)} lines, ${mib(db.bytes)} in ${fmt.num(databaseSeconds)} s`);

    log('engines-official: built-in engine');
    const builtin = await runBuiltin(db, corpus, planted.files, settings, work);
    log('engines-official: clamd');
    const clamd = await runClamd(db, corpus, planted.files, settings);
    return section(settings, {
      db,
      corpus,
      planted: planted.files,
      builtin,
      clamd,
      build: { corpusSeconds, databaseSeconds },
      load: { start: loadAtStart, end: loadavg()[0] ?? 0 },
    });
  } finally {
    removeWork();
    await rm(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// The report section

interface Results {
  db: OfficialDatabase;
  corpus: CorpusFile[];
  planted: PlantedFile[];
  builtin: EngineRun;
  clamd: EngineRun;
  build: { corpusSeconds: number; databaseSeconds: number };
  load: { start: number; end: number };
}

const KIND_TEXT: Record<CorpusKind, string> = {
  pe: "Windows PE executables: the launchers in Debian's Python wheels (/usr/share/python-wheels) and ClamAV's packed test executables (clamav-testfiles), as they are",
  elf: 'ELF programs and shared libraries from /usr/bin and /usr/lib/x86_64-linux-gnu (16 KiB–24 MiB, evenly spread over the list sorted by size), as they are',
  pdf: 'PDF 1.7, 3–30 pages of Debian copyright and changelog text in Flate-compressed content streams; every other one with a real executable as an embedded file',
  office:
    'Word (.docx) and Excel (.xlsx) documents: OOXML parts in a zip, text paragraphs, shared strings and numbers',
  archive:
    "zip (deflate), tar.gz and 7z (LZMA, Debian's 7z) of 4–14 real executables and text files",
  mail: 'MIME messages: a text part and 1–3 base64 attachments (real executables)',
};

/** Overall rate: all timed scans of all kinds, bytes (or files) over time. */
function overall(throughput: Throughput[]): { mbPerSecond: number; filesPerSecond: number } {
  const seconds = throughput.reduce((sum, t) => sum + t.seconds, 0);
  return {
    mbPerSecond: throughput.reduce((sum, t) => sum + t.scannedBytes, 0) / 1e6 / seconds,
    filesPerSecond: throughput.reduce((sum, t) => sum + t.scanned, 0) / seconds,
  };
}

function flagged(run: EngineRun, files: Array<{ path: string }>) {
  let malicious = 0;
  let unscannable = 0;
  const examples: string[] = [];
  for (const file of files) {
    const findings = run.verdicts.get(file.path) ?? [];
    if (findings.length === 0) continue;
    if (findings.some((f) => !isUnscannableFinding(f))) malicious += 1;
    else unscannable += 1;
    if (examples.length < 4) examples.push(`${path.basename(file.path)}: ${findings.join(', ')}`);
  }
  return { malicious, unscannable, examples };
}

function section(settings: OfficialBenchSettings, r: Results): BenchSection {
  const { db, corpus, builtin, clamd } = r;
  const corpusBytes = corpus.reduce((sum, f) => sum + f.size, 0);
  const kinds = CORPUS_KINDS.filter((kind) => corpus.some((f) => f.kind === kind));
  const ofKind = (kind: CorpusKind) => corpus.filter((f) => f.kind === kind);
  const corpusTable: BenchTable = {
    caption: `The corpus: ${fmt.int(corpus.length)} files, ${mib(corpusBytes)}`,
    columns: ['Kind', 'Files', 'Size', 'What'],
    rows: kinds.map((kind) => [
      kind,
      fmt.int(ofKind(kind).length),
      mib(ofKind(kind).reduce((sum, f) => sum + f.size, 0)),
      KIND_TEXT[kind],
    ]),
  };

  const loaded = (run: EngineRun) =>
    run.signatures === undefined
      ? 'not reported'
      : `${fmt.int(run.signatures)} (${fmt.pct(run.signatures / db.total)})`;
  const typeText: Record<(typeof DATABASE_TYPES)[number], string> = {
    hsb: 'whole-file SHA-256 hashes',
    hdb: 'whole-file MD5 hashes',
    mdb: 'PE section MD5 hashes',
    ndb: 'body signatures',
    ldb: 'logical signatures',
  };
  const databaseTable: BenchTable = {
    caption: `The database: ${fmt.int(db.total)} lines, ${mib(db.bytes)}`,
    columns: ['File type', 'Lines', 'What'],
    rows: [
      ...DATABASE_TYPES.map((t) => [`.${t}`, fmt.int(db.counts[t]), typeText[t]]),
      ['all', fmt.int(db.total), ''],
    ],
  };
  const loadTable: BenchTable = {
    caption: 'Loading the database',
    columns: [
      'Engine',
      'Signatures loaded',
      'Load (built-in: `BuiltinEngine.load` in a fresh process; clamd: spawn → first PONG)',
      'What the engine reported',
    ],
    rows: [
      ['built-in', loaded(builtin), fmt.ms(builtin.loadMs, 0), builtin.loadDetail],
      ['clamd', loaded(clamd), fmt.ms(clamd.loadMs, 0), clamd.loadDetail],
    ],
  };

  const rate = (t: Throughput) =>
    t.range[0] === t.range[1]
      ? fmt.num(t.medianMbPerSecond)
      : `${fmt.num(t.medianMbPerSecond)} (${fmt.num(t.range[0])}–${fmt.num(t.range[1])})`;
  const perSecond = (n: number) => (n >= 10 ? fmt.int(n) : fmt.num(n, 2));
  const builtinAll = overall(builtin.throughput);
  const clamdAll = overall(clamd.throughput);
  const throughputTable: BenchTable = {
    caption:
      'Throughput, one file at a time: median round (MB = 10^6 bytes; in brackets the slowest and fastest round)',
    columns: ['Kind', ...RATE_COLUMNS],
    rows: [
      ...builtin.throughput.map((b, i) => {
        const c = clamd.throughput[i] as Throughput;
        return [
          b.label,
          rate(b),
          perSecond(b.medianFilesPerSecond),
          rate(c),
          perSecond(c.medianFilesPerSecond),
          `${fmt.num(b.medianMbPerSecond / c.medianMbPerSecond, 1)}×`,
          `${fmt.int(b.scanned)} / ${fmt.int(c.scanned)}`,
        ];
      }),
      [
        '**all kinds** (all timed scans)',
        `**${fmt.num(builtinAll.mbPerSecond)}**`,
        perSecond(builtinAll.filesPerSecond),
        `**${fmt.num(clamdAll.mbPerSecond)}**`,
        perSecond(clamdAll.filesPerSecond),
        `**${fmt.num(builtinAll.mbPerSecond / clamdAll.mbPerSecond, 1)}×**`,
        `${fmt.int(builtin.throughput.reduce((s, t) => s + t.scanned, 0))} / ${fmt.int(clamd.throughput.reduce((s, t) => s + t.scanned, 0))}`,
      ],
    ],
  };

  const memoryTable: BenchTable = {
    caption: 'Resident memory: the peak (VmHWM) and what is held after scanning (VmRSS)',
    columns: [
      'Engine',
      'Peak after loading',
      'Peak after scanning the corpus',
      'Built-in ÷ clamd (peak)',
      'Resident after scanning (VmRSS)',
    ],
    rows: [
      [
        'built-in (fresh Node process: load, then every file once)',
        mib(builtin.memory.loaded),
        mib(builtin.memory.scanned),
        `${fmt.num(builtin.memory.scanned / clamd.memory.scanned, 2)}×`,
        mib(builtin.memory.rss),
      ],
      [
        'clamd (after the throughput rounds)',
        mib(clamd.memory.loaded),
        mib(clamd.memory.scanned),
        '–',
        mib(clamd.memory.rss),
      ],
    ],
  };

  const builtinFlags = (files: Array<{ path: string }>) => flagged(builtin, files);
  const clamdFlags = (files: Array<{ path: string }>) => flagged(clamd, files);
  const flagCell = (f: ReturnType<typeof flagged>) =>
    f.malicious + f.unscannable === 0
      ? '0'
      : `${f.malicious} malicious, ${f.unscannable} unscannable`;
  const verdictTable: BenchTable = {
    caption: 'Corpus files flagged (none of the generated signatures should match them)',
    columns: ['Kind', 'Files', 'Built-in', 'clamd'],
    rows: [
      ...kinds.map((kind) => [
        kind,
        fmt.int(ofKind(kind).length),
        flagCell(builtinFlags(ofKind(kind))),
        flagCell(clamdFlags(ofKind(kind))),
      ]),
    ],
  };
  const detected = (run: EngineRun, file: PlantedFile) => {
    const findings = run.verdicts.get(file.path) ?? [];
    if (findings.includes(maliciousFinding(file.signature))) return 'found';
    return findings.length === 0 ? 'clean' : findings.join(', ');
  };
  const plantedTable: BenchTable = {
    caption: 'Planted files: each matches one signature added to the database (`daily.*`)',
    columns: ['File', 'Matches', 'Signature', 'Built-in', 'clamd'],
    rows: r.planted.map((file) => [
      file.name,
      file.how,
      file.signature,
      detected(builtin, file),
      detected(clamd, file),
    ]),
  };

  // What the numbers mean.
  const reading: string[] = [];
  const speed = builtinAll.mbPerSecond / clamdAll.mbPerSecond;
  const memoryRatio = builtin.memory.scanned / clamd.memory.scanned;
  const slower = builtin.throughput
    .map((b, i) => ({ b, c: clamd.throughput[i] as Throughput }))
    .filter(({ b, c }) => b.medianMbPerSecond < c.medianMbPerSecond);
  const complete = builtin.signatures !== undefined && builtin.signatures >= db.total;
  reading.push(
    `Over the whole corpus the built-in engine scanned ${fmt.num(builtinAll.mbPerSecond)} MB/s (${perSecond(builtinAll.filesPerSecond)} files/s) and clamd ${fmt.num(clamdAll.mbPerSecond)} MB/s (${perSecond(clamdAll.filesPerSecond)} files/s): ${fmt.num(speed, 1)}× clamd's rate` +
      (slower.length === 0
        ? ', and at least as fast on every kind of file.'
        : `; slower on ${slower.map(({ b, c }) => `${b.label} (${fmt.num(b.medianMbPerSecond)} against ${fmt.num(c.medianMbPerSecond)} MB/s)`).join(', ')}.`) +
      ` Its peak memory after scanning was ${mib(builtin.memory.scanned)} against clamd's ${mib(clamd.memory.scanned)} (${fmt.num(memoryRatio, 2)}×), and it was ready ${fmt.ms(builtin.loadMs, 0)} after starting to load against clamd's ${fmt.ms(clamd.loadMs, 0)}.`,
  );
  const aimSpeed = speed >= 1;
  const aimMemory = memoryRatio < 2;
  reading.push(
    `The aim — at least clamd's speed on this database with less than twice its memory — is ${aimSpeed && aimMemory ? 'met' : 'not met'} in this run` +
      (aimSpeed && aimMemory
        ? ''
        : ` (${[!aimSpeed ? 'speed' : '', !aimMemory ? 'memory' : ''].filter(Boolean).join(' and ')} short)`) +
      (complete
        ? '.'
        : `, with a caveat: of the database's ${fmt.int(db.total)} lines the built-in engine loaded ${loaded(builtin)} (it ${builtin.loadDetail}) and clamd ${loaded(clamd)}; signature types it does not read cost it neither time nor memory, so the comparison flatters it until it reads them all.`),
  );
  const cut = clamd.throughput.filter((c) => c.scanned < ofKind(c.label as CorpusKind).length);
  reading.push(
    "Where the time goes. clamd's rate on this database is set by its pattern matching: its Aho–Corasick trie holds two or three bytes of each pattern part, and with 120,000 generated patterns in every wildcard form (random bytes around nibbles, alternatives, `??` and gaps) it has many partial matches to follow and verify (see docs/engines.md), for every object it extracts and scans on its own: each PDF stream, OOXML part, archive member, mail attachment and installer component. " +
      'How far the real database — whose patterns are not random bytes — makes clamd work is not measured here. ' +
      "The built-in engine anchors each pattern on its longest fixed run and verifies few candidates, so it pays by the byte for digests (most files' sizes are named by some hash) and by the file and archive member for the rest: when a file or member ends, its matcher session reads the last bytes once for the signatures anchored at the end of the file (`EOF-n`, about a fifth of the generated `.ndb`) and evaluates the logical signatures some subsignature of which matched, which is what makes small documents and archives of many members its slowest kinds." +
      (cut.length > 0
        ? ` clamd ran out of its ${settings.cellSeconds} s per kind before the end of the first round for ${cut.map((c) => `${c.label} (${c.scanned} files)`).join(', ')}: those figures come from the files it reached (in a seeded random order, so a fair sample).`
        : ''),
  );
  if (Math.max(r.load.start, r.load.end) > cpus().length) {
    reading.push(
      `The machine was shared with other work (1-minute load average ${r.load.start.toFixed(1)} at the start and ${r.load.end.toFixed(1)} at the end, on ${cpus().length} cores): absolute rates are low and vary between runs.`,
    );
  }
  const builtinCorpus = builtinFlags(corpus);
  const clamdCorpus = clamdFlags(corpus);
  const missed = r.planted.filter(
    (file) => detected(builtin, file) !== 'found' || detected(clamd, file) !== 'found',
  );
  reading.push(
    `Verdicts: in the corpus the built-in engine flagged ${builtinCorpus.malicious + builtinCorpus.unscannable} files and clamd ${clamdCorpus.malicious + clamdCorpus.unscannable}` +
      ([...builtinCorpus.examples, ...clamdCorpus.examples].length > 0
        ? ` (built-in: ${builtinCorpus.examples.join('; ') || 'none'}; clamd: ${clamdCorpus.examples.join('; ') || 'none'})`
        : '') +
      `. Of the ${r.planted.length} planted files, ` +
      (missed.length === 0
        ? 'both engines found every one.'
        : `${missed.map((file) => `${file.name} (${file.how}): built-in ${detected(builtin, file)}, clamd ${detected(clamd, file)}`).join('; ')}.`),
  );

  const { database } = settings;
  const notes = [
    `Database (bench/official-database.ts; BENCH_OFFICIAL_HASHES, BENCH_OFFICIAL_BODIES, BENCH_OFFICIAL_LOGICAL): ${fmt.int(database.hashes)} hashes — ${fmt.pct(HASH_SPLIT.hsb)} SHA-256 (\`.hsb\`), ${fmt.pct(HASH_SPLIT.hdb)} MD5 (\`.hdb\`), ${fmt.pct(HASH_SPLIT.mdb)} PE section MD5 (\`.mdb\`) — of random digests, file sizes log-uniform from 1 KiB to 32 MiB (so most files' sizes are named by some hash and must be digested, as with the real database), section sizes from 512 bytes to 2 MiB; ` +
      `${fmt.int(database.bodies)} \`.ndb\` body signatures from test/support/signature-gen.ts (every wildcard form; offsets \`*\`, \`n\`, \`n,m\`, \`EOF-n\`; target types 0, 1, 3, 6, 7); ${fmt.int(database.logical)} \`.ldb\` logical signatures of 2–6 subsignatures (hex bodies from the same generator, or strings with \`::i\`, \`::w\`, \`::wa\`; offsets \`n\`, \`n,m\`, \`EOF-n\`, \`EP+n\`; expressions of \`&\`, \`|\` and counts \`>n\`, \`=n\`, \`>n,m\`; targets 1, 0, 7, 3 and 2 — the built-in engine skips target 3, HTML; one in ten with a PCRE subsignature triggered by subsignature 0). ` +
      `Seeded, so every run writes the same lines (in ${fmt.num(r.build.databaseSeconds)} s here); clamd 1.4 loads every line (the count it logs is in the table). Names are shaped like the official ones (\`Win.Trojan.Agent-1000000-0\`).`,
    `Corpus (bench/realistic-corpus.ts; BENCH_OFFICIAL_CORPUS_PERCENT scales the counts): built in ${fmt.num(r.build.corpusSeconds)} s from files Debian installs, in a temporary folder read from the page cache; the selection is fixed for a given machine (sorted listings, a seeded generator). No legacy OLE2 (.doc/.xls) documents. Planted files: ${r.planted.map((f) => `${f.name} (${f.how})`).join(', ')}; their signatures are in \`daily.*\`.`,
    `Throughput: per kind, an untimed pass over up to 16 MiB of the files, then up to ${settings.rounds} rounds over all of them (BENCH_OFFICIAL_ROUNDS), stopped after ${settings.cellSeconds} s (BENCH_OFFICIAL_CELL_SECONDS) but never before one file. One file at a time: each figure is the speed of one scan. ` +
      'Built-in: `BuiltinEngine.scan()` in the benchmark process (archives walked, body signatures and hashes in one pass). clamd: `ClamdEngine.scan()`, INSTREAM over a unix socket, to clamd from Debian started on the same folder (test/support/clamd.ts; MaxThreads 2, stream and scan limits above the largest file, MaxScanTime 0, `DisableCache yes` so that rescans are real scans); the clamd figures include the client side.',
    `Load and memory: the built-in engine in its own Node process (bench/engine-scan-process.ts) that loads the folder, then scans every corpus and planted file once; VmHWM (the kernel's peak resident set size) read from /proc after each step. clamd: from spawn to the first PONG (polled every 20 ms), VmHWM after loading and after the throughput rounds. Versions: built-in \`${builtin.version}\`, clamd \`${clamd.version}\`.`,
  ];
  return {
    title: 'Scan engines on an official-size database and realistic files',
    measured: `How fast the built-in engine and clamd scan ${fmt.int(corpus.length)} realistic files (${mib(corpusBytes)}: executables, PDFs, Office documents, archives, mail) with a generated database shaped like ClamAV's official one (${fmt.int(db.total)} signatures: ${fmt.int(database.hashes)} hashes, ${fmt.int(database.bodies)} body and ${fmt.int(database.logical)} logical signatures), how long each takes to load it, how much memory each holds, and whether they agree on the verdicts.`,
    baseline:
      'clamd 1.4 (Debian) over INSTREAM on the same database folder and the same files, in the same run.',
    tables: [
      corpusTable,
      databaseTable,
      loadTable,
      throughputTable,
      memoryTable,
      verdictTable,
      plantedTable,
    ],
    reading,
    notes,
  };
}
