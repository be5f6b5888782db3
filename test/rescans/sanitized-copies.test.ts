import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.js';
import { photoWithGpsAndTrailer, TRAILER } from '../support/sanitized-copies.js';
import {
  ADMIN_TOKEN,
  pollScanResult,
  scaniiRequest,
  startTestService,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * A sanitized copy is made only of content without findings: when a rescan finds some in content
 * that had a copy, the result stops offering it and the copy is removed. The built-in engine
 * reads a signature folder written here, so a signature for the photo's trailing script can be
 * added after the first scan, as a signature update would.
 */

interface Result {
  id: string;
  findings: string[];
  sanitized?: { available: boolean; reason?: string };
}

describe('a rescan that finds something in content with a sanitized copy', () => {
  let dir: string;
  let service: TestService;
  let tenant: TestTenant;
  let content: TestHttpServer;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-sanitized-rescan-'));
    await writeFile(path.join(dir, 'start.ndb'), 'Start.Only:0:*:000102030405\n');
    service = await startTestService({ ARBITER_SIGNATURES_DIR: dir });
    tenant = await service.createTenant('rescanned');
    content = await startHttpServer({ '/photo.jpg': await photoWithGpsAndTrailer() });
  });
  afterAll(async () => {
    await content?.close();
    await service?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('withdraws the copy: the result says why, the download refuses, the file is gone', async () => {
    const accepted = await scaniiRequest(service, tenant, '/files/fetch', {
      method: 'POST',
      body: new URLSearchParams({ location: `${content.url}/photo.jpg`, sanitize: 'true' }),
    });
    const { id } = (await accepted.json()) as { id: string };
    const first = await pollScanResult<Result>(service, tenant, id);
    expect(first).toMatchObject({ findings: [], sanitized: { available: true } });
    const copy = path.join(service.config.spoolDir, 'sanitized', tenant.id, id);
    await access(copy);

    await writeFile(
      path.join(dir, 'added.ndb'),
      `Test.Trailing.Script:0:*:${Buffer.from(TRAILER).toString('hex')}\n`,
    );
    const reloaded = await fetch(`${service.url}/admin/signatures/reload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(reloaded.status).toBe(200);
    const created = await fetch(`${service.url}/v1/rescans`, {
      method: 'POST',
      headers: { authorization: tenant.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ older_than: 'current' }),
    });
    expect(created.status).toBe(201);
    const rescan = (await created.json()) as { id: string };
    await waitFor(
      async () => {
        const response = await fetch(`${service.url}/v1/rescans/${rescan.id}`, {
          headers: { authorization: tenant.auth },
        });
        return ((await response.json()) as { state: string }).state === 'completed';
      },
      { timeoutMs: 60_000, what: 'the rescan to complete' },
    );

    const after = await pollScanResult<Result>(service, tenant, id);
    expect(after.findings).toEqual(['content.malicious.test.trailing.script']);
    expect(after.sanitized).toEqual({ available: false, reason: 'the content has findings' });
    const download = await scaniiRequest(service, tenant, `/files/${id}/sanitized`);
    expect(download.status).toBe(404);
    expect(((await download.json()) as { error: string }).error).toBe(
      `No sanitized copy of ${id} is available: the content has findings.`,
    );
    await expect(access(copy)).rejects.toThrow();
  });
});
