import type { Config } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import { BuiltinEngine } from './builtin-engine.js';
import { ClamdEngine } from './clamd-engine.js';
import { EngineError, type Engine, type EngineVerdict, type ScanTarget } from './engine.js';

export interface EngineSet {
  engines: Engine[];
  /** Runs every engine on the target and unites their findings; throws if any engine failed. */
  scan(target: ScanTarget): Promise<{ findings: string[]; verdicts: EngineVerdict[] }>;
  ping(): Promise<void>;
  reload(): Promise<void>;
  close(): Promise<void>;
}

export async function createEngineSet(config: Config, logger: Logger): Promise<EngineSet> {
  const engines: Engine[] = [];
  for (const name of config.engines) {
    if (name === 'builtin') engines.push(await BuiltinEngine.load(config.signaturesDir, logger));
    if (name === 'clamd') engines.push(await ClamdEngine.create(config.clamd, logger));
  }
  return engineSet(engines);
}

export function engineSet(engines: Engine[]): EngineSet {
  return {
    engines,
    async scan(target) {
      const settled = await Promise.allSettled(engines.map((engine) => engine.scan(target)));
      const verdicts: EngineVerdict[] = [];
      for (const [index, outcome] of settled.entries()) {
        if (outcome.status === 'fulfilled') verdicts.push(outcome.value);
        else throw asEngineError(engines[index]?.name ?? 'engine', outcome.reason);
      }
      const findings = [...new Set(verdicts.flatMap((v) => v.findings))].sort();
      return { findings, verdicts };
    },
    async ping() {
      await Promise.all(engines.map((engine) => engine.ping()));
    },
    async reload() {
      await Promise.all(engines.map(async (engine) => engine.reload?.()));
    },
    async close() {
      await Promise.all(engines.map((engine) => engine.close()));
    },
  };
}

function asEngineError(engine: string, reason: unknown): EngineError {
  if (reason instanceof EngineError) return reason;
  return new EngineError(engine, reason instanceof Error ? reason.message : String(reason));
}
