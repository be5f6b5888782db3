import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { luaScriptFiles } from '../core/lua-scripts.js';

/**
 * The second half of `npm run build`: tsc emits only JavaScript, and the compiled code reads its
 * Lua scripts beside itself (core/lua-scripts.ts), so every script file is copied into `dist/` at
 * the same place under it. A script missing from the sources fails the build here.
 */
const root = fileURLToPath(new URL('../', import.meta.url));
const files = luaScriptFiles();
for (const file of files) {
  const target = path.join(root, 'dist', file);
  await mkdir(path.dirname(target), { recursive: true });
  await copyFile(path.join(root, file), target);
}
console.log(`${files.length} Lua scripts copied into dist/.`);
