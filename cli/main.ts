#!/usr/bin/env node
import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../core/config.js';
import { LanguageRulesError } from '../scanning/analysis/language/rule-pack.js';
import { createLogger } from '../core/logger.js';
import { RedisAccessError } from '../core/redis.js';
import { runServe } from './serve.js';
import { runServeGroup } from './serve-group.js';
import { runSignaturesCommand } from './signatures.js';
import { runTenantsCommand } from './tenants.js';

const USAGE = `Usage: arbiter <command>

  serve [--demo]            HTTP API and workers, one process per core (ARBITER_PROCESSES)
  api                       HTTP API only
  worker                    workers only (scans, callbacks)
  tenants create <name>     create a tenant and print its credentials as JSON
  tenants list              list tenants and their keys
  tenants add-key <id>      add a key to a tenant and print it with its secret as JSON
  tenants disable-key <key> disable a key (requests made with it are refused from then on)
  signatures update         fetch ClamAV's official database with freshclam (see docs/engines.md)
  signatures status         the ClamAV databases installed: versions and signature counts

Configuration comes from the environment; see docs/configuration.md.`;

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { demo: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return command || values.help ? 0 : 2;
  }
  // The only place the environment is read.
  const config = loadConfig(process.env);
  const logger = createLogger(config.logLevel);
  switch (command) {
    case 'serve':
      // One process per core by default; ARBITER_PROCESSES=1 is a single process.
      return config.processes > 1
        ? runServeGroup(config, logger, { demo: values.demo ?? false })
        : runServe(config, logger, { api: true, workers: true, demo: values.demo ?? false }).then(
            (code) => {
              // A process of a serve group: its channel to the primary would keep it alive.
              cluster.worker?.disconnect();
              return code;
            },
          );
    case 'api':
      return runServe(config, logger, { api: true, workers: false, demo: false });
    case 'worker':
      return runServe(config, logger, { api: false, workers: true, demo: false });
    case 'tenants':
      return runTenantsCommand(config, rest);
    case 'signatures':
      return runSignaturesCommand(config, rest);
    default:
      console.error(`Unknown command "${command}".\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== -1) process.exitCode = code;
  },
  (error: unknown) => {
    // Configuration an operator got wrong is told in words; anything else with its stack.
    const told =
      error instanceof ConfigError ||
      error instanceof LanguageRulesError ||
      error instanceof RedisAccessError;
    console.error(told ? error.message : error);
    process.exitCode = 1;
  },
);
