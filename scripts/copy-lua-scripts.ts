import { copyFile, cp, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { luaScriptFiles } from '../core/lua-scripts.js';
import { BUILTIN_RULES_DIR } from '../scanning/analysis/language/rule-pack.js';

/**
 * The second half of `npm run build`: tsc emits only JavaScript, and the compiled code reads its
 * Lua scripts (core/lua-scripts.ts) and the built-in language rule pack
 * (scanning/analysis/language/rule-pack.ts) beside itself, so they are copied into `dist/` at
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
const rules = path.relative(root, BUILTIN_RULES_DIR);
await cp(BUILTIN_RULES_DIR, path.join(root, 'dist', rules), { recursive: true });
console.log(`The language rule pack copied into dist/${rules}.`);
