import { compileErrors, validate } from '@readme/openapi-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toExpressPath } from '../../api/openapi.js';
import { startTestService, type TestService } from '../support/service.js';

/**
 * The OpenAPI document against the express app: every route the app serves is documented and
 * every documented operation is a route (method and path, `{id}` ↔ `:id`, under /v2.2 and its
 * /v2.1 alias), and the document is valid OpenAPI 3.1.
 */

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
  rawPath?: string | RegExp | Array<string | RegExp>;
}

/** Walks express 5's router stacks: routes, and routers mounted with `use` (recursively). */
function listRoutes(stack: Layer[], prefix = ''): string[] {
  const routes: string[] = [];
  for (const layer of stack) {
    const paths = Array.isArray(layer.rawPath) ? layer.rawPath : [layer.rawPath ?? '/'];
    for (const path of paths) {
      if (typeof path !== 'string')
        throw new Error(`a route with a RegExp path cannot be checked: ${String(path)}`);
      if (layer.route) {
        for (const [method, on] of Object.entries(layer.route.methods)) {
          if (on && method !== '_all')
            routes.push(`${method.toUpperCase()} ${prefix}${layer.route.path}`);
        }
      } else if (Array.isArray(layer.handle?.stack)) {
        routes.push(...listRoutes(layer.handle.stack, `${prefix}${path === '/' ? '' : path}`));
      }
    }
  }
  return routes;
}

describe('the OpenAPI document', () => {
  let service: TestService;
  let document: {
    openapi: string;
    paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
  };

  beforeAll(async () => {
    service = await startTestService({}, { roles: { api: true, workers: false } });
    const response = await fetch(`${service.url}/openapi.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    document = (await response.json()) as typeof document;
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('documents every route of the app, and documents no route the app does not have', () => {
    const app = service.service.app as unknown as { router: { stack: Layer[] } };
    const served = new Set(listRoutes(app.router.stack));
    const documented = new Set(
      Object.entries(document.paths).flatMap(([path, operations]) =>
        Object.keys(operations).map((method) => `${method.toUpperCase()} ${toExpressPath(path)}`),
      ),
    );
    // Sanity: the walk found the routers mounted at every prefix, the alias included.
    expect(served).toContain('GET /v2.2/files/:id');
    expect(served).toContain('GET /v2.1/files/:id');
    expect(served).toContain('POST /api/Scan');
    expect(served).toContain('PUT /v1/buckets/:name');
    expect(served).toContain('POST /admin/tenants');
    expect(served).toContain('GET /metrics');

    const undocumented = [...served].filter((route) => !documented.has(route)).sort();
    const missing = [...documented].filter((route) => !served.has(route)).sort();
    expect(undocumented, 'routes without an entry in api/operations.ts').toEqual([]);
    expect(missing, 'documented operations the app does not serve').toEqual([]);
  });

  it('is valid OpenAPI 3.1', async () => {
    expect(document.openapi).toBe('3.1.0');
    // The validator dereferences in place: give it a copy.
    const result = await validate(structuredClone(document) as never);
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
  });

  it('is generated from the request schemas the routes validate with', () => {
    const fetchOp = document.paths['/v2.2/files/fetch']?.post as unknown as {
      requestBody: {
        content: Record<
          string,
          { schema: { required?: string[]; properties: Record<string, unknown> } }
        >;
      };
    };
    const form = fetchOp.requestBody.content['application/x-www-form-urlencoded']!.schema;
    expect(form.required).toEqual(['location']);
    expect(Object.keys(form.properties).sort()).toEqual([
      'callback',
      'location',
      'metadata',
      'sanitize',
    ]);
    expect(form.properties.sanitize).toMatchObject({ type: 'boolean' });

    const upload = (document.paths['/v2.2/files']?.post as unknown as typeof fetchOp).requestBody
      .content['multipart/form-data']!.schema;
    expect(upload.properties.file).toMatchObject({ type: 'string', format: 'binary' });

    const limits = document.paths['/admin/tenants/{id}/limits']?.put as unknown as typeof fetchOp;
    expect(limits.requestBody.content['application/json']!.schema).toMatchObject({
      additionalProperties: false,
      properties: {
        requestsPerSecond: { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'null' }] },
      },
    });
    expect(document.paths['/v2.2/files/{id}']?.get?.responses['200']).toMatchObject({
      content: { 'application/json': { schema: { $ref: '#/components/schemas/ScanResult' } } },
    });
  });

  it('is rendered at /docs from assets served locally', async () => {
    const page = await fetch(`${service.url}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain("url: '/openapi.json'");
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);
    expect(assets).toContain('/docs/assets/swagger-ui-bundle.js');
    // Nothing is loaded from another host: the page works without internet access.
    expect(assets.filter((asset) => !asset.startsWith('/docs/assets/'))).toEqual([]);
    for (const asset of assets) {
      const response = await fetch(`${service.url}${asset}`);
      expect(response.status, asset).toBe(200);
      await response.arrayBuffer();
    }
  });
});
