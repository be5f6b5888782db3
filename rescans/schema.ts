import { z } from 'zod';
import { instant } from '../core/instant.js';

/**
 * What `POST /v1/rescans` accepts, how engine database versions are read and compared, and what
 * the rescan endpoints answer.
 *
 * A result records each engine's version with its database (`engines[].version`):
 * - the built-in engine: `arbiter-builtin/0.3.0 db:3f9a0c1b2d4e (1234 signatures)`. The database is
 *   named by a fingerprint of its signatures, which has no order: a result is "older" than such a
 *   version when it was scanned with any other built-in database.
 * - clamd: `ClamAV 1.4.6/27514/Mon Dec  1 09:24:02 2026`. The middle number is the version of the
 *   daily database, which only grows: a result is older when its daily number is lower.
 */

export type DatabaseVersion =
  | { family: 'builtin'; fingerprint: string; text: string }
  | { family: 'clamav'; daily: number; text: string };

const BUILTIN_VERSION = /^arbiter-builtin\/\S+ db:([0-9a-f]{6,64})(?: \(\d+ signatures?\))?$/;
const CLAMAV_VERSION = /^ClamAV [0-9][^/\s]*\/(\d{1,9})(?:\/.*)?$/;

/** The database an engine's version string names, or undefined (e.g. clamd with no daily db). */
export function parseDatabaseVersion(text: string): DatabaseVersion | undefined {
  const trimmed = text.trim();
  const builtin = BUILTIN_VERSION.exec(trimmed);
  if (builtin) return { family: 'builtin', fingerprint: builtin[1]!, text: trimmed };
  const clamav = CLAMAV_VERSION.exec(trimmed);
  if (clamav) return { family: 'clamav', daily: Number(clamav[1]), text: trimmed };
  return undefined;
}

/** True when `scanned` is a database of the same engine as `reference`, and older than it. */
export function isOlderDatabase(scanned: DatabaseVersion, reference: DatabaseVersion): boolean {
  if (scanned.family === 'builtin' && reference.family === 'builtin')
    return scanned.fingerprint !== reference.fingerprint;
  if (scanned.family === 'clamav' && reference.family === 'clamav')
    return scanned.daily < reference.daily;
  return false;
}

/** True when any engine a result was scanned with has a database older than one of `references`. */
export function scannedWithOlderDatabase(
  engines: Array<{ version: string }> | undefined,
  references: DatabaseVersion[],
): boolean {
  for (const engine of engines ?? []) {
    const scanned = parseDatabaseVersion(engine.version);
    if (scanned && references.some((reference) => isOlderDatabase(scanned, reference))) return true;
  }
  return false;
}

const unknownField = (issue: { code?: string; keys?: string[] }) =>
  issue.code === 'unrecognized_keys'
    ? `Unknown field "${(issue.keys?.[0] ?? '').slice(0, 64)}" in the rescan: the accepted fields are older_than, findings, from and to.`
    : undefined;

const OLDER_THAN_HELP =
  'older_than must be "current" or an engine database version as results report it in engines[].version ("arbiter-builtin/0.3.0 db:3f9a0c1b2d4e (1234 signatures)", "ClamAV 1.4.6/27514/Mon Dec  1 09:24:02 2026")';

export const RescanInputSchema = z
  .strictObject(
    {
      older_than: z
        .string({ error: OLDER_THAN_HELP })
        .max(200, OLDER_THAN_HELP)
        .refine(
          (value) => value.trim() === 'current' || parseDatabaseVersion(value) !== undefined,
          { error: OLDER_THAN_HELP },
        ),
      findings: z
        .enum(['clean', 'any'], {
          error: 'findings must be "clean" (only results with no findings) or "any"',
        })
        .default('any'),
      from: instant('from').optional(),
      to: instant('to').optional(),
    },
    { error: unknownField },
  )
  .superRefine((input, ctx) => {
    if (input.from && input.to && input.from > input.to) {
      ctx.addIssue({
        code: 'custom',
        message: `from (${input.from}) is after to (${input.to}): the window would be empty`,
      });
    }
  });

export type RescanInput = z.output<typeof RescanInputSchema>;

export type RescanState = 'listing' | 'scanning' | 'completed' | 'failed' | 'cancelled';

export const ACTIVE_RESCAN_STATES: readonly RescanState[] = ['listing', 'scanning'];

/** Why a listed result was not rescanned (the keys of `counters.skipped`). */
export const SKIP_REASONS = {
  gone: 'result expired or deleted',
  notHeld: 'content no longer held',
  bucketGone: 'bucket no longer registered',
  objectGone: 'object version no longer in the bucket',
  objectReplaced: 'object replaced since it was scanned',
  objectBusy: 'object version being scanned right now',
  objectUnreadable: 'object could not be reached in its bucket',
  contentChanged: 'content at the location changed',
} as const;
export type SkipReason = (typeof SKIP_REASONS)[keyof typeof SKIP_REASONS];

export interface RescanCounters {
  /** Results read from the tenant's result index within the window. */
  listed: number;
  /** Listed results scanned with an older database (and, for `findings: "clean"`, clean). */
  matched: number;
  /** Matched results whose content could be read again: a new scan was queued. */
  queued: number;
  /** Queued scans that gave a verdict. */
  rescanned: number;
  /** Rescanned results whose findings differ: the stored result was updated. */
  changed: number;
  /** Queued scans that ended with an error (e.g. the location now answers 404). */
  errors: number;
  /** Matched results not rescanned, by reason. */
  skipped: Record<string, number>;
}

export interface RescanView {
  id: string;
  state: RescanState;
  older_than: string;
  /** The databases compared against (`older_than`, or the engines' current ones for "current"). */
  databases: string[];
  findings: 'clean' | 'any';
  from: string;
  to: string;
  counters: RescanCounters;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** The last error of a queued scan, for a first look (the result ids are not listed). */
  last_error?: string;
  /** Why the rescan failed (state `failed`). */
  error?: string;
}
