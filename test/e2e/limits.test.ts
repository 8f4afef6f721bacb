/**
 * Sizes through the real daemon (issue 9): a value of any size that an older version stored is listed and its history
 * read; a request over the limit is refused with one line; an interrupted `kuke apply` has printed exactly what it
 * applied.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { catalogCodec } from '../../src/engine/codec.js';
import { Engine } from '../../src/engine/engine.js';
import { LevelEventLog } from '../../src/store/event-log.js';
import { cellManifest, expectOneLineError, KUKE, useInitializedHost, type E2eHost } from '../support/e2e.js';

const hostOf = useInitializedHost({ subnet: '10.253.128.0/18', tag: 'm', loadImage: true });
let host: E2eHost;
beforeAll(() => {
  host = hostOf();
});
/** The 10 MB env value of issue 9. */
const HUGE = 'V'.repeat(10 << 20);

/** A cell's document as `kuke get -o json|yaml` prints it (the fields these tests read). */
interface CellDocument {
  metadata: { name: string };
  spec: { containers: { env: string[] }[] };
  status: { state: string };
}

/** Cell documents of the default stack, as `kuke get cells -o json` prints them. */
async function cells(): Promise<CellDocument[]> {
  const r = await host.kuke(['get', 'cells', '-o', 'json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as CellDocument[];
}

describe('a value larger than any API message, stored by an older version', () => {
  beforeAll(async () => {
    // New creates refuse such a value, so it is written the way an older kuke did: its CreateCell command, appended
    // to the log while the daemon is stopped.
    expect((await host.local(['daemon', 'stop'])).code).toBe(0);
    const store = await LevelEventLog.open(join(host.runPath, 'events'), { codec: catalogCodec });
    try {
      const engine = await Engine.open({ store, config: { runPath: host.runPath } });
      const container = { name: 'main', image: 'kukeon.local/busybox:test', command: [], args: ['sleep', '3600'], env: [`HUGE=${HUGE}`], privileged: false, hostNetwork: false, hostPid: false, mounts: [], resources: {}, restartPolicy: 'never' };
      await engine.dispatch('cell/default/default/default/big', 'CreateCell', { template: { root: 'main', containers: [container], labels: {} } }, { actor: { type: 'in-process', name: 'kuke (an older version)' } });
    } finally {
      await store.close();
    }
    expect((await host.local(['daemon', 'start'])).code).toBe(0);
  }, 120_000);

  it('is listed by kuke get cells through the daemon, as a table, JSON and YAML', async () => {
    const table = await host.kuke(['get', 'cells']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^big\s+default\s+default\s+default\s+Pending\s/m);
    const big = (await cells()).find((c) => c.metadata.name === 'big')!;
    expect(big.spec.containers[0]!.env).toEqual([`HUGE=${HUGE}`]);
    const yaml = await host.kuke(['get', 'cell', 'big', '-o', 'yaml']);
    expect(yaml.code, yaml.stderr).toBe(0);
    expect((parse(yaml.stdout) as CellDocument).spec.containers[0]!.env[0]).toHaveLength(HUGE.length + 5);
  }, 120_000);

  it('has its history read whole, and its past state shown with --at', async () => {
    const table = await host.kuke(['history', 'cell', 'big']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/CreateCell\s+.*→ Pending\s+kuke \(in-process\)\s+main \(root\): kukeon\.local\/busybox:test/);
    const json = await host.kuke(['history', 'cell', 'big', '-o', 'json']);
    expect(json.code, json.stderr).toBe(0);
    const [create] = JSON.parse(json.stdout) as { seq: number; type: string; data: { template: { containers: { env: string[] }[] } } }[];
    expect(create!.type).toBe('CreateCell');
    expect(create!.data.template.containers[0]!.env).toEqual([`HUGE=${HUGE}`]);
    const at = await host.kuke(['get', 'cell', 'big', '--at', String(create!.seq), '-o', 'json']);
    expect(at.code, at.stderr).toBe(0);
    expect((JSON.parse(at.stdout) as CellDocument).spec.containers[0]!.env[0]).toHaveLength(HUGE.length + 5);
  }, 120_000);
});

describe('request limits', () => {
  it('refuses a manifest over 1 MiB with the line kukeond gives, before sending it (file or stdin, daemon or in-process), and applies nothing', async () => {
    const file = join(host.dir, 'large.yaml');
    const text = `${cellManifest('toolarge', [{ id: 'main', args: ['sleep', '1'] }])}      env: ["X=${'x'.repeat(5 << 20)}"]\n`;
    writeFileSync(file, text);
    const line = 'Error: the manifest is 5 MiB, more than the limit of 1 MiB; split it into several files; nothing was changed';
    expect(expectOneLineError(await host.kuke(['apply', '-f', file]))).toBe(line);
    expect(expectOneLineError(await host.kuke(['apply', '-f', '-'], { input: text }))).toBe(line);
    expect(expectOneLineError(await host.kuke(['apply', '-f', file, '--no-daemon']))).toBe(line);
    expect((await cells()).map((c) => c.metadata.name)).not.toContain('toolarge');
  }, 60_000);
});

describe('an interrupted kuke apply', () => {
  it('has printed a line for each document it applied, and no document after the one in progress was applied', async () => {
    const names = ['int1', 'int2', 'int3', 'int4', 'int5'];
    const file = join(host.dir, 'several.yaml');
    writeFileSync(file, names.map((n) => cellManifest(n, [{ id: 'main', args: ['sleep', '3600'] }])).join('---\n'));
    const child = spawn(process.execPath, [KUKE, 'apply', '-f', file], { env: host.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        // Ctrl-C as soon as the first document is reported.
        if (stdout.includes('\n') && !child.killed) {
          child.kill('SIGINT');
          resolve();
        }
      });
    });
    expect(await exited).toBe(1);
    const printed = stdout.trim().split('\n');
    expect(printed[0]).toBe('Cell "int1": created');
    expect(printed.every((l) => /^Cell "int\d": created$/.test(l))).toBe(true);
    expect(expectOneLineError({ code: 1, stdout, stderr })).toMatch(/^Error: apply interrupted after \d documents?: those reported were applied, no later one was started; /);
    // What was printed is what kuke get shows: those cells, Ready; at most the one in progress besides; none later.
    const reported = printed.map((l) => /"(int\d)"/.exec(l)![1]!);
    const present = (await cells()).filter((c) => names.includes(c.metadata.name));
    for (const name of reported) expect(present.find((c) => c.metadata.name === name)?.status.state, name).toBe('Ready');
    const unreported = present.map((c) => c.metadata.name).filter((n) => !reported.includes(n));
    expect(unreported.length).toBeLessThanOrEqual(1);
    if (unreported.length === 1) expect(unreported[0]).toBe(names[reported.length]);
    expect(present.length).toBeLessThan(names.length);
  }, 180_000);
});
