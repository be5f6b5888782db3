import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../support/service.js';
import { waitFor } from '../support/wait.js';
import { killAllArbiterProcesses, startWorkerProcess } from '../support/worker-process.js';

/**
 * `GET /admin/workers` against real worker processes: a worker shows up alive with its pid and
 * engines; killed with SIGKILL it shows as stale, then disappears; stopped with SIGTERM it is
 * gone from the list as soon as it has exited.
 */

interface WorkerView {
  pid: number;
  status: 'alive' | 'stale';
  engines: Array<{ name: string; version: string }>;
}

describe('worker heartbeats', () => {
  let service: TestService;

  beforeAll(async () => {
    service = await startTestService(
      { ARBITER_WORKER_HEARTBEAT_MS: '300' },
      { roles: { api: true, workers: false } },
    );
  });
  afterAll(async () => {
    await killAllArbiterProcesses();
    await service?.stop();
  });

  const workers = async () => {
    const response = await service.admin('/workers');
    expect(response.status).toBe(200);
    return ((await response.json()) as { workers: WorkerView[] }).workers;
  };
  const only = (pid: number, status: WorkerView['status']) => async () => {
    const list = await workers();
    return list.length === 1 && list[0]?.pid === pid && list[0].status === status ? list : false;
  };

  it('shows a killed worker as stale, then drops it', async () => {
    const worker = await startWorkerProcess(service.env);
    const [alive] = await waitFor(only(worker.pid, 'alive'), { what: 'the worker, alive' });
    expect(alive?.engines).toEqual([
      {
        name: 'builtin',
        version: expect.any(String) as string,
        signatures: expect.any(Number) as number,
      },
    ]);
    await worker.kill();
    await waitFor(only(worker.pid, 'stale'), { what: 'the killed worker, stale' });
    await waitFor(async () => (await workers()).length === 0, {
      what: 'the killed worker to disappear',
    });
  });

  it('drops a worker stopped cleanly at once', async () => {
    const worker = await startWorkerProcess(service.env);
    await waitFor(only(worker.pid, 'alive'), { what: 'the worker, alive' });
    const exit = await worker.signal('SIGTERM');
    expect(exit.code).toBe(0);
    expect(await workers()).toEqual([]);
  });
});
