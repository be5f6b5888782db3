import { walkContent, type ArchiveLimits, type Member } from '../archives/index.js';
import type { FormatSet } from '../archives/formats/index.js';
import { innermost } from '../detections.js';
import type { Detection, EngineVerdict, ScanTarget } from '../engine.js';
import { unscannableFinding } from '../findings.js';
import type { ScanPlan } from '../plan.js';
import type { Analyzer, Piece, PieceHead, PreparedCheck } from './analyzer.js';

/** Leading bytes every piece is sniffed from before any analyzer asks for the rest. */
export const HEAD_BYTES = 4096;

export interface AnalysisEngineOptions {
  /** The same unpacking limits as the built-in engine (`config.archive`). */
  archive: ArchiveLimits;
  /** The formats opened besides zip, gzip, zstd and tar. */
  formats: FormatSet;
  scratchDir?: string;
  /** Formats and zip methods another engine of the set decodes (see BuiltinEngineOptions). */
  decodedElsewhere?: ReadonlySet<string>;
}

/**
 * Runs the analyzers a scan's plan asks for (analyzer.ts) over the content and every member of
 * its archives, mail and documents at every depth: one walk for all of them, and none at all
 * when no analyzer has anything to do for the plan, so a tenant with malware alone pays nothing.
 * What the walk cannot open is reported by every analyzer that ran (`content.unscannable.*`):
 * an image inside an encrypted zip was not looked at, so the image verdict cannot be clean.
 */
export class AnalysisEngine {
  constructor(
    readonly analyzers: readonly Analyzer[],
    private readonly options: AnalysisEngineOptions,
  ) {}

  /** One verdict per analyzer that had something to do under `plan`; none if none had. */
  async scan(target: ScanTarget, plan: ScanPlan): Promise<EngineVerdict[]> {
    const checks = (
      await Promise.all(this.analyzers.map((analyzer) => analyzer.prepare(plan, target)))
    ).filter((check): check is PreparedCheck => check !== undefined);
    if (checks.length === 0) return [];
    const found = new Map<PreparedCheck, Detection[]>(checks.map((check) => [check, []]));
    const visit = async (member: Member): Promise<void> => {
      for (const [check, detections] of await analyzeMember(member, checks)) {
        found.get(check)?.push(...detections);
      }
    };
    const walked = await walkContent(
      { path: target.path, size: target.size, name: target.name || 'content' },
      this.options.archive,
      visit,
      {
        formats: this.options.formats.handlers,
        ...(this.options.scratchDir === undefined ? {} : { scratchDir: this.options.scratchDir }),
        ...(target.contentEncoding ? { contentEncoding: target.contentEncoding } : {}),
      },
    );
    const decodedElsewhere = this.options.decodedElsewhere ?? new Set<string>();
    const unopened: Detection[] = walked.unscannable
      .filter((problem) => problem.method === undefined || !decodedElsewhere.has(problem.method))
      .map((problem) => ({
        path: problem.path,
        finding: unscannableFinding(problem.reason),
        signature: problem.detail,
      }));
    return checks.map((check) => {
      const conclusion = check.conclude?.();
      // As for the built-in engine: a stored member's bytes are its container's too.
      const detections = innermost([
        ...(found.get(check) ?? []),
        ...(conclusion?.detections ?? []),
        ...unopened,
      ]);
      return {
        engine: check.name,
        version: check.version,
        findings: [...new Set(detections.map((d) => d.finding))].sort(),
        detections,
        ...(conclusion?.classification ? { classification: conclusion.classification } : {}),
      };
    });
  }

  async ping(): Promise<void> {
    await Promise.all(this.analyzers.map((analyzer) => analyzer.ping()));
  }

  async close(): Promise<void> {
    await Promise.all(this.analyzers.map((analyzer) => analyzer.close()));
    await this.options.formats.close();
  }
}

/**
 * Reads one member: its head, then the whole of it only if some check wants it and only up to
 * the largest `maxBytes` of those; the rest of the stream is read and dropped (the walker needs
 * every stream consumed). Returns each wanting check's detections.
 */
async function analyzeMember(
  member: Member,
  checks: readonly PreparedCheck[],
): Promise<Map<PreparedCheck, Detection[]>> {
  const chunks: Buffer[] = [];
  let held = 0;
  let total = 0;
  let wanting: PreparedCheck[] | undefined;
  let keep = HEAD_BYTES;
  const decide = (): void => {
    const head = headOf(member, Buffer.concat(chunks, held));
    wanting = checks.filter((check) => check.wants(head));
    keep = Math.max(0, ...wanting.map((check) => check.maxBytes + 1));
  };
  for await (const chunk of member.stream) {
    const buffer = chunk as Buffer;
    total += buffer.length;
    // Until the head is decided on, whole chunks are held: what it decides may want them all.
    const part = wanting === undefined ? buffer : buffer.subarray(0, Math.max(0, keep - held));
    if (part.length > 0) {
      chunks.push(part);
      held += part.length;
    }
    if (wanting === undefined && held >= HEAD_BYTES) decide();
  }
  if (wanting === undefined) decide();
  const results = new Map<PreparedCheck, Detection[]>();
  const read = Buffer.concat(chunks, held);
  await inspectHead(checks, headOf(member, read), results);
  if (!wanting || wanting.length === 0) return results;
  const bytes = read.subarray(0, keep);
  const head = headOf(member, bytes);
  const piece: Piece = { ...head, bytes };
  await Promise.all(
    wanting.map(async (check) => {
      const detections = total > check.maxBytes ? [check.tooLarge(head)] : await check.check(piece);
      results.set(check, [...(results.get(check) ?? []), ...detections]);
    }),
  );
  return results;
}

/** The checks that judge every piece by its head (PreparedCheck.inspect), each into `results`. */
async function inspectHead(
  checks: readonly PreparedCheck[],
  head: PieceHead,
  results: Map<PreparedCheck, Detection[]>,
): Promise<void> {
  await Promise.all(
    checks.map(async (check) => {
      if (check.inspect) results.set(check, await check.inspect(head));
    }),
  );
}

function headOf(member: Member, bytes: Buffer): PieceHead {
  return {
    path: member.path,
    head: bytes.subarray(0, HEAD_BYTES),
    size: member.size,
    container: member.container,
    ...(member.image ? { image: member.image } : {}),
    ...(member.appearance ? { appearance: true } : {}),
  };
}
