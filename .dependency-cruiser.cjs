/**
 * Layer rules for the application code, checked by `npm run lint` (dependency-cruiser).
 * docs/architecture.md "Layers" explains each rule; keep the two in step.
 *
 * Each folder lists the folders it may import besides itself. Node built-ins and npm packages are
 * free except where a rule below says otherwise. test/, bench/ and scripts/ may import anything,
 * so they are not cruised.
 */

/** @type {Record<string, string[]>} */
const mayImport = {
  core: [],
  scanning: ['core'],
  scans: ['core', 'scanning'],
  webhooks: ['core'],
  s3: ['core', 'scanning', 'scans'],
  rescans: ['core', 'scanning', 'scans', 's3'],
  worker: ['core', 'scanning', 'scans', 'webhooks', 's3', 'rescans'],
  api: ['core', 'scanning', 'scans', 'webhooks', 's3', 'rescans'],
  cli: ['core', 'scanning', 'scans', 'webhooks', 's3', 'rescans', 'worker', 'api'],
};

/**
 * Folders a folder may import types from (`import type`) but no values: delivery reads results
 * through the scan store's interface without running any scan code.
 * @type {Record<string, string[]>}
 */
const mayImportTypesOf = {
  webhooks: ['scans'],
};

const folders = Object.keys(mayImport);
const anyOf = (names) => `^(${names.join('|')})/`;

const layerRules = folders
  .filter((folder) => folder !== 'cli')
  .map((folder) => {
    const allowed = mayImport[folder];
    const typesOnly = mayImportTypesOf[folder] ?? [];
    // cli/ has its own rule below, with its own advice.
    const above = folders.filter(
      (other) =>
        other !== folder &&
        other !== 'cli' &&
        !allowed.includes(other) &&
        !typesOnly.includes(other),
    );
    return {
      name: `layer-${folder}`,
      severity: 'error',
      comment:
        `${folder}/ may import only ` +
        (allowed.length > 0 ? `${allowed.join('/, ')}/ and ` : '') +
        `itself (docs/architecture.md "Layers"). Move the shared piece down, or have the ` +
        `upper layer pass it in.`,
      from: { path: `^${folder}/` },
      to: { path: anyOf(above) },
    };
  });

const typesOnlyRules = Object.entries(mayImportTypesOf).map(([folder, typeSources]) => ({
  name: `types-only-${folder}`,
  severity: 'error',
  comment:
    `${folder}/ may import ${typeSources.join('/, ')}/ for types only (docs/architecture.md ` +
    `"Layers"): use \`import type\`, or move the value down to core/.`,
  from: { path: `^${folder}/` },
  to: { path: anyOf(typeSources), dependencyTypesNot: ['type-only'] },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'Import cycle in application code. Break it by moving the shared type down a layer, or ' +
        'by having the lower module declare the interface the upper one implements.',
      from: { path: anyOf(folders) },
      to: { circular: true },
    },
    ...layerRules,
    ...typesOnlyRules,
    {
      name: 'receiver-kit-standalone',
      severity: 'error',
      comment:
        'The webhook receiver kit (webhooks/index.ts, receiver.ts, signing.ts) is what receiving ' +
        'applications import: it may use Node built-ins and its own files only.',
      from: { path: '^webhooks/(index|receiver|signing)\\.ts$' },
      to: { dependencyTypesNot: ['core'], pathNot: '^webhooks/(receiver|signing)\\.ts$' },
    },
    {
      name: 'scanning-no-http',
      severity: 'error',
      comment:
        'scanning/ inspects bytes it is handed (and talks to clamd): fetching content belongs to ' +
        'scans/pipeline.ts through core/outbound-http.ts, serving HTTP to api/.',
      from: { path: '^scanning/' },
      to: {
        path: [
          '^(node:)?https?$',
          '^node_modules/(express|got|multer|cors|swagger-ui-dist)/',
          '^core/outbound-http\\.ts$',
        ],
      },
    },
    {
      name: 'only-cli-imports-cli',
      severity: 'error',
      comment:
        'cli/ wires processes together (entry points, runtime, serve): nothing else imports it. ' +
        'Take what you need as a parameter and let cli/ pass it in.',
      from: { path: anyOf(folders), pathNot: '^cli/' },
      to: { path: '^cli/' },
    },
  ],
  options: {
    // Type-only imports count: a cycle or a layer breach through types is still one.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(test|bench|scripts|dist)/' },
    enhancedResolveOptions: {
      extensions: ['.ts', '.js'],
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types'],
    },
  },
};
