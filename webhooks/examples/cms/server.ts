import { S3Client } from '@aws-sdk/client-s3';
import { createCmsApp } from './app.js';

/**
 * Runs the example CMS: `npx tsx webhooks/examples/cms/server.ts` with
 *
 *   ARBITER_URL, ARBITER_KEY, ARBITER_SECRET   an Arbiter tenant's API key and secret
 *   ARBITER_SIGNING_SECRET                     its whsec_… secret (comma-separate two during a rotation)
 *   CMS_PUBLIC_URL                             where Arbiter reaches this app (default http://127.0.0.1:$PORT)
 *   S3_BUCKET, S3_ENDPOINT (optional), AWS_REGION and the usual AWS credential variables
 *   PORT                                       default 3000
 */
// eslint-disable-next-line no-restricted-properties -- an example app reads its own settings
const env = process.env;

function required(name: string): string {
  const value = env[name];
  if (!value) throw new Error(`set ${name} (see the comment at the top of server.ts)`);
  return value;
}

const port = Number(env.PORT ?? 3000);
const s3 = new S3Client({
  region: env.AWS_REGION ?? 'us-east-1',
  ...(env.S3_ENDPOINT ? { endpoint: env.S3_ENDPOINT, forcePathStyle: true } : {}),
});
const app = createCmsApp({
  s3,
  bucket: required('S3_BUCKET'),
  arbiter: {
    url: required('ARBITER_URL'),
    key: required('ARBITER_KEY'),
    secret: required('ARBITER_SECRET'),
    signingSecrets: required('ARBITER_SIGNING_SECRET')
      .split(',')
      .map((s) => s.trim()),
  },
  publicUrl: env.CMS_PUBLIC_URL ?? `http://127.0.0.1:${port}`,
  log: (message) => console.log(message),
});
app.listen(port, () => console.log(`CMS example listening on port ${port}`));
