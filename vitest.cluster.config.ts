import { configDefaults, defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * The cluster pass (`npm run test:cluster`, run by scripts/test after the main suite): the tests
 * whose flows reach Redis through the service, again, with every service on a single-node Redis
 * Cluster (ARBITER_TEST_REDIS=cluster, test/support/redis-server.ts). A Cluster refuses
 * (CROSSSLOT) any multi-key command, MULTI or Lua script whose keys span two slots: this pass
 * finds such an operation on any path the tests drive, not only in the stores' own tests.
 */
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: [
      'test/api/*.test.ts',
      'test/scans/*.test.ts',
      'test/s3/*.test.ts',
      'test/webhooks/*.test.ts',
      'test/rescans/*.test.ts',
      'test/worker/*.test.ts',
      'test/compat/*.test.ts',
      'test/console/session-api.test.ts',
      // Resilience flows that are Redis-heavy without stopping Redis: jobs of a killed or stopped
      // worker run again (BullMQ's stalled-job recovery, leases), the pending reaper, per-tenant
      // fairness (Lua scripts), small uploads staged in Redis. The other resilience tests stop
      // or slow Redis (redis-restart, redis-under-load, redis-access), bring their own topology
      // (redis-sentinel, redis-cluster, multi-node), run a private redis-server (serve-group),
      // are about clamd (clamd-outage) or local files (spool-leaks, mostly waiting out grace
      // periods), or measure latency under a timed soak (hostile-soak).
      'test/resilience/callback-retry.test.ts',
      'test/resilience/pending-reaper.test.ts',
      'test/resilience/scan-endings.test.ts',
      'test/resilience/shutdown-burst.test.ts',
      'test/resilience/shutdown.test.ts',
      'test/resilience/slow-downloads.test.ts',
      'test/resilience/tenant-fairness.test.ts',
      'test/resilience/upload-store.test.ts',
      'test/resilience/worker-crash.test.ts',
      'test/resilience/worker-heartbeats.test.ts',
    ],
    exclude: [
      ...configDefaults.exclude,
      // Kills and restarts the service's Redis to test /health on a lost connection: what a
      // lost Cluster node does is test/resilience/redis-cluster.test.ts's subject.
      'test/api/health.test.ts',
      // Kills Redis and restarts it from its AOF, a single server's durability.
      'test/webhooks/restarts.test.ts',
    ],
    env: { ARBITER_TEST_REDIS: 'cluster' },
  },
});
