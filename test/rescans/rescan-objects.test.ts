import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyDeliveryDetails } from '../../webhooks/receiver.js';
import { startCallbackReceiver, type CallbackReceiver } from '../support/http-servers.js';
import { registerBucket, startS3Harness, v1Client, type S3Harness } from '../support/s3.js';
import {
  ADMIN_TOKEN,
  pollScanResult,
  startTestService,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * Rescans of bucket objects, against the whole service and s3rver: objects scanned clean through
 * the object scans, then a signature that knows one of them (added to the built-in engine's
 * folder and loaded with the admin reload), then a rescan. The object now infected is scanned
 * again from its bucket, its stored result updated, its tags rewritten, and the bucket's callback
 * called; an object deleted meanwhile, and one of a bucket no longer registered, are skipped.
 */
const SECRET_KEY = Buffer.alloc(32, 5).toString('base64');
const marker = Buffer.from('arbiter-rescan-object-marker-51c0e2', 'latin1');
const sample = Buffer.concat([Buffer.alloc(700, 0x2e), marker, Buffer.alloc(700, 0x2e)]);
const harmless = Buffer.alloc(1400, 0x2d);
const NOW_INFECTED = 'content.malicious.test.rescan.object';

interface RescanBody {
  id: string;
  state: string;
  counters: Record<string, unknown>;
}

interface ObjectResult {
  id: string;
  findings: string[];
  outcome?: string;
  action?: string;
  bucket?: string;
  key?: string;
  rescan?: { id: string; previous_findings: string[] };
}

describe('rescans of bucket objects', () => {
  let dir: string;
  let harness: S3Harness;
  let service: TestService;
  let tenant: TestTenant;
  let receiver: CallbackReceiver;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-rescan-objects-'));
    await writeFile(path.join(dir, 'start.ndb'), 'Start.Only:0:*:000102030405\n');
    harness = await startS3Harness();
    receiver = await startCallbackReceiver();
    service = await startTestService({
      ARBITER_SECRET_KEY: SECRET_KEY,
      ARBITER_SIGNATURES_DIR: dir,
      ARBITER_ENGINES: 'builtin',
    });
    tenant = await service.createTenant('rescan-objects');
  }, 60_000);

  afterAll(async () => {
    await service?.stop();
    await receiver?.close();
    await harness?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const v1 = (route: string, init: RequestInit = {}) => v1Client(service, tenant.auth)(route, init);
  const scanObject = async (bucket: string, key: string) => {
    const scan = await service.service.runtime.s3.objectScans.scanExistingObject(
      tenant.id,
      bucket,
      key,
    );
    expect(scan.result).toMatchObject({ outcome: 'clean', action: 'tag', findings: [] });
    return scan.scanId;
  };

  it('scans objects again from their buckets: a changed verdict is stored, tagged and called back; gone objects and buckets are skipped', async () => {
    const callback = `${receiver.url}/callback`;
    await harness.createBucket('rescan-live');
    await harness.createBucket('rescan-dropped');
    await harness.createBucket('rescan-guarded');
    await harness.createBucket('rescan-quarantine');
    await registerBucket(service, tenant.auth, harness, 'rescan-guarded', {
      callback,
      actions: {
        onInfected: 'quarantine',
        quarantine: { bucket: 'rescan-quarantine', prefix: 'infected/' },
      },
    });
    await registerBucket(service, tenant.auth, harness, 'rescan-live', { callback });
    await registerBucket(service, tenant.auth, harness, 'rescan-dropped', { callback });
    await harness.putObject('rescan-live', 'now bad.bin', sample);
    await harness.putObject('rescan-live', 'still-fine.bin', harmless);
    await harness.putObject('rescan-live', 'deleted.bin', harmless);
    await harness.putObject('rescan-dropped', 'orphan.bin', sample);
    await harness.putObject('rescan-guarded', 'docs/guarded.bin', sample);

    const nowBadId = await scanObject('rescan-live', 'now bad.bin');
    const stillFineId = await scanObject('rescan-live', 'still-fine.bin');
    await scanObject('rescan-live', 'deleted.bin');
    const orphanId = await scanObject('rescan-dropped', 'orphan.bin');
    const guardedId = await scanObject('rescan-guarded', 'docs/guarded.bin');
    expect((await harness.tags('rescan-live', 'now bad.bin'))['scan-result']).toBe('clean');
    await receiver.waitForDeliveries(5, 30_000);

    // The signature update; then the object is deleted, and the other bucket unregistered.
    await writeFile(
      path.join(dir, 'added.ndb'),
      `Test.Rescan.Object:0:*:${marker.toString('hex')}\n`,
    );
    const reloaded = await fetch(`${service.url}/admin/signatures/reload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(reloaded.status).toBe(200);
    await harness.s3.send(new DeleteObjectCommand({ Bucket: 'rescan-live', Key: 'deleted.bin' }));
    expect((await v1('/buckets/rescan-dropped', { method: 'DELETE' })).status).toBeLessThan(300);

    const created = await v1('/rescans', {
      method: 'POST',
      body: JSON.stringify({ older_than: 'current' }),
    });
    expect(created.status).toBe(201);
    const rescan = (await created.json()) as RescanBody;
    const ended = await waitFor(
      async () => {
        const body = (await (await v1(`/rescans/${rescan.id}`)).json()) as RescanBody;
        return ['completed', 'failed', 'cancelled'].includes(body.state) ? body : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100, what: `rescan ${rescan.id} to end` },
    );
    expect(ended.state).toBe('completed');
    expect(ended.counters).toEqual({
      listed: 5,
      matched: 5,
      queued: 3,
      rescanned: 3,
      changed: 2,
      errors: 0,
      skipped: {
        'object version no longer in the bucket': 1,
        'bucket no longer registered': 1,
      },
    });

    // The stored result says what the new database says, and what the rescan did to the object.
    const updated = await pollScanResult<ObjectResult>(service, tenant, nowBadId);
    expect(updated).toMatchObject({
      findings: [NOW_INFECTED],
      outcome: 'infected',
      action: 'tag',
      bucket: 'rescan-live',
      key: 'now bad.bin',
      rescan: { id: rescan.id, previous_findings: [] },
    });
    expect((await harness.tags('rescan-live', 'now bad.bin'))['scan-result']).toBe('infected');
    // The bucket that quarantines infected objects: the object is moved, with its tags.
    expect(await pollScanResult<ObjectResult>(service, tenant, guardedId)).toMatchObject({
      findings: [NOW_INFECTED],
      outcome: 'infected',
      action: 'quarantine',
      rescan: { id: rescan.id },
    });
    expect(await harness.exists('rescan-guarded', 'docs/guarded.bin')).toBe(false);
    expect(await harness.listKeys('rescan-quarantine')).toEqual(['infected/docs/guarded.bin']);
    expect(
      (await harness.tags('rescan-quarantine', 'infected/docs/guarded.bin'))['scan-result'],
    ).toBe('infected');
    // Unchanged, and skipped, results are left as they were.
    const unchanged = await pollScanResult<ObjectResult>(service, tenant, stillFineId);
    expect(unchanged.rescan).toBeUndefined();
    expect((await harness.tags('rescan-live', 'still-fine.bin'))['scan-result']).toBe('clean');
    expect((await pollScanResult<ObjectResult>(service, tenant, orphanId)).findings).toEqual([]);

    // The bucket's callback is called again for the changed verdict only, with the rescan.
    const deliveries = await receiver.waitForDeliveries(7, 30_000);
    const again = deliveries.filter((d) => d.json.id === nowBadId);
    expect(again).toHaveLength(2);
    const verified = await verifyDeliveryDetails({
      body: again[1]!.body,
      headers: again[1]!.headers,
      secret: tenant.signing_secret,
    });
    expect(verified.id).toBe(`msg_${nowBadId}_${rescan.id}`);
    expect(verified.result).toMatchObject({
      id: nowBadId,
      findings: [NOW_INFECTED],
      rescan: { id: rescan.id, previous_findings: [] },
    });
    expect(deliveries.filter((d) => d.json.id === stillFineId)).toHaveLength(1);
    expect(deliveries.filter((d) => d.json.id === orphanId)).toHaveLength(1);
    const guarded = deliveries.filter((d) => d.json.id === guardedId);
    expect(guarded).toHaveLength(2);
    expect(guarded[1]!.json).toMatchObject({ action: 'quarantine', outcome: 'infected' });
  });
});
