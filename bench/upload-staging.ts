import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Redis } from 'ioredis';
import { startTestRedis } from '../test/support/redis-server.js';
import { REGION, S3RVER_CREDENTIALS } from '../test/support/s3.js';

/**
 * Staging one upload in an object store (s3rver, in its own process) against keeping the same
 * bytes in Redis: the time to put them (lib-storage's Upload, as core/s3-upload-store.ts does; a
 * Redis SET) and to read them back (GetObject; GET), median of 50 after 5 warm-ups, for 1 KiB,
 * 64 KiB and 1 MiB. The decision it informed is in docs/decisions.md. Run: `npx tsx
 * bench/upload-staging.ts`.
 */

const SIZES = [1024, 64 * 1024, 1024 * 1024];
const RUNS = 50;
const WARMUP = 5;
const BUCKET = 'staging-bench';

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1] ?? 0;

async function timed(action: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await action();
  return performance.now() - start;
}

async function measure(put: () => Promise<unknown>, get: () => Promise<unknown>) {
  const puts: number[] = [];
  const gets: number[] = [];
  for (let run = 0; run < WARMUP + RUNS; run += 1) {
    const putMs = await timed(put);
    const getMs = await timed(get);
    if (run < WARMUP) continue;
    puts.push(putMs);
    gets.push(getMs);
  }
  return { putMs: median(puts), getMs: median(gets) };
}

async function startS3rver(): Promise<{ endpoint: string; stop(): void }> {
  const child = fork(fileURLToPath(new URL('./s3rver-process.ts', import.meta.url)), [], {
    execArgv: ['--openssl-legacy-provider', '--import', import.meta.resolve('tsx')],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve) =>
    child.on('message', (message: { type: string; port: number }) => {
      if (message.type === 'ready') resolve(message.port);
    }),
  );
  return { endpoint: `http://127.0.0.1:${port}`, stop: () => child.send({ type: 'stop' }) };
}

const redisServer = await startTestRedis();
const s3rver = await startS3rver();
const redis = new Redis(redisServer.url);
const s3 = new S3Client({
  region: REGION,
  endpoint: s3rver.endpoint,
  forcePathStyle: true,
  credentials: { ...S3RVER_CREDENTIALS },
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});
try {
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  for (const size of SIZES) {
    const bytes = randomBytes(size);
    const Key = `uploads/bench/${size}`;
    const store = await measure(
      () => new Upload({ client: s3, params: { Bucket: BUCKET, Key, Body: bytes } }).done(),
      async () => {
        const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key }));
        await object.Body?.transformToByteArray();
      },
    );
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key }));
    const inRedis = await measure(
      () => redis.set(Key, bytes),
      () => redis.getBuffer(Key),
    );
    await redis.del(Key);
    console.log(JSON.stringify({ bytes: size, s3rver: store, redis: inRedis }));
  }
} finally {
  redis.disconnect();
  s3.destroy();
  s3rver.stop();
  await redisServer.stop();
}
