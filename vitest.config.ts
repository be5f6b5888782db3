import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Each file starts its own redis-server and service; two cores run two files at a time.
    pool: 'forks',
    maxWorkers: 2,
    // s3rver (test/support/s3.ts) encrypts ListObjectsV2 continuation tokens with DES, which
    // OpenSSL 3 keeps in its legacy provider: without this, paging a listing answers 500.
    execArgv: ['--openssl-legacy-provider'],
  },
});
