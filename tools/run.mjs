#!/usr/bin/env node
// Runs a TypeScript tool: bundles it with esbuild (packages stay external) into .tmp/run/ and imports it.
// Usage: node tools/run.mjs tools/<tool>.ts [args...]
import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  process.stderr.write('usage: node tools/run.mjs <file.ts> [args...]\n');
  process.exit(2);
}
const outdir = join(repo, '.tmp', 'run');
mkdirSync(outdir, { recursive: true });
const outfile = join(outdir, `${basename(entry).replace(/\.ts$/, '')}-${process.pid}.mjs`);
await build({
  entryPoints: [resolve(entry)],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: 'inline',
  logLevel: 'warning',
});
process.argv = [process.argv[0], resolve(entry), ...args];
try {
  await import(pathToFileURL(outfile).href);
} finally {
  // The bundle is disposable; leave it only when debugging.
  if (!process.env.KUKEON_KEEP_RUN_BUNDLE) (await import('node:fs')).rmSync(outfile, { force: true });
}
