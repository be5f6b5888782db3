import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { EnvSchema, loadConfig, parseByteSize } from '../../core/config.js';

/**
 * The deployment files are checked statically (no Docker daemon here): compose.yaml parsed and
 * held to the topology and to the configuration schema, deploy/clamd.conf to what the clamd
 * image and Arbiter need, the Dockerfile to the build's folders, and the systemd units with
 * `systemd-analyze verify`. The Dockerfile's own lint is scripts/lint-dockerfile (npm run lint).
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[]; start_period?: string };
  stop_grace_period?: string;
  restart?: string;
  init?: boolean;
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
}

/** `${NAME:?message}` / `${NAME:-default}` as compose would substitute them for this test. */
const SAMPLE_VALUES: Record<string, string> = {
  ARBITER_ADMIN_TOKEN: 'an-admin-token-of-32-characters!',
  ARBITER_SECRET_KEY: Buffer.alloc(32, 7).toString('base64'),
};
function substitute(value: string): string {
  return value.replace(
    /\$\{([A-Z0-9_]+)(?::[?-]([^}]*))?\}/g,
    (_, name: string) => SAMPLE_VALUES[name] ?? '',
  );
}

/** clamd.conf as key → value (last one wins, as clamd reads it). */
function parseClamdConf(text: string): Map<string, string> {
  const entries = new Map<string, string>();
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith('#')) continue;
    const [key, ...rest] = trimmed.split(/\s+/);
    if (key) entries.set(key, rest.join(' '));
  }
  return entries;
}

const seconds = (duration: string) => {
  const match = /^(\d+)(ms|s|m|h)$/.exec(duration);
  if (!match) throw new Error(`not a compose duration: ${duration}`);
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(match[1]) * unit;
};

describe('compose.yaml', () => {
  const compose = parse(read('compose.yaml'), { merge: true }) as ComposeFile;
  const clamdConf = parseClamdConf(read('deploy/clamd.conf'));
  const arbiterServices = ['api', 'worker'] as const;

  it('runs the whole topology: redis, api, worker, clamd and its freshclam sidecar', () => {
    expect(Object.keys(compose.services).sort()).toEqual([
      'api',
      'clamd',
      'freshclam',
      'redis',
      'worker',
    ]);
    expect(compose.services.api?.command).toEqual(['api']);
    expect(compose.services.worker?.command).toEqual(['worker']);
    for (const name of arbiterServices) expect(compose.services[name]?.build).toBe('.');
  });

  it('gives every service a healthcheck, and starts each after what it needs is healthy', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      expect(service.healthcheck?.test?.length, name).toBeGreaterThan(0);
      expect(service.restart, name).toBe('unless-stopped');
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect(Object.keys(compose.services), `${name} → ${dependency}`).toContain(dependency);
        expect(condition, `${name} → ${dependency}`).toBe('service_healthy');
      }
    }
    for (const name of arbiterServices) {
      expect(Object.keys(compose.services[name]?.depends_on ?? {}).sort()).toEqual([
        'clamd',
        'redis',
      ]);
    }
    expect(Object.keys(compose.services.clamd?.depends_on ?? {})).toEqual(['freshclam']);
    // The api's check probes its own port, the worker's its metrics port.
    const api = compose.services.api;
    const worker = compose.services.worker;
    expect(api?.healthcheck?.test.join(' ')).toContain(
      `127.0.0.1:${api?.environment?.PORT}/healthz`,
    );
    expect(worker?.healthcheck?.test.join(' ')).toContain(
      `127.0.0.1:${worker?.environment?.ARBITER_WORKER_METRICS_PORT}/healthz`,
    );
  });

  it('keeps Redis durable (AOF) and never lets it evict', () => {
    const command = compose.services.redis?.command ?? [];
    const option = (name: string) => command[command.indexOf(name) + 1];
    expect(option('--appendonly')).toBe('yes');
    expect(['always', 'everysec']).toContain(option('--appendfsync'));
    expect(option('--maxmemory-policy')).toBe('noeviction');
    expect(compose.services.redis?.volumes).toEqual(['redis-data:/data']);
  });

  it('configures api and worker with names and values the config schema accepts', () => {
    const known = new Set(Object.keys(EnvSchema.shape));
    for (const name of arbiterServices) {
      const environment = compose.services[name]?.environment ?? {};
      const unknown = Object.keys(environment).filter((key) => !known.has(key));
      expect({ name, unknown }).toEqual({ name, unknown: [] });
      const env = Object.fromEntries(
        Object.entries(environment).map(([key, value]) => [key, substitute(String(value))]),
      );
      const config = loadConfig(env);
      expect(config.engines).toEqual(['builtin', 'clamd']);
      expect(config.adminToken).toBe(SAMPLE_VALUES.ARBITER_ADMIN_TOKEN);
      expect(config.secretKey).toHaveLength(32);
      // Production fetches only public addresses unless the operator lists networks.
      expect(config.allowedNetworks).toEqual([]);
      // Arbiter's limits fit within clamd's, or larger files would be error results.
      const streamMax = parseByteSize(clamdConf.get('StreamMaxLength') ?? '') ?? 0;
      expect(config.maxFetchSize).toBeLessThanOrEqual(streamMax);
      expect(config.maxFileSize).toBeLessThanOrEqual(streamMax);
      // Docker waits longer than Arbiter's own shutdown deadline before it SIGKILLs.
      expect(seconds(compose.services[name]?.stop_grace_period ?? '10s')).toBeGreaterThan(
        config.shutdownTimeoutMs / 1000,
      );
      // clamd is the compose service, on the port clamd.conf listens on.
      expect(config.clamd.address).toBe(`tcp://clamd:${clamdConf.get('TCPSocket')}`);
      expect(config.spoolDir).toBe('/var/lib/arbiter/spool');
    }
    // Without the admin token compose refuses to start, with a message.
    expect(String(compose.services.api?.environment?.ARBITER_ADMIN_TOKEN)).toMatch(
      /^\$\{ARBITER_ADMIN_TOKEN:\?.+\}$/,
    );
  });

  it('shares one spool volume between api and worker, and declares every named volume', () => {
    for (const name of arbiterServices) {
      expect(compose.services[name]?.volumes).toEqual(['spool:/var/lib/arbiter/spool']);
    }
    const named = new Set<string>();
    for (const service of Object.values(compose.services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0] ?? '';
        if (!source.startsWith('.') && !source.startsWith('/')) named.add(source);
      }
    }
    expect([...named].sort()).toEqual(Object.keys(compose.volumes).sort());
    // freshclam writes the database clamd reads.
    expect(compose.services.freshclam?.volumes).toContain('clamav-db:/var/lib/clamav');
    expect(compose.services.clamd?.volumes).toContain('clamav-db:/var/lib/clamav');
    expect(compose.services.clamd?.volumes).toContain(
      './deploy/clamd.conf:/etc/clamav/clamd.conf:ro',
    );
  });

  it('splits the official ClamAV image into clamd and a freshclam sidecar', () => {
    const { clamd, freshclam } = compose.services;
    expect(clamd?.image).toMatch(/^clamav\/clamav:\d+\.\d+$/);
    expect(freshclam?.image).toBe(clamd?.image);
    expect(clamd?.environment?.CLAMAV_NO_FRESHCLAMD).toBe('true');
    expect(freshclam?.environment?.CLAMAV_NO_CLAMD).toBe('true');
    // clamd's port stays inside the compose network: it has no authentication.
    expect(clamd?.ports).toBeUndefined();
    expect(compose.services.redis?.ports).toBeUndefined();
    expect(compose.services.worker?.ports).toBeUndefined();
  });
});

describe('deploy/clamd.conf', () => {
  const conf = parseClamdConf(read('deploy/clamd.conf'));

  it('suits the official image: unprivileged, a local socket its entrypoint waits for, no symlinked log file', () => {
    expect(conf.get('User')).toBe('clamav');
    expect(['/tmp/clamd.sock', '/run/clamav/clamd.sock']).toContain(conf.get('LocalSocket'));
    expect(conf.get('TCPSocket')).toBe('3310');
    // clamd refuses to open a log file through a symlink (/dev/stdout) and exits.
    expect(conf.get('LogFile')).toBeUndefined();
    expect(conf.get('Foreground')).toBe('yes');
    // The sidecar cannot notify clamd: it must look for new databases itself.
    expect(Number(conf.get('SelfCheck'))).toBeGreaterThan(0);
    expect(Number(conf.get('SelfCheck'))).toBeLessThanOrEqual(3600);
  });

  it('reports what it could not fully scan instead of passing it as clean', () => {
    for (const key of ['AlertExceedsMax', 'AlertEncrypted', 'AlertBrokenExecutables']) {
      expect({ key, value: conf.get(key) }).toEqual({ key, value: 'yes' });
    }
  });

  it.skipIf(!existsSync('/usr/bin/clamconf'))('is accepted by clamconf', () => {
    const dir = path.join(tmpdir(), `arbiter-clamconf-${process.pid}`);
    execFileSync('mkdir', ['-p', dir]);
    execFileSync('cp', [path.join(ROOT, 'deploy/clamd.conf'), path.join(dir, 'clamd.conf')]);
    const result = spawnSync('/usr/bin/clamconf', ['-c', dir], { encoding: 'utf8' });
    execFileSync('rm', ['-rf', dir]);
    expect(result.status).toBe(0);
    expect(result.stdout + result.stderr).not.toMatch(/ERROR:|unknown option|parse error/i);
    expect(result.stdout).toContain('StreamMaxLength = "1073741824"');
  });
});

describe('the build', () => {
  it('leaves the bin it names runnable (`npx arbiter`, `./dist/cli/main.js`)', () => {
    const pkg = JSON.parse(read('package.json')) as {
      bin: Record<string, string>;
      scripts: Record<string, string>;
    };
    expect(pkg.bin.arbiter).toBe('dist/cli/main.js');
    expect(read('cli/main.ts').startsWith('#!/usr/bin/env node\n')).toBe(true);
    // tsc writes files without the run bit: the build sets it on the bin.
    expect(pkg.scripts.build).toMatch(/&& chmod \+x dist\/cli\/main\.js$/);
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));

  it('copies every folder the build compiles into the build stage', () => {
    const build = JSON.parse(read('tsconfig.build.json')) as { include: string[] };
    // Every top-level folder of application code is compiled (and so copied): a new package
    // left out would break the image's build.
    const notShipped = ['test', 'bench', 'scripts', 'tools', 'node_modules', 'dist'];
    // The browser console is built by Vite (`npm run build:console`), not by tsc: copied all the same.
    const builtByVite = ['console'];
    const sourceFolders = readdirSync(ROOT, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
      .map((entry) => entry.name)
      .filter((name) => !notShipped.includes(name) && !builtByVite.includes(name))
      .filter((name) => readdirSync(path.join(ROOT, name)).some((file) => file.endsWith('.ts')));
    expect(build.include.toSorted()).toEqual(expect.arrayContaining(sourceFolders.toSorted()));
    for (const folder of [...build.include, ...builtByVite]) {
      expect(instructions, folder).toContain(`COPY ${folder} ./${folder}`);
    }
  });

  it('runs as the unprivileged node user, exposes the API and worker metrics ports, and checks health', () => {
    const users = instructions.filter((line) => line.startsWith('USER '));
    expect(users.at(-1)).toBe('USER node');
    const exposed = instructions
      .find((line) => line.startsWith('EXPOSE '))
      ?.split(/\s+/)
      .slice(1);
    const defaults = loadConfig({});
    expect(exposed).toEqual([String(defaults.port), String(defaults.metrics.workerPort)]);
    expect(instructions.filter((line) => line.startsWith('HEALTHCHECK '))).toHaveLength(1);
    expect(instructions).toContain('STOPSIGNAL SIGTERM');
    expect(instructions.at(-2)).toBe('ENTRYPOINT ["node", "dist/cli/main.js"]');
  });

  it('leaves node_modules (anywhere) out of the build context', () => {
    const ignored = read('.dockerignore').split('\n');
    expect(ignored).toContain('node_modules');
    expect(ignored).toContain('**/node_modules');
  });
});

describe('systemd units', () => {
  const units = ['arbiter-api.service', 'arbiter-worker.service'];
  const env = Object.fromEntries(
    read('deploy/arbiter.env.example')
      .split('\n')
      .filter((line) => /^[A-Z0-9_]+=/.test(line))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'arbiter-units-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const directives = (unit: string) => {
    const map = new Map<string, string[]>();
    for (const line of read(`deploy/${unit}`).split('\n')) {
      const match = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
      if (match) map.set(match[1] ?? '', [...(map.get(match[1] ?? '') ?? []), match[2] ?? '']);
    }
    return (key: string) => map.get(key) ?? [];
  };

  it('the example environment file is a valid configuration', () => {
    const unknown = Object.keys(env).filter((key) => !(key in EnvSchema.shape));
    expect(unknown).toEqual([]);
    const config = loadConfig(env);
    expect(config.spoolDir.startsWith(config.dataDir)).toBe(true);
    expect(config.allowedNetworks).toEqual([]);
  });

  it.each(units)('%s: unprivileged, restarted on failure, stopped gracefully, hardened', (unit) => {
    const get = directives(unit);
    const config = loadConfig(env);
    expect(get('User')).toEqual(['arbiter']);
    expect(get('EnvironmentFile')).toEqual(['/etc/arbiter/arbiter.env']);
    expect(get('Restart')).toEqual(['on-failure']);
    expect(get('KillSignal')).toEqual(['SIGTERM']);
    expect(seconds(get('TimeoutStopSec')[0] ?? '0s')).toBeGreaterThan(
      config.shutdownTimeoutMs / 1000,
    );
    expect(get('NoNewPrivileges')).toEqual(['yes']);
    expect(get('ProtectSystem')).toEqual(['strict']);
    // The spool is the one place written: the state directory that holds it is writable.
    expect(get('ReadWritePaths')).toEqual([config.dataDir]);
    expect(config.spoolDir.startsWith(`${get('ReadWritePaths')[0]}/`)).toBe(true);
    expect(get('ExecStart')[0]).toMatch(
      unit.includes('worker') ? /\/dist\/cli\/main\.js worker$/ : /\/dist\/cli\/main\.js api$/,
    );
    // V8's JIT writes executable memory.
    expect(get('MemoryDenyWriteExecute')).toEqual([]);
  });

  const systemdAnalyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) =>
    existsSync(p),
  );
  it.skipIf(!systemdAnalyze)('pass `systemd-analyze verify`', async () => {
    // verify checks that ExecStart's binary exists: point it at this machine's node.
    for (const unit of units) {
      await writeFile(
        path.join(dir, unit),
        read(`deploy/${unit}`).replaceAll('/usr/bin/node ', `${process.execPath} `),
      );
    }
    const result = spawnSync(
      systemdAnalyze ?? '',
      ['verify', ...units.map((u) => path.join(dir, u))],
      {
        encoding: 'utf8',
        env: { ...process.env, SYSTEMD_LOG_LEVEL: 'notice' },
      },
    );
    expect({ status: result.status, output: (result.stdout + result.stderr).trim() }).toEqual({
      status: 0,
      output: '',
    });
  });
});
