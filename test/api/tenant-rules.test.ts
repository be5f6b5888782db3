import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, type TestHttpServer } from '../support/http-servers.js';
import { startTestRedis, type TestRedis } from '../support/redis-server.js';
import {
  pollScanResult,
  startTestService,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import { fileForm } from '../support/content.js';
import { zip } from '../support/archives.js';
import { waitFor } from '../support/wait.js';

/**
 * Tenants' own YARA rules end to end: the `/v1/rules` API over real HTTP (what is refused and
 * why, with each error's line), then the rules applied to the tenant's scans and to no one
 * else's, a change reaching the scans without a restart.
 */

interface RuleMessage {
  code: string;
  line?: number;
  column?: number;
  message: string;
  file?: string;
}

interface RuleFileBody {
  name: string;
  rules: string[];
  rule_count: number;
  warnings: RuleMessage[];
  sha256: string;
  size: number;
  created_at: string;
  modified_at: string;
  version: number;
  source?: string;
  error?: string;
  errors?: RuleMessage[];
}

interface ScanResult {
  findings: string[];
  engines?: Array<{ name: string; version: string }>;
}

/** Limits small enough to reach in a test; the slow-rule budget well under what a slow rule takes. */
const LIMITS = {
  ARBITER_TENANT_RULES_MAX_RULES: '6',
  ARBITER_TENANT_RULES_MAX_FILES: '4',
  ARBITER_TENANT_RULES_MAX_SOURCE: '4KB',
  ARBITER_TENANT_RULES_COMPILE_TIMEOUT_MS: '3000',
  ARBITER_TENANT_RULES_SCAN_TIMEOUT_MS: '400',
  ARBITER_TENANT_RULES_MAX_PIECE: '4KB',
};

const MARKER_RULE = `rule Marker_Rule {
  strings:
    $marker = "ARBITER-CUSTOM-RULE-MARKER-7731"
  condition:
    $marker
}
`;

const META_RULE = `rule with_meta {
  meta:
    finding = "content.acme.internal-document"
  strings:
    $a = "ACME-CONFIDENTIAL-2291"
  condition:
    $a
}

rule bad_meta {
  meta:
    finding = "Not A Finding!"
  strings:
    $a = "ACME-BADMETA-5150"
  condition:
    $a
}
`;

/** A loop of a hundred million steps: compiles (its range is constant), scans for about a second. */
const SLOW_RULE = `rule slow_everywhere {
  condition:
    for any i in (0..100000000) : (uint32(i) == 0x12345678)
}
`;

/** Slow only on content holding its marker: passes the probe, overruns on such a file. */
const SLOW_ON_MARKER_RULE = `rule slow_on_marker {
  strings:
    $m = "ARBITER-SLOW-MARKER-4242"
  condition:
    $m and for any i in (0..700000000) : (uint32(i) == 0x12345678)
}
`;

/** `count` rules, each matching its own needle: `pack_<i>` finds `needle-<i>-…`. */
const rulePack = (count: number): string =>
  Array.from(
    { length: count },
    (_, i) => `rule pack_${i} { strings: $a = "needle-${i}-a8f3" condition: $a }`,
  ).join('\n');

function rulesApi(service: TestService, tenant: TestTenant) {
  return async (
    path: string,
    init: RequestInit & { contentType?: string } = {},
  ): Promise<{ status: number; body: RuleFileBody & { rules?: unknown }; headers: Headers }> => {
    const { contentType, ...rest } = init;
    const response = await fetch(`${service.url}/v1${path}`, {
      ...rest,
      headers: {
        authorization: tenant.auth,
        ...(contentType ? { 'content-type': contentType } : {}),
      },
    });
    const text = await response.text();
    return {
      status: response.status,
      body: (text ? JSON.parse(text) : {}) as RuleFileBody,
      headers: response.headers,
    };
  };
}

const putRule = (api: ReturnType<typeof rulesApi>, name: string, source: string) =>
  api(`/rules/${name}`, { method: 'PUT', body: source, contentType: 'text/plain' });

async function scan(
  service: TestService,
  tenant: TestTenant,
  content: Buffer,
  name = 'sample.bin',
): Promise<ScanResult> {
  const response = await fetch(`${service.url}/v2.2/files`, {
    method: 'POST',
    headers: { authorization: tenant.auth },
    body: fileForm(content, {}, name),
  });
  expect(response.status).toBe(201);
  return (await response.json()) as ScanResult;
}

describe('tenant YARA rules', () => {
  let service: TestService;
  let alice: TestTenant;
  let bob: TestTenant;
  let aliceRules: ReturnType<typeof rulesApi>;
  let bobRules: ReturnType<typeof rulesApi>;

  beforeAll(async () => {
    service = await startTestService(LIMITS);
    alice = await service.createTenant('alice');
    bob = await service.createTenant('bob');
    aliceRules = rulesApi(service, alice);
    bobRules = rulesApi(service, bob);
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('adds a rule file (201) with its rules and warnings, then replaces it (200)', async () => {
    const added = await putRule(aliceRules, 'markers.yar', MARKER_RULE);
    expect(added.status).toBe(201);
    expect(added.headers.get('location')).toBe('/v1/rules/markers.yar');
    expect(added.body).toMatchObject({
      name: 'markers.yar',
      rules: ['Marker_Rule'],
      rule_count: 1,
      warnings: [],
      size: Buffer.byteLength(MARKER_RULE),
    });
    expect(added.body.sha256).toMatch(/^[0-9a-f]{64}$/);

    // An always-true condition is legal, and the compiler warns about it: the warning comes back.
    const withWarning = `${MARKER_RULE}\nrule always {\n  condition:\n    true\n}\n`;
    const replaced = await putRule(aliceRules, 'markers.yar', withWarning);
    expect(replaced.status).toBe(200);
    expect(replaced.body.rules).toEqual(['Marker_Rule', 'always']);
    expect(replaced.body.created_at).toBe(added.body.created_at);
    expect(replaced.body.version).toBeGreaterThan(added.body.version);
    expect(replaced.body.warnings).toEqual([
      expect.objectContaining({ code: 'invariant_expr', line: 10, column: 5 }),
    ]);
    expect(replaced.body.warnings[0]?.message).toBe('invariant boolean expression');

    // Back to the marker rule alone, for the scans below.
    expect((await putRule(aliceRules, 'markers.yar', MARKER_RULE)).status).toBe(200);
  });

  it('refuses a source that does not compile: 400 with each error’s line and message', async () => {
    const broken =
      'rule good { condition: filesize > 0 }\n\nrule bad {\n  condition:\n    nope\n}\n';
    const response = await putRule(aliceRules, 'broken.yar', broken);
    expect(response.status).toBe(400);
    expect(response.body.error).toMatch(/does not compile: line 5: unknown identifier `nope`/);
    expect(response.body.errors).toEqual([
      { code: 'E009', line: 5, column: 5, message: 'unknown identifier `nope`' },
    ]);
    expect((await aliceRules('/rules/broken.yar')).status).toBe(404);
  });

  it('refuses modules that reach outside the scanned bytes, and includes', async () => {
    const withConsole = 'import "console"\nrule c { condition: console.log("x") }\n';
    const consoleAnswer = await putRule(aliceRules, 'console.yar', withConsole);
    expect(consoleAnswer.status).toBe(400);
    expect(consoleAnswer.body.errors?.[0]).toMatchObject({
      code: 'E100',
      line: 1,
      message: 'module "console" is not allowed',
    });

    const withInclude = 'include "/etc/passwd"\nrule i { condition: filesize > 0 }\n';
    const includeAnswer = await putRule(aliceRules, 'include.yar', withInclude);
    expect(includeAnswer.status).toBe(400);
    expect(includeAnswer.body.errors?.[0]).toMatchObject({ code: 'E044', line: 1 });
    // The file named is never read: its content is nowhere in the answer.
    expect(JSON.stringify(includeAnswer.body)).not.toContain('root:');
  });

  it('refuses another content type (415), an oversized source (413), an empty body or a bad name (400)', async () => {
    const json = await aliceRules('/rules/json.yar', {
      method: 'PUT',
      body: JSON.stringify({ source: MARKER_RULE }),
      contentType: 'application/json',
    });
    expect(json.status).toBe(415);

    const huge = `rule big { strings: $a = "x" condition: $a }\n${'// padding\n'.repeat(500)}`;
    const oversized = await putRule(aliceRules, 'huge.yar', huge);
    expect(oversized.status).toBe(413);

    expect((await putRule(aliceRules, 'empty.yar', '   \n')).status).toBe(400);
    const noRule = await putRule(aliceRules, 'comments.yar', '// nothing here\n');
    expect(noRule.status).toBe(400);
    expect(noRule.body.error).toMatch(/declares no rule/);
    expect((await putRule(aliceRules, 'bad%20name', MARKER_RULE)).status).toBe(400);
  });

  it('refuses a rule identifier another of the tenant’s files declares (409), naming it and the line', async () => {
    const again = `rule other { condition: filesize == 1 }\nrule Marker_Rule { condition: filesize == 2 }\n`;
    const response = await putRule(aliceRules, 'again.yar', again);
    expect(response.status).toBe(409);
    expect(response.body.errors).toEqual([
      expect.objectContaining({ code: 'E012', line: 2, column: 6 }),
    ]);
    expect(response.body.errors?.[0]?.message).toContain('markers.yar');
  });

  it('refuses more rules than the per-tenant limit (422), counting every file', async () => {
    const six = Array.from(
      { length: 6 },
      (_, i) => `rule many_${i} { condition: filesize == ${i + 1000} }`,
    ).join('\n');
    const response = await putRule(aliceRules, 'many.yar', six);
    expect(response.status).toBe(422);
    expect(response.body.error).toMatch(/7 rules, more than the 6 allowed/);
    expect((await aliceRules('/rules/many.yar')).status).toBe(404);
  });

  it('refuses more files than the per-tenant limit (422), while the existing ones can be replaced', async () => {
    const dave = rulesApi(service, await service.createTenant('dave'));
    for (let i = 0; i < 4; i += 1)
      expect(
        (await putRule(dave, `f${i}.yar`, `rule f${i} { condition: filesize == ${i} }`)).status,
      ).toBe(201);
    const fifth = await putRule(dave, 'f4.yar', 'rule f4 { condition: filesize == 4 }');
    expect(fifth.status).toBe(422);
    expect(fifth.body.error).toMatch(/already has 4 rule files, the most allowed \(4\)/);
    expect((await putRule(dave, 'f0.yar', 'rule f0 { condition: filesize == 10 }')).status).toBe(
      200,
    );
  });

  it('refuses a rule set too slow over the probe (422) before it runs on any scan', async () => {
    const response = await putRule(aliceRules, 'slow.yar', SLOW_RULE);
    expect(response.status).toBe(422);
    expect(response.body.error).toMatch(/to scan 1 MiB of sample content, more than the 400 ms/);
    expect((await aliceRules('/rules/slow.yar')).status).toBe(404);
  });

  it('lists the files without their sources and gets one with its source', async () => {
    expect((await putRule(aliceRules, 'meta.yar', META_RULE)).status).toBe(201);
    const list = await aliceRules('/rules');
    expect(list.status).toBe(200);
    const files = list.body.rules as unknown as RuleFileBody[];
    expect(files.map((file) => file.name)).toEqual(['markers.yar', 'meta.yar']);
    expect(files[1]).toMatchObject({ rules: ['with_meta', 'bad_meta'], rule_count: 2 });
    expect(files.every((file) => file.source === undefined)).toBe(true);

    const one = await aliceRules('/rules/meta.yar');
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ name: 'meta.yar', source: META_RULE });
    expect((await aliceRules('/rules/none.yar')).status).toBe(404);
    expect((await aliceRules('/rules/none.yar', { method: 'DELETE' })).status).toBe(404);
  });

  it('finds the tenant’s rules in its scans: content.custom.<rule>, or the rule’s meta finding', async () => {
    const marked = Buffer.from('header ARBITER-CUSTOM-RULE-MARKER-7731 trailer');
    const direct = await scan(service, alice, marked);
    expect(direct.findings).toEqual(['content.custom.marker_rule']);
    const recorded = direct.engines?.find((engine) => engine.name === 'tenant-rules');
    expect(recorded?.version).toMatch(/^tenant-rules v\d+ \(3 rules\)$/);

    // Inside an archive too, binaries included.
    const archive = await zip([{ name: 'docs/report.bin', data: marked }]);
    expect((await scan(service, alice, archive, 'bundle.zip')).findings).toEqual([
      'content.custom.marker_rule',
    ]);

    const meta = await scan(service, alice, Buffer.from('ACME-CONFIDENTIAL-2291'));
    expect(meta.findings).toEqual(['content.acme.internal-document']);
    // A meta finding that is not a finding name is ignored: the default name is used.
    const badMeta = await scan(service, alice, Buffer.from('ACME-BADMETA-5150'));
    expect(badMeta.findings).toEqual(['content.custom.bad_meta']);

    expect((await scan(service, alice, Buffer.from('nothing to see'))).findings).toEqual([]);
  });

  it('keeps each tenant’s rules its own: another tenant neither sees, deletes nor matches them', async () => {
    expect(((await bobRules('/rules')).body.rules as unknown as unknown[]).length).toBe(0);
    expect((await bobRules('/rules/markers.yar')).status).toBe(404);
    expect((await bobRules('/rules/markers.yar', { method: 'DELETE' })).status).toBe(404);
    // Bob may use the same names and identifiers: they are his own.
    expect(
      (
        await putRule(
          bobRules,
          'markers.yar',
          'rule Marker_Rule { strings: $b = "BOB-ONLY-0001" condition: $b }',
        )
      ).status,
    ).toBe(201);

    const result = await scan(service, bob, Buffer.from('ARBITER-CUSTOM-RULE-MARKER-7731'));
    expect(result.findings).toEqual([]);
    expect((await scan(service, alice, Buffer.from('BOB-ONLY-0001'))).findings).toEqual([]);
    expect((await aliceRules('/rules/markers.yar')).status).toBe(200);
    expect((await bobRules('/rules/markers.yar', { method: 'DELETE' })).status).toBe(204);
  });

  it('runs nothing for a tenant without rules: no tenant-rules engine in its results', async () => {
    const carol = await service.createTenant('carol');
    const result = await scan(service, carol, Buffer.from('ARBITER-CUSTOM-RULE-MARKER-7731'));
    expect(result.findings).toEqual([]);
    expect(result.engines?.map((engine) => engine.name)).not.toContain('tenant-rules');
  });

  it('reports a piece the rules overrun at scan time as content.unscannable.custom.limits-exceeded', async () => {
    expect((await putRule(aliceRules, 'slow-marker.yar', SLOW_ON_MARKER_RULE)).status).toBe(201);
    const result = await scan(service, alice, Buffer.from('ARBITER-SLOW-MARKER-4242'));
    expect(result.findings).toEqual(['content.unscannable.custom.limits-exceeded']);
    expect((await aliceRules('/rules/slow-marker.yar', { method: 'DELETE' })).status).toBe(204);
  }, 60_000);

  it('reports a piece over the size limit of the rules as content.unscannable.custom.limits-exceeded', async () => {
    const large = Buffer.alloc(5000, 0x41);
    large.write('ARBITER-CUSTOM-RULE-MARKER-7731', 10);
    const result = await scan(service, alice, large);
    expect(result.findings).toEqual(['content.unscannable.custom.limits-exceeded']);
    // Inside an archive, the small member is still scanned beside the large one.
    const archive = await zip([
      { name: 'large.bin', data: large },
      { name: 'small.txt', data: Buffer.from('ARBITER-CUSTOM-RULE-MARKER-7731') },
    ]);
    expect((await scan(service, alice, archive, 'mixed.zip')).findings).toEqual([
      'content.custom.marker_rule',
      'content.unscannable.custom.limits-exceeded',
    ]);
  });

  it('refuses to delete a file another file uses (409), and stops finding a deleted file’s rules', async () => {
    const user = 'rule uses_marker { condition: Marker_Rule }\n';
    expect((await putRule(aliceRules, 'user.yar', user)).status).toBe(201);
    const refused = await aliceRules('/rules/markers.yar', { method: 'DELETE' });
    expect(refused.status).toBe(409);
    expect(refused.body.errors?.[0]).toMatchObject({ file: 'user.yar', line: 1, code: 'E009' });
    expect((await aliceRules('/rules/user.yar', { method: 'DELETE' })).status).toBe(204);

    const marked = Buffer.from('ARBITER-CUSTOM-RULE-MARKER-7731');
    expect((await scan(service, alice, marked)).findings).toEqual(['content.custom.marker_rule']);
    expect((await aliceRules('/rules/markers.yar', { method: 'DELETE' })).status).toBe(204);
    await waitFor(async () => (await scan(service, alice, marked)).findings.length === 0, {
      timeoutMs: 5_000,
      what: 'scans to stop finding the deleted rule',
    });
  });
});

describe('tenant YARA rules across separate api and worker processes', () => {
  let redis: TestRedis;
  let api: TestService;
  let worker: TestService;
  let content: TestHttpServer;

  beforeAll(async () => {
    redis = await startTestRedis();
    api = await startTestService({}, { redis, roles: { api: true, workers: false } });
    worker = await startTestService({}, { redis, roles: { api: false, workers: true } });
    content = await startHttpServer({
      '/marked.bin': Buffer.from('x ARBITER-WORKER-MARKER-99 y'),
      '/pack.bin': Buffer.from('… needle-999-a8f3 …'),
    });
  });
  afterAll(async () => {
    await content?.close();
    await worker?.stop();
    await api?.stop();
    await redis?.stop();
  });

  /** A URL scan (`/files/fetch`): queued by the api, run by the worker. */
  async function fetchScan(tenant: TestTenant, path = '/marked.bin'): Promise<ScanResult> {
    const response = await fetch(`${api.url}/v2.2/files/fetch`, {
      method: 'POST',
      headers: { authorization: tenant.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ location: `${content.url}${path}` }),
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    return pollScanResult<ScanResult>(api, tenant, id);
  }

  it('takes a 1,000-rule pack with the default limits, and a worker finds its last rule', async () => {
    const tenant = await api.createTenant('pack');
    const rules = rulesApi(api, tenant);
    const added = await putRule(rules, 'pack.yar', rulePack(1000));
    expect(added.status).toBe(201);
    expect(added.body.rule_count).toBe(1000);
    const result = await fetchScan(tenant, '/pack.bin');
    expect(result.findings).toEqual(['content.custom.pack_999']);
  });

  it('a rule put through the api reaches the running worker within seconds, and so does its deletion', async () => {
    const tenant = await api.createTenant('split');
    const rules = rulesApi(api, tenant);
    // The worker has scanned for this tenant before: it has read "no rules" and cached it.
    expect((await fetchScan(tenant)).findings).toEqual([]);
    const rule = 'rule worker_marker { strings: $a = "ARBITER-WORKER-MARKER-99" condition: $a }';
    expect((await putRule(rules, 'worker.yar', rule)).status).toBe(201);
    await waitFor(
      async () => (await fetchScan(tenant)).findings.includes('content.custom.worker_marker'),
      { timeoutMs: 10_000, what: 'the worker to apply the new rule' },
    );
    expect((await rules('/rules/worker.yar', { method: 'DELETE' })).status).toBe(204);
    await waitFor(async () => (await fetchScan(tenant)).findings.length === 0, {
      timeoutMs: 10_000,
      what: 'the worker to drop the deleted rule',
    });
  });
});

describe('tenant YARA rules past the compile time limit', () => {
  let service: TestService;

  beforeAll(async () => {
    service = await startTestService(
      {
        ARBITER_TENANT_RULES_COMPILE_TIMEOUT_MS: '25',
        ARBITER_TENANT_RULES_MAX_RULES: '5000',
      },
      { roles: { api: true, workers: false } },
    );
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('refuses a rule set that takes longer to compile than the limit (422)', async () => {
    const tenant = await service.createTenant('compile');
    const rules = rulesApi(service, tenant);
    const response = await putRule(rules, 'big.yar', rulePack(3000));
    expect(response.status).toBe(422);
    expect(response.body.error).toMatch(/to compile, more than the 25 ms allowed/);
    expect(((await rules('/rules')).body.rules as unknown as unknown[]).length).toBe(0);
  });
});
