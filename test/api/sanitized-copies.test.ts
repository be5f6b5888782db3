import { access, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eicar, fileForm, sha1 } from '../support/content.js';
import {
  startCallbackReceiver,
  startHttpServer,
  type CallbackReceiver,
  type TestHttpServer,
} from '../support/http-servers.js';
import {
  jpegLayout,
  metadataMarkers,
  photoWithGpsAndTrailer,
  TRAILER,
} from '../support/sanitized-copies.js';
import {
  pollScanResult,
  scaniiRequest,
  startTestService,
  traceMessages,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import { wordDocument } from '../support/ooxml.js';
import { officePackage } from '../support/sanitize.js';
import { waitFor } from '../support/wait.js';

const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';

/**
 * Sanitized copies through the whole service (api + workers, real Redis, the spool as the store):
 * asked for with `sanitize=true` on the three ways content arrives, described in the result and
 * the callback, downloaded from `GET /files/{id}/sanitized` and checked by an independent reader,
 * refused with a reason for what gets no copy, and gone with the scan, its tenant, or its result.
 */

interface Result {
  id: string;
  checksum: string;
  findings: string[];
  content_type: string;
  sanitized?:
    | { available: true; removed: string[]; content_type: string; checksum: string; size: number }
    | { available: false; reason: string };
}

describe('sanitized copies', () => {
  let service: TestService;
  let tenant: TestTenant;
  let other: TestTenant;
  let receiver: CallbackReceiver;
  let content: TestHttpServer;
  let photo: Buffer;

  beforeAll(async () => {
    photo = await photoWithGpsAndTrailer();
    receiver = await startCallbackReceiver();
    content = await startHttpServer({
      '/holiday%20photo.jpg': photo,
      '/notes.txt': 'just some notes\n',
    });
    service = await startTestService();
    tenant = await service.createTenant('sanitizing');
    other = await service.createTenant('someone-else');
  });
  afterAll(async () => {
    await service?.stop();
    await receiver?.close();
    await content?.close();
  });

  const request = (requestPath: string, init: RequestInit = {}, who: TestTenant = tenant) =>
    scaniiRequest(service, who, requestPath, init);

  const scanSync = async (bytes: Buffer, name: string, fields: Record<string, string> = {}) => {
    const response = await request('/files', {
      method: 'POST',
      body: fileForm(bytes, fields, name),
    });
    expect(response.status, await response.clone().text()).toBe(201);
    return (await response.json()) as Result;
  };

  const download = (id: string, who: TestTenant = tenant) =>
    request(`/files/${id}/sanitized`, {}, who);

  const refusal = async (response: Response) => {
    expect(response.status).toBe(404);
    return ((await response.json()) as { error: string }).error;
  };

  const copyPath = (id: string, tenantId = tenant.id) =>
    path.join(service.config.spoolDir, 'sanitized', tenantId, id);

  const exists = (file: string) =>
    access(file).then(
      () => true,
      () => false,
    );

  /** Checks a downloaded copy of `photo`: what the result says, and what a JPEG reader sees. */
  const expectCleanPhoto = async (result: Result, response: Response) => {
    expect(result.sanitized).toMatchObject({
      available: true,
      content_type: 'image/jpeg',
      removed: ['metadata', 'trailing-data'],
    });
    if (!result.sanitized?.available) throw new Error('no copy');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/jpeg');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    const bytes = Buffer.from(await response.arrayBuffer());
    expect(response.headers.get('content-length')).toBe(String(bytes.length));
    expect({ size: bytes.length, checksum: sha1(bytes) }).toEqual({
      size: result.sanitized.size,
      checksum: result.sanitized.checksum,
    });
    // The original is untouched: its checksum is the upload's, and it had both.
    expect(result.checksum).toBe(sha1(photo));
    const before = await jpegLayout(photo);
    expect(metadataMarkers(before).length).toBeGreaterThan(0);
    expect(before.end).toBeLessThan(before.length);
    const after = await jpegLayout(bytes);
    expect(metadataMarkers(after)).toEqual([]);
    expect(after.end).toBe(after.length);
    expect(bytes.includes('GPS')).toBe(false);
    expect(bytes.includes('shot at home')).toBe(false);
    expect(bytes.includes(TRAILER)).toBe(false);
  };

  describe('POST /files with sanitize=true', () => {
    it('makes a copy without EXIF, GPS or the bytes after EOI, and serves it as an attachment', async () => {
      const result = await scanSync(photo, 'holiday photo (1).jpg', { sanitize: 'true' });
      expect(result.findings).toEqual([]);
      const response = await download(result.id);
      expect(response.headers.get('content-disposition')).toBe(
        'attachment; filename="holiday_photo_1.jpg"',
      );
      await expectCleanPhoto(result, response);
      expect(await traceMessages(service, tenant, result.id)).toContain(
        `sanitized copy made (image/jpeg, ${result.sanitized?.available ? result.sanitized.size : 0} bytes); removed: metadata, trailing-data`,
      );
      // Stored as the result says, and the same on a later read.
      expect(await pollScanResult<Result>(service, tenant, result.id)).toEqual(result);
      expect(await exists(copyPath(result.id))).toBe(true);
    });

    it('is refused unless it is true or false', async () => {
      for (const value of ['yes', '1', 'TRUE', '']) {
        const response = await request('/files', {
          method: 'POST',
          body: fileForm(photo, { sanitize: value }, 'a.jpg'),
        });
        expect({ value, status: response.status }).toEqual({ value, status: 400 });
        expect(((await response.json()) as { error: string }).error).toBe(
          'sanitize must be true or false',
        );
      }
      const twice = fileForm(photo, { sanitize: 'true' }, 'a.jpg');
      twice.append('sanitize', 'true');
      expect((await request('/files', { method: 'POST', body: twice })).status).toBe(400);
      // Nothing was kept of the refused uploads.
      expect(await readdir(path.join(service.config.spoolDir, 'incoming'))).toEqual([]);
    });

    it('makes no copy with sanitize=false or without it, and the download says so', async () => {
      for (const fields of [{ sanitize: 'false' }, {}] as Record<string, string>[]) {
        const result = await scanSync(photo, 'a.jpg', fields);
        expect(result).not.toHaveProperty('sanitized');
        expect(await refusal(await download(result.id))).toBe(
          `No sanitized copy of ${result.id} was asked for: submit the content with sanitize=true.`,
        );
      }
    });

    it('says why there is no copy of a type no sanitizer takes, and the download says it too', async () => {
      const result = await scanSync(Buffer.from('plain words, nothing else\n'), 'notes.txt', {
        sanitize: 'true',
      });
      expect(result.findings).toEqual([]);
      expect(result.sanitized).toEqual({ available: false, reason: 'no sanitizer for text/plain' });
      expect(await refusal(await download(result.id))).toBe(
        `No sanitized copy of ${result.id} is available: no sanitizer for text/plain.`,
      );
      expect(await traceMessages(service, tenant, result.id)).toContain(
        'no sanitized copy: no sanitizer for text/plain',
      );
      expect(await exists(copyPath(result.id))).toBe(false);
    });

    it('makes no copy of content with findings', async () => {
      const result = await scanSync(eicar(), 'eicar.com', { sanitize: 'true' });
      expect(result.findings).toEqual(['content.malicious.eicar-test-signature']);
      expect(result.sanitized).toEqual({ available: false, reason: 'the content has findings' });
      expect(await refusal(await download(result.id))).toBe(
        `No sanitized copy of ${result.id} is available: the content has findings.`,
      );
    });
  });

  it('takes the macro out of a Word document, whose copy opens as a .docx', async () => {
    const docm = await wordDocument({ paragraphs: ['Quarterly figures'], macros: true });
    const result = await scanSync(docm, 'Quarterly report.docm', { sanitize: 'true' });
    expect(result.findings).toEqual([]);
    expect(result.sanitized).toMatchObject({ available: true, content_type: DOCX });
    expect(result.sanitized?.available && result.sanitized.removed).toContain('macros');
    const response = await download(result.id);
    expect(response.headers.get('content-type')).toBe(DOCX);
    expect(response.headers.get('content-disposition')).toBe(
      'attachment; filename="Quarterly_report.docx"',
    );
    const bytes = Buffer.from(await response.arrayBuffer());
    expect(sha1(bytes)).toBe(result.sanitized?.available && result.sanitized.checksum);
    const dir = await mkdtemp(path.join(tmpdir(), 'arbiter-docx-'));
    try {
      const file = path.join(dir, 'copy.docx');
      await writeFile(file, bytes);
      const report = officePackage(file);
      expect(report.problems).toEqual([]);
      expect(report.mainType).toBe(`${DOCX}.main+xml`);
      expect(report.parts.filter((part) => /vba/i.test(part))).toEqual([]);
      expect(report.relationships.filter((r) => /vba/i.test(r.type))).toEqual([]);
      expect(report.text).toContain('Quarterly figures');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('serves an SVG copy without its scripts, sandboxed should a browser open it all the same', async () => {
    const svg = Buffer.from(
      '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" onload="alert(1)">' +
        '<script>alert(2)</script><rect width="10" height="10" fill="red"/></svg>',
    );
    const result = await scanSync(svg, 'badge.svg', { sanitize: 'true' });
    expect(result.sanitized).toMatchObject({ available: true, content_type: 'image/svg+xml' });
    expect(result.sanitized?.available && result.sanitized.removed).toEqual(
      expect.arrayContaining(['event-attributes', 'scripts']),
    );
    const response = await download(result.id);
    expect(response.headers.get('content-type')).toBe('image/svg+xml');
    expect(response.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");
    expect(response.headers.get('content-disposition')).toBe('attachment; filename="badge.svg"');
    const text = await response.text();
    expect(text).toContain('<rect');
    expect(text).not.toMatch(/alert|onload|<script/i);
  });

  it('POST /files/async: the result and the callback carry the copy, which downloads', async () => {
    const callback = `${receiver.url}/callback`;
    const response = await request('/files/async', {
      method: 'POST',
      body: fileForm(photo, { sanitize: 'true', callback }, 'camera/IMG 0001.JPG'),
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    const result = await pollScanResult<Result>(service, tenant, id);
    const delivery = await waitFor(() => receiver.deliveries.find((d) => d.json.id === id), {
      what: 'the callback',
    });
    expect(delivery.json.sanitized).toEqual(result.sanitized);
    const copy = await download(id);
    expect(copy.headers.get('content-disposition')).toBe('attachment; filename="IMG_0001.JPG"');
    await expectCleanPhoto(result, copy);
  });

  describe('POST /files/fetch', () => {
    it('takes sanitize=true in a form and true in JSON', async () => {
      const location = `${content.url}/holiday%20photo.jpg`;
      const form = await request('/files/fetch', {
        method: 'POST',
        body: new URLSearchParams({ location, sanitize: 'true' }),
      });
      const json = await request('/files/fetch', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ location, sanitize: true }),
      });
      for (const accepted of [form, json]) {
        expect(accepted.status).toBe(202);
        const { id } = (await accepted.json()) as { id: string };
        const result = await pollScanResult<Result>(service, tenant, id);
        const copy = await download(id);
        expect(copy.headers.get('content-disposition')).toBe(
          'attachment; filename="holiday_photo.jpg"',
        );
        await expectCleanPhoto(result, copy);
      }
    });

    it('refuses sanitize other than true or false, in a form and in JSON', async () => {
      const location = `${content.url}/notes.txt`;
      const form = await request('/files/fetch', {
        method: 'POST',
        body: new URLSearchParams({ location, sanitize: 'bogus' }),
      });
      const json = await request('/files/fetch', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ location, sanitize: 'yes' }),
      });
      for (const refused of [form, json]) {
        expect(refused.status).toBe(400);
        expect(((await refused.json()) as { error: string }).error).toBe(
          'sanitize must be true or false',
        );
      }
    });

    it('makes no copy when the content could not be fetched, and says so', async () => {
      const accepted = await request('/files/fetch', {
        method: 'POST',
        body: new URLSearchParams({ location: `${content.url}/missing.jpg`, sanitize: 'true' }),
      });
      const { id } = (await accepted.json()) as { id: string };
      const result = await pollScanResult<Result & { error?: string }>(service, tenant, id);
      expect(result.error).toBeDefined();
      expect(result).not.toHaveProperty('sanitized');
      expect(await refusal(await download(id))).toBe(
        `No sanitized copy of ${id} was made: the content was not scanned.`,
      );
    });
  });

  describe('GET /files/{id}/sanitized', () => {
    it('answers another tenant as for an unknown id', async () => {
      const result = await scanSync(photo, 'a.jpg', { sanitize: 'true' });
      expect(await refusal(await download(result.id, other))).toBe(
        `Sadly, we could not find a file by that id ${result.id}.`,
      );
      const unknown = 'f'.repeat(32);
      expect(await refusal(await download(unknown))).toBe(
        `Sadly, we could not find a file by that id ${unknown}.`,
      );
      expect((await download(result.id)).status).toBe(200);
    });

    it('is open to an auth token, like the result', async () => {
      const result = await scanSync(photo, 'a.jpg', { sanitize: 'true' });
      const minted = await request('/auth/tokens', { method: 'POST' });
      const { id: token } = (await minted.json()) as { id: string };
      const response = await scaniiRequest(
        service,
        { auth: `Basic ${Buffer.from(`${token}:`).toString('base64')}` },
        `/files/${result.id}/sanitized`,
      );
      await expectCleanPhoto(result, response);
    });

    it('answers 404 once the scan is deleted, and the copy is gone from the store', async () => {
      const result = await scanSync(photo, 'a.jpg', { sanitize: 'true' });
      expect(await exists(copyPath(result.id))).toBe(true);
      expect((await request(`/files/${result.id}`, { method: 'DELETE' })).status).toBe(204);
      expect(await exists(copyPath(result.id))).toBe(false);
      expect(await refusal(await download(result.id))).toBe(
        `Sadly, we could not find a file by that id ${result.id}.`,
      );
    });

    it('answers 404 when the copy is gone while the result is not', async () => {
      const result = await scanSync(photo, 'a.jpg', { sanitize: 'true' });
      await service.service.runtime.sanitized.remove(tenant.id, result.id);
      expect(await refusal(await download(result.id))).toBe(
        `The sanitized copy of ${result.id} is gone (its result expired or was deleted).`,
      );
    });
  });

  describe('the sweeper', () => {
    it('removes copies whose result is gone, and copies older than the result TTL', async () => {
      const expired = await scanSync(photo, 'a.jpg', { sanitize: 'true' });
      const old = await scanSync(photo, 'b.jpg', { sanitize: 'true' });
      const kept = await scanSync(photo, 'c.jpg', { sanitize: 'true' });
      // The record expiring (ARBITER_RESULT_TTL) is what Redis does: done here at once.
      await service.service.runtime.redis.del(service.keys.scan(tenant.id, expired.id));
      const longAgo = new Date(Date.now() - (service.config.resultTtlSeconds + 60) * 1000);
      await utimes(copyPath(old.id), longAgo, longAgo);

      const swept = await service.service.runtime.sanitizedSweeper.sweep();

      expect(swept.files).toBeGreaterThanOrEqual(2);
      expect(await exists(copyPath(expired.id))).toBe(false);
      expect(await exists(copyPath(old.id))).toBe(false);
      expect(await exists(copyPath(kept.id))).toBe(true);
      expect((await download(kept.id)).status).toBe(200);
    });
  });

  it('removes the copies of a deleted tenant', async () => {
    const leaving = await service.createTenant('leaving');
    const staying = await scanSync(photo, 'a.jpg', { sanitize: 'true' });
    const response = await scaniiRequest(service, leaving, '/files', {
      method: 'POST',
      body: fileForm(photo, { sanitize: 'true' }, 'a.jpg'),
    });
    const { id } = (await response.json()) as Result;
    expect(await exists(copyPath(id, leaving.id))).toBe(true);
    expect((await service.admin(`/tenants/${leaving.id}`, { method: 'DELETE' })).status).toBe(204);
    expect(await exists(path.join(service.config.spoolDir, 'sanitized', leaving.id))).toBe(false);
    // The other tenants' copies stay.
    expect(await exists(copyPath(staying.id))).toBe(true);
  });
});
