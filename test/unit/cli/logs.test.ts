/**
 * `kuke logs` in-process over the fake runtime (issue 12, item 1): which container's file is read, --tail, the
 * one-line refusals, and -f ending when the cell stops. The real shim's files are read in the e2e test.
 */
import { appendFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EngineBackend } from '../../../src/api/backend.js';
import { InProcessClient } from '../../../src/api/in-process.js';
import type { KukeonClient } from '../../../src/api/client.js';
import { runKuke } from '../../../src/cli/program.js';
import { catalogCodec } from '../../../src/engine/codec.js';
import { openEngine } from '../../../src/engine/index.js';
import { FakeWorld } from '../../../src/runtime/fake/fake-runtime.js';
import { MemoryStore } from '../../support/memory-store.js';
import { waitFor } from '../../support/wait.js';

async function kukeWith(client: KukeonClient, argv: string[]) {
  const out: Buffer[] = [];
  let err = '';
  const streams = { out: (t: string) => out.push(Buffer.from(t)), err: (t: string) => (err += t), bytes: (c: Uint8Array) => void out.push(Buffer.from(c)) };
  const code = await runKuke(argv, streams, { daemon: async () => client, inProcess: async () => client }, {});
  return { code, out: Buffer.concat(out), err };
}

const MANIFEST = `kind: Cell
metadata: {name: web}
spec:
  realmId: default
  spaceId: default
  stackId: default
  containers:
    - {id: main, image: busybox, args: [sleep, "9"]}
    - {id: side, image: busybox, args: [sleep, "9"]}
`;

async function world() {
  const runPath = mkdtempSync(join(tmpdir(), 'kukeon-logs-cli-'));
  const w = new FakeWorld();
  w.addImage('busybox');
  const opened = await openEngine({ store: new MemoryStore(catalogCodec), runtime: w.runtime(), config: { runPath, ipMasq: false } });
  const client = new EngineBackend(opened, w.runtime(), { type: 'user', uid: 0 });
  expect((await client.apply(MANIFEST)).map((r) => r.action)).toEqual(['created']);
  const dir = join(runPath, 'logs', 'default', 'default', 'default', 'web');
  mkdirSync(dir, { recursive: true });
  return { client, root: join(dir, 'web_root.log'), side: join(dir, 'side.log') };
}

describe('kuke logs (in-process, fake runtime)', () => {
  it("prints the root container's log byte for byte, the last lines with --tail, and another container's with --container", async () => {
    const { client, root, side } = await world();
    const binary = Buffer.from([0x00, 0xff, 0x0a, 0x80]);
    writeFileSync(`${root}.1`, 'one\ntwo\n');
    writeFileSync(root, Buffer.concat([Buffer.from('three\n'), binary]));
    writeFileSync(side, 'from the side\n');
    const all = await kukeWith(client, ['logs', 'web']);
    expect(all.code).toBe(0);
    expect(all.out).toEqual(Buffer.concat([Buffer.from('one\ntwo\nthree\n'), binary]));
    // The binary output holds a newline: its two pieces are the last two lines.
    expect((await kukeWith(client, ['logs', 'web', '--tail', '2'])).out).toEqual(binary);
    expect((await kukeWith(client, ['logs', 'web', '--tail', '3'])).out).toEqual(Buffer.concat([Buffer.from('three\n'), binary]));
    expect((await kukeWith(client, ['logs', 'web', '-n', '0'])).out.length).toBe(0);
    expect((await kukeWith(client, ['logs', 'web', '--container', 'side'])).out.toString()).toBe('from the side\n');
    expect((await kukeWith(client, ['logs', 'web', '--container', 'main'])).out).toEqual(all.out);
  });

  it('refuses a cell or container that does not exist, and a bad --tail, in one line', async () => {
    const { client } = await world();
    const cell = await kukeWith(client, ['logs', 'nope']);
    expect(cell.code).toBe(1);
    expect(cell.err).toBe('Error: cell "nope" in realm "default", space "default", stack "default" not found; list cells with: kuke get cells --realm default --space default --stack default\n');
    const container = await kukeWith(client, ['logs', 'web', '--container', 'db']);
    expect(container.code).toBe(1);
    expect(container.err).toBe('Error: cell "web" has no container "db"; its containers: main, side\n');
    const tail = await kukeWith(client, ['logs', 'web', '--tail', 'ten']);
    expect(tail.err).toBe('Error: --tail "ten" is not a number of lines; use a whole number, e.g. --tail 20, or --tail all\n');
  });

  it('follows the log with -f until the cell stops', async () => {
    const { client, root } = await world();
    writeFileSync(root, 'before\n');
    const following = kukeWith(client, ['logs', 'web', '-f']);
    await new Promise((r) => setTimeout(r, 100));
    appendFileSync(root, 'while running\n');
    await new Promise((r) => setTimeout(r, 400));
    expect((await kukeWith(client, ['stop', 'cell', 'web'])).code).toBe(0);
    const r = await following;
    expect(r.code).toBe(0);
    expect(r.out.toString()).toBe('before\nwhile running\n');
    // A stopped cell's log is printed whole, and -f returns at once.
    expect((await kukeWith(client, ['logs', 'web', '-f'])).out.toString()).toBe('before\nwhile running\n');
  });
});

describe('kuke logs in-process (its own engine on the run path)', () => {
  it('follows until the cell stops, seen in the read model, and then ends', async () => {
    const runPath = mkdtempSync(join(tmpdir(), 'kukeon-logs-inproc-'));
    const w = new FakeWorld();
    w.addImage('busybox');
    const client = new InProcessClient({ config: { runPath, ipMasq: false }, runtime: async () => w.runtime() });
    try {
      // What kuke init does first: a new event log on the run path.
      await client.session(async () => undefined, { create: true });
      expect((await client.apply(MANIFEST)).map((r) => r.action)).toEqual(['created']);
      const dir = join(runPath, 'logs', 'default', 'default', 'default', 'web');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'web_root.log'), 'before\n');
      const got: string[] = [];
      const following = client.logs({ realm: 'default', space: 'default', stack: 'default', cell: 'web' }, { follow: true }, (c) => void got.push(Buffer.from(c).toString()));
      // The follower's first look at the cell opens the log (one process at a time): the stop comes once it reads.
      await waitFor(() => got.join(''), (t) => t === 'before\n');
      appendFileSync(join(dir, 'web_root.log'), 'after\n');
      await client.stopCell({ realm: 'default', space: 'default', stack: 'default', cell: 'web' }, { mode: 'kill' });
      await following;
      expect(got.join('')).toBe('before\nafter\n');
    } finally {
      await client.close();
    }
  });
});
