import type { IncomingMessage, ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { zip } from '../support/archives.js';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.js';
import {
  basic,
  pollScanResult,
  startTestService,
  traceMessages,
  type TestService,
  type TestTenant,
} from '../support/service.js';

/**
 * The true file type (docs/file-type.md): what the bytes are, against the name's extension and
 * the declared Content-Type, on every way content arrives; the tenant's and key's allowed
 * types; the fields every result carries; the verdict API's `trueFileType` and `referenceId`.
 * Every sample is built here: a PE and an ELF header by hand, images with sharp, zips with yazl.
 */

interface Result {
  id: string;
  findings: string[];
  content_type: string | null;
  declared_content_type?: string | null;
  file_extension?: string | null;
  error?: string;
}

const MISMATCH = 'content.type.mismatch';
const DISALLOWED = 'content.type.disallowed';

/** A DOS stub with `e_lfanew` pointing at a PE header for i386. */
function minimalPe(): Buffer {
  const image = Buffer.alloc(512);
  image.write('MZ', 0, 'latin1');
  image.writeUInt32LE(0x80, 0x3c);
  image.write('PE\0\0', 0x80, 'latin1');
  image.writeUInt16LE(0x014c, 0x84);
  image.writeUInt16LE(1, 0x86);
  image.writeUInt16LE(0xe0, 0x94);
  image.writeUInt16LE(0x0102, 0x96);
  image.writeUInt16LE(0x010b, 0x98);
  return image;
}

/** An ELF64 little-endian header of an x86-64 executable. */
function minimalElf(): Buffer {
  const header = Buffer.alloc(64);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]).copy(header, 0);
  header.writeUInt16LE(2, 16);
  header.writeUInt16LE(0x3e, 18);
  header.writeUInt32LE(1, 20);
  return header;
}

const SCRIPT = Buffer.from('#!/bin/sh\necho "quarterly report"\nrm -rf "$HOME/tmp"\n');
const CSV = Buffer.from('id,name,amount\n1,Ada,12.50\n2,Grace,7.25\n');
const HTML = Buffer.from(
  '<!DOCTYPE html>\n<html><head><title>Hi</title></head><body>hi</body></html>\n',
);
const PDF = Buffer.from(
  '%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n',
  'latin1',
);

/**
 * A multipart body with one file part whose headers are exactly these: `contentType` undefined
 * sends no Content-Type at all (a browser's FormData always sends one).
 */
function multipart(
  data: Buffer,
  fileName: string,
  contentType: string | undefined,
): { body: Buffer; type: string } {
  const boundary = `----arbiter-${Math.random().toString(16).slice(2)}`;
  const head =
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${fileName}"\r\n` +
    (contentType === undefined ? '' : `Content-Type: ${contentType}\r\n`) +
    '\r\n';
  return {
    body: Buffer.concat([
      Buffer.from(head, 'latin1'),
      data,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]),
    type: `multipart/form-data; boundary=${boundary}`,
  };
}

describe('true file type', () => {
  let service: TestService;
  let content: TestHttpServer;
  let png: Buffer;
  let jpeg: Buffer;

  /** Serves `data` with exactly this Content-Type header (none when undefined). */
  const served =
    (data: Buffer, contentType: string | undefined) =>
    (_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(200, contentType === undefined ? {} : { 'content-type': contentType });
      res.end(data);
    };

  /** Serves `data` gzipped, with `Content-Encoding: gzip` and this Content-Type. */
  const encoded =
    (data: Buffer, contentType: string) => (_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': contentType, 'content-encoding': 'gzip' });
      res.end(gzipSync(data));
    };

  beforeAll(async () => {
    png = await sharp({
      create: { width: 4, height: 4, channels: 3, background: '#3366cc' },
    })
      .png()
      .toBuffer();
    jpeg = await sharp({
      create: { width: 4, height: 4, channels: 3, background: '#cc6633' },
    })
      .jpeg()
      .toBuffer();
    service = await startTestService();
    content = await startHttpServer({
      '/pictures/cat': served(minimalPe(), 'image/png; charset=binary'),
      '/pictures/dog.png': served(png, 'image/png'),
      '/downloads/report.pdf': served(SCRIPT, 'application/octet-stream'),
      '/anything': served(minimalPe(), `image/${'x'.repeat(5000)}`),
      '/encoded/photo.jpg': encoded(jpeg, 'image/jpeg'),
      '/encoded/other.jpg': encoded(minimalPe(), 'image/jpeg'),
    });
  });
  afterAll(async () => {
    await service?.stop();
    await content?.close();
  });

  const putSettings = async (tenantId: string, body: unknown) => {
    const response = await service.admin(`/tenants/${tenantId}/settings`, {
      method: 'PUT',
      body: JSON.stringify(body),
    });
    expect(response.status, await response.clone().text()).toBe(200);
    return response.json() as Promise<Record<string, unknown>>;
  };
  const putKeySettings = (key: string, body: unknown) =>
    service.admin(`/keys/${encodeURIComponent(key)}/settings`, {
      method: 'PUT',
      body: JSON.stringify(body),
    });

  /** A tenant whose scans look for malware and file types. */
  const typedTenant = async (name: string): Promise<TestTenant> => {
    const tenant = await service.createTenant(name);
    await putSettings(tenant.id, { detection_categories: ['malware', 'file_type'] });
    return tenant;
  };

  /** A sync upload (`POST /v2.2/files`) with the part's headers as given; expects 201. */
  const upload = async (
    tenant: { auth: string },
    data: Buffer,
    fileName: string,
    contentType?: string,
  ): Promise<Result> => {
    const { body, type } = multipart(data, fileName, contentType);
    const response = await fetch(`${service.url}/v2.2/files`, {
      method: 'POST',
      headers: { authorization: tenant.auth, 'content-type': type },
      body: new Uint8Array(body),
    });
    expect(response.status, await response.clone().text()).toBe(201);
    return (await response.json()) as Result;
  };

  it('finds a program presented as an image, by its name or by its declared type', async () => {
    const tenant = await typedTenant('programs');
    const named = await upload(tenant, minimalPe(), 'holiday.jpg', 'application/octet-stream');
    expect(named).toMatchObject({
      findings: [MISMATCH],
      content_type: 'application/x-msdownload',
      declared_content_type: 'application/octet-stream',
      file_extension: 'jpg',
    });
    expect(await traceMessages(service, tenant, named.id)).toContain(
      `scanned by true-type (1): ${MISMATCH}`,
    );

    const declared = await upload(tenant, minimalPe(), 'upload', 'image/jpeg');
    expect(declared).toMatchObject({
      findings: [MISMATCH],
      declared_content_type: 'image/jpeg',
      file_extension: null,
    });

    // An ELF declared as text, named without a claim of its own.
    const elf = await upload(tenant, minimalElf(), 'data.bin', 'text/csv');
    expect(elf).toMatchObject({ findings: [MISMATCH], content_type: 'application/x-elf' });
  });

  it('finds a script presented as a document, and an archive presented as an image', async () => {
    const tenant = await typedTenant('scripts');
    const script = await upload(tenant, SCRIPT, 'Q3 report.PDF', 'application/pdf');
    expect(script).toMatchObject({
      findings: [MISMATCH],
      content_type: 'text/x-shellscript',
      file_extension: 'pdf',
      declared_content_type: 'application/pdf',
    });
    const archive = await zip([{ name: 'readme.txt', data: Buffer.from('hello') }]);
    const zipped = await upload(tenant, archive, 'avatar.png', 'image/png');
    expect(zipped).toMatchObject({ findings: [MISMATCH], content_type: 'application/zip' });
  });

  it('reports no harmless difference', async () => {
    const tenant = await typedTenant('harmless');
    const docx = await zip([
      {
        name: '[Content_Types].xml',
        data: Buffer.from(
          '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
        ),
      },
      { name: 'word/document.xml', data: Buffer.from('<w:document/>') },
    ]);
    const plainZip = await zip([{ name: 'a.txt', data: Buffer.from('a') }]);
    const cases: Array<[string, Buffer, string, string | undefined]> = [
      ['a PNG named .jpg', png, 'photo.jpg', 'image/jpeg'],
      ['a JPEG named .jpeg', jpeg, 'photo.JPEG', 'image/jpeg'],
      ['CSV named .txt', CSV, 'numbers.txt', 'text/plain'],
      ['CSV named .csv', CSV, 'numbers.csv', 'text/csv'],
      ['a page named .htm', HTML, 'index.htm', 'text/html'],
      ['a script named .txt', SCRIPT, 'install.txt', undefined],
      ['a program declared octet-stream', minimalPe(), 'setup', 'application/octet-stream'],
      ['a program named .exe', minimalPe(), 'setup.exe', 'application/x-msdownload'],
      ['a Word document named .docx', docx, 'letter.docx', 'application/octet-stream'],
      [
        'a plain zip named .docx',
        plainZip,
        'letter.docx',
        'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
      ],
      ['a PDF named .pdf', PDF, 'paper.pdf', 'application/pdf'],
      ['a program with no part Content-Type', minimalPe(), 'tool', undefined],
    ];
    for (const [what, data, name, type] of cases) {
      const result = await upload(tenant, data, name, type);
      expect(result.findings, what).toEqual([]);
    }
  });

  it('looks inside archives: a member named .pdf that is a program', async () => {
    const tenant = await typedTenant('members');
    const bundle = await zip([
      { name: 'docs/invoice.pdf', data: minimalPe() },
      { name: 'docs/photo.jpg', data: jpeg },
      { name: 'docs/notes.txt', data: CSV },
    ]);
    const result = await upload(tenant, bundle, 'bundle.zip', 'application/zip');
    expect(result.findings).toEqual([MISMATCH]);
    const trace = await traceMessages(service, tenant, result.id);
    expect(trace).toContain(`scanned by true-type (1): ${MISMATCH} in bundle.zip/docs/invoice.pdf`);

    const innocent = await zip([{ name: 'photo.jpg', data: jpeg }]);
    expect((await upload(tenant, innocent, 'photos.zip', 'application/zip')).findings).toEqual([]);
  });

  it('does not judge types when the category is off, yet records what was declared', async () => {
    const tenant = await service.createTenant('malware-only');
    const result = await upload(tenant, minimalPe(), 'holiday.jpg', 'image/jpeg');
    expect(result).toMatchObject({
      findings: [],
      content_type: 'application/x-msdownload',
      declared_content_type: 'image/jpeg',
      file_extension: 'jpg',
    });
  });

  it('holds the content to the allowed types of its tenant, or of its key', async () => {
    const tenant = await typedTenant('allowed');
    const settings = await putSettings(tenant.id, {
      allowed_content_types: ['image/*', 'Application/PDF', 'image/*'],
    });
    expect(settings.allowed_content_types).toEqual(['image/*', 'application/pdf']);
    expect((await upload(tenant, png, 'a.png', 'image/png')).findings).toEqual([]);
    expect((await upload(tenant, PDF, 'a.pdf', 'application/pdf')).findings).toEqual([]);
    expect((await upload(tenant, CSV, 'a.csv', 'text/csv')).findings).toEqual([DISALLOWED]);
    // A program named as an image is both disguised and not allowed.
    expect((await upload(tenant, minimalPe(), 'a.png', 'image/png')).findings).toEqual([
      DISALLOWED,
      MISMATCH,
    ]);

    // The key's own list replaces the tenant's; text is allowed as the type its name gives.
    const own = await putKeySettings(tenant.key, { allowed_content_types: ['text/csv'] });
    expect(await own.json()).toMatchObject({
      detection_categories: null,
      allowed_content_types: ['text/csv'],
      effective_allowed_content_types: ['text/csv'],
    });
    expect((await upload(tenant, CSV, 'a.csv', undefined)).findings).toEqual([]);
    expect((await upload(tenant, CSV, 'a.txt', undefined)).findings).toEqual([DISALLOWED]);
    expect((await upload(tenant, png, 'a.png', 'image/png')).findings).toEqual([DISALLOWED]);

    // Another key of the tenant follows the tenant's list.
    const added = (await (
      await service.admin(`/tenants/${tenant.id}/keys`, { method: 'POST' })
    ).json()) as { key: string; secret: string };
    const other = { auth: basic(added.key, added.secret) };
    expect((await upload(other, png, 'a.png', 'image/png')).findings).toEqual([]);

    // null: the key follows its tenant again; the tenant's null allows anything.
    const reset = await putKeySettings(tenant.key, { allowed_content_types: null });
    expect(await reset.json()).toMatchObject({
      allowed_content_types: null,
      effective_allowed_content_types: ['image/*', 'application/pdf'],
    });
    expect((await upload(tenant, png, 'a.png', 'image/png')).findings).toEqual([]);
    await putSettings(tenant.id, { allowed_content_types: null });
    expect((await upload(tenant, CSV, 'a.csv', 'text/csv')).findings).toEqual([]);

    // Without file_type, the list is kept but not applied.
    await putSettings(tenant.id, {
      allowed_content_types: ['image/*'],
      detection_categories: ['malware'],
    });
    expect((await upload(tenant, CSV, 'a.csv', 'text/csv')).findings).toEqual([]);
  });

  it('refuses malformed allowed types with a clear 400, changing nothing', async () => {
    const tenant = await typedTenant('bad-allowed');
    const cases: Array<[unknown, RegExp]> = [
      [{ allowed_content_types: ['*/*'] }, /"\*\/\*" is not a media type/],
      [{ allowed_content_types: ['image'] }, /"image" is not a media type/],
      [{ allowed_content_types: ['image/*x'] }, /"image\/\*x" is not a media type/],
      [{ allowed_content_types: ['*/png'] }, /"\*\/png" is not a media type/],
      [{ allowed_content_types: ['image/png; q=1'] }, /is not a media type/],
      [{ allowed_content_types: [] }, /must name at least one type/],
      [{ allowed_content_types: 'image/*' }, /must be a list of media types/],
      [{ allowed_content_types: [7] }, /must be a list of media types/],
      [
        { allowed_content_types: Array.from({ length: 65 }, (_, i) => `image/x-${i}`) },
        /more than 64 entries/,
      ],
      [{ allowed_content_types: [`image/${'a'.repeat(200)}`] }, /is not a media type/],
    ];
    for (const [body, message] of cases) {
      for (const path of [`/tenants/${tenant.id}/settings`, `/keys/${tenant.key}/settings`]) {
        const response = await service.admin(path, { method: 'PUT', body: JSON.stringify(body) });
        const text = await response.text();
        expect(response.status, `${path} ${JSON.stringify(body)}`).toBe(400);
        expect(text.length).toBeLessThan(600);
        expect((JSON.parse(text) as { error: string }).error).toMatch(message);
      }
    }
    expect(
      (await (await service.admin(`/tenants/${tenant.id}/settings`)).json()) as object,
    ).toMatchObject({ allowed_content_types: null });
  });

  it('takes the declared type of a download from its response', async () => {
    const tenant = await typedTenant('fetched');
    const fetchOf = async (location: string): Promise<Result> => {
      const response = await fetch(`${service.url}/v2.2/files/fetch`, {
        method: 'POST',
        headers: { authorization: tenant.auth, 'content-type': 'application/json' },
        body: JSON.stringify({ location }),
      });
      expect(response.status).toBe(202);
      const { id } = (await response.json()) as { id: string };
      return pollScanResult<Result>(service, tenant, id);
    };
    expect(await fetchOf(`${content.url}/pictures/cat`)).toMatchObject({
      findings: [MISMATCH],
      content_type: 'application/x-msdownload',
      declared_content_type: 'image/png',
      file_extension: null,
    });
    expect(await fetchOf(`${content.url}/pictures/dog.png?size=large`)).toMatchObject({
      findings: [],
      declared_content_type: 'image/png',
      file_extension: 'png',
    });
    expect(await fetchOf(`${content.url}/downloads/report.pdf`)).toMatchObject({
      findings: [MISMATCH],
      content_type: 'text/x-shellscript',
      declared_content_type: 'application/octet-stream',
      file_extension: 'pdf',
    });
    // Sent with a Content-Encoding: the name and type describe the decoded bytes.
    expect(await fetchOf(`${content.url}/encoded/photo.jpg`)).toMatchObject({
      findings: [],
      content_type: 'application/gzip',
      declared_content_type: 'image/jpeg',
    });
    expect((await fetchOf(`${content.url}/encoded/other.jpg`)).findings).toEqual([MISMATCH]);
    // An absurd Content-Type is no declaration at all.
    expect(await fetchOf(`${content.url}/anything`)).toMatchObject({
      findings: [],
      declared_content_type: null,
      file_extension: null,
    });
  });

  it('shrugs off hostile names and declared types', async () => {
    const tenant = await typedTenant('hostile');
    const garbage = [
      `image/${'j'.repeat(10_000)}`,
      'not a media type',
      'image/jpeg/png',
      '/jpeg',
      'image/',
      '\u00e9\u00e8/\u00e0',
      'image/jpeg, text/html',
      'image/*',
    ];
    for (const type of garbage) {
      const result = await upload(tenant, png, 'fine.png', type);
      expect(result.findings, type).toEqual([]);
      expect(result.declared_content_type, type).toBeNull();
    }
    // Parameters and case are dropped; the media type stays.
    expect(
      (await upload(tenant, png, 'fine.png', 'IMAGE/PNG; name="x.exe"; charset=binary'))
        .declared_content_type,
    ).toBe('image/png');

    // A long name keeps its extension, so it still claims what it says.
    const long = await upload(tenant, minimalPe(), `${'a'.repeat(2000)}.jpg`, undefined);
    expect(long).toMatchObject({ findings: [MISMATCH], file_extension: 'jpg' });
    const trailing = await upload(tenant, minimalPe(), 'invoice.pdf. . ', undefined);
    expect(trailing).toMatchObject({ findings: [MISMATCH], file_extension: 'pdf' });
    for (const name of ['noextension', '.bashrc', 'archive.', `x.${'y'.repeat(40)}`, 'a.j pg']) {
      const result = await upload(tenant, minimalPe(), name, undefined);
      expect(result, name).toMatchObject({ findings: [], file_extension: null });
    }
  });

  it('gives the verdict API the true type and the scan id of each file', async () => {
    const tenant = await typedTenant('verdicts');
    const scan = async (files: Array<{ name: string; data: Buffer }>) => {
      const form = new FormData();
      for (const file of files)
        form.append('documents', new Blob([new Uint8Array(file.data)]), file.name);
      const response = await fetch(`${service.url}/api/Scan`, {
        method: 'POST',
        headers: { authorization: tenant.auth },
        body: form,
      });
      expect(response.status).toBe(200);
      return {
        ids: (response.headers.get('x-arbiter-scan-ids') ?? '').split(','),
        verdict: (await response.json()) as Record<string, unknown>,
      };
    };
    const clean = await scan([{ name: 'dog.png', data: png }]);
    expect(clean.verdict).toMatchObject({
      result: 'Clean',
      trueFileType: 'image/png',
      referenceId: clean.ids[0],
    });
    const disguised = await scan([{ name: 'cat.jpg', data: minimalPe() }]);
    expect(disguised.verdict).toMatchObject({
      result: 'Infected',
      detectedInfections: [
        {
          file: 'cat.jpg',
          infection: 'a program (application/x-msdownload) presented as .jpg (image)',
        },
      ],
      trueFileType: 'application/x-msdownload',
      referenceId: disguised.ids[0],
    });
    // The scan id leads to the stored result.
    const stored = await fetch(
      `${service.url}/v2.2/files/${String(disguised.verdict.referenceId)}`,
      {
        headers: { authorization: tenant.auth },
      },
    );
    expect(((await stored.json()) as Result).findings).toEqual([MISMATCH]);

    const both = await scan([
      { name: 'dog.png', data: png },
      { name: 'paper.pdf', data: PDF },
    ]);
    expect(both.verdict).toMatchObject({
      result: 'Clean',
      trueFileType: 'image/png, application/pdf',
      referenceId: both.ids.join(','),
    });
  });
});
