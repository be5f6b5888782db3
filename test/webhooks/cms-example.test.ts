import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectTaggingCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCmsApp } from '../../webhooks/examples/cms/app.js';
import { eicar, randomContent } from '../support/content.js';
import { startTestService, type TestService, type TestTenant } from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * The example CMS end to end: real Arbiter, s3rver in this process, the CMS app, all on
 * 127.0.0.1. A clean upload ends up tagged clean and served; an EICAR upload is deleted from S3.
 */
describe('the example CMS receiver (webhooks/examples/cms)', () => {
  let service: TestService;
  let tenant: TestTenant;
  let s3rver: S3rver;
  let s3Dir: string;
  let s3: S3Client;
  let cms: Server;
  let cmsUrl: string;
  const bucket = 'cms';
  const logged: string[] = [];

  beforeAll(async () => {
    service = await startTestService({ ARBITER_ALLOWED_NETWORKS: '127.0.0.0/8' });
    tenant = await service.createTenant('cms');

    s3Dir = await mkdtemp(path.join(tmpdir(), 'arbiter-s3rver-'));
    s3rver = new S3rver({
      address: '127.0.0.1',
      port: 0,
      silent: true,
      directory: s3Dir,
      configureBuckets: [{ name: bucket, configs: [] }],
    });
    const { port: s3Port } = await s3rver.run();
    s3 = new S3Client({
      endpoint: `http://127.0.0.1:${s3Port}`,
      region: 'us-east-1',
      forcePathStyle: true,
      // s3rver accepts only this access key (any secret), and would store aws-chunked framing
      // as content if the SDK added its default checksums.
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });

    // Listen first: the CMS needs its own URL for the callback it gives Arbiter.
    cms = createServer();
    cms.listen(0, '127.0.0.1');
    await once(cms, 'listening');
    cmsUrl = `http://127.0.0.1:${(cms.address() as AddressInfo).port}`;
    const app = createCmsApp({
      s3,
      bucket,
      arbiter: {
        url: service.url,
        key: tenant.key,
        secret: tenant.secret,
        signingSecrets: [tenant.signing_secret],
      },
      publicUrl: cmsUrl,
      log: (message) => logged.push(message),
    });
    cms.on('request', app);
  });
  afterAll(async () => {
    cms?.closeAllConnections();
    await new Promise((resolve) => cms?.close(resolve));
    s3?.destroy();
    await s3rver?.close();
    await service?.stop();
    if (s3Dir) await rm(s3Dir, { recursive: true, force: true });
  });

  const upload = async (content: Buffer) => {
    const response = await fetch(`${cmsUrl}/uploads`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: content,
    });
    expect(response.status).toBe(202);
    return (await response.json()) as { id: string; status: string; scan_id: string };
  };
  const statusTag = async (key: string) => {
    const tags = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
    return tags.TagSet?.find((t) => t.Key === 'scan-status')?.Value;
  };
  const exists = async (key: string) => {
    try {
      await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return true;
    } catch (error) {
      if ((error as { name?: string }).name === 'NotFound') return false;
      throw error;
    }
  };

  it('clears a clean upload and deletes an infected one once Arbiter calls back', async () => {
    const cleanBytes = randomContent(4096);
    const clean = await upload(cleanBytes);
    const infected = await upload(eicar());
    expect(clean.status).toBe('pending');
    expect(clean.scan_id).toMatch(/^[0-9a-f]{32}$/);

    // Both are in S3 and pending until the callbacks arrive; a pending file is not served.
    expect(await exists(`uploads/${infected.id}`)).toBe(true);
    const early = await fetch(`${cmsUrl}/uploads/${clean.id}/content`);
    if (early.status !== 200) expect(early.status).toBe(409);

    await waitFor(async () => (await statusTag(`uploads/${clean.id}`)) === 'clean', {
      what: 'the clean upload to be cleared',
    });
    await waitFor(async () => !(await exists(`uploads/${infected.id}`)), {
      what: 'the infected upload to be deleted',
    });

    expect(await (await fetch(`${cmsUrl}/uploads/${clean.id}`)).json()).toEqual({
      id: clean.id,
      status: 'clean',
    });
    const served = await fetch(`${cmsUrl}/uploads/${clean.id}/content`);
    expect(served.status).toBe(200);
    expect(Buffer.from(await served.arrayBuffer()).equals(cleanBytes)).toBe(true);
    expect((await fetch(`${cmsUrl}/uploads/${infected.id}`)).status).toBe(404);
    expect(
      logged.some((m) => m.startsWith(`upload ${infected.id} removed: content.malicious.eicar`)),
    ).toBe(true);

    // Arbiter's view agrees, and both callbacks were delivered on the first attempt.
    const result = (await (
      await fetch(`${service.url}/v2.2/files/${infected.scan_id}`, {
        headers: { authorization: tenant.auth },
      })
    ).json()) as { findings: string[]; metadata: Record<string, string> };
    expect(result.findings.length).toBeGreaterThan(0);
    expect(result.metadata).toEqual({ upload_id: infected.id });
    for (const scanId of [clean.scan_id, infected.scan_id]) {
      const trace = (await (
        await fetch(`${service.url}/v2.2/files/${scanId}/trace`, {
          headers: { authorization: tenant.auth },
        })
      ).json()) as { events: Array<{ message: string }> };
      expect(
        trace.events.filter((e) => e.message.startsWith('callback attempt')).map((e) => e.message),
      ).toEqual([
        expect.stringMatching(
          /^callback attempt 1 to http:\/\/127\.0\.0\.1:\d+: HTTP 204 in \d+ ms$/,
        ),
      ]);
    }
  });

  it('refuses a forged callback: the upload stays pending', async () => {
    const pending = await upload(randomContent(100));
    const forged = await fetch(`${cmsUrl}/webhooks/arbiter`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': 'msg_forged',
        'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
        'webhook-signature': `v1,${Buffer.alloc(32).toString('base64')}`,
      },
      body: JSON.stringify({
        id: 'f'.repeat(32),
        findings: [],
        metadata: { upload_id: pending.id },
      }),
    });
    expect(forged.status).toBe(401);
    await waitFor(async () => (await statusTag(`uploads/${pending.id}`)) === 'clean', {
      what: 'the real callback',
    });
  });
});
