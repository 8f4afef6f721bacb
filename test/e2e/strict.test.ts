/**
 * Strict documents and requests against the real daemon (issue 9): bad manifests and bad `kuke create cell` input —
 * unknown fields, fields not supported yet, bad image references, limits, hostile YAML — each end with exit 1 and
 * one stderr line that says what to do (never "a bug in kukeon"), through kukeond and in-process alike, and nothing
 * is created: the event log's head, containerd's containers, the cgroup tree, this install's network state and the
 * read model are the same afterwards.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cellManifest, expectOneLineError, networkStateOf, startE2eHost, type E2eHost, type RunResult } from '../support/e2e.js';

let host: E2eHost;

const cell = (container: string, spec = '', meta = '') =>
  `kind: Cell\nmetadata: {name: web${meta}}\nspec:\n  realmId: default\n  spaceId: default\n  stackId: default\n${spec}  containers:\n    - id: main\n${container}`;
const withImage = (image: string) => cell(`      image: ${JSON.stringify(image)}\n`);
const fine = (extra: string) => cell(`      image: kukeon.local/busybox:test\n${extra}`);
const bomb = ['kind: Realm', 'metadata: {name: boom}', 'a: &a [1,1,1,1,1,1,1,1,1,1]', 'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]', 'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]', 'd: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]'].join('\n');

/** Manifests, each applied after a valid Realm document (so a refusal must undo nothing: nothing was applied). */
const MANIFESTS: [string, string, RegExp][] = [
  ['a typo of image', fine('      imagee: busybox\n'), /document 2 \(Cell "web"\): spec\.containers\[0\]\.imagee: unknown field; did you mean "image"\?/],
  ['a typo of command', fine('      comand: /bin/sh\n'), /spec\.containers\[0\]\.comand: unknown field; did you mean "command"\?/],
  ['a misspelt environment', fine('      enviroment: [A=1]\n'), /enviroment: unknown field; did you mean "env"\?/],
  ['an unknown field in metadata', cell('      image: busybox\n', '', ', lables: {a: b}'), /metadata\.lables: unknown field; did you mean "labels"\?/],
  ['an unknown capability', fine('      capabilities: {drop: [CAP_BOGUS]}\n'), /spec\.containers\[0\]\.capabilities.*unknown capability "CAP_BOGUS"/],
  ['securityContext', fine('      securityContext: {runAsUser: 1000}\n'), /securityContext: not supported yet/],
  ['a host port out of range', fine('      ports: [{containerPort: 80, hostPort: 70000}]\n'), /spec\.containers\[0\]\.ports\[0\]\.hostPort: must be between 1 and 65535/],
  ['livenessProbe', fine('      livenessProbe: {exec: {command: ["true"]}}\n'), /livenessProbe: not supported yet; remove it/],
  ['spec.replicas', cell('      image: busybox\n', '  replicas: 3\n'), /spec\.replicas: not supported yet/],
  ['metadata.annotations', cell('      image: busybox\n', '', ', annotations: {a: b}'), /metadata\.annotations: not supported yet/],
  ['a shell command as the image', withImage('busybox:test;rm -rf /'), /invalid image reference "busybox:test;rm -rf \/": contains whitespace or a control character; use name\[:tag\]\[@digest\]/],
  ['a path as the image', withImage('../../etc/passwd'), /invalid image reference "\.\.\/\.\.\/etc\/passwd": path components "\." and "\.\." are not allowed/],
  ['an upper-case image', withImage('Busybox'), /repository name must be lowercase/],
  ['a newline in the image', withImage('busybox\n:x'), /contains whitespace or a control character/],
  ['an empty tag', withImage('busybox:'), /has an empty tag/],
  ['a bad digest', withImage('busybox@sha256:abc'), /invalid digest "sha256:abc"/],
  ['an env value over 32 KiB', fine(`      env: ["BIG=${'x'.repeat(40_000)}"]\n`), /the value of "BIG" is 39\.1 KiB, more than the limit of 32 KiB/],
  ['a bad label', cell('      image: busybox\n', '', ', labels: {"a b": c}'), /label key "a b" must be \[prefix\/\]name/],
  ['an alias bomb', bomb, /aliases expand to more than 100 nodes \(an alias bomb\?\)/],
  ['a !!js/function tag', 'kind: !!js/function "function () { return 1 }"\n', /YAML tag "!!js\/function" is not allowed/],
  ['deep nesting', `${'- '.repeat(100_000)}x\n`, /YAML nested more than 32 levels deep/],
  ['nested complex keys', `${'? '.repeat(2_000)}x\n`, /complex mapping keys/],
  ['duplicate keys', fine('      image: busybox\n'), /duplicate key "image"/],
  ['a number as a key', 'kind: Realm\nmetadata: {name: x}\n1: x\n', /mapping keys must be strings \(found 1\)/],
  ['a manifest over 1 MiB', `# ${'x'.repeat(1_200_000)}\n${fine('')}`, /the manifest is 1\.1 MiB, more than the limit of 1 MiB/],
  ['more than 100 documents', Array.from({ length: 101 }, (_, i) => `kind: Realm\nmetadata: {name: r${i}}\n`).join('---\n'), /more than 100 documents/],
  ['a kind not supported yet', 'kind: Volume\nmetadata: {name: s}\n', /kind Volume is not supported yet \(named volumes/],
  [
    'a Container document its cell cannot take (the 3rd: its containerd id over 76 characters once in the cell)',
    `${fine('')}---\nkind: Container\nmetadata: {name: ${'z'.repeat(63)}}\nspec: {realmId: default, spaceId: default, stackId: default, cellId: web, image: kukeon.local/busybox:test}\n`,
    /document 3 \(Container "z{63}"\): .*76/,
  ],
];

/** `kuke create cell` flags. */
const CREATES: [string, string[], RegExp][] = [
  ['a shell command as --image', ['--image', 'busybox:test;rm -rf /'], /cell "web": containers\[0\]\.image: invalid image reference "busybox:test;rm -rf \/": contains whitespace/],
  ['a path as --image', ['--image', '../../etc/passwd'], /path components "\." and "\.\." are not allowed/],
  ['an upper-case --image', ['--image', 'Busybox'], /repository name must be lowercase/],
  ['a newline in --image', ['--image', 'busybox\n'], /contains whitespace or a control character/],
  ['an empty tag in --image', ['--image', 'busybox:'], /has an empty tag/],
  ['an --env value over 32 KiB', ['--image', 'busybox', '--env', `BIG=${'x'.repeat(100_000)}`], /env\[0\]: the value of "BIG" is 97\.7 KiB, more than the limit of 32 KiB/],
  ['an --env without "="', ['--image', 'busybox', '--env', 'NOVALUE'], /env\[0\]: entries must be KEY=VALUE/],
];

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8' });
}

/** What exists on the host that a request could have created. */
async function world(): Promise<string> {
  const namespaces = sh('ctr', ['--address', host.ctrd.address, 'namespaces', 'ls', '-q']).split('\n').filter(Boolean).sort();
  const containers = namespaces.map((ns) => `${ns}: ${sh('ctr', ['--address', host.ctrd.address, '-n', ns, 'containers', 'ls', '-q']).split('\n').filter(Boolean).sort().join(',')}`);
  const memory = `/sys/fs/cgroup/memory${host.cgroupRoot}`;
  const cgroups = existsSync(memory) ? sh('find', [memory, '-type', 'd']).split('\n').sort() : [];
  const links = networkStateOf(host);
  const realms = await host.kuke(['get', 'realms', '-o', 'json']).then((r) => r.stdout);
  const cells = await host.kuke(['get', 'cells', '-o', 'json']).then((r) => r.stdout);
  return JSON.stringify({ namespaces, containers, cgroups, links, realms, cells, head: await head() });
}

async function head(): Promise<number> {
  const r = await host.kuke(['history', 'verify', '-o', 'json']);
  return (JSON.parse(r.stdout) as { headSeq: number }).headSeq;
}

function expectUserError(r: RunResult, message: RegExp): void {
  const line = expectOneLineError(r);
  expect(line).toMatch(message);
  expect(line).not.toMatch(/bug/i);
}

let before: string;

beforeAll(async () => {
  host = await startE2eHost({ subnet: '10.255.192.0/18', tag: 's' });
  const init = await host.local(['init']);
  if (init.code !== 0) throw new Error(init.stderr);
  before = await world();
}, 180_000);
afterAll(async () => {
  await host?.cleanup();
}, 180_000);

describe('strict documents and requests', () => {
  it.each(MANIFESTS)('kuke apply refuses %s with one line, applying nothing', async (_what, text, message) => {
    const at = await head();
    const r = await host.kuke(['apply', '-f', '-'], { input: `kind: Realm\nmetadata: {name: fine}\n---\n${text}` });
    expectUserError(r, message);
    expect(await head()).toBe(at);
  });

  it.each(CREATES)('kuke create cell refuses %s with one line, creating nothing', async (_what, flags, message) => {
    const at = await head();
    expectUserError(await host.kuke(['create', 'cell', 'web', ...flags, '--start']), message);
    expect(await head()).toBe(at);
  });

  it('left containerd, cgroups, links, the read model and the log as they were', async () => {
    expect(await world()).toBe(before);
  });

  it('refuses the same way in-process (--run-path), without the daemon', async () => {
    // The daemon holds the log, so stop it: in-process kuke then parses, validates and refuses on its own.
    expect((await host.local(['daemon', 'stop'])).code).toBe(0);
    const localHead = async () => (JSON.parse((await host.local(['history', 'verify', '-o', 'json'])).stdout) as { headSeq: number }).headSeq;
    const at = await localHead();
    try {
      expectUserError(await host.local(['apply', '-f', '-'], { input: `kind: Realm\nmetadata: {name: fine}\n---\n${fine('      imagee: x\n')}` }), /spec\.containers\[0\]\.imagee: unknown field; did you mean "image"\?/);
      expectUserError(await host.local(['apply', '-f', '-'], { input: bomb }), /alias bomb/);
      expectUserError(await host.local(['create', 'cell', 'web', '--image', '../../etc/passwd']), /invalid image reference/);
      expect(await localHead()).toBe(at);
    } finally {
      expect((await host.local(['daemon', 'start'])).code).toBe(0);
    }
  }, 120_000);

  it('still applies a valid manifest afterwards', async () => {
    const r = await host.kuke(['apply', '-f', '-'], { input: cellManifest('ok', [{ id: 'main', args: ['sleep', '3600'] }]) });
    // The test image is not loaded in realm "default": the document is valid and applied, and its start fails.
    expect(r.stdout).toMatch(/^Cell "ok": (created|failed)/m);
  }, 120_000);
});
