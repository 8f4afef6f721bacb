#!/usr/bin/env node
// Builds dist/kuke.mjs and dist/kukeond.mjs: one ESM bundle each (esbuild), dependencies bundled except
// classic-level, whose native addon (prebuilt .node) is loaded from node_modules at run time.
import { build } from 'esbuild';
import { readFileSync, chmodSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
const entries = { kuke: 'src/cli/main.ts', kukeond: 'src/daemon/main.ts' };

for (const [name, entry] of Object.entries(entries)) {
  const outfile = join(repo, 'dist', `${name}.mjs`);
  await build({
    entryPoints: [join(repo, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'linked',
    legalComments: 'none',
    external: ['classic-level'],
    define: { __KUKEON_VERSION__: JSON.stringify(version) },
    // Bundled CommonJS dependencies call require(); give them one.
    banner: { js: "#!/usr/bin/env node\nimport { createRequire as __kukeonCreateRequire } from 'node:module';\nconst require = __kukeonCreateRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  chmodSync(outfile, 0o755);
}
