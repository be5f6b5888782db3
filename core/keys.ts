/**
 * Redis key layout, in one place. Every per-tenant key embeds the tenant id, so a store call
 * that is not scoped by tenant cannot even name another tenant's data.
 *
 *   {p}:tenants                       SET   tenant ids
 *   {p}:tenant:{tid}                  HASH  name, dates, signing secret
 *   {p}:tenant:{tid}:keys             SET   API keys of the tenant
 *   {p}:key:{key}                     HASH  tenant id, secret hash, active, dates
 *   {p}:token:{tid}:{id}              HASH  auth token (expires with the token)
 *   {p}:token-owner:{id}              STRING tenant id of a token (expires with the token)
 *   {p}:scan:{tid}:{id}               HASH  request, state and result of one scan
 *   {p}:trace:{tid}:{id}              LIST  trace events of one scan
 */
export class RedisKeys {
  constructor(private readonly prefix: string) {}

  tenants = () => `${this.prefix}:tenants`;
  tenant = (tenantId: string) => `${this.prefix}:tenant:${tenantId}`;
  tenantKeys = (tenantId: string) => `${this.prefix}:tenant:${tenantId}:keys`;
  apiKey = (key: string) => `${this.prefix}:key:${key}`;
  token = (tenantId: string, tokenId: string) => `${this.prefix}:token:${tenantId}:${tokenId}`;
  tokenOwner = (tokenId: string) => `${this.prefix}:token-owner:${tokenId}`;
  scan = (tenantId: string, scanId: string) => `${this.prefix}:scan:${tenantId}:${scanId}`;
  trace = (tenantId: string, scanId: string) => `${this.prefix}:trace:${tenantId}:${scanId}`;
  /** BullMQ's own prefix, so queues sit beside our keys under one namespace. */
  queuePrefix = () => `${this.prefix}:q`;
}
