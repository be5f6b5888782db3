import { readFile, writeFile } from 'node:fs/promises';
import { CONFIG_DOC_PATH, renderConfigurationDoc } from './config-doc.js';

/** `npm run docs:config`: rewrites docs/configuration.md from the schema in core/config.ts. */
const current = await readFile(CONFIG_DOC_PATH, 'utf8').catch(() => '');
const next = renderConfigurationDoc(current);
if (next === current) {
  console.log(`${CONFIG_DOC_PATH} is up to date.`);
} else {
  await writeFile(CONFIG_DOC_PATH, next);
  console.log(`${CONFIG_DOC_PATH} written.`);
}
