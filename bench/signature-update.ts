import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../core/logger.js';
import { ClamdEngine } from '../scanning/clamd-engine.js';
import { updateDatabases } from '../scanning/signatures/update.js';
import { buildUnsignedDatabase } from '../test/support/clamav-databases.js';
import { startTestClamd } from '../test/support/clamd.js';
import { seededRng } from '../test/support/signature-gen.js';
import type { BenchSection } from './report.js';
import { envInt, fmt, log, onCleanup } from './support.js';

/**
 * Benchmark: an update of ClamAV's database and the reload after it, as the workers' schedule
 * runs them (scanning/signatures/update.ts, then clamd `RELOAD`), and the latency of the scans
 * running meanwhile beside the latency of the same scans with no update.
 *
 * A real clamd reads the folder being updated; a loopback HTTP server serves a `daily.cud` of
 * BENCH_UPDATE_SIGNATURES generated body signatures (a new version each round). freshclam only
 * takes ClamAV-signed `main`/`daily`/`bytecode`, so, as in test/scanning/signature-update.test.ts,
 * freshclam fetches it as a custom database (`DatabaseCustomURL`); the rest is the production path.
 * Meanwhile BENCH_UPDATE_CONCURRENCY scans of a 64 KiB file run back to back through ClamdEngine.
 */

interface Latencies {
  samples: number[];
  errors: number;
}

export async function runSignatureUpdate(): Promise<BenchSection> {
  const signatures = envInt('BENCH_UPDATE_SIGNATURES', 200_000);
  const rounds = envInt('BENCH_UPDATE_ROUNDS', 3);
  const concurrency = envInt('BENCH_UPDATE_CONCURRENCY', 4);
  const quietMs = envInt('BENCH_UPDATE_QUIET_MS', 5_000);

  // What this benchmark starts is stopped when it ends, and by the run's deadline if it hangs.
  const owned: Array<{ release: () => unknown; unregister: () => void }> = [];
  const own = (release: () => unknown) =>
    owned.push({
      release,
      unregister: onCleanup(async () => {
        await release();
      }),
    });
  try {
    return await measure(own, signatures, rounds, concurrency, quietMs);
  } finally {
    for (const { release, unregister } of owned.reverse()) {
      unregister();
      await release();
    }
  }
}

async function measure(
  own: (release: () => unknown) => void,
  signatures: number,
  rounds: number,
  concurrency: number,
  quietMs: number,
): Promise<BenchSection> {
  const clamd = await startTestClamd({ extraConfig: ['DisableCache yes'] });
  own(() => clamd.stop());
  const work = await mkdtemp(path.join(tmpdir(), 'arbiter-bench-update-'));
  own(() => rm(work, { recursive: true, force: true }));
  const sample = path.join(work, 'sample.bin');
  await writeFile(sample, randomBytes(64 * 1024));

  let served: Buffer = Buffer.alloc(0);
  const mirror = createServer((_req, res) => {
    res.writeHead(200, {
      'content-length': served.length,
      'last-modified': new Date(Date.now() + 3_600_000).toUTCString(),
    });
    res.end(served);
  }).listen(0, '127.0.0.1');
  await once(mirror, 'listening');
  own(() => new Promise<void>((resolve) => mirror.close(() => resolve())));
  const mirrorUrl = `http://127.0.0.1:${(mirror.address() as AddressInfo).port}`;

  const engine = await ClamdEngine.create(
    { address: clamd.unixAddress, timeoutMs: 60_000, poolSize: concurrency },
    createLogger('silent'),
  );
  own(() => engine.close());

  // Scans back to back while `until` has not resolved.
  const load = async (until: Promise<unknown>): Promise<Latencies> => {
    let done = false;
    void until.finally(() => (done = true));
    const result: Latencies = { samples: [], errors: 0 };
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (!done) {
          const started = performance.now();
          try {
            await engine.scan({ path: sample, size: 64 * 1024 });
            result.samples.push(performance.now() - started);
          } catch {
            result.errors += 1;
          }
        }
      }),
    );
    return result;
  };
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  const quiet: Latencies = { samples: [], errors: 0 };
  const busy: Latencies = { samples: [], errors: 0 };
  const timings: Array<{ round: number; updateMs: number; reloadMs: number; bytes: number }> = [];
  for (let round = 1; round <= rounds; round++) {
    served = await buildUnsignedDatabase('daily', 1000 + round, {
      'daily.ndb': generatedDatabase(signatures, round),
    });
    const quietRun = await load(sleep(quietMs));
    quiet.samples.push(...quietRun.samples);
    quiet.errors += quietRun.errors;

    let updateMs = 0;
    let reloadMs = 0;
    const cycle = (async () => {
      const started = performance.now();
      const report = await updateDatabases({
        databaseDir: clamd.databaseDir,
        freshclam: { mirror: mirrorUrl, customDatabaseUrls: [`${mirrorUrl}/daily.cud`] },
      });
      if (report.outcome !== 'updated')
        throw new Error(`update ${report.outcome}: ${report.error}`);
      updateMs = performance.now() - started;
      const reloading = performance.now();
      await engine.reload();
      while (!(await engine.refreshVersion()).includes(`/${1000 + round}/`)) await sleep(50);
      reloadMs = performance.now() - reloading;
    })();
    const busyRun = await load(cycle);
    await cycle;
    busy.samples.push(...busyRun.samples);
    busy.errors += busyRun.errors;
    timings.push({ round, updateMs, reloadMs, bytes: served.length });
    log(`signature-update round ${round}: update ${fmt.ms(updateMs)}, reload ${fmt.ms(reloadMs)}`);
  }

  const row = (name: string, l: Latencies) => [
    name,
    fmt.int(l.samples.length),
    fmt.int(l.errors),
    fmt.ms(percentile(l.samples, 0.5)),
    fmt.ms(percentile(l.samples, 0.95)),
    fmt.ms(percentile(l.samples, 0.99)),
    fmt.ms(Math.max(...l.samples)),
  ];
  const median = (values: number[]) => percentile(values, 0.5);
  const updateMedian = median(timings.map((t) => t.updateMs));
  const reloadMedian = median(timings.map((t) => t.reloadMs));
  const p99Ratio = percentile(busy.samples, 0.99) / percentile(quiet.samples, 0.99);
  return {
    title: "Updating ClamAV's database and reloading clamd, and scans meanwhile",
    measured: `${rounds} rounds: \`arbiter signatures update\`'s path (freshclam into a staging folder, checks, atomic swap) fetching a daily database of ${fmt.int(signatures)} generated body signatures from a loopback mirror, then clamd RELOAD until its VERSION names the new database; meanwhile ${concurrency} scans of a 64 KiB file back to back through the clamd engine (clamd cache off).`,
    baseline: `the same scans for ${fmt.num(quietMs / 1000, 0)} s before each update, with nothing else running.`,
    tables: [
      {
        caption: 'Scan latency (64 KiB, clamd engine)',
        columns: ['scans', 'count', 'errors', 'p50', 'p95', 'p99', 'max'],
        rows: [row('no update', quiet), row('during update + reload', busy)],
      },
      {
        caption: 'Update and reload time per round',
        columns: [
          'round',
          'daily.cud',
          'update (freshclam, checks, swap)',
          'reload (RELOAD → new VERSION)',
        ],
        rows: timings.map((t) => [
          t.round,
          `${fmt.num(t.bytes / 1024, 0)} KiB`,
          fmt.ms(t.updateMs),
          fmt.ms(t.reloadMs),
        ]),
      },
    ],
    reading: [
      `An update took ${fmt.ms(updateMedian)} and the reload ${fmt.ms(reloadMedian)} (medians); ${fmt.int(busy.errors)} scans failed during them (${fmt.int(quiet.errors)} without).`,
      `Scan p99 during an update and reload was ${fmt.num(p99Ratio, 1)}× the p99 without one (${fmt.ms(percentile(busy.samples, 0.99))} against ${fmt.ms(percentile(quiet.samples, 0.99))}): clamd keeps scanning with the old database while it loads the new one beside it, ${p99Ratio <= 1.5 ? 'and the scans barely noticed' : 'but on the same cores, so scans wait longer while it compiles'}.`,
    ],
    notes: [
      'freshclam fetches the database as a custom one (`DatabaseCustomURL`) because it takes `main`/`daily`/`bytecode` only as signed by ClamAV; the official files are larger (a full `daily.cvd` is tens of MB), so a real update and reload take longer than here.',
      'Settings: BENCH_UPDATE_SIGNATURES, BENCH_UPDATE_ROUNDS, BENCH_UPDATE_CONCURRENCY, BENCH_UPDATE_QUIET_MS.',
    ],
  };
}

/** `count` literal body signatures of 12–24 random bytes, different in each round. */
function generatedDatabase(count: number, round: number): string {
  const rng = seededRng(0x51de + round);
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const length = 12 + Math.floor(rng() * 13);
    const bytes = Buffer.from(Array.from({ length }, () => Math.floor(rng() * 256)));
    lines.push(`Bench.Update.${round}.${i}:0:*:${bytes.toString('hex')}`);
  }
  return `${lines.join('\n')}\n`;
}

function percentile(values: number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}
