import type { RedisKeys } from '../core/keys.js';
import type { Redis } from '../core/redis.js';
import { TenantLeases, type LeaseOptions, type WakeJob } from '../core/tenant-leases.js';

export { fairnessDelayMs, type LeaseOptions, type WakeJob } from '../core/tenant-leases.js';

/**
 * Per-tenant fairness for callback deliveries: at most `limit` deliveries of one tenant are in
 * flight at once across every worker process, so a receiver that hangs or crawls ties up at most
 * that many delivery slots and other tenants' deliveries keep flowing. The leases, the line of
 * parked jobs and the hand-over are core/tenant-leases.ts, under the tenant's `webhook-inflight`
 * and `webhook-parked` keys; a lease outlives the longest delivery attempt.
 */
export class TenantDeliveryLeases extends TenantLeases {
  constructor(redis: Redis, keys: RedisKeys, options: LeaseOptions, wake?: WakeJob) {
    super(redis, { inflight: keys.webhookInflight, parked: keys.webhookParked }, options, wake);
  }
}
