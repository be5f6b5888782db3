import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The browser console (docs/console.md): built by `npm run build` into dist/console, which the
 * API serves at /console (api/console-static.ts). No inline script and no other origin: the page
 * is served with `Content-Security-Policy: default-src 'self'`.
 */
const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/console/',
  publicDir: false,
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/console', import.meta.url)),
    emptyOutDir: true,
    // A module preload polyfill would be an inline script, which the CSP refuses; every browser
    // the console supports preloads modules itself.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
  },
});
