import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCallbackReceiver, type CallbackReceiver } from '../support/http-servers.js';
import { registerBucket, startS3Harness, type S3Harness } from '../support/s3.js';
import { startTestService, type TestService, type TestTenant } from '../support/service.js';
import { waitFor } from '../support/wait.js';

/**
 * A bucket object's declared type is its `ContentType`, and its name is its key: with the
 * tenant's `file_type` category on, a program stored as an image is tagged infected and its
 * callback says why (docs/file-type.md). s3rver holds the objects; events go to
 * `/v1/events/s3`.
 */

/** A DOS stub with `e_lfanew` pointing at a PE header for i386. */
function minimalPe(): Buffer {
  const image = Buffer.alloc(512);
  image.write('MZ', 0, 'latin1');
  image.writeUInt32LE(0x80, 0x3c);
  image.write('PE\0\0', 0x80, 'latin1');
  image.writeUInt16LE(0x014c, 0x84);
  return image;
}

describe('true file type of bucket objects', () => {
  let harness: S3Harness;
  let service: TestService;
  let tenant: TestTenant;
  let receiver: CallbackReceiver;

  beforeAll(async () => {
    harness = await startS3Harness();
    service = await startTestService({ ARBITER_SECRET_KEY: 'cd'.repeat(32) });
    tenant = await service.createTenant('typed-objects');
    receiver = await startCallbackReceiver();
    const settings = await service.admin(`/tenants/${tenant.id}/settings`, {
      method: 'PUT',
      body: '{"detection_categories":["malware","file_type"]}',
    });
    expect(settings.status).toBe(200);
  });
  afterAll(async () => {
    await receiver?.close();
    await service?.stop();
    await harness?.stop();
  });

  it('judges an object by its bytes against its key and its ContentType', async () => {
    await harness.createBucket('avatars');
    await registerBucket(service, tenant.auth, harness, 'avatars', {
      callback: `${receiver.url}/callback`,
    });
    harness.bridge('avatars', {
      mode: 'http',
      url: `${service.url}/v1/events/s3`,
      authorization: tenant.auth,
    });
    const put = (key: string, body: Buffer | string, contentType: string) =>
      harness.s3.send(
        new PutObjectCommand({ Bucket: 'avatars', Key: key, Body: body, ContentType: contentType }),
      );
    await put('users/42/avatar', minimalPe(), 'image/jpeg');
    await put('users/43/notes.txt', 'just some notes\n', 'text/plain; charset=utf-8');

    await harness.waitForTag('avatars', 'users/42/avatar', 'scan-result', 'infected');
    await harness.waitForTag('avatars', 'users/43/notes.txt', 'scan-result', 'clean');
    const callbackOf = (key: string) =>
      waitFor(() => receiver.deliveries.find((d) => d.json.key === key), {
        what: `the callback for ${key}`,
      });
    expect((await callbackOf('users/42/avatar')).json).toMatchObject({
      findings: ['content.type.mismatch'],
      content_type: 'application/x-msdownload',
      declared_content_type: 'image/jpeg',
      file_extension: null,
    });
    expect((await callbackOf('users/43/notes.txt')).json).toMatchObject({
      findings: [],
      content_type: 'text/plain',
      declared_content_type: 'text/plain',
      file_extension: 'txt',
    });
    expect(harness.bridgeErrors).toEqual([]);
  });
});
