import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { CONSOLE_SCHEMA_FILE, generateConsoleSchema } from '../../scripts/console-client.js';

/**
 * The console's API types are generated from the OpenAPI document the API serves: when a route's
 * schemas change, this fails until `npm run console:client` regenerates them, and the console's
 * type check then shows every view the change breaks. So the console cannot drift from the API.
 */
describe('the console’s generated API client', () => {
  it('matches a fresh generation from the OpenAPI document', async () => {
    const committed = await readFile(CONSOLE_SCHEMA_FILE, 'utf8');
    const fresh = await generateConsoleSchema();
    expect(
      committed === fresh,
      `${CONSOLE_SCHEMA_FILE} is out of date: run npm run console:client and commit it`,
    ).toBe(true);
  });

  it('covers the operations the console calls', async () => {
    const committed = await readFile(CONSOLE_SCHEMA_FILE, 'utf8');
    for (const path of [
      '/console/api/session',
      '/v1/scans',
      '/v2.2/files/{id}',
      '/v2.2/files/{id}/trace',
      '/v1/files/{id}/redeliver',
    ])
      expect(committed).toContain(`"${path}": {`);
  });
});
