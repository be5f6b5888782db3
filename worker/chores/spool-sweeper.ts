import { lstat, opendir } from 'node:fs/promises';
import path from 'node:path';
import { isId } from '../../core/ids.js';
import type { Logger } from '../../core/logger.js';
import type { Metrics, SpoolArea } from '../../core/metrics.js';
import type { Queues } from '../../core/queues.js';
import type { ScanStore } from '../../scans/store.js';
import type { Spool, SpoolFileStat } from '../../core/spool.js';
import type { S3UploadStore, StagedObject } from '../../core/s3-upload-store.js';

/**
 * Removes spool files that no live scan owns, which the normal paths cannot remove because the
 * process that would have was killed, or the scan ended without ever reading them:
 *
 * - `incoming/`: partial uploads of a request cut off by a crash (kill -9 mid-upload). A file
 *   is removed once nobody has written to it for the grace period: an upload in progress writes
 *   to it continually, and the grace is longer than any request (and synchronous scan, which
 *   reads its file from here) can take.
 * - `uploads/{tenant}/{id}`: uploads whose scan is no longer pending (finished, deleted, or its
 *   record expired). A pending scan's upload is never touched: its job still needs it (a pending
 *   scan without a job is the pending reaper's business). A job still reading the upload of a
 *   scan deleted under it keeps reading (an unlinked file stays readable through an open
 *   descriptor) or fails and is retried, and its retry sees the deletion and stops.
 * - `fetch/{id}` (and `fetch/{id}.…`, its sanitized copy being written): downloads no
 *   running job holds. A download is written by the job while it is `active` in BullMQ; any
 *   other state means the process that wrote it stopped (a shutdown deadline, a crash) and the
 *   job went back to the queue, or finished on another host with its own spool. A download with
 *   no job at all belongs to a synchronous scan (`POST /files` with a location, the verdict API)
 *   or to nobody: it gets the grace period like `incoming/`.
 *
 * - staged uploads in an object store (`ARBITER_UPLOAD_STORE=s3://…`): decided like `uploads/`,
 *   but only once older than the grace period, because the API stages an upload before it
 *   writes the scan's pending record (the object is named after the scan before the scan
 *   exists). Counted under `uploads`.
 *
 * Several processes may share one spool and sweep it at once: a file is removed with a plain
 * unlink after checking it has not changed since it was judged, so the first sweeper removes
 * and counts it and the others find it gone. Tenant folders under `uploads/` are never removed:
 * an upload being accepted creates its folder and renames into it, and removing the folder in
 * between would fail the request (there is one folder per tenant, so they do not add up).
 */
export interface SpoolSweeperDeps {
  spool: Spool;
  /** The object store async uploads are staged in, when it is not the spool. */
  staged?: Pick<S3UploadStore, 'list' | 'remove'>;
  scans: Pick<ScanStore, 'states'>;
  queues: Pick<Queues, 'scan'>;
  metrics: Pick<Metrics, 'spoolSweep' | 'spoolSwept'>;
  logger: Logger;
  /** How long a file nobody writes to (and no running job holds) is left alone. */
  graceMs: number;
}

export type SweepCounts = Record<SpoolArea, { files: number; bytes: number }>;

/** Upload states read per Redis round trip. */
const STATE_BATCH = 500;

interface Listed {
  filePath: string;
  name: string;
  stat: SpoolFileStat & { size: number };
}

export class SpoolSweeper {
  constructor(private readonly deps: SpoolSweeperDeps) {}

  /** One sweep of the whole spool; `signal` (shutdown) stops it early, leaving the rest. */
  async sweep(signal?: AbortSignal): Promise<SweepCounts> {
    const counts: SweepCounts = {
      incoming: { files: 0, bytes: 0 },
      uploads: { files: 0, bytes: 0 },
      fetch: { files: 0, bytes: 0 },
    };
    try {
      await this.sweepIncoming(counts, signal);
      await this.sweepUploads(counts, signal);
      await this.sweepStaged(counts, signal);
      await this.sweepFetch(counts, signal);
      if (!signal?.aborted) this.deps.metrics.spoolSweep('ok');
    } catch (error) {
      this.deps.metrics.spoolSweep('error');
      throw error;
    } finally {
      this.report(counts);
    }
    return counts;
  }

  private async sweepIncoming(counts: SweepCounts, signal?: AbortSignal): Promise<void> {
    const cutoff = Date.now() - this.deps.graceMs;
    for await (const file of listFiles(this.deps.spool.incomingDir)) {
      if (signal?.aborted) return;
      if (file.stat.mtimeMs <= cutoff) await this.discard('incoming', file, counts);
    }
  }

  private async sweepUploads(counts: SweepCounts, signal?: AbortSignal): Promise<void> {
    for await (const tenantId of listFolders(this.deps.spool.uploadsDir)) {
      if (signal?.aborted) return;
      if (!isId(tenantId)) continue;
      let batch: Listed[] = [];
      for await (const file of listFiles(path.join(this.deps.spool.uploadsDir, tenantId))) {
        if (!isId(file.name)) continue;
        batch.push(file);
        if (batch.length >= STATE_BATCH) {
          if (signal?.aborted) return;
          await this.sweepUploadBatch(tenantId, batch, counts);
          batch = [];
        }
      }
      await this.sweepUploadBatch(tenantId, batch, counts);
    }
  }

  /**
   * An upload reaches `uploads/` only after its pending record is written (the API writes the
   * record, then renames the file in), so a file seen here with no pending record is abandoned.
   */
  private async sweepUploadBatch(
    tenantId: string,
    files: Listed[],
    counts: SweepCounts,
  ): Promise<void> {
    const states = await this.deps.scans.states(
      tenantId,
      files.map((file) => file.name),
    );
    for (const [i, file] of files.entries()) {
      if (states[i] !== 'pending') await this.discard('uploads', file, counts);
    }
  }

  private async sweepStaged(counts: SweepCounts, signal?: AbortSignal): Promise<void> {
    if (!this.deps.staged) return;
    const cutoff = Date.now() - this.deps.graceMs;
    let batch: StagedObject[] = [];
    for await (const object of this.deps.staged.list()) {
      if (signal?.aborted) return;
      if (object.lastModifiedMs > cutoff || !isId(object.tenantId) || !isId(object.scanId))
        continue;
      // Listed in key order, so one tenant's objects come together.
      if (batch.length >= STATE_BATCH || (batch[0] && batch[0].tenantId !== object.tenantId)) {
        await this.sweepStagedBatch(batch, counts);
        batch = [];
      }
      batch.push(object);
    }
    await this.sweepStagedBatch(batch, counts);
  }

  private async sweepStagedBatch(objects: StagedObject[], counts: SweepCounts): Promise<void> {
    const [first] = objects;
    if (!first || !this.deps.staged) return;
    const states = await this.deps.scans.states(
      first.tenantId,
      objects.map((object) => object.scanId),
    );
    for (const [i, object] of objects.entries()) {
      if (states[i] === 'pending') continue;
      await this.deps.staged.remove(object.tenantId, object.scanId);
      counts.uploads.files += 1;
      counts.uploads.bytes += object.size;
      this.deps.metrics.spoolSwept('uploads', object.size);
    }
  }

  private async sweepFetch(counts: SweepCounts, signal?: AbortSignal): Promise<void> {
    const cutoff = Date.now() - this.deps.graceMs;
    for await (const file of listFiles(this.deps.spool.fetchDir)) {
      if (signal?.aborted) return;
      // A sanitized copy being written (`{id}.sanitized`, and its sanitizer's own partial file
      // beside it) is judged with its scan's download.
      const scanId = file.name.split('.', 1)[0] ?? '';
      if (!isId(scanId)) continue;
      const state = await this.deps.queues.scan.getJobState(scanId);
      if (state === 'active') continue;
      if (state === 'unknown' && file.stat.mtimeMs > cutoff) continue;
      await this.discard('fetch', file, counts);
    }
  }

  private async discard(area: SpoolArea, file: Listed, counts: SweepCounts): Promise<void> {
    const bytes = await this.deps.spool.discard(file.filePath, file.stat);
    if (bytes === undefined) return;
    counts[area].files += 1;
    counts[area].bytes += bytes;
    this.deps.metrics.spoolSwept(area, bytes);
  }

  private report(counts: SweepCounts): void {
    const files = counts.incoming.files + counts.uploads.files + counts.fetch.files;
    if (files > 0) this.deps.logger.info({ swept: counts }, 'spool sweep removed abandoned files');
    else this.deps.logger.debug('spool sweep found nothing to remove');
  }
}

/** Regular files of a folder with their size, inode and modification time (none if it is gone). */
async function* listFiles(dir: string): AsyncGenerator<Listed> {
  for await (const name of listEntries(dir, (entry) => entry.isFile())) {
    const filePath = path.join(dir, name);
    const stat = await lstat(filePath).catch((error: NodeJS.ErrnoException) => {
      // Removed meanwhile: by the scan that owned it, or by another sweeper.
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (stat)
      yield { filePath, name, stat: { ino: stat.ino, mtimeMs: stat.mtimeMs, size: stat.size } };
  }
}

async function* listFolders(dir: string): AsyncGenerator<string> {
  yield* listEntries(dir, (entry) => entry.isDirectory());
}

async function* listEntries(
  dir: string,
  keep: (entry: { isFile(): boolean; isDirectory(): boolean }) => boolean,
): AsyncGenerator<string> {
  let handle;
  try {
    handle = await opendir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  // Streams the folder (a backlog may hold many thousands of uploads) and closes it at the end.
  for await (const entry of handle) if (keep(entry)) yield entry.name;
}
