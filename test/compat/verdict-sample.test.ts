import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { zip } from '../support/archives.js';
import { eicar, randomContent } from '../support/content.js';
import { startTestService, type TestService, type TestTenant } from '../support/service.js';

const run = promisify(execFile);
const SAMPLE = fileURLToPath(new URL('../fixtures/verdict-sample.py', import.meta.url));

/**
 * The Python client from the "Antivirus for Amazon S3" documentation, run unchanged (it takes
 * user, password, base URL and file on its command line) against the verdict API. It needs
 * requests and requests_toolbelt: Debian's python3-requests and python3-requests-toolbelt,
 * which scripts/setup installs, for Debian's /usr/bin/python3.
 */
function findPython(): string {
  const candidates = ['/usr/bin/python3', 'python3'];
  for (const python of candidates) {
    try {
      execFileSync(python, ['-c', 'import requests, requests_toolbelt'], { stdio: 'ignore' });
      return python;
    } catch {
      // try the next one
    }
  }
  throw new Error(
    'No python3 with requests and requests_toolbelt: install python3-requests and python3-requests-toolbelt (scripts/setup does).',
  );
}

describe('the "Antivirus for Amazon S3" Python sample client', () => {
  let service: TestService;
  let tenant: TestTenant;
  let dir: string;
  let python: string;

  beforeAll(async () => {
    python = findPython();
    service = await startTestService();
    tenant = await service.createTenant('python-sample');
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-sample-'));
  });
  afterAll(async () => {
    await service?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function runSample(
    content: Buffer,
    name: string,
  ): Promise<{ stdout: string; verdict: Record<string, unknown> }> {
    const file = path.join(dir, name);
    await writeFile(file, content);
    try {
      const { stdout } = await run(python, [SAMPLE, tenant.key, tenant.secret, service.url, file], {
        timeout: 20_000,
        env: { ...process.env, NO_PROXY: '127.0.0.1', no_proxy: '127.0.0.1' },
      });
      // The sample prints the verdict as indented JSON, then "file was clean" when it is.
      const json = stdout.slice(stdout.indexOf('{'), stdout.lastIndexOf('}') + 1);
      return { stdout, verdict: JSON.parse(json) as Record<string, unknown> };
    } finally {
      await rm(file, { force: true });
    }
  }

  it('prints "file was clean" for a clean file', async () => {
    const { stdout, verdict } = await runSample(randomContent(2048), 'clean.bin');
    expect(verdict).toMatchObject({ detectedInfections: [], errorMessage: null, result: 'Clean' });
    expect(stdout.trimEnd().split('\n').at(-1)).toBe('file was clean');
  });

  it('prints the Infected verdict, and not "file was clean", for EICAR (the sample names the part my_file)', async () => {
    const { stdout, verdict } = await runSample(eicar(), 'eicar.com');
    expect(verdict).toMatchObject({
      detectedInfections: [{ file: 'my_file', infection: 'Eicar-Test-Signature' }],
      errorMessage: null,
      result: 'Infected',
    });
    expect(stdout).not.toContain('file was clean');
  });

  it('prints the member path for EICAR inside a zip', async () => {
    const archive = await zip([{ name: 'inner/eicar.com', data: eicar() }]);
    const { verdict } = await runSample(archive, 'upload.zip');
    expect(verdict).toMatchObject({
      detectedInfections: [{ file: 'my_file/inner/eicar.com', infection: 'Eicar-Test-Signature' }],
      result: 'Infected',
    });
  });
});
