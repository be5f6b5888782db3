import { readdir } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisKeys } from '../../core/keys.js';
import { QUEUE_NAMES } from '../../core/queues.js';
import { redisOptionsFromUrl } from '../../core/redis.js';
import { overlappingZip } from '../support/archives.js';
import { eicar, fileForm, randomContent } from '../support/content.js';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.js';
import { pacedLoad, tally } from '../support/load.js';
import {
  pollScanResult,
  scaniiRequest,
  startTestService,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * A bounded soak: one tenant sends a mix of hostile traffic (trickling locations, zip bombs,
 * uploads deleted at once, oversized and malformed requests, unauthenticated bodies trickled after
 * their 401, pending fetches deleted mid-download) while another tenant keeps scanning. What a
 * user would notice is checked: the other tenant's median latency stays within the noise of its
 * quiet runs, every hostile request gets its documented answer, and afterwards the spool is empty
 * and Redis holds what it held before (results expire after ARBITER_RESULT_TTL, set short here).
 *
 * Everything goes to servers on 127.0.0.1. Each phase is a fixed count of requests, so the test
 * stops by itself.
 */

// Long enough for every scan of the run to be read back, short enough to wait out at the end.
const RESULT_TTL_SECONDS = 40;
const QUIET_SAMPLES = 20;

/** A location that sends one byte every 200 ms for as long as the client stays. */
function trickle(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  const timer = setInterval(() => res.write('x'), 200);
  res.on('close', () => clearInterval(timer));
}

/** The latency a client sees: an async upload from submit until its result can be read. */
async function timedScan(service: TestService, tenant: TestTenant): Promise<number> {
  const started = performance.now();
  const response = await scaniiRequest(service, tenant, '/files/async', {
    method: 'POST',
    body: fileForm(randomContent(8 * 1024)),
  });
  expect(response.status).toBe(202);
  const { id } = (await response.json()) as { id: string };
  const result = await pollScanResult<{ findings: string[]; error?: string }>(
    service,
    tenant,
    id,
    60_000,
  );
  expect(result).toMatchObject({ findings: [] });
  expect(result.error).toBeUndefined();
  return performance.now() - started;
}

/** The sample at quantile `q` (nearest rank). */
const quantile = (samples: number[], q: number): number => {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.min(sorted.length - 1, Math.ceil(sorted.length * q) - 1))] ?? 0;
};
const p99 = (samples: number[]): number => quantile(samples, 0.99);
const median = (samples: number[]): number => quantile(samples, 0.5);

/**
 * Sends headers of a chunked upload without credentials, then keeps trickling chunks. Resolves
 * with the status line once the server has closed the connection (it must not wait for a body it
 * has already refused).
 */
function trickleUnauthenticated(url: string): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1');
    let answer = '';
    const timer = setInterval(() => {
      if (!socket.destroyed) socket.write('1\r\na\r\n');
    }, 100);
    const giveUp = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open; it answered: ${answer.slice(0, 40)}`));
    }, 20_000);
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve(answer.split('\r\n')[0] ?? '');
    });
    socket.write(
      'POST /v2.2/files HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n' +
        'Content-Type: multipart/form-data; boundary=x\r\n\r\n',
    );
  });
}

/** Every file under `dir`, however deep. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const nested = await Promise.all(
    entries.map((entry) => {
      const full = path.join(dir, entry.name);
      return entry.isDirectory() ? filesUnder(full) : Promise.resolve([full]);
    }),
  );
  return nested.flat();
}

describe('mixed hostile traffic from one tenant while another scans', () => {
  let service: TestService;
  let attacker: TestTenant;
  let neighbour: TestTenant;
  let locations: TestHttpServer;
  let scanQueue: Queue;
  const prefix = () => service.config.redisPrefix;

  beforeAll(async () => {
    service = await startTestService({
      ARBITER_SCAN_CONCURRENCY: '4',
      // Trickling locations end fast: under 1 KB/s over a 1 s window, or 5 s in all.
      ARBITER_FETCH_MIN_RATE: '1KB',
      ARBITER_FETCH_RATE_WINDOW_MS: '1000',
      ARBITER_FETCH_TIMEOUT_MS: '5000',
      ARBITER_MAX_FILE_SIZE: '1MB',
      ARBITER_RESULT_TTL: String(RESULT_TTL_SECONDS),
      ARBITER_SPOOL_SWEEP_INTERVAL_MS: '500',
      ARBITER_SPOOL_GRACE_MS: '3000',
      ARBITER_SCAN_RETRY_BASE_MS: '200',
    });
    attacker = await service.createTenant('attacker');
    neighbour = await service.createTenant('neighbour');
    locations = await startHttpServer({ '/slow': trickle, '/small': randomContent(4096) });
    scanQueue = new Queue(QUEUE_NAMES.scan, {
      connection: redisOptionsFromUrl(service.redis.url),
      prefix: service.service.runtime.queuePrefix(QUEUE_NAMES.scan),
    });
  });
  afterAll(async () => {
    await scanQueue?.close();
    await locations?.close();
    await service?.stop();
  });

  /** Arbiter's own keys (not BullMQ's), with the ones that expire within a few seconds left out. */
  async function durableKeys(): Promise<string[]> {
    const redis = service.service.runtime.redis;
    const keys = await redis.keys(`${prefix()}:*`);
    const queuePrefix = `${new RedisKeys(prefix()).queueRoot()}:`;
    const kept: string[] = [];
    for (const key of keys) {
      if (key.startsWith(queuePrefix)) continue;
      // Rate-limit windows live for a second or ten, and each tenant's daily byte counter for its
      // day (a new one after midnight UTC); everything else must be back to the start.
      if (key.includes(':ratelimit') || key.includes(':quota:')) continue;
      kept.push(key);
    }
    return kept.sort();
  }

  async function queueIdle(): Promise<boolean> {
    const counts = await scanQueue.getJobCounts(
      'waiting',
      'active',
      'delayed',
      'prioritized',
      'waiting-children',
    );
    return Object.values(counts).every((n) => n === 0);
  }

  it("keeps the neighbour's latency within its quiet noise, and leaves the spool and Redis as they were", async () => {
    // Warm-up, then the starting point: both tenants have made requests of every kind once.
    for (const tenant of [attacker, neighbour]) {
      await timedScan(service, tenant);
      const fetched = await scaniiRequest(service, tenant, '/files/fetch', {
        method: 'POST',
        body: new URLSearchParams({ location: `${locations.url}/small` }),
      });
      expect(fetched.status).toBe(202);
    }
    await waitFor(queueIdle, { timeoutMs: 30_000, what: 'the warm-up scans' });
    // The warm-up's own results and traces expire before the end, like every other scan's, and
    // so do the tenants' result indexes (they expire with the last result written to them).
    const keysAtStart = (await durableKeys()).filter(
      // Scans, traces and the result indexes (all results, and each outcome's) expire with them.
      (key) => !/:(scan|trace):/.test(key) && !/:results(:[a-z]+)?$/.test(key),
    );
    expect(await filesUnder(service.config.spoolDir)).toEqual([]);

    // Quiet: the neighbour alone.
    const quietBefore: number[] = [];
    for (let i = 0; i < QUIET_SAMPLES; i += 1)
      quietBefore.push(await timedScan(service, neighbour));

    // Hostile: the attacker's mix, while the neighbour keeps scanning one file at a time.
    const attackerIds: string[] = [];
    const bomb = overlappingZip(1000, 1024 ** 2);
    const attack = pacedLoad({ count: 96, perTick: 4, tickMs: 150, maxInFlight: 24 }, (i) =>
      hostileRequest(i % 8, bomb, attackerIds),
    );
    let attackDone = false;
    void attack.finally(() => (attackDone = true));
    // Until every hostile request is answered and every scan it queued has ended (between two
    // of its own scans the neighbour has nothing queued, so an idle queue means the attacker's
    // work is done), with a cap so that the loop ends by itself.
    const underAttack: number[] = [];
    while (
      underAttack.length < 500 &&
      (!attackDone || underAttack.length < QUIET_SAMPLES || !(await queueIdle()))
    ) {
      underAttack.push(await timedScan(service, neighbour));
    }
    const answers = await attack;
    expect(answers.filter((a) => !a.ok)).toEqual([]);
    const byKind = tally(answers.map((a) => (a.ok ? a.value : 'failed')));
    // Every hostile request got its documented answer (12 of each kind).
    expect(byKind).toEqual({
      'slow fetch: 202': 12,
      'overlapping zip: 202': 12,
      'upload deleted at once: 202 204': 12,
      'oversized upload: 413': 12,
      'control character in a metadata key: 400': 12,
      'unauthenticated trickle: HTTP/1.1 401 Unauthorized, closed': 12,
      'fetch deleted mid-download: 202 204': 12,
      'hex token timeout: 400': 12,
    });

    // The attacker's accepted scans all end: trickling locations as errors (never retried),
    // bombs as unscannable, deleted ones not at all.
    await waitFor(queueIdle, { timeoutMs: 120_000, what: "the attacker's scans to end" });
    const outcomes = await Promise.all(
      attackerIds.map(async (id) => {
        const response = await scaniiRequest(service, attacker, `/files/${id}`);
        if (response.status === 404) return 'deleted';
        const result = (await response.json()) as { findings: string[]; error?: string };
        if (result.error) return /too slow|took longer/.test(result.error) ? 'slow' : result.error;
        return result.findings.join(',');
      }),
    );
    expect(tally(outcomes)).toEqual({
      slow: 12,
      'content.unscannable.limits-exceeded': 12,
      deleted: 24,
    });

    // Quiet again: the neighbour alone.
    const quietAfter: number[] = [];
    for (let i = 0; i < QUIET_SAMPLES; i += 1) quietAfter.push(await timedScan(service, neighbour));

    // "Unchanged within its noise": the two quiet runs of this same process set the scale. The
    // bound is twice the worse quiet p99, plus 250 ms for the scheduling noise of a 2-core machine
    // that also runs the attacker's load generator. Before per-tenant slots and the minimum
    // transfer rate, the neighbour waited for the attacker's downloads: seconds, not milliseconds,
    // in every scan it made while they lasted. So the median under attack is held to the bound:
    // it shows that wait, where the p99 (printed) also shows one scan stalled for a second by
    // another test file loading the same two cores (seen: 1.26 s, the median unaffected).
    const quiet = Math.max(p99(quietBefore), p99(quietAfter));
    const figures = {
      quietBeforeP99: Math.round(p99(quietBefore)),
      underAttackMedian: Math.round(median(underAttack)),
      underAttackP99: Math.round(p99(underAttack)),
      quietAfterP99: Math.round(p99(quietAfter)),
      samplesUnderAttack: underAttack.length,
    };
    console.info('neighbour latency (ms)', figures);
    expect(median(underAttack), JSON.stringify(figures)).toBeLessThanOrEqual(quiet * 2 + 250);

    // Afterwards: nothing left in the spool, and Redis back to its starting keys once the
    // results have expired (BullMQ keeps finished jobs for a while by design: counted apart).
    await waitFor(async () => (await filesUnder(service.config.spoolDir)).length === 0, {
      timeoutMs: 30_000,
      what: 'the spool to be empty',
    });
    await waitFor(async () => JSON.stringify(await durableKeys()) === JSON.stringify(keysAtStart), {
      timeoutMs: (RESULT_TTL_SECONDS + 30) * 1000,
      what: 'Redis to hold its starting keys',
    });
    expect(await queueIdle()).toBe(true);
  }, 240_000);

  /** One hostile request of kind `kind`; says what the service answered. */
  async function hostileRequest(kind: number, bomb: Buffer, ids: string[]): Promise<string> {
    const remember = async (response: Response) => {
      const { id } = (await response.json()) as { id: string };
      ids.push(id);
      return id;
    };
    switch (kind) {
      case 0: {
        const response = await scaniiRequest(service, attacker, '/files/fetch', {
          method: 'POST',
          body: new URLSearchParams({ location: `${locations.url}/slow` }),
        });
        if (response.status === 202) await remember(response);
        return `slow fetch: ${response.status}`;
      }
      case 1: {
        const response = await scaniiRequest(service, attacker, '/files/async', {
          method: 'POST',
          body: fileForm(bomb, {}, 'bomb.zip'),
        });
        if (response.status === 202) await remember(response);
        return `overlapping zip: ${response.status}`;
      }
      case 2: {
        const response = await scaniiRequest(service, attacker, '/files/async', {
          method: 'POST',
          body: fileForm(randomContent(256 * 1024)),
        });
        const id = await remember(response);
        const deleted = await scaniiRequest(service, attacker, `/files/${id}`, {
          method: 'DELETE',
        });
        return `upload deleted at once: ${response.status} ${deleted.status}`;
      }
      case 3: {
        const response = await scaniiRequest(service, attacker, '/files/async', {
          method: 'POST',
          body: fileForm(randomContent(2 * 1024 * 1024)),
        });
        await response.arrayBuffer();
        return `oversized upload: ${response.status}`;
      }
      case 4: {
        const response = await scaniiRequest(service, attacker, '/files', {
          method: 'POST',
          body: fileForm(eicar(), { 'metadata[\u0085key]': 'x' }),
        });
        await response.arrayBuffer();
        return `control character in a metadata key: ${response.status}`;
      }
      case 5: {
        const statusLine = await trickleUnauthenticated(service.url);
        return `unauthenticated trickle: ${statusLine}, closed`;
      }
      case 6: {
        const response = await scaniiRequest(service, attacker, '/files/fetch', {
          method: 'POST',
          body: new URLSearchParams({ location: `${locations.url}/slow` }),
        });
        const id = await remember(response);
        const deleted = await scaniiRequest(service, attacker, `/files/${id}`, {
          method: 'DELETE',
        });
        return `fetch deleted mid-download: ${response.status} ${deleted.status}`;
      }
      default: {
        const response = await scaniiRequest(service, attacker, '/auth/tokens', {
          method: 'POST',
          body: new URLSearchParams({ timeout: '0x10' }),
        });
        await response.arrayBuffer();
        return `hex token timeout: ${response.status}`;
      }
    }
  }
});
