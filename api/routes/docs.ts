import { createRequire } from 'node:module';
import path from 'node:path';
import express, { Router } from 'express';

/** Where the Swagger UI bundle lives: an npm package, served from node_modules (no CDN). */
const SWAGGER_UI_DIR = path.dirname(
  createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'),
);

export const DOCS_ASSETS = '/docs/assets';

/** No calls anywhere but here: no online validator badge, no remote specs. */
const INIT = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  docExpansion: 'list',
  defaultModelsExpandDepth: 0,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
});
`;

const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Arbiter API</title>
    <link rel="stylesheet" href="${DOCS_ASSETS}/swagger-ui.css" />
    <link rel="icon" type="image/png" href="${DOCS_ASSETS}/favicon-32x32.png" sizes="32x32" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="${DOCS_ASSETS}/swagger-ui-bundle.js"></script>
    <script>
${INIT}    </script>
  </body>
</html>
`;

export interface DocsRouterDeps {
  /** The OpenAPI document (api/openapi.ts), served as built. */
  document: unknown;
}

/**
 * `GET /openapi.json` (the document, built once) and `GET /docs` (Swagger UI rendering it, with
 * its assets under /docs/assets). No auth: the document describes the API, not anyone's data.
 */
export function docsRouter({ document }: DocsRouterDeps): Router {
  const router = Router();
  const body = Buffer.from(JSON.stringify(document));
  router.get('/openapi.json', (_req, res) => {
    res.status(200).setHeader('Content-Type', 'application/json');
    res.send(body);
  });
  router.get('/docs', (_req, res) => {
    res.status(200).setHeader('Content-Type', 'text/html; charset=utf-8');
    res.send(PAGE);
  });
  router.use(
    DOCS_ASSETS,
    express.static(SWAGGER_UI_DIR, { index: false, fallthrough: true, maxAge: '1h' }),
  );
  return router;
}
