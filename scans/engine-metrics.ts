import type { Metrics } from '../core/metrics.js';
import type { Engine } from '../scanning/engine.js';
import { engineSet, type EngineSet } from '../scanning/engines.js';

type EngineMetrics = Pick<Metrics, 'engineScan' | 'signaturesLoaded'>;

/**
 * The same engines, each timed per scan (`arbiter_scan_duration_seconds` and
 * `arbiter_scanned_bytes_total` by engine), and each one's signature load report
 * (`arbiter_signatures_loaded`, `arbiter_signatures_skipped`) recorded now and after every
 * reload. Everything else goes straight to the engine itself, so descriptions and closing behave
 * exactly as before.
 */
export function meterEngines(engines: EngineSet, metrics: EngineMetrics): EngineSet {
  return engineSet(
    engines.engines.map((engine) => meterEngine(engine, metrics)),
    engines.analysis,
  );
}

function recordLoad(engine: Engine, metrics: EngineMetrics): void {
  const report = engine.loadReport?.();
  if (report) metrics.signaturesLoaded(engine.name, report.types);
}

function meterEngine(engine: Engine, metrics: EngineMetrics): Engine {
  recordLoad(engine, metrics);
  const reload = engine.reload
    ? async () => {
        try {
          await engine.reload?.();
        } finally {
          // A failed reload keeps the previous database: its report is still the one in force.
          recordLoad(engine, metrics);
        }
      }
    : undefined;
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
      if (property === 'reload') return reload;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function'
        ? (value as (...args: unknown[]) => unknown).bind(target)
        : value;
    },
  });
}
