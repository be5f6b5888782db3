import { randomUUID } from 'node:crypto';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import express, { type Express, type Request, type Response } from 'express';
import { arbiterWebhook, type ArbiterResult } from '../../index.js';

/**
 * A small CMS that never serves an upload Arbiter has not cleared:
 *
 *   1. POST /uploads stores the bytes in S3 under uploads/<id>, tagged scan-status=pending;
 *   2. it asks Arbiter to fetch them through a pre-signed GET URL (POST /v2.2/files/fetch) with
 *      its own callback URL and metadata[upload_id]=<id>;
 *   3. Arbiter POSTs the signed result to /webhooks/arbiter: the kit's middleware verifies it,
 *      then a clean file is tagged scan-status=clean and an infected one is deleted from S3.
 *
 * GET /uploads/<id> tells the status; GET /uploads/<id>/content serves the file once clean.
 */

export interface CmsOptions {
  s3: S3Client;
  bucket: string;
  arbiter: {
    /** e.g. https://arbiter.example.com */
    url: string;
    key: string;
    secret: string;
    /** The tenant's webhook signing secret(s): the current one, and the previous during a rotation. */
    signingSecrets: string[];
  };
  /** Where Arbiter reaches this app: the callback URL is `${publicUrl}/webhooks/arbiter`. */
  publicUrl: string;
  /** Lifetime of the pre-signed URL Arbiter downloads from (default 1 hour). */
  presignSeconds?: number;
  maxUploadBytes?: number;
  log?: (message: string) => void;
}

export type ScanStatus = 'pending' | 'clean' | 'failed';

const STATUS_TAG = 'scan-status';
const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const keyOf = (uploadId: string) => `uploads/${uploadId}`;

export function createCmsApp(options: CmsOptions): Express {
  const { s3, bucket } = options;
  const log = options.log ?? (() => undefined);
  const app = express();
  app.disable('x-powered-by');

  const setStatus = (uploadId: string, status: ScanStatus) =>
    s3.send(
      new PutObjectTaggingCommand({
        Bucket: bucket,
        Key: keyOf(uploadId),
        Tagging: { TagSet: [{ Key: STATUS_TAG, Value: status }] },
      }),
    );

  const getStatus = async (uploadId: string): Promise<ScanStatus | undefined> => {
    try {
      const tags = await s3.send(
        new GetObjectTaggingCommand({ Bucket: bucket, Key: keyOf(uploadId) }),
      );
      return tags.TagSet?.find((tag) => tag.Key === STATUS_TAG)?.Value as ScanStatus | undefined;
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
      throw error;
    }
  };

  // 1 + 2: store, mark pending, hand Arbiter a pre-signed URL.
  app.post(
    '/uploads',
    express.raw({ type: () => true, limit: options.maxUploadBytes ?? 50 * 1024 * 1024 }),
    async (req: Request, res: Response) => {
      const content = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      if (content.length === 0) {
        res.status(400).json({ error: 'send the file as the request body' });
        return;
      }
      const id = randomUUID();
      const key = keyOf(id);
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: content,
          ContentType: req.get('content-type') ?? 'application/octet-stream',
        }),
      );
      await setStatus(id, 'pending');

      const location = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: key }), {
        expiresIn: options.presignSeconds ?? 3600,
      });
      const submitted = await fetch(`${options.arbiter.url}/v2.2/files/fetch`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${options.arbiter.key}:${options.arbiter.secret}`).toString('base64')}`,
        },
        body: new URLSearchParams({
          location,
          callback: `${options.publicUrl}/webhooks/arbiter`,
          'metadata[upload_id]': id,
        }),
      });
      if (submitted.status !== 202) {
        // The upload stays pending (never served); a real CMS would resubmit it later.
        log(`arbiter refused upload ${id}: HTTP ${submitted.status} ${await submitted.text()}`);
        res
          .status(502)
          .json({ id, status: 'pending', error: 'the scanning service did not accept the file' });
        return;
      }
      const { id: scanId } = (await submitted.json()) as { id: string };
      log(`upload ${id} stored as pending; arbiter scan ${scanId}`);
      res.status(202).json({ id, status: 'pending', scan_id: scanId });
    },
  );

  // 3: the verified result clears or removes the upload.
  app.post(
    '/webhooks/arbiter',
    express.raw({ type: 'application/json', limit: '1mb' }),
    arbiterWebhook({ secrets: options.arbiter.signingSecrets }),
    async (req: Request, res: Response) => {
      const result = req.arbiterResult as ArbiterResult;
      const uploadId = result.metadata.upload_id;
      if (!uploadId || !UPLOAD_ID.test(uploadId)) {
        res.status(200).json({ ignored: 'not one of our uploads' }); // 2xx: no point in retrying
        return;
      }
      if (result.error) {
        // Nothing was scanned: keep it out of reach and let an operator look.
        await setStatus(uploadId, 'failed');
        log(`upload ${uploadId} could not be scanned: ${result.error}`);
      } else if (result.findings.length > 0) {
        await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: keyOf(uploadId) }));
        log(`upload ${uploadId} removed: ${result.findings.join(', ')}`);
      } else {
        await setStatus(uploadId, 'clean');
        log(`upload ${uploadId} is clean`);
      }
      // Failing S3 calls throw: express answers 500 and Arbiter retries the delivery later.
      res.status(204).end();
    },
  );

  app.get('/uploads/:id', async (req: Request, res: Response) => {
    const id = String(req.params.id);
    const status = UPLOAD_ID.test(id) ? await getStatus(id) : undefined;
    if (!status) {
      res.status(404).json({ id, error: 'no such upload (never stored, or removed as infected)' });
      return;
    }
    res.json({ id, status });
  });

  app.get('/uploads/:id/content', async (req: Request, res: Response) => {
    const id = String(req.params.id);
    const status = UPLOAD_ID.test(id) ? await getStatus(id) : undefined;
    if (status !== 'clean') {
      res
        .status(status ? 409 : 404)
        .json({ id, status: status ?? 'absent', error: 'only scanned, clean files are served' });
      return;
    }
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: keyOf(id) }));
    res
      .type(object.ContentType ?? 'application/octet-stream')
      .send(Buffer.from(await object.Body!.transformToByteArray()));
  });

  return app;
}
