import type { Metrics } from '../core/metrics.js';
import type { Engine } from '../scanning/engine.js';
import { engineSet, type EngineSet } from '../scanning/engines.js';

/**
 * The same engines, each timed per scan (`arbiter_scan_duration_seconds` and
 * `arbiter_scanned_bytes_total` by engine). Everything but `scan` goes straight to the engine
 * itself, so reloads, descriptions and closing behave exactly as before.
 */
export function meterEngines(engines: EngineSet, metrics: Pick<Metrics, 'engineScan'>): EngineSet {
  return engineSet(engines.engines.map((engine) => meterEngine(engine, metrics)));
}

function meterEngine(engine: Engine, metrics: Pick<Metrics, 'engineScan'>): Engine {
  const scan: Engine['scan'] = async (target) => {
    const started = performance.now();
    let outcome: 'ok' | 'error' = 'error';
    try {
      const verdict = await engine.scan(target);
      outcome = 'ok';
      return verdict;
    } finally {
      metrics.engineScan(engine.name, outcome, (performance.now() - started) / 1000, target.size);
    }
  };
  return new Proxy(engine, {
    get(target, property) {
      if (property === 'scan') return scan;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function'
        ? (value as (...args: unknown[]) => unknown).bind(target)
        : value;
    },
  });
}
