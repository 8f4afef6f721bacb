#!/usr/bin/env node
// Builds dist/kuke.mjs and dist/kukeond.mjs: ESM bundles (esbuild) with code splitting, so that what a command
// does not use (the engine and runtime adapters for `kuke get` through the daemon) is not even parsed. Every
// dependency is bundled except classic-level, whose native addon (prebuilt .node) loads from node_modules.
import { build } from 'esbuild';
import { chmodSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
const outdir = join(repo, 'dist');
rmSync(outdir, { recursive: true, force: true });

await build({
  entryPoints: { kuke: join(repo, 'src/cli/main.ts'), kukeond: join(repo, 'src/daemon/main.ts') },
  outdir,
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  splitting: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  legalComments: 'none',
  external: ['classic-level'],
  define: { __KUKEON_VERSION__: JSON.stringify(version) },
  // Bundled CommonJS dependencies call require(); give every chunk one.
  banner: { js: "import { createRequire as __kukeonCreateRequire } from 'node:module';\nconst require = __kukeonCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
for (const name of ['kuke', 'kukeond']) {
  const file = join(outdir, `${name}.mjs`);
  const text = readFileSync(file, 'utf8');
  (await import('node:fs')).writeFileSync(file, `#!/usr/bin/env node\n${text}`);
  chmodSync(file, 0o755);
}
