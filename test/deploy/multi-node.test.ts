import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { get } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { createMonitorApp } from '../../api/metrics.js';
import { healthRouter } from '../../api/routes/health.js';
import { EnvSchema, loadConfig, type Config } from '../../core/config.js';
import { QUEUE_STATES, createMetrics } from '../../core/metrics.js';
import { QUEUE_NAMES } from '../../core/queues.js';
import { SANITIZED_COPIES_PREFIX } from '../../core/s3-sanitized-store.js';
import { STAGED_UPLOADS_PREFIX } from '../../core/s3-upload-store.js';

/**
 * The multi-node deployment files, checked statically (no Docker daemon or cluster here):
 * deploy/compose.multi-node.yaml and deploy/kubernetes/*.yaml parsed and held to the
 * configuration schema, the CLI, the routes the processes really serve and the queue metric the
 * code really exports.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

/** Values for the settings an operator must provide, valid for the schema. */
const SAMPLE_SECRETS: Record<string, string> = {
  ARBITER_ADMIN_TOKEN: 'an-admin-token-of-32-characters!',
  ARBITER_SECRET_KEY: Buffer.alloc(32, 7).toString('base64'),
  MINIO_ROOT_PASSWORD: 'a-minio-password',
};
function substitute(value: string): string {
  return value.replace(
    /\$\{([A-Z0-9_]+)(?::[?-]([^}]*))?\}/g,
    (_, name: string) => SAMPLE_SECRETS[name] ?? '',
  );
}

/** Names Arbiter's schema does not know: allowed only when they are the AWS SDK's own. */
function unknownSettings(names: string[]): string[] {
  const known = new Set(Object.keys(EnvSchema.shape));
  return names.filter((name) => !known.has(name) && !name.startsWith('AWS_'));
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

/** The commands `arbiter --help` lists: what the deployment files may run. */
function cliCommands(): Set<string> {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'cli/main.ts', '--help'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  expect(result.status).toBe(0);
  return new Set(
    result.stdout
      .split('\n')
      .map((line) => /^ {2}([a-z]+)\b/.exec(line)?.[1])
      .filter((name): name is string => name !== undefined),
  );
}

/**
 * The probe paths the deployment files use, asked of the real routers each role serves (the
 * api's health routes, a worker's monitor app) on loopback: each must answer 200.
 */
let apiBase = '';
let workerBase = '';
const servers: Array<{ close(): void }> = [];
beforeAll(async () => {
  const listen = async (app: express.Express) => {
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const api = express();
  api.use(healthRouter({ checkReadiness: () => Promise.resolve({ redis: 'ok', clamd: 'ok' }) }));
  apiBase = await listen(api);
  workerBase = await listen(createMonitorApp(createMetrics({ defaultMetrics: false }), undefined));
});
afterAll(() => {
  for (const server of servers) server.close();
});
/**
 * A connection of its own per probe, as a kubelet makes them: a pooled keep-alive connection left
 * idle while other tests run can be closed by the server just as it is reused (ECONNRESET).
 */
function answers(base: string, probePath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = get(`${base}${probePath}`, { agent: false }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', reject);
  });
}

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  restart?: string;
  deploy?: { replicas?: number };
}

describe('deploy/compose.multi-node.yaml', () => {
  const compose = parse(read('deploy/compose.multi-node.yaml'), { merge: true }) as {
    services: Record<string, ComposeService>;
    volumes: Record<string, unknown>;
  };
  const services = compose.services;
  const arbiterServices = ['api', 'worker'] as const;
  const configOf = (name: string): Config =>
    loadConfig(
      Object.fromEntries(
        Object.entries(services[name]?.environment ?? {}).map(([key, value]) => [
          key,
          substitute(String(value)),
        ]),
      ),
    );
  /** The one-shot job that creates the bucket: it exits, so it has no healthcheck. */
  const oneShot = 'minio-bucket';

  it('runs api ×2 and worker ×2 beside Redis, its replica, three Sentinels, MinIO and clamd', () => {
    expect(Object.keys(services).sort()).toEqual([
      'api',
      'clamd',
      'freshclam',
      'minio',
      'minio-bucket',
      'redis-primary',
      'redis-replica',
      'sentinel-1',
      'sentinel-2',
      'sentinel-3',
      'worker',
    ]);
    const commands = cliCommands();
    for (const name of arbiterServices) {
      expect(services[name]?.command).toEqual([name]);
      expect(commands).toContain(name);
      expect(services[name]?.deploy?.replicas).toBe(2);
    }
  });

  it('gives every long-running service a healthcheck and starts each after what it needs', () => {
    for (const [name, service] of Object.entries(services)) {
      if (name === oneShot) {
        expect(service.restart).toBe('no');
        continue;
      }
      expect(service.healthcheck?.test?.length, name).toBeGreaterThan(0);
      expect(service.restart, name).toBe('unless-stopped');
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect(Object.keys(services), `${name} → ${dependency}`).toContain(dependency);
        expect(condition, `${name} → ${dependency}`).toBe(
          dependency === oneShot ? 'service_completed_successfully' : 'service_healthy',
        );
      }
    }
    for (const name of arbiterServices) {
      expect(Object.keys(services[name]?.depends_on ?? {}).sort()).toEqual([
        'clamd',
        'minio-bucket',
        'sentinel-1',
        'sentinel-2',
        'sentinel-3',
      ]);
    }
  });

  it('probes the routes api and worker really serve, on the ports they listen on', async () => {
    const probe = (name: string) => services[name]?.healthcheck?.test.join(' ') ?? '';
    const apiProbe = /http:\/\/127\.0\.0\.1:(\d+)(\/[a-z]+)/.exec(probe('api'));
    const workerProbe = /http:\/\/127\.0\.0\.1:(\d+)(\/[a-z]+)/.exec(probe('worker'));
    expect(Number(apiProbe?.[1])).toBe(configOf('api').port);
    expect(Number(workerProbe?.[1])).toBe(configOf('worker').metrics.workerPort);
    expect(await answers(apiBase, apiProbe?.[2] ?? '')).toBe(200);
    expect(await answers(workerBase, workerProbe?.[2] ?? '')).toBe(200);
  });

  it('configures api and worker through the Sentinels and the bucket, with known settings only', () => {
    const sentinels = Object.keys(services).filter((name) => name.startsWith('sentinel-'));
    for (const name of arbiterServices) {
      const environment = services[name]?.environment ?? {};
      expect({ name, unknown: unknownSettings(Object.keys(environment)) }).toEqual({
        name,
        unknown: [],
      });
      const config = configOf(name);
      expect(config.redis.url).toBeUndefined();
      expect(config.redis.sentinel?.nodes).toEqual(
        sentinels.map((host) => ({ host, port: 26379 })),
      );
      expect(config.uploadStore.kind).toBe('s3');
      expect(config.uploadStore.kind === 's3' && config.uploadStore.endpoint).toBe(
        'http://minio:9000',
      );
      expect(config.engines).toEqual(['builtin', 'clamd']);
      expect(config.clamd.address).toBe('tcp://clamd:3310');
      expect(config.adminToken).toBe(SAMPLE_SECRETS.ARBITER_ADMIN_TOKEN);
      // The AWS SDK signs with MinIO's root user.
      expect(environment.AWS_ACCESS_KEY_ID).toBe(services.minio?.environment?.MINIO_ROOT_USER);
      expect(environment.AWS_SECRET_ACCESS_KEY).toBe(
        services.minio?.environment?.MINIO_ROOT_PASSWORD,
      );
    }
  });

  it('shares no volume between api and worker: each container has its own spool', () => {
    for (const name of arbiterServices) {
      const volumes = services[name]?.volumes ?? [];
      // A container path alone is an anonymous volume, made anew for each container.
      expect(volumes).toEqual([configOf(name).spoolDir]);
    }
    const named = new Set<string>();
    for (const service of Object.values(services)) {
      for (const volume of service.volumes ?? []) {
        const [source = '', target] = volume.split(':');
        if (target !== undefined && !source.startsWith('.') && !source.startsWith('/')) {
          named.add(source);
        }
      }
    }
    expect([...named].sort()).toEqual(Object.keys(compose.volumes).sort());
    expect(services.clamd?.volumes).toContain('./clamd.conf:/etc/clamav/clamd.conf:ro');
  });

  it('runs a Redis primary and its replica, durable and never evicting', () => {
    for (const name of ['redis-primary', 'redis-replica']) {
      const command = services[name]?.command ?? [];
      const option = (flag: string) => command[command.indexOf(flag) + 1];
      expect(option('--appendonly'), name).toBe('yes');
      expect(option('--maxmemory-policy'), name).toBe('noeviction');
      // Announced by name, so the Sentinels give Arbiter addresses this network resolves.
      expect(option('--replica-announce-ip'), name).toBe(name);
    }
    const replica = services['redis-replica']?.command ?? [];
    expect(replica.slice(replica.indexOf('--replicaof') + 1).slice(0, 2)).toEqual([
      'redis-primary',
      '6379',
    ]);
  });

  it('has three Sentinels watching the primary Arbiter names, with a majority quorum', () => {
    const sentinels = Object.keys(services).filter((name) => name.startsWith('sentinel-'));
    expect(sentinels).toHaveLength(3);
    for (const name of sentinels) {
      const script = services[name]?.command?.join('\n') ?? '';
      const monitor = /sentinel monitor (\S+) (\S+) (\d+) (\d+)/.exec(script);
      expect(monitor?.[1]).toBe(configOf('api').redis.sentinel?.name);
      expect(monitor?.[2]).toBe('redis-primary');
      expect(Number(monitor?.[4])).toBeGreaterThan(sentinels.length / 2);
      expect(Number(monitor?.[4])).toBeLessThanOrEqual(sentinels.length);
      expect(script).toContain('--sentinel');
      expect(script).toContain('port 26379');
    }
  });

  it('creates the bucket of ARBITER_UPLOAD_STORE and expires what is staged under its prefix', () => {
    const config = configOf('api');
    if (config.uploadStore.kind !== 's3') throw new Error('expected an s3 upload store');
    const { bucket, prefix } = config.uploadStore.location;
    const script = services[oneShot]?.entrypoint?.join(' ') ?? '';
    expect(script).toContain(`mc mb --ignore-existing store/${bucket}`);
    expect(script).toMatch(
      new RegExp(
        `mc ilm rule add --prefix ${prefix}${STAGED_UPLOADS_PREFIX} --expire-days \\d+ store/${bucket}`,
      ),
    );
  });

  it('pins every image to a tag (a built image excepted)', () => {
    for (const [name, service] of Object.entries(services)) {
      if (service.build) continue;
      expect(service.image, name).toMatch(/^[a-z0-9./-]+:[A-Za-z0-9._-]+$/);
      expect(service.image, name).not.toMatch(/:latest$/);
    }
  });

  it('publishes the api only', () => {
    for (const [name, service] of Object.entries(services)) {
      if (name !== 'api') expect(service.ports, name).toBeUndefined();
    }
  });
});

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}
interface Probe {
  httpGet?: { path: string; port: string | number };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  ports?: Array<{ name: string; containerPort: number }>;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}
interface PodSpec {
  containers: Container[];
  terminationGracePeriodSeconds?: number;
  volumes?: Array<{ name: string; emptyDir?: unknown; persistentVolumeClaim?: unknown }>;
}
interface DeploymentSpec {
  selector: { matchLabels: Record<string, string> };
  template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
}

describe('deploy/kubernetes', () => {
  const folder = 'deploy/kubernetes';
  const objects = readdirSync(path.join(ROOT, folder))
    .filter((file) => file.endsWith('.yaml'))
    .flatMap((file) =>
      parseAllDocuments(read(`${folder}/${file}`)).map((document) => {
        expect(document.errors, file).toEqual([]);
        return document.toJS() as K8sObject;
      }),
    );
  const find = (kind: string, name: string) => {
    const object = objects.find((o) => o.kind === kind && o.metadata.name === name);
    if (!object) throw new Error(`no ${kind} ${name}`);
    return object;
  };
  const deployment = (name: string) => find('Deployment', name).spec as unknown as DeploymentSpec;
  const roles = { api: 'arbiter-api', worker: 'arbiter-worker' } as const;
  const podLabels = (name: string) => deployment(name).template.metadata.labels;
  const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
    Object.entries(selector).every(([key, value]) => labels[key] === value);

  const settings = find('ConfigMap', 'arbiter-settings').data ?? {};
  const secrets = find('Secret', 'arbiter-secrets').stringData ?? {};
  const config = loadConfig({
    ...settings,
    ...Object.fromEntries(
      Object.keys(secrets).map((key) => [key, SAMPLE_SECRETS[key] ?? `sample-${key}`]),
    ),
  });

  it('puts everything in the Namespace it declares', () => {
    const namespace = find('Namespace', 'arbiter').metadata.name;
    for (const object of objects.filter((o) => o.kind !== 'Namespace')) {
      expect(object.metadata.namespace, `${object.kind} ${object.metadata.name}`).toBe(namespace);
    }
  });

  it('settles every setting by a name the schema knows, for external Redis Sentinels and a bucket', () => {
    expect(unknownSettings([...Object.keys(settings), ...Object.keys(secrets)])).toEqual([]);
    expect(config.redis.url).toBeUndefined();
    expect(config.redis.sentinel?.nodes.length).toBeGreaterThanOrEqual(3);
    expect(config.uploadStore.kind).toBe('s3');
    expect(config.engines).toEqual(['builtin', 'clamd']);
    // Redis and the object store are referenced, not deployed.
    const deployed = objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
    expect(deployed.map((o) => o.metadata.name).sort()).toEqual([
      'arbiter-api',
      'arbiter-worker',
      'clamd',
    ]);
  });

  it('runs a real CLI command per role, from the settings, with resources and a pinned image', () => {
    const commands = cliCommands();
    for (const [role, name] of Object.entries(roles)) {
      const spec = deployment(name);
      expect(selects(spec.selector.matchLabels, podLabels(name)), name).toBe(true);
      const [container] = spec.template.spec.containers;
      expect(container?.args).toEqual([role]);
      expect(commands).toContain(role);
      expect(container?.image).toMatch(/^[a-z0-9./-]+:\d+\.\d+\.\d+$/);
      expect(container?.envFrom).toEqual([
        { configMapRef: { name: 'arbiter-settings' } },
        { secretRef: { name: 'arbiter-secrets' } },
      ]);
      expect(container?.resources?.requests?.cpu, name).toBeDefined();
      expect(container?.resources?.requests?.memory, name).toBeDefined();
      expect(container?.resources?.limits?.memory, name).toBeDefined();
      // Kubernetes waits longer than Arbiter's own shutdown deadline before it SIGKILLs.
      expect(spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(
        config.shutdownTimeoutMs / 1000,
      );
    }
  });

  it('gives each pod its own spool: an emptyDir, never a shared claim', () => {
    for (const name of Object.values(roles)) {
      const pod = deployment(name).template.spec;
      const spool = pod.containers[0]?.volumeMounts?.find((m) => m.mountPath === config.spoolDir);
      const volume = pod.volumes?.find((v) => v.name === spool?.name);
      expect(volume?.emptyDir, name).toBeDefined();
      expect(pod.volumes?.some((v) => v.persistentVolumeClaim)).toBe(false);
    }
  });

  it('probes routes each role really serves, on the port it listens on', async () => {
    const expectedPort = { api: config.port, worker: config.metrics.workerPort };
    const base = { api: apiBase, worker: workerBase };
    for (const role of ['api', 'worker'] as const) {
      const container = deployment(roles[role]).template.spec.containers[0];
      const probes = [container?.livenessProbe, container?.readinessProbe, container?.startupProbe];
      const used = probes.filter((probe): probe is Probe => probe !== undefined);
      expect(used.length, role).toBeGreaterThanOrEqual(2);
      for (const probe of used) {
        const port = container?.ports?.find((p) => p.name === probe.httpGet?.port);
        expect(port?.containerPort, role).toBe(expectedPort[role]);
        expect(await answers(base[role], probe.httpGet?.path ?? ''), probe.httpGet?.path).toBe(200);
      }
    }
    // The api is taken out of its Service while Redis or clamd does not answer.
    expect(deployment(roles.api).template.spec.containers[0]?.readinessProbe?.httpGet?.path).toBe(
      '/readyz',
    );
  });

  it('has one PodDisruptionBudget per role, selecting exactly its pods', () => {
    const budgets = objects.filter((o) => o.kind === 'PodDisruptionBudget');
    for (const name of [...Object.values(roles), 'clamd']) {
      const matching = budgets.filter((budget) => {
        const selector = (budget.spec?.selector as { matchLabels: Record<string, string> })
          .matchLabels;
        return selects(selector, podLabels(name));
      });
      expect(matching.map((b) => b.metadata.name)).toEqual([name]);
    }
  });

  it('routes the api Service to the api pods only, on their http port', () => {
    const service = find('Service', 'arbiter-api').spec as {
      selector: Record<string, string>;
      ports: Array<{ targetPort: string }>;
    };
    expect(selects(service.selector, podLabels(roles.api))).toBe(true);
    expect(selects(service.selector, podLabels(roles.worker))).toBe(false);
    const ports = deployment(roles.api).template.spec.containers[0]?.ports ?? [];
    for (const { targetPort } of service.ports) {
      expect(ports.map((p) => p.name)).toContain(targetPort);
    }
  });

  it('reaches clamd through its Service, configured as deploy/clamd.conf', () => {
    const service = find('Service', 'clamd').spec as {
      selector: Record<string, string>;
      ports: Array<{ port: number }>;
    };
    expect(selects(service.selector, podLabels('clamd'))).toBe(true);
    expect(config.clamd.address).toBe(`tcp://clamd.arbiter.svc:${service.ports[0]?.port}`);
    const conf = find('ConfigMap', 'clamd-conf').data?.['clamd.conf'] ?? '';
    expect(parseClamdConf(conf)).toEqual(parseClamdConf(read('deploy/clamd.conf')));
    expect(deployment('clamd').template.spec.containers[0]?.image).toMatch(
      /^clamav\/clamav:\d+\.\d+$/,
    );
  });

  it('autoscales the worker Deployment on the scan queue depth Arbiter exports', () => {
    const hpa = find('HorizontalPodAutoscaler', 'arbiter-worker').spec as {
      scaleTargetRef: { kind: string; name: string };
      minReplicas: number;
      maxReplicas: number;
      metrics: Array<{ type: string; external: { metric: { name: string } } }>;
    };
    expect(hpa.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: roles.worker });
    expect(hpa.minReplicas).toBeGreaterThanOrEqual(1);
    expect(hpa.maxReplicas).toBeGreaterThan(hpa.minReplicas);
    const external = hpa.metrics.find((metric) => metric.type === 'External');
    const adapterRules = parse(
      find('ConfigMap', 'prometheus-adapter-arbiter-rules').data?.['config.yaml'] ?? '',
    ) as { externalRules: Array<{ name: { as: string }; metricsQuery: string }> };
    const rule = adapterRules.externalRules.find(
      (candidate) => candidate.name.as === external?.external.metric.name,
    );
    // The query reads a gauge the code registers, with the labels it sets.
    const query = /(\w+)\{[^}]*queue="(\w+)",state=~"([\w|]+)"\}/.exec(rule?.metricsQuery ?? '');
    const gauge = createMetrics({ defaultMetrics: false }).registry.getSingleMetric(
      query?.[1] ?? '',
    ) as { labelNames?: string[] } | undefined;
    expect(gauge?.labelNames).toEqual(['queue', 'state']);
    expect(query?.[2]).toBe(QUEUE_NAMES.scan);
    // Prioritized: every scan job carries its tenant's fairness priority, so BullMQ keeps the
    // waiting ones there rather than in its wait list.
    const states = (query?.[3] ?? '').split('|');
    expect(states.sort()).toEqual(['prioritized', 'waiting']);
    for (const state of states) expect(QUEUE_STATES).toContain(state);
  });
});

describe('docs/deployment.md', () => {
  it("documents the lifecycle rule and the sweepers' listing on the prefixes uploads are staged and sanitized copies kept under", () => {
    // docs/deployment.md writes ARBITER_UPLOAD_STORE as s3://bucket/prefix.
    const staged = `prefix/${STAGED_UPLOADS_PREFIX}`;
    const section =
      read('docs/deployment.md').split('## Uploads in an object store')[1]?.split('\n## ')[0] ?? '';
    const ruleJson = /```json\n([\s\S]*?)```/.exec(section)?.[1] ?? '{}';
    const rule = (JSON.parse(ruleJson) as { Rules?: { Filter?: { Prefix?: string } }[] }).Rules;
    expect(rule?.[0]?.Filter?.Prefix).toBe(staged);
    // Every other place naming a prefix (the ListBucket condition, the rules' text) names the
    // staged uploads' or the sanitized copies' prefix, as the code writes them.
    const sanitized = `prefix/${SANITIZED_COPIES_PREFIX}`;
    const named = [...section.matchAll(/`(prefix\/[^`]*)`/g)].map((match) => match[1]);
    expect(named).toContain(staged);
    expect(named).toContain(sanitized);
    for (const name of named) expect([staged, sanitized]).toContain(name);
    expect(section).toContain(`\`{prefix}${STAGED_UPLOADS_PREFIX}{tenant}/{scan id}\``);
    expect(section).toContain(`\`{prefix}${SANITIZED_COPIES_PREFIX}{tenant}/{scan id}\``);
  });
});
