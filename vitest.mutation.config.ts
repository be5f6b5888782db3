import { defineConfig } from 'vitest/config';

/**
 * The tests `npm run mutation` (StrykerJS, stryker.config.json) runs against each mutant: those
 * of the code it mutates (docs/mutation-testing.md lists which tests protect which module). Without the suite's `--openssl-legacy-provider` flag, which Stryker's
 * worker threads refuse: none of these tests uses s3rver, the only part that needs it.
 */
export default defineConfig({
  test: {
    include: [
      'test/scanning/archives*.test.ts',
      // The readers of scanning/archives on their own, and the walker's tests of both zip views,
      // streams read to the end and content codings.
      'test/scanning/zip-layout.test.ts',
      'test/scanning/zip-reader.test.ts',
      'test/scanning/gzip-members.test.ts',
      'test/scanning/tar-blocks.test.ts',
      'test/scanning/content-decoding.test.ts',
      'test/scanning/compressed-copy.test.ts',
      'test/scanning/stream-starts.test.ts',
      'test/scanning/sniff.test.ts',
      'test/scanning/zstd.test.ts',
      'test/scanning/zip-both-views.test.ts',
      'test/scanning/compressed-streams.test.ts',
      'test/scanning/content-encoding.test.ts',
      'test/scanning/sevenzip*.test.ts',
      'test/scanning/builtin-mail-formats.test.ts',
      'test/scanning/documents-engine.test.ts',
      'test/scanning/default-engines-formats.test.ts',
      'test/core/network-guard.test.ts',
      'test/core/network-policy.test.ts',
      'test/core/url-policy.test.ts',
      'test/core/outbound-http.test.ts',
      'test/s3/network-guard.test.ts',
      'test/api/auth.test.ts',
      'test/api/token-scope.test.ts',
      'test/api/tokens.test.ts',
      'test/api/admin.test.ts',
      'test/webhooks/*.test.ts',
    ],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
