import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { EnvSchema } from '../../core/config.js';
import { CONFIG_DOC_PATH, configFields, renderConfigurationDoc } from '../../scripts/config-doc.js';

describe('docs/configuration.md', () => {
  it('describes every variable of the schema', () => {
    const fields = configFields();
    expect(fields.map((field) => field.name)).toEqual(Object.keys(EnvSchema.shape));
    for (const field of fields) expect(field.description.length, field.name).toBeGreaterThan(10);
  });

  it('is up to date with the schema in core/config.ts (else run `npm run docs:config`)', async () => {
    const current = await readFile(CONFIG_DOC_PATH, 'utf8');
    expect(
      renderConfigurationDoc(current),
      'docs/configuration.md is stale: run `npm run docs:config`',
    ).toBe(current);
  });
});
