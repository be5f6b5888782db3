import { readFileSync } from 'node:fs';
import type { ChainableCommander, Redis as IORedis, RedisValue } from 'ioredis';

/**
 * Every Lua script Arbiter runs, by the command name it is defined under on a Redis client, with
 * its source: files in a `lua/` folder beside the module that runs it, named like the command,
 * relative to the repository root (to `dist/` once built: the build copies them there). A script
 * of several files is their concatenation, shared helpers first (`redis-now.lua` defines `now`).
 * Callers pass the number of keys first, as with EVAL.
 */
const LUA_SCRIPTS = {
  scanComplete: ['scans/lua/scan-complete.lua'],
  scanReplaceResult: ['scans/lua/scan-replace-result.lua'],
  scanDelete: ['scans/lua/scan-delete.lua'],
  scanClaimStalePending: ['scans/lua/scan-claim-stale-pending.lua'],
  scanPendingAdopt: ['scans/lua/scan-pending-adopt.lua'],
  scanBacklogEnqueue: ['core/lua/redis-now.lua', 'core/lua/scan-backlog-enqueue.lua'],
  tenantRotateSigningSecret: ['core/lua/tenant-rotate-signing-secret.lua'],
  apiKeyDisable: ['core/lua/api-key-disable.lua'],
  apiKeySetCategories: ['core/lua/api-key-set-categories.lua'],
  apiKeySetAllowedTypes: ['core/lua/api-key-set-allowed-types.lua'],
  apiKeySetSanitize: ['core/lua/api-key-set-sanitize.lua'],
  usageCharge: ['core/lua/usage-charge.lua'],
  tenantRulesWrite: ['core/lua/tenant-rules-write.lua'],
  tenantLeaseAcquire: ['core/lua/redis-now.lua', 'core/lua/tenant-lease-acquire.lua'],
  tenantLeasePark: [
    'core/lua/redis-now.lua',
    'core/lua/tenant-lease-park.lua',
    'core/lua/tenant-lease-hand-over.lua',
  ],
  tenantLeaseRenew: ['core/lua/redis-now.lua', 'core/lua/tenant-lease-renew.lua'],
  // Release reads the clock only when it has a slot to hand over.
  tenantLeaseRelease: [
    'core/lua/tenant-lease-release.lua',
    'core/lua/redis-now.lua',
    'core/lua/tenant-lease-hand-over.lua',
  ],
  rescanCreate: ['rescans/lua/rescan-create.lua'],
  rescanMarkScanning: ['rescans/lua/rescan-mark-scanning.lua'],
  rescanCheckpoint: ['rescans/lua/rescan-checkpoint.lua'],
  rescanSettle: ['rescans/lua/rescan-settle.lua'],
  rescanEnd: ['rescans/lua/rescan-end.lua'],
  redeliveryLockRelease: ['webhooks/lua/redelivery-lock-release.lua'],
  objectLeaseAcquire: ['s3/lua/object-lease-acquire.lua'],
  objectLeaseRefresh: ['s3/lua/object-lease-refresh.lua'],
  objectLeaseRelease: ['s3/lua/object-lease-release.lua'],
  bucketOutcomeCount: ['s3/lua/bucket-outcome-count.lua'],
  retroScheduleRecordSkip: ['s3/retro/lua/retro-schedule-record-skip.lua'],
  retroJobCreateFromSchedule: ['s3/retro/lua/retro-job-create-from-schedule.lua'],
  retroJobCheckpoint: [
    's3/retro/lua/retro-job-complete-if-done.lua',
    's3/retro/lua/retro-job-checkpoint.lua',
  ],
  retroJobCredit: [
    's3/retro/lua/retro-job-complete-if-done.lua',
    's3/retro/lua/retro-job-credit.lua',
  ],
  retroJobEnd: ['s3/retro/lua/retro-job-complete-if-done.lua', 's3/retro/lua/retro-job-end.lua'],
  retroJobNoteReconcile: [
    's3/retro/lua/retro-job-complete-if-done.lua',
    's3/retro/lua/retro-job-note-reconcile.lua',
  ],
} as const satisfies Record<string, readonly string[]>;

export type LuaScriptName = keyof typeof LUA_SCRIPTS;

type ScriptCommand<Reply> = (numberOfKeys: number, ...keysThenArgs: RedisValue[]) => Reply;

/** A client's script commands: each resolves to the script's reply. */
export type LuaCommands = { [Name in LuaScriptName]: ScriptCommand<Promise<unknown>> };

/** A pipeline (or MULTI) of a client with the scripts defined: the commands queue like any other. */
export type LuaPipeline = ChainableCommander & {
  [Name in LuaScriptName]: ScriptCommand<LuaPipeline>;
};

/** The repository root in the sources, `dist/` once built (this file is one folder below). */
const SOURCE_ROOT = new URL('../', import.meta.url);

/** Every file a script is read from, relative to the root (for the build and its check). */
export function luaScriptFiles(): string[] {
  return [...new Set(Object.values(LUA_SCRIPTS).flat())];
}

/**
 * Reads every script and defines each on the client as a command (ioredis `defineCommand`). The
 * client sends EVALSHA, and the script's text only the first time on each connection or after a
 * NOSCRIPT reply (a restarted or flushed Redis): a script is read from disk once per client, when
 * the process builds its clients, and crosses the network about once per connection.
 */
export function defineLuaScripts<Client extends IORedis>(redis: Client): Client & LuaCommands {
  for (const [name, files] of Object.entries(LUA_SCRIPTS)) {
    // A name shadowing a client method (a Redis command) would silently replace it.
    if (name in redis) throw new Error(`Lua script name ${name} is taken by the Redis client`);
    const lua = files.map((file) => readFileSync(new URL(file, SOURCE_ROOT), 'utf8')).join('\n');
    redis.defineCommand(name, { lua });
  }
  return redis as Client & LuaCommands;
}
