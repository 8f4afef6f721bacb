/**
 * Issue 12 items 4 and 6 through kuke and kukeond on a real containerd: honest cell states (Degraded with restart
 * counts that a daemon restart keeps; an exited cell's code and OOMKilled in `kuke get cells`), autoDelete, and
 * `kuke run` (output, exit codes, --rm leaving nothing behind, -d then logs -f).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { statusOf } from '../support/documents.js';
import { networkStateOf, until, useInitializedHost, type E2eHost } from '../support/e2e.js';

const getHost = useInitializedHost({ subnet: '10.242.0.0/18', tag: 'rs', loadImage: true });

interface ContainerJson {
  name: string;
  state: string;
  exitCode: number | null;
  oomKilled: boolean;
  restarts: number;
}
interface CellJson {
  state: string;
  containers: ContainerJson[];
}
interface EventJson {
  seq: number;
  stream: string;
  type: string;
  data: Record<string, unknown>;
  actor: { type: string; name?: string };
}

const cell = async (name: string) => {
  const r = await getHost().kuke(['get', 'cell', name, '-o', 'json']);
  return r.code === 0 ? statusOf<CellJson>(r.stdout) : undefined;
};
const history = async (name: string) => JSON.parse((await getHost().kuke(['history', 'cell', name, '-o', 'json'])).stdout) as EventJson[];
const apply = async (yaml: string) => {
  const r = await getHost().kuke(['apply', '-f', '-'], { input: yaml });
  expect(r.code, r.stderr).toBe(0);
};
const image = () => getHost().testImage.ref;

/** A Cell manifest of the default stack; `extra` lines go under spec, `containers` as given (YAML flow maps). */
function manifest(name: string, containers: string[], extra: string[] = []): string {
  return ['kind: Cell', `metadata: {name: ${name}}`, 'spec:', '  realmId: default', '  spaceId: default', '  stackId: default', ...extra.map((l) => `  ${l}`), '  containers:', ...containers.map((c) => `    - ${c}`), ''].join('\n');
}

function dirsUnder(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((name) => {
    const path = join(root, name);
    return statSync(path).isDirectory() ? [path, ...dirsUnder(path)] : [];
  });
}

/** What a cell named `name` could leave behind on this host: containerd containers, cgroups, log directory, netns state. */
function leftoversOf(host: E2eHost, name: string): string[] {
  const out: string[] = [];
  const ctr = (args: string[]) => execFileSync('ctr', ['-a', host.ctrd.address, ...args], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const ns of ctr(['namespaces', 'ls', '-q'])) {
    for (const c of ctr(['-n', ns, 'containers', 'ls', '-q'])) if (c.includes(`_${name}_`)) out.push(`container ${ns}/${c}`);
    for (const t of ctr(['-n', ns, 'tasks', 'ls', '-q'])) if (t.includes(`_${name}_`)) out.push(`task ${ns}/${t}`);
    for (const s of ctr(['-n', ns, 'snapshots', 'ls']).slice(1)) if (s.includes(`_${name}_`)) out.push(`snapshot ${ns}/${s}`);
  }
  for (const controller of ['memory', 'pids', 'cpu']) for (const d of dirsUnder(join('/sys/fs/cgroup', controller, host.cgroupRoot))) if (d.endsWith(`/${name}`) || d.includes(`/${name}/`)) out.push(`cgroup ${d}`);
  const logs = join(host.runPath, 'logs', 'default', 'default', 'default', name);
  if (existsSync(logs)) out.push(`logs ${logs}`);
  return out;
}

describe('honest cell states', () => {
  it('makes the cell of a crash-looping sidecar Degraded with a growing restart count, which kuke daemon restart keeps', async () => {
    const host = getHost();
    await apply(manifest('loop', [`{id: main, image: ${image()}, args: [sleep, '3600']}`, `{id: side, image: ${image()}, args: [sh, -c, 'exit 1'], restartPolicy: always, restartBackoffSeconds: 1}`]));
    const side = (c: CellJson | undefined) => c?.containers.find((k) => k.name === 'side');
    const looping = await until(() => cell('loop'), (c) => c?.state === 'Degraded' && (side(c)?.restarts ?? 0) >= 2);
    expect(side(looping)).toMatchObject({ exitCode: 1 });
    const wide = await host.kuke(['get', 'cells', '-o', 'wide']);
    expect(wide.stdout).toMatch(/\nloop +default +default +default +Degraded +\S+ +1\/2 +[2-9]\d* /);

    const before = (await history('loop')).filter((e) => e.type === 'RestartScheduled');
    const restart = await host.local(['daemon', 'restart']);
    expect(restart.code, restart.stderr).toBe(0);
    const after = await cell('loop');
    expect(after?.state).toBe('Degraded');
    expect(side(after)!.restarts).toBeGreaterThanOrEqual(side(looping)!.restarts);
    // The row goes on where it was: the next restart scheduled after the daemon's restart is not attempt 1 again.
    const lastSeq = before.at(-1)!.seq;
    const next = await until(() => history('loop'), (events) => events.some((e) => e.type === 'RestartScheduled' && e.seq > lastSeq));
    const scheduled = next.find((e) => e.type === 'RestartScheduled' && e.seq > lastSeq)!;
    expect(scheduled.data.attempt).toBeGreaterThan(1);
    expect(scheduled.actor).toEqual({ type: 'engine', name: 'restart policy always' });
    await until(() => cell('loop'), (c) => (side(c)?.restarts ?? 0) > side(after)!.restarts);
    expect((await host.kuke(['delete', 'cell', 'loop'])).code).toBe(0);
  });

  it("shows an exited cell's code, and OOMKilled when the kernel killed its root for memory, in kuke get cells", async () => {
    const host = getHost();
    const seven = await host.kuke(['run', '-d', '--name', 'seven', image(), 'sh', '-c', 'exit 7']);
    expect(seven.code, seven.stderr).toBe(0);
    await apply(manifest('hog', [`{id: main, image: ${image()}, args: [sh, -c, 'head -c 200m /dev/zero | tail'], resources: {memoryLimitBytes: 16777216}}`]));
    await until(() => cell('hog'), (c) => c?.state === 'Exited', 60_000);
    await until(() => cell('seven'), (c) => c?.state === 'Exited');
    const table = await host.kuke(['get', 'cells']);
    expect(table.stdout).toMatch(/\nseven +default +default +default +Exited \(7\) /);
    expect(table.stdout).toMatch(/\nhog +default +default +default +Exited \(137[^)]*, OOMKilled\) /);
    expect((await cell('hog'))?.containers[0]).toMatchObject({ oomKilled: true, exitCode: 137 });
  });
});

describe('autoDelete and kuke run', () => {
  it('deletes an applied autoDelete cell once its root exits, naming autoDelete in history, and leaves nothing behind', async () => {
    const host = getHost();
    await apply(manifest('brief', [`{id: main, image: ${image()}, args: [sh, -c, 'echo bye; sleep 1']}`], ['autoDelete: true']));
    await until(() => host.kuke(['get', 'cell', 'brief']), (r) => r.code === 1, 30_000);
    const del = (await history('brief')).find((e) => e.type === 'DeleteCell');
    expect(del?.actor).toEqual({ type: 'engine', name: 'autoDelete' });
    expect(leftoversOf(host, 'brief')).toEqual([]);
  });

  it("prints the container's output and exits 0 or 7 as it does; --rm leaves nothing behind", async () => {
    const host = getHost();
    const net = networkStateOf(host);
    const hi = await host.kuke(['run', '--rm', '--name', 'hi', image(), 'echo', 'hi']);
    expect(hi, hi.stderr).toMatchObject({ code: 0, stdout: 'hi\n' });
    const seven = await host.kuke(['run', '--rm', '--name', 'sevenrm', image(), 'sh', '-c', 'echo out; echo err >&2; exit 7']);
    expect(seven.code, seven.stderr).toBe(7);
    expect(seven.stdout).toContain('out\n');
    for (const name of ['hi', 'sevenrm']) {
      expect((await host.kuke(['get', 'cell', name])).code).toBe(1);
      expect(leftoversOf(host, name)).toEqual([]);
    }
    expect(networkStateOf(host)).toEqual(net);
  });

  it('runs -d with a generated name, whose output kuke logs -f prints until the cell stops', async () => {
    const host = getHost();
    const r = await host.kuke(['run', '-d', image(), 'sh', '-c', 'echo one; sleep 1; echo two']);
    expect(r.code, r.stderr).toBe(0);
    const name = r.stdout.trim();
    expect(name).toMatch(/^[a-z]+-[a-z]+$/);
    const logs = await host.kuke(['logs', '-f', name]);
    expect(logs, logs.stderr).toMatchObject({ code: 0, stdout: 'one\ntwo\n' });
    expect((await cell(name))?.state).toBe('Exited');
  });
});
