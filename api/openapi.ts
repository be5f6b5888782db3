import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/**
 * The OpenAPI 3.1 document, generated from the zod schemas the routes validate with (and the
 * answer schemas of api/response-schemas.ts): one source of truth. Each route is one entry of
 * `OPERATIONS` (api/operations.ts); test/api/openapi.test.ts fails when a route of the express
 * app has no entry or an entry has no route.
 *
 * OpenAPI 3.1 schemas are JSON Schema 2020-12, which is what `z.toJSONSchema` writes: request
 * bodies are converted as their input type (what a client sends: defaults optional, coerced
 * fields as sent), answers as their output type.
 */

/** Arbiter's version (package.json), the document's `info.version`. */
export const API_VERSION = packageVersion();

function packageVersion(): string {
  // api/ in the sources, dist/api/ when built: the package's own package.json is a few levels up.
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let level = 0; level < 4; level += 1) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'arbiter' && pkg.version) return pkg.version;
    } catch {
      // not here: one level up
    }
    dir = path.dirname(dir);
  }
  return '0.0.0';
}

export type HttpMethod = 'get' | 'post' | 'put' | 'delete';

/**
 * Where each router is mounted (api/app.ts mounts from this table too). The Scanii router
 * serves the current protocol and its predecessor; every Scanii operation exists under both.
 */
export const MOUNTS = {
  root: [''],
  scanii: ['/v2.2', '/v2.1'],
  verdict: ['/api'],
  tenant: ['/v1'],
  admin: ['/admin'],
  console: ['/console/api'],
} as const;

export type Mount = keyof typeof MOUNTS;

/**
 * - `none`: no credentials.
 * - `basic`: a tenant's API key and secret (or an auth-token id with an empty password).
 * - `apiKey`: `basic` with an API key only (an auth token gets 403).
 * - `bearerOrBasic`: a verdict-API access token as Bearer, or `basic`.
 * - `admin`: `Authorization: Bearer $ARBITER_ADMIN_TOKEN`.
 * - `metrics`: `Authorization: Bearer $ARBITER_METRICS_TOKEN` when that is set, else none.
 */
export type Auth = 'none' | 'basic' | 'apiKey' | 'bearerOrBasic' | 'admin' | 'metrics';

export interface ResponseDoc {
  description: string;
  /** JSON answers: the schema of the body (`application/json`). */
  schema?: z.ZodType;
  /** A body that is not JSON: its media type and, optionally, a JSON Schema of it. */
  content?: { type: string; schema?: Record<string, unknown> };
  /** Response headers worth knowing, name → description. */
  headers?: Record<string, string>;
}

export interface FilePart {
  name: string;
  description: string;
  /** Several files may be sent under this field. */
  multiple?: boolean;
}

export interface OperationDoc {
  mount: Mount;
  method: HttpMethod;
  /** Relative to the mount, OpenAPI style: `/files/{id}`. */
  path: string;
  summary: string;
  description?: string;
  auth: Auth;
  /** Path parameter descriptions, by name (every `{name}` of the path needs one). */
  params?: Record<string, string>;
  /** The schema the route validates its query string with (an object of optional fields). */
  query?: z.ZodObject;
  request?: {
    /** The schema the route validates the body with. */
    body: z.ZodType;
    /** Media types the route accepts (the first is shown first). */
    contentTypes: string[];
    required?: boolean;
    description?: string;
    /** Multipart file parts, beside the body's fields. */
    files?: FilePart[];
  };
  responses: Record<number, ResponseDoc>;
}

/** `/files/{id}` → `/files/:id` (the express form, also used as the metrics route label). */
export const toExpressPath = (path: string): string => path.replace(/\{([^}]+)\}/g, ':$1');

/** Every method and full path an operation is served at (several for the Scanii alias). */
export function expandOperation(op: OperationDoc): Array<{ method: HttpMethod; path: string }> {
  return MOUNTS[op.mount].map((prefix) => ({ method: op.method, path: `${prefix}${op.path}` }));
}

const TAGS: Record<Mount, { name: string; description: string }> = {
  scanii: {
    name: 'Scanii v2.2',
    description:
      'The Scanii v2.2 protocol: HTTP Basic auth with an API key and secret (or an auth-token id and an empty password). Every operation is also served under `/v2.1`.',
  },
  verdict: {
    name: 'Verdict API',
    description:
      'For clients of the "Antivirus for Amazon S3" API: a Bearer token from `POST /api/Token`, then a scan that answers with the verdict.',
  },
  tenant: {
    name: 'Tenant API',
    description:
      "Arbiter's own tenant API (same Basic credentials): webhooks, redelivery, the scan list, buckets, S3 events, retro jobs, rescans, YARA rules.",
  },
  admin: {
    name: 'Admin',
    description: 'The operator API: `Authorization: Bearer $ARBITER_ADMIN_TOKEN`.',
  },
  console: {
    name: 'Console',
    description:
      'Sessions of the browser console at `/console`: its `arbiter_console` cookie is accepted by every other operation in place of credentials (without an `Authorization` header), and every change made with it needs the session’s `X-CSRF-Token`. See docs/console.md.',
  },
  root: { name: 'Operations', description: 'Health, readiness, metrics and this documentation.' },
};

const ALIAS_TAG = {
  name: 'Scanii v2.1 (alias)',
  description: 'The same operations as Scanii v2.2, for clients of the previous protocol version.',
};

const SECURITY: Record<Auth, Array<Record<string, string[]>>> = {
  none: [],
  basic: [{ basicAuth: [] }],
  apiKey: [{ basicAuth: [] }],
  bearerOrBasic: [{ accessToken: [] }, { basicAuth: [] }],
  admin: [{ adminToken: [] }],
  metrics: [{}, { metricsToken: [] }],
};

type JsonSchema = Record<string, unknown>;

/** Collects named schemas (zod `.meta({ id })`) as components while converting. */
class SchemaConverter {
  readonly components: Record<string, JsonSchema> = {};

  convert(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
    const json = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
    delete json.$schema;
    const defs = (json.$defs ?? {}) as Record<string, JsonSchema>;
    delete json.$defs;
    for (const [id, def] of Object.entries(defs))
      this.components[id] ??= rewriteRefs(def) as JsonSchema;
    return rewriteRefs(json) as JsonSchema;
  }
}

function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [
      key,
      key === '$ref' && typeof inner === 'string'
        ? inner.replace(/^#\/\$defs\//, '#/components/schemas/')
        : rewriteRefs(inner),
    ]),
  );
}

const operationId = (method: HttpMethod, path: string): string =>
  `${method}${path
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join('')}`;

function requestBody(op: OperationDoc, converter: SchemaConverter): JsonSchema | undefined {
  if (!op.request) return undefined;
  const { body, contentTypes, files = [] } = op.request;
  const fields = converter.convert(body, 'input');
  const content: Record<string, unknown> = {};
  for (const type of contentTypes) {
    if (type === 'multipart/form-data' && files.length > 0) {
      const properties = { ...((fields.properties ?? {}) as JsonSchema) };
      for (const file of files) {
        const part = {
          type: 'string',
          format: 'binary',
          contentMediaType: 'application/octet-stream',
        };
        properties[file.name] = file.multiple
          ? { type: 'array', items: part, description: file.description }
          : { ...part, description: file.description };
      }
      content[type] = { schema: { ...fields, properties } };
    } else {
      content[type] = { schema: fields };
    }
  }
  const doc: JsonSchema = { required: op.request.required ?? true, content };
  if (op.request.description) doc.description = op.request.description;
  return doc;
}

function responses(op: OperationDoc, converter: SchemaConverter): JsonSchema {
  const out: JsonSchema = {};
  for (const [status, response] of Object.entries(op.responses)) {
    const doc: JsonSchema = { description: response.description };
    if (response.schema) {
      doc.content = {
        'application/json': { schema: converter.convert(response.schema, 'output') },
      };
    } else if (response.content) {
      doc.content = {
        [response.content.type]: response.content.schema ? { schema: response.content.schema } : {},
      };
    }
    if (response.headers) {
      doc.headers = Object.fromEntries(
        Object.entries(response.headers).map(([name, description]) => [
          name,
          { description, schema: { type: 'string' } },
        ]),
      );
    }
    out[status] = doc;
  }
  return out;
}

function parameters(op: OperationDoc, converter: SchemaConverter): JsonSchema[] {
  const names = [...op.path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]!);
  const inPath = names.map((name) => ({
    name,
    in: 'path',
    required: true,
    description: op.params?.[name] ?? '',
    schema: { type: 'string' },
  }));
  if (!op.query) return inPath;
  const query = converter.convert(op.query, 'input');
  const required = new Set((query.required ?? []) as string[]);
  const fields = Object.entries((query.properties ?? {}) as Record<string, JsonSchema>);
  return [
    ...inPath,
    ...fields.map(([name, schema]) => ({
      name,
      in: 'query',
      required: required.has(name),
      schema,
    })),
  ];
}

export interface DocumentOptions {
  version: string;
  /** Public base URL, when configured (else the document's own origin). */
  serverUrl?: string | undefined;
}

/** The OpenAPI 3.1 document for these operations. */
export function buildOpenApiDocument(
  operations: OperationDoc[],
  options: DocumentOptions,
): JsonSchema {
  const converter = new SchemaConverter();
  const paths: Record<string, Record<string, unknown>> = {};
  const usedTags = new Set<string>();
  for (const op of operations) {
    const common = {
      summary: op.summary,
      ...(op.description ? { description: op.description } : {}),
      security: SECURITY[op.auth],
      ...(parameters(op, converter).length > 0 ? { parameters: parameters(op, converter) } : {}),
      ...(op.request ? { requestBody: requestBody(op, converter) } : {}),
      responses: responses(op, converter),
    };
    for (const [index, served] of expandOperation(op).entries()) {
      const alias = op.mount === 'scanii' && index > 0;
      const tag = alias ? ALIAS_TAG.name : TAGS[op.mount].name;
      usedTags.add(tag);
      paths[served.path] ??= {};
      paths[served.path]![served.method] = {
        operationId: operationId(served.method, served.path),
        tags: [tag],
        ...common,
      };
    }
  }
  const tags = [...Object.values(TAGS), ALIAS_TAG].filter((tag) => usedTags.has(tag.name));
  return {
    openapi: '3.1.0',
    info: {
      title: 'Arbiter',
      version: options.version,
      summary: 'Self-hostable, multi-tenant malware scanning speaking the Scanii v2.2 protocol.',
      description:
        'Scan files by upload or URL, get results by polling or signed callbacks, protect S3 buckets. Errors are `{"error": "..."}`; every answer carries `X-Scanii-Request-Id`.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    ...(options.serverUrl ? { servers: [{ url: options.serverUrl }] } : {}),
    tags,
    paths,
    components: {
      schemas: converter.components,
      securitySchemes: {
        basicAuth: {
          type: 'http',
          scheme: 'basic',
          description:
            'API key as user, secret as password; or an auth-token id with an empty password.',
        },
        accessToken: {
          type: 'http',
          scheme: 'bearer',
          description: 'An access token from `POST /api/Token`.',
        },
        adminToken: {
          type: 'http',
          scheme: 'bearer',
          description: 'The value of `ARBITER_ADMIN_TOKEN`.',
        },
        metricsToken: {
          type: 'http',
          scheme: 'bearer',
          description: 'The value of `ARBITER_METRICS_TOKEN`, when set.',
        },
      },
    },
  };
}

/**
 * Finds the operation template of a request, for metrics labels: `/v2.2/files/:id`, never the
 * raw id. Matches method and path first, then the path alone (an answer to a method the route
 * does not take); anything else is `unmatched`.
 */
export function createRouteMatcher(
  operations: OperationDoc[],
): (method: string, path: string) => string {
  const routes = operations.flatMap(expandOperation).map((route) => ({
    method: route.method.toUpperCase(),
    template: toExpressPath(route.path),
    // Literal segments before parameters: `/files/fetch` is found before `/files/{id}`.
    params: (route.path.match(/\{/g) ?? []).length,
    regex: new RegExp(
      `^${route.path
        .split(/(\{[^}]+\})/)
        .map((part) =>
          part.startsWith('{') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
        )
        .join('')}/?$`,
    ),
  }));
  routes.sort((a, b) => a.params - b.params);
  return (method, path) => {
    const wanted = method === 'HEAD' ? 'GET' : method;
    const byMethod = routes.find((route) => route.method === wanted && route.regex.test(path));
    return (byMethod ?? routes.find((route) => route.regex.test(path)))?.template ?? 'unmatched';
  };
}
