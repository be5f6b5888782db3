import path from 'node:path';
import type { Config, EngineName } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import { BuiltinEngine } from './builtin-engine.js';
import { ClamdEngine } from './clamd-engine.js';
import { EngineError, type Engine, type EngineVerdict, type ScanTarget } from './engine.js';
import { shortenFileName } from './file-extension.js';
import { isUnscannableFinding } from './findings.js';
import { createFormatSet } from './archives/formats/index.js';
import { AnalysisEngine } from './analysis/analysis-engine.js';
import type { Analyzer } from './analysis/analyzer.js';
import { runsMalware, type ScanPlan } from './plan.js';

export interface EngineSet {
  /** The malware engines: run when the plan's categories include `malware` (or with no plan). */
  engines: Engine[];
  /** The other categories' analyzers and the tenant's own rules, run when the plan asks. */
  analysis?: AnalysisEngine;
  /**
   * Runs what the plan asks for on the target (every malware engine without a plan) and unites
   * their findings; throws if any engine failed, or if the plan names a category nothing here
   * detects (a verdict without it would read clean).
   */
  scan(
    target: ScanTarget,
    plan?: ScanPlan,
  ): Promise<{ findings: string[]; verdicts: EngineVerdict[] }>;
  ping(): Promise<void>;
  reload(): Promise<void>;
  close(): Promise<void>;
}

/**
 * What the composition root decided at start-up, over the config: the engines to run and the
 * clamd to use (cli/runtime.ts passes the private clamd's socket here).
 */
export interface EngineChoice {
  engines: EngineName[];
  /** The analyzers of the other categories and of tenants' rules (see analysis/analyzer.ts). */
  analyzers?: Analyzer[];
  clamdAddress: string;
  /** The private clamd's database folder (its containers are listed by `GET /admin/signatures`). */
  clamdDatabaseDir?: string;
}

/**
 * What clamd 1.4 decodes that the built-in engine does not (checked with clamscan), as
 * `Unscannable.method` values. Empty since the built-in engine opens bzip2 and xz streams and zip
 * members in implode, Deflate64 and bzip2 through 7-Zip (archives/formats/sevenzip.ts); what
 * neither decodes (a zip member in WavPack, 97) clamd answers OK for without opening it, so the
 * built-in engine keeps reporting it.
 */
const DECODED_BY_CLAMD: ReadonlySet<string> = new Set<string>();

export async function createEngineSet(
  config: Config,
  logger: Logger,
  choice: EngineChoice = { engines: config.engines, clamdAddress: config.clamd.address },
): Promise<EngineSet> {
  const engines: Engine[] = [];
  for (const name of choice.engines) {
    if (name === 'builtin') {
      engines.push(
        await BuiltinEngine.load(config.signaturesDir, logger, {
          archive: config.archive,
          scratchDir: builtinScratchDir(config),
          decodedElsewhere: choice.engines.includes('clamd') ? DECODED_BY_CLAMD : new Set(),
          signatures: { detectPua: config.detectPua },
        }),
      );
    }
    if (name === 'clamd')
      engines.push(
        await ClamdEngine.create(
          {
            ...config.clamd,
            address: choice.clamdAddress,
            ...(choice.clamdDatabaseDir ? { databaseDir: choice.clamdDatabaseDir } : {}),
          },
          logger,
        ),
      );
  }
  const analyzers = choice.analyzers ?? [];
  const analysis =
    analyzers.length === 0
      ? undefined
      : new AnalysisEngine(analyzers, {
          archive: config.archive,
          formats: createFormatSet(),
          scratchDir: builtinScratchDir(config),
          decodedElsewhere: choice.engines.includes('clamd') ? DECODED_BY_CLAMD : new Set(),
        });
  return engineSet(engines, analysis);
}

/** Why the default engines are the built-in engine alone (no private clamd was started). */
export type ClamdAbsence =
  | { reason: 'not-installed'; binary: string | undefined }
  | { reason: 'no-database'; folders: string[] };

/**
 * The warning shown at start-up, in `/readyz` and in `/account.json` when the default engines
 * run without clamd: what is not detected, and what to do about it.
 */
export function missingClamdWarning(absence: ClamdAbsence, builtinSignatures: number): string {
  const consequence = `only the built-in engine's signatures (${builtinSignatures} loaded) are used; real-world malware is not detected`;
  if (absence.reason === 'not-installed') {
    const which = absence.binary ? ` (${absence.binary} does not run)` : '';
    return `clamd is not installed${which}: ${consequence} — install clamav-daemon and run \`arbiter signatures update\``;
  }
  return `no ClamAV database in ${absence.folders.join(' nor in ')}: clamd was not started, so ${consequence} — run \`arbiter signatures update\``;
}

/** Signatures the built-in engine of this set loaded (0 without one). */
export function builtinSignatureCount(set: Pick<EngineSet, 'engines'>): number {
  const builtin = set.engines.find((engine) => engine.name === 'builtin');
  return builtin?.describe?.().signatures ?? 0;
}

/** Nested zips are copied here while the built-in engine walks them: a folder of the spool. */
export function builtinScratchDir(config: Pick<Config, 'spoolDir'>): string {
  return path.join(config.spoolDir, 'archives');
}

export function engineSet(engines: Engine[], analysis?: AnalysisEngine): EngineSet {
  return {
    engines,
    ...(analysis ? { analysis } : {}),
    async scan(target, plan) {
      const malware = runsMalware(plan) ? engines : [];
      const scans: Promise<EngineVerdict[]>[] = malware.map(async (engine) => [
        await engine.scan(target),
      ]);
      if (plan) {
        assertDetectable(plan, analysis);
        if (analysis) scans.push(analysis.scan(target, plan));
      }
      const settled = await Promise.allSettled(scans);
      const verdicts: EngineVerdict[] = [];
      const errors: EngineError[] = [];
      for (const [index, outcome] of settled.entries()) {
        if (outcome.status === 'fulfilled') verdicts.push(...outcome.value);
        else errors.push(asEngineError(malware[index]?.name ?? 'analysis', outcome.reason));
      }
      // A failure of one engine that is not retryable dooms every retry, whatever the others said.
      const failure = errors.find((error) => !error.retryable) ?? errors[0];
      if (failure) throw failure;
      const findings = [...new Set(verdicts.flatMap((v) => v.findings))].sort();
      return { findings, verdicts };
    },
    async ping() {
      await analysis?.ping();
      await Promise.all(engines.map((engine) => engine.ping()));
    },
    async reload() {
      await Promise.all(engines.map(async (engine) => engine.reload?.()));
    },
    async close() {
      await Promise.all([...engines.map((engine) => engine.close()), analysis?.close()]);
    },
  };
}

/**
 * Refuses a plan with a category no engine here detects: its absence from the findings would
 * read as clean for that category. Malware needs an engine; each other category an analyzer.
 */
function assertDetectable(plan: ScanPlan, analysis: AnalysisEngine | undefined): void {
  const served = new Set(analysis?.analyzers.map((analyzer) => analyzer.category) ?? []);
  for (const category of plan.categories) {
    if (category === 'malware' || served.has(category)) continue;
    throw new EngineError(category, `no analyzer for the ${category} category is configured`, {
      retryable: false,
    });
  }
}

function asEngineError(engine: string, reason: unknown): EngineError {
  if (reason instanceof EngineError) return reason;
  return new EngineError(engine, reason instanceof Error ? reason.message : String(reason), {
    cause: reason,
  });
}

/**
 * The trace line for one engine's verdict: `scanned by builtin (…): no findings`, or each
 * finding with the member it was found in when that is inside an archive:
 * `scanned by builtin (…): content.malicious.eicar-test-signature in outer.zip/inner.zip/eicar.com`.
 */
export function describeVerdict(verdict: EngineVerdict, maxListed = 20): string {
  const head = `scanned by ${verdict.engine} (${verdict.version})`;
  // How the content was read, where it was read more than one way (a zip's two views).
  const notes = verdict.notes?.length ? ` (read: ${verdict.notes.join('; ')})` : '';
  if (verdict.findings.length === 0) return `${head}: no findings${notes}`;
  if (!verdict.detections || verdict.detections.length === 0) {
    return `${head}: ${verdict.findings.join(', ')}${notes}`;
  }
  const parts = verdict.detections.map((d) => {
    const where = d.path.length > 1 ? ` in ${d.path.join('/')}` : '';
    // For unscannable content the "signature" says what was wrong.
    const why = isUnscannableFinding(d.finding) ? ` (${d.signature})` : '';
    return `${d.finding}${where}${why}`;
  });
  const listed = [...new Set(parts)];
  const more = listed.length > maxListed ? ` and ${listed.length - maxListed} more` : '';
  return `${head}: ${listed.slice(0, maxListed).join(', ')}${more}${notes}`;
}

/** Where content came from, as much as names it (a scan request has these fields). */
export interface ContentOrigin {
  fileName?: string | undefined;
  location?: string | undefined;
  object?: { bucket: string; key: string } | undefined;
}

/**
 * The name of the scanned content, the first part of member paths (`upload.zip/inner.zip/…`):
 * the upload's file name, the last part of a URL's path or an object's key; `content` if none.
 */
export function contentName(request: ContentOrigin): string {
  let name = request.fileName;
  if (!name && request.location) {
    try {
      name = decodeURIComponent(new URL(request.location).pathname);
    } catch {
      name = undefined;
    }
  }
  if (!name && request.object) name = request.object.key;
  const last = (name ?? '').split(/[/\\]/).pop()?.trim() ?? '';
  return last.length > 0 ? shortenFileName(last, 255) : 'content';
}
