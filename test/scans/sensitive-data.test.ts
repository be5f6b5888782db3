import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, type Redis } from '../../core/redis.js';
import { SENSITIVE_TYPES, type SensitiveType } from '../../core/sensitive-types.js';
import { fileForm } from '../support/content.js';
import {
  startCallbackReceiver,
  startHttpServer,
  type CallbackReceiver,
  type TestHttpServer,
} from '../support/http-servers.js';
import {
  bundleOfDocuments,
  everyFormat,
  KNOWN_COUNTS,
  knownCounts,
  lookAlikeText,
  rawValues,
  textDocument,
} from '../support/sensitive-documents.js';
import {
  ATTRIBUTE_HTML_COUNTS,
  attributeHtml,
  FILLED_FORM_COUNTS,
  filledFormPdf,
  HEADER_ONLY_COUNTS,
  headerOnlyMessage,
} from '../support/unseen-text-documents.js';
import {
  basic,
  pollScanResult,
  scaniiRequest,
  scanUpload,
  startTestService,
  traceMessages,
  type TestService,
  type TestTenant,
} from '../support/service.js';
import { dumpRedis } from '../support/redis-dump.js';
import { waitFor } from '../support/wait.js';

interface Classification {
  result: 'sensitive' | 'none' | 'error';
  matches: Partial<Record<SensitiveType, number>>;
  samples: Partial<Record<SensitiveType, string[]>>;
}

interface Result {
  id: string;
  findings: string[];
  engines: Array<{ name: string; version: string }>;
  classification?: Classification;
  error?: string;
}

/** The redacted samples of the documents' values (support/sensitive-documents.ts). */
const KNOWN_SAMPLES: Partial<Record<SensitiveType, string[]>> = {
  credit_card: ['…1111', '…4444', '…8431'],
  iban: ['DE…3000', 'GB…5432', 'NL…4300'],
  us_ssn: ['***-**-6789', '***-**-1120', '***-**-9999'],
  email: ['a***@example.com', 'a***@example.org', 'g***@mail.example.org'],
  phone: ['…43', '…71', '…58'],
  aws_access_key: ['AKIA…'],
  aws_secret_key: ['wJal…'],
  github_token: ['ghp_…'],
  stripe_key: ['sk_l…'],
  jwt: ['eyJh…'],
};

const findingsOf = (counts: Partial<Record<SensitiveType, number>>) =>
  Object.keys(counts)
    .map((type) => `content.sensitive.${type}`)
    .sort();

/** Samples in a stable order: they are listed in the order the values were met. */
const sortedSamples = (samples: Partial<Record<SensitiveType, string[]>> | undefined) =>
  Object.fromEntries(Object.entries(samples ?? {}).map(([type, list]) => [type, [...list].sort()]));

/**
 * The `sensitive_data` category through the real service (real Redis, the built-in engine and
 * every analyzer): exact counts and redacted samples of documents of every format the category
 * reads, built here, through `POST /v2.2/files`; the tenant's thresholds and types; a key that
 * turns the category on for itself; look-alikes that count as nothing; the result carried by
 * callbacks; and, with the log at its most verbose, no value found whole in Redis, the log or a
 * callback.
 */
describe('sensitive-data classification', () => {
  const log: string[] = [];
  let service: TestService;
  let receiver: CallbackReceiver;
  let content: TestHttpServer;
  let redis: Redis;
  let tenant: TestTenant;

  const putSettings = (tenantId: string, body: unknown) =>
    service.admin(`/tenants/${tenantId}/settings`, { method: 'PUT', body: JSON.stringify(body) });
  const scanSync = (who: { auth: string }, data: Buffer, name: string) =>
    scanUpload<Result>(service, who, data, name);

  beforeAll(async () => {
    service = await startTestService(
      { LOG_LEVEL: 'trace' },
      { logDestination: { write: (line: string) => void log.push(line) } },
    );
    redis = createRedis(service.redis.url, 'command', () => undefined);
    receiver = await startCallbackReceiver();
    content = await startHttpServer({ '/customers.txt': textDocument() });
    tenant = await service.createTenant('sensitive');
    const settings = await putSettings(tenant.id, {
      detection_categories: ['malware', 'sensitive_data'],
    });
    expect(settings.status).toBe(200);
  });
  afterAll(async () => {
    redis?.disconnect();
    await receiver?.close();
    await content?.close();
    await service?.stop();
  });

  it('counts every value of each document format exactly, with redacted samples', async () => {
    for (const [name, data] of Object.entries(await everyFormat())) {
      const result = await scanSync(tenant, data, name);
      expect(result.classification?.result, name).toBe('sensitive');
      expect(result.classification?.matches, name).toEqual(knownCounts(name));
      expect(sortedSamples(result.classification?.samples), name).toEqual(
        sortedSamples(KNOWN_SAMPLES),
      );
      expect(result.findings, name).toEqual(findingsOf(KNOWN_COUNTS));
      expect(result.engines.map((engine) => engine.name).sort(), name).toEqual([
        'builtin',
        'sensitive-data',
      ]);
      expect(result.engines.find((engine) => engine.name === 'sensitive-data')?.version).toBe(
        'arbiter-sensitive/1 (12 types, min_matches 1)',
      );
    }
  });

  it('sums the counts over every document of a zip, at every depth, and traces where they are', async () => {
    const { bundle, documents, counts } = await bundleOfDocuments();
    const result = await scanSync(tenant, bundle, 'bundle.zip');
    expect(result.classification?.matches).toEqual(counts);
    expect(result.findings).toEqual(findingsOf(KNOWN_COUNTS));
    expect(await traceMessages(service, tenant, result.id)).toContain(
      `sensitive data: sensitive (${Object.entries(counts)
        .map(([type, count]) => `${type}: ${count}`)
        .join(', ')})`,
    );

    // Where the cards are, each piece of text named (one type, so the trace lists them all):
    // the PDF's page is its content stream, decoded; the message's body is its first part.
    const cardsOnly = await service.createTenant('cards-only');
    await putSettings(cardsOnly.id, {
      detection_categories: ['sensitive_data'],
      classification: { types: ['credit_card'] },
    });
    const cards = await scanSync(cardsOnly, bundle, 'bundle.zip');
    expect(cards.classification?.matches).toEqual({ credit_card: 3 * documents });
    const trace = await traceMessages(service, cardsOnly, cards.id);
    expect(trace.find((line) => line.startsWith('scanned by sensitive-data'))).toBe(
      'scanned by sensitive-data (arbiter-sensitive/1 (1 type, min_matches 1)): ' +
        [
          'bundle.zip/exports/customers.csv',
          'bundle.zip/reports/customers.docx/word/document.xml',
          'bundle.zip/reports/customers.pdf/stream-6-0.bin',
          'bundle.zip/archive/older.zip/customers.odt/content.xml',
          'bundle.zip/archive/older.zip/mail/customers.eml/customers.csv',
          'bundle.zip/archive/older.zip/mail/customers.eml/part-1.txt',
        ]
          .map((place) => `content.sensitive.credit_card in ${place}`)
          .join(', '),
    );
  });

  it('counts values a reader sees outside body and page text: header fields, form fields, attributes', async () => {
    const documents: Array<[string, Buffer, Record<string, number>]> = [
      ['header-only.eml', headerOnlyMessage(), HEADER_ONLY_COUNTS],
      ['tax-form.pdf', await filledFormPdf(false), FILLED_FORM_COUNTS],
      ['account.html', attributeHtml(), ATTRIBUTE_HTML_COUNTS],
    ];
    for (const [name, data, counts] of documents) {
      const result = await scanSync(tenant, data, name);
      expect(result.classification?.matches, name).toEqual(counts);
      expect(result.findings, name).toEqual(findingsOf(counts));
    }
  });

  it('reports a type only from the tenant’s min_matches, and only the types it asks for', async () => {
    const strict = await service.createTenant('strict');
    const data = textDocument();
    const set = async (classification: unknown) => {
      const response = await putSettings(strict.id, {
        detection_categories: ['sensitive_data'],
        classification,
      });
      expect(response.status).toBe(200);
      return ((await response.json()) as { classification: unknown }).classification;
    };

    expect(
      await set({ types: ['email', 'aws_access_key', 'credit_card'], min_matches: 3 }),
    ).toEqual({ types: ['credit_card', 'email', 'aws_access_key'], min_matches: 3 });
    let result = await scanSync(strict, data, 'customers.txt');
    // Three cards and three addresses reach 3; one access key does not, and other types are not looked for.
    expect(result.classification).toEqual({
      result: 'sensitive',
      matches: { credit_card: 3, email: 3 },
      samples: { credit_card: ['…1111', '…4444', '…8431'], email: KNOWN_SAMPLES.email },
    });
    expect(result.findings).toEqual(['content.sensitive.credit_card', 'content.sensitive.email']);
    // Malware is off for this tenant: the analyzer alone looked.
    expect(result.engines.map((engine) => engine.name)).toEqual(['sensitive-data']);

    await set({ types: ['email', 'credit_card'], min_matches: 4 });
    result = await scanSync(strict, data, 'customers.txt');
    expect(result.classification).toEqual({ result: 'none', matches: {}, samples: {} });
    expect(result.findings).toEqual([]);

    // A field left out takes its default: every type, from one value.
    expect(await set({ min_matches: 1 })).toEqual({ types: SENSITIVE_TYPES, min_matches: 1 });
    result = await scanSync(strict, data, 'customers.txt');
    expect(result.classification?.matches).toEqual(KNOWN_COUNTS);
  });

  it('refuses malformed classification settings with a 400 that names the field', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ types: [] }, /classification.types must name at least one type/],
      [{ types: ['ssn'] }, /classification.types: unknown type "ssn"; known types are credit_card/],
      [{ types: 'email' }, /classification.types must be a list of type names/],
      [{ min_matches: 0 }, /classification.min_matches must be a whole number from 1 to 10000/],
      [{ min_matches: 10_001 }, /classification.min_matches must be a whole number from 1/],
      [{ min_matches: 1.5 }, /classification.min_matches must be a whole number/],
      [{ min_matches: '2' }, /classification.min_matches must be a whole number/],
      [{ minMatches: 2 }, /Unknown field "minMatches": accepted fields of classification/],
      ['all', /classification must be an object/],
      [null, /classification must be an object/],
    ];
    const other = await service.createTenant('bad-classification');
    for (const [classification, message] of cases) {
      const response = await putSettings(other.id, { classification });
      expect(response.status, JSON.stringify(classification)).toBe(400);
      expect(((await response.json()) as { error: string }).error).toMatch(message);
    }
    const unchanged = (await (await service.admin(`/tenants/${other.id}/settings`)).json()) as {
      classification: unknown;
    };
    expect(unchanged.classification).toEqual({ types: SENSITIVE_TYPES, min_matches: 1 });
  });

  it('runs for a key that turns the category on while its tenant does not, and only for it', async () => {
    const plain = await service.createTenant('key-only');
    const added = (await (
      await service.admin(`/tenants/${plain.id}/keys`, { method: 'POST' })
    ).json()) as { key: string; secret: string };
    const classifyingKey = { auth: basic(added.key, added.secret) };
    const response = await service.admin(`/keys/${added.key}/settings`, {
      method: 'PUT',
      body: JSON.stringify({ detection_categories: ['malware', 'sensitive_data'] }),
    });
    expect(response.status).toBe(200);

    const byKey = await scanSync(classifyingKey, textDocument(), 'customers.txt');
    expect(byKey.classification?.matches).toEqual(KNOWN_COUNTS);
    const byTenant = await scanSync(plain, textDocument(), 'customers.txt');
    expect(byTenant).not.toHaveProperty('classification');
    expect(byTenant.findings).toEqual([]);

    const account = (await (await scaniiRequest(service, plain, '/account.json')).json()) as {
      keys: Record<string, { detection_categories_enabled: string[] }>;
    };
    expect(account.keys[added.key]?.detection_categories_enabled).toEqual([
      'malware',
      'sensitive_data',
    ]);
    expect(account.keys[plain.key]?.detection_categories_enabled).toEqual(['malware']);
  });

  it('counts nothing in look-alikes: orders failing Luhn, nine-digit ids, base64 blobs', async () => {
    const result = await scanSync(tenant, Buffer.from(lookAlikeText()), 'orders.txt');
    expect(result.classification).toEqual({ result: 'none', matches: {}, samples: {} });
    expect(result.findings).toEqual([]);
    expect(await traceMessages(service, tenant, result.id)).toContain('sensitive data: none');
  });

  it('carries the classification in callbacks, on async uploads and fetches alike', async () => {
    const accepted = await scaniiRequest(service, tenant, '/files/async', {
      method: 'POST',
      body: fileForm(textDocument(), { callback: `${receiver.url}/callback` }, 'customers.txt'),
    });
    expect(accepted.status).toBe(202);
    const { id: uploadId } = (await accepted.json()) as { id: string };
    const fetched = await scaniiRequest(service, tenant, '/files/fetch', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        location: `${content.url}/customers.txt`,
        callback: `${receiver.url}/callback`,
      }),
    });
    expect(fetched.status).toBe(202);
    const { id: fetchId } = (await fetched.json()) as { id: string };
    for (const id of [uploadId, fetchId]) {
      const delivery = await waitFor(
        () => receiver.deliveries.find((candidate) => candidate.json.id === id),
        { what: `the callback of ${id}` },
      );
      const stored = await pollScanResult<Result>(service, tenant, id);
      expect(stored.classification?.matches).toEqual(KNOWN_COUNTS);
      expect(delivery.json.classification).toEqual(stored.classification);
      expect(delivery.json.findings).toEqual(findingsOf(KNOWN_COUNTS));
    }
  });

  it('never lets a value whole into Redis, the log, a trace or a callback', async () => {
    // Whatever the earlier tests left, and one more of each kind, finished.
    const { bundle } = await bundleOfDocuments();
    await scanSync(tenant, bundle, 'bundle.zip');
    const accepted = await scaniiRequest(service, tenant, '/files/async', {
      method: 'POST',
      body: fileForm(bundle, { callback: `${receiver.url}/callback` }, 'bundle.zip'),
    });
    const { id } = (await accepted.json()) as { id: string };
    await waitFor(() => receiver.deliveries.some((delivery) => delivery.json.id === id), {
      what: 'the last callback',
    });
    // A staged upload (an upload store that keeps small ones in Redis) goes once the scan ends.
    await waitFor(
      async () => (await redis.exists(service.keys.stagedUpload(tenant.id, id))) === 0,
      {
        what: 'the staged upload to go',
      },
    );
    const dump = await dumpRedis(redis);
    const seen = {
      redis: dump,
      log: log.join(''),
      callbacks: receiver.deliveries.map((delivery) => delivery.body).join('\n'),
    };
    // Sanity: what is looked through holds the classification (so the search reads the right thing).
    expect(seen.redis).toContain('content.sensitive.credit_card');
    expect(seen.log).toContain('scan finished');
    expect(seen.callbacks).toContain('content.sensitive.credit_card');
    for (const value of rawValues()) {
      for (const [where, text] of Object.entries(seen)) {
        expect(text.includes(value), `${where} holds ${value.slice(0, 4)}…`).toBe(false);
        // JSON escapes `/` nowhere, but a trace or log could have it escaped: look for that too.
        expect(text.includes(JSON.stringify(value).slice(1, -1)), where).toBe(false);
      }
    }
  });
});

describe('sensitive-data classification when the scan fails', () => {
  let service: TestService;
  afterAll(async () => {
    await service?.stop();
  });

  it('says `error`, never `none`, when the engines could not scan the content', async () => {
    // clamd is expected but nothing listens there: the malware scan fails for good on a sync scan.
    service = await startTestService({
      ARBITER_ENGINES: 'clamd',
      CLAMD_ADDRESS: 'tcp://127.0.0.1:1',
    });
    const tenant = await service.createTenant('failing');
    await service.admin(`/tenants/${tenant.id}/settings`, {
      method: 'PUT',
      body: JSON.stringify({ detection_categories: ['malware', 'sensitive_data'] }),
    });
    const response = await scaniiRequest(service, tenant, '/files', {
      method: 'POST',
      body: fileForm(textDocument(), {}, 'customers.txt'),
    });
    const { id } = (await response.json()) as { id: string };
    const stored = await pollScanResult<Result>(service, tenant, id);
    expect(stored.error).toMatch(/could not be scanned/);
    expect(stored.classification).toEqual({ result: 'error', matches: {}, samples: {} });
  });
});
