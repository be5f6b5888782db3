import { writeFile } from 'node:fs/promises';
import { CONSOLE_SCHEMA_FILE, generateConsoleSchema } from './console-client.js';

// `npm run console:client`: run after changing a route's schemas, then commit the file.
await writeFile(CONSOLE_SCHEMA_FILE, await generateConsoleSchema());
console.log(`wrote ${CONSOLE_SCHEMA_FILE}`);
