import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fileForm, randomContent, sha1 } from '../support/content.js';
import { freePort, startTestSentinels } from '../support/redis-sentinel.js';
import { makeCertificates } from '../support/tls-certificates.js';
import {
  pollScanResult,
  scaniiRequest,
  startTestService,
  type TestService,
} from '../support/service.js';
import { waitFor } from '../support/wait.js';
import { killAllArbiterProcesses, spawnArbiter } from '../support/worker-process.js';

/**
 * Redis that does not let just anyone in: an ACL user with a password (the `default` user off),
 * and TLS with certificates made here by openssl (a CA, a server certificate for 127.0.0.1 and a
 * client certificate, Redis requiring one). The service works with the right settings, and with
 * wrong ones its start stops with an error that says what Redis refused, instead of running on
 * and answering 503s.
 */
describe('Redis with ACL auth and TLS', () => {
  const servers: Array<{ stop(): Promise<void> }> = [];
  let folder: string;

  beforeAll(async () => {
    folder = await mkdtemp(path.join(tmpdir(), 'arbiter-redis-access-'));
  });
  afterEach(async () => {
    await killAllArbiterProcesses();
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await rm(folder, { recursive: true, force: true });
  });

  it('works as an ACL user, and a wrong password stops the start with a clear error', async () => {
    const redis = await startRedis(
      folder,
      'acl',
      ['user default off', 'user arbiter on >secret ~* &* +@all'],
      { username: 'arbiter', password: 'secret' },
    );
    servers.push(redis);
    await expectScansWork(`redis://arbiter:secret@127.0.0.1:${redis.port}`, {});

    const refused = await failedStart(`redis://arbiter:wrong@127.0.0.1:${redis.port}`, {});
    expect(refused.output).toMatch(
      /Redis \(redis:\/\/arbiter:\*\*\*@127\.0\.0\.1:\d+\/?\) refused/,
    );
    expect(refused.output).toMatch(/WRONGPASS/);
    expect(refused.output).not.toMatch(/wrong@/);
  }, 60_000);

  it('works over rediss:// with the CA file, and without it stops with a clear error', async () => {
    const certs = await makeCertificates(path.join(folder, 'certs'));
    const tls = {
      ca: await readFile(certs.ca),
      cert: await readFile(certs.clientCert),
      key: await readFile(certs.clientKey),
    };
    const redis = await startRedis(
      folder,
      'tls',
      [
        'port 0',
        `tls-cert-file ${certs.serverCert}`,
        `tls-key-file ${certs.serverKey}`,
        `tls-ca-cert-file ${certs.ca}`,
        'tls-auth-clients yes',
      ],
      { tls },
      'tls-port',
    );
    servers.push(redis);
    const url = `rediss://127.0.0.1:${redis.port}`;
    const clientCertificate = {
      REDIS_TLS_CERT_FILE: certs.clientCert,
      REDIS_TLS_KEY_FILE: certs.clientKey,
    };
    await expectScansWork(url, { REDIS_TLS_CA_FILE: certs.ca, ...clientCertificate });

    const untrusted = await failedStart(url, clientCertificate);
    expect(untrusted.output).toMatch(/Redis \(rediss:\/\/127\.0\.0\.1:\d+\/?\) refused/);
    expect(untrusted.output).toMatch(/certificate/i);
    expect(untrusted.output).toMatch(/REDIS_TLS_CA_FILE/);

    const missing = await failedStart(url, {
      REDIS_TLS_CA_FILE: path.join(folder, 'no-such-ca.pem'),
      ...clientCertificate,
    });
    expect(missing.output).toMatch(
      /Invalid configuration:\n.*REDIS_TLS_CA_FILE: cannot read .*no-such-ca\.pem/,
    );
  }, 60_000);

  it('follows Sentinels over TLS with their own password, to a primary as an ACL user', async () => {
    const certs = await makeCertificates(path.join(folder, 'sentinel-certs'));
    const ca = await readFile(certs.ca);
    const tlsLines = [
      `tls-cert-file ${certs.serverCert}`,
      `tls-key-file ${certs.serverKey}`,
      `tls-ca-cert-file ${certs.ca}`,
      'tls-auth-clients no',
      'tls-replication yes',
    ];
    const sentinels = await startTestSentinels({
      security: {
        tls: true,
        dataLines: [
          'user default off',
          'user arbiter on >secret ~* &* +@all',
          'masteruser arbiter',
          'masterauth secret',
          ...tlsLines,
        ],
        sentinelLines: [
          'requirepass sentinel-secret',
          'sentinel sentinel-pass sentinel-secret',
          'sentinel auth-user arbiter arbiter',
          'sentinel auth-pass arbiter secret',
          ...tlsLines,
        ],
        dataClient: { username: 'arbiter', password: 'secret', tls: { ca } },
        sentinelClient: { password: 'sentinel-secret', tls: { ca } },
      },
    });
    servers.push(sentinels);
    const env = {
      REDIS_URL: '', // unset: the Sentinels say where Redis is
      REDIS_SENTINELS: sentinels.sentinels,
      REDIS_SENTINEL_NAME: sentinels.name,
      REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
      REDIS_SENTINEL_TLS: 'true',
      REDIS_USERNAME: 'arbiter',
      REDIS_TLS: 'true',
      REDIS_TLS_CA_FILE: certs.ca,
    };
    await expectScansWork(undefined, { ...env, REDIS_PASSWORD: 'secret' });

    const refused = await failedStart(undefined, { ...env, REDIS_PASSWORD: 'wrong' });
    expect(refused.output).toMatch(/Redis \(sentinel arbiter via 127\.0\.0\.1:\d+/);
    expect(refused.output).toMatch(/WRONGPASS/);
  }, 90_000);
});

/** A sync and an async scan through a service on this Redis. */
async function expectScansWork(
  url: string | undefined,
  env: Record<string, string>,
): Promise<void> {
  const service: TestService = await startTestService({
    ...(url ? { REDIS_URL: url } : {}),
    ...env,
  });
  try {
    const tenant = await service.createTenant('secured');
    const content = randomContent(1024);
    const sync = await scaniiRequest(service, tenant, '/files', {
      method: 'POST',
      body: fileForm(content),
    });
    expect(sync.status).toBe(201);
    const accepted = await scaniiRequest(service, tenant, '/files/async', {
      method: 'POST',
      body: fileForm(content),
    });
    expect(accepted.status).toBe(202);
    const { id } = (await accepted.json()) as { id: string };
    expect(await pollScanResult(service, tenant, id)).toMatchObject({ checksum: sha1(content) });
  } finally {
    await service.stop();
  }
}

/** `arbiter api` as its own process on this Redis: it must exit by itself, with code 1. */
async function failedStart(url: string | undefined, env: Record<string, string>) {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'arbiter-data-'));
  try {
    const child = spawnArbiter(['api'], {
      PORT: '0',
      ARBITER_LISTEN_HOST: '127.0.0.1',
      ARBITER_DATA_DIR: dataDir,
      ARBITER_ENGINES: 'builtin',
      ...(url ? { REDIS_URL: url } : {}),
      ...env,
    });
    const exit = await child.exited;
    expect(exit.code).toBe(1);
    return { output: child.output() };
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** A redis-server on a free loopback port with these config lines, ready when `client` can PING. */
async function startRedis(
  parent: string,
  label: string,
  config: string[],
  client: RedisOptions,
  portDirective = 'port',
): Promise<{ port: number; stop(): Promise<void> }> {
  const dir = await mkdtemp(path.join(parent, `${label}-`));
  const port = await freePort();
  const file = path.join(dir, 'redis.conf');
  const lines = [`${portDirective} ${port}`, 'bind 127.0.0.1', `dir ${dir}`, 'save ""', ...config];
  await writeFile(file, `${lines.join('\n')}\n`);
  const child: ChildProcess = spawn('redis-server', [file], { stdio: 'ignore' });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  await waitFor(() => answersPing({ host: '127.0.0.1', port, ...client }), {
    timeoutMs: 10_000,
    what: `the ${label} redis-server to start`,
  }).catch(async (error: unknown) => {
    await stop();
    throw error;
  });
  return { port, stop };
}

async function answersPing(options: RedisOptions): Promise<boolean> {
  const client = new Redis({
    ...options,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    if (client.status !== 'end') client.disconnect();
  }
}
