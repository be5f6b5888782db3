import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eicar, fileForm, randomContent, sha1 } from '../support/content.js';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.js';
import {
  pollScanResult,
  scaniiRequest,
  startTestService,
  type TestService,
  type TestTenant,
} from '../support/service.js';

/**
 * `GET /v1/scans` end to end: a tenant's stored results newest first, paged with a cursor,
 * filtered by outcome, searched by id, checksum, metadata and finding; deleted scans gone,
 * other tenants' never shown, bad input refused, a changed verdict moving between filters.
 */

interface Summary {
  id: string;
  checksum: string | null;
  content_type: string | null;
  content_length: number | null;
  findings: string[];
  error?: string;
  creation_date: string;
  metadata: Record<string, string>;
}

interface ListBody {
  scans: Summary[];
  next_cursor: string | null;
  error?: string;
}

describe('GET /v1/scans', () => {
  let service: TestService;
  let origin: TestHttpServer;
  let tenant: TestTenant;
  let other: TestTenant;
  /** Tenant A's scans, oldest first. */
  const cleanIds: string[] = [];
  let cleanContent: Buffer;
  let infectedId: string;
  let errorId: string;

  const list = async (who: TestTenant, query: Record<string, string> = {}) => {
    const response = await fetch(
      `${service.url}/v1/scans?${new URLSearchParams(query).toString()}`,
      {
        headers: { authorization: who.auth },
      },
    );
    return { status: response.status, body: (await response.json()) as ListBody };
  };
  const ids = (body: ListBody) => body.scans.map((scan) => scan.id);

  const upload = async (who: TestTenant, content: Buffer, metadata: Record<string, string>) => {
    const fields = Object.fromEntries(
      Object.entries(metadata).map(([key, value]) => [`metadata[${key}]`, value]),
    );
    const response = await scaniiRequest(service, who, '/files', {
      method: 'POST',
      body: fileForm(content, fields),
    });
    expect(response.status, await response.clone().text()).toBe(201);
    return ((await response.json()) as Summary).id;
  };

  beforeAll(async () => {
    service = await startTestService();
    origin = await startHttpServer({});
    tenant = await service.createTenant('a');
    other = await service.createTenant('b');
    for (let n = 0; n < 5; n++) {
      const content = randomContent(512);
      if (n === 2) cleanContent = content;
      cleanIds.push(await upload(tenant, content, { order: `order-${n}`, team: 'blue' }));
    }
    infectedId = await upload(tenant, eicar(), { order: 'order-eicar' });
    const fetched = await scaniiRequest(service, tenant, '/files/fetch', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ location: `${origin.url}/missing` }),
    });
    expect(fetched.status).toBe(202);
    errorId = ((await fetched.json()) as { id: string }).id;
    await pollScanResult(service, tenant, errorId);
    await upload(other, randomContent(64), { order: 'order-0', team: 'blue' });
  });
  afterAll(async () => {
    await origin?.close();
    await service?.stop();
  });

  it('lists the tenant’s scans newest first, as summaries', async () => {
    const { status, body } = await list(tenant);
    expect(status).toBe(200);
    expect(ids(body)).toEqual([errorId, infectedId, ...[...cleanIds].reverse()]);
    expect(body.next_cursor).toBeNull();
    const clean = body.scans.find((scan) => scan.id === cleanIds[2]);
    expect(clean).toEqual({
      id: cleanIds[2],
      checksum: sha1(cleanContent),
      content_type: expect.any(String) as string,
      content_length: 512,
      findings: [],
      creation_date: expect.any(String) as string,
      metadata: { order: 'order-2', team: 'blue' },
    });
    expect(body.scans[0]?.error).toEqual(expect.any(String));
  });

  it('pages with the cursor, without duplicates or gaps', async () => {
    const everything = ids((await list(tenant)).body);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: Record<string, string> = { limit: '2', ...(cursor ? { cursor } : {}) };
      const { status, body } = await list(tenant, query);
      expect(status).toBe(200);
      expect(body.scans.length).toBeLessThanOrEqual(2);
      seen.push(...ids(body));
      cursor = body.next_cursor;
    } while (cursor);
    expect(seen).toEqual(everything);
  });

  it('filters by outcome', async () => {
    expect(ids((await list(tenant, { outcome: 'clean' })).body)).toEqual([...cleanIds].reverse());
    expect(ids((await list(tenant, { outcome: 'findings' })).body)).toEqual([infectedId]);
    expect(ids((await list(tenant, { outcome: 'error' })).body)).toEqual([errorId]);
    const infected = (await list(tenant, { outcome: 'findings' })).body.scans[0];
    expect(infected?.findings.length).toBeGreaterThan(0);
  });

  it('searches by id, checksum, metadata and finding', async () => {
    expect(ids((await list(tenant, { q: cleanIds[1]! })).body)).toEqual([cleanIds[1]]);
    expect(ids((await list(tenant, { q: sha1(cleanContent).toUpperCase() })).body)).toEqual([
      cleanIds[2],
    ]);
    expect(ids((await list(tenant, { q: 'order-3' })).body)).toEqual([cleanIds[3]]);
    expect(ids((await list(tenant, { q: 'BLUE' })).body)).toEqual([...cleanIds].reverse());
    const finding = (await list(tenant, { outcome: 'findings' })).body.scans[0]!.findings[0]!;
    expect(ids((await list(tenant, { q: finding.slice(2, -2) })).body)).toEqual([infectedId]);
    expect(ids((await list(tenant, { q: 'blue', outcome: 'findings' })).body)).toEqual([]);
    expect((await list(tenant, { q: 'no-such-thing' })).body).toEqual({
      scans: [],
      next_cursor: null,
    });
  });

  it('never shows another tenant’s scans', async () => {
    const mine = ids((await list(tenant)).body);
    const theirs = (await list(other)).body.scans;
    expect(theirs).toHaveLength(1);
    expect(mine).not.toContain(theirs[0]!.id);
    expect(ids((await list(other, { q: cleanIds[0]! })).body)).toEqual([]);
    expect(ids((await list(other, { q: 'order-eicar' })).body)).toEqual([]);
  });

  it('refuses bad input with a 400 naming it', async () => {
    for (const [query, word] of [
      [{ limit: '0' }, 'limit'],
      [{ limit: '101' }, 'limit'],
      [{ limit: 'ten' }, 'limit'],
      [{ outcome: 'infected' }, 'outcome'],
      [{ q: 'x'.repeat(257) }, 'q'],
      [{ cursor: 'not-a-cursor' }, 'cursor'],
      [{ cursor: Buffer.from('12.zz').toString('base64url') }, 'cursor'],
    ] as const) {
      const { status, body } = await list(tenant, query);
      expect(status, JSON.stringify(query)).toBe(400);
      expect(body.error).toContain(word);
    }
  });

  it('moves a result whose verdict a rescan changed to its new outcome', async () => {
    const store = service.service.runtime.scans;
    const record = await store.get(tenant.id, cleanIds[4]!);
    const before = record!.result!;
    const after = { ...before, findings: ['content.malicious.rescan-test'] };
    expect(await store.replaceResult(tenant.id, before, after)).toBe(true);
    expect(ids((await list(tenant, { outcome: 'findings' })).body)).toEqual([
      infectedId,
      cleanIds[4],
    ]);
    expect(ids((await list(tenant, { outcome: 'clean' })).body)).not.toContain(cleanIds[4]);
    expect(await store.replaceResult(tenant.id, after, before)).toBe(true);
    expect(ids((await list(tenant, { outcome: 'clean' })).body)[0]).toBe(cleanIds[4]);
  });

  it('drops a deleted scan from the list, its filter and its search', async () => {
    const deleted = await scaniiRequest(service, tenant, `/files/${cleanIds[0]}`, {
      method: 'DELETE',
    });
    expect(deleted.status).toBe(204);
    expect(ids((await list(tenant)).body)).not.toContain(cleanIds[0]);
    expect(ids((await list(tenant, { outcome: 'clean' })).body)).not.toContain(cleanIds[0]);
    expect(ids((await list(tenant, { q: 'order-0' })).body)).toEqual([]);
  });
});
