/**
 * `kuke init` and the daemon in its cell, end to end: kuke and kukeond as processes on a private containerd.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupId } from '../../src/daemon/host.js';
import { cgroupOf } from '../support/cgroups.js';
import { startE2eHost, type E2eHost } from '../support/e2e.js';

let host: E2eHost;
const SYS = ['--realm', 'kukeon-system', '--space', 'kukeon', '--stack', 'kukeon'];

beforeAll(async () => {
  host = await startE2eHost({ subnet: '10.254.0.0/16', tag: 'i' });
}, 120_000);
afterAll(async () => {
  await host?.cleanup();
}, 180_000);

describe('kuke init', () => {
  it('bootstraps both realms and runs kukeond in its system-realm cell', async () => {
    const r = await host.local(['init']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Initialized Kukeon runtime\n/);
    expect(r.stdout).toContain(`System realm: kukeon-system (namespace: kukeon-system.${host.suffix})`);
    expect(r.stdout).toMatch(/kukeond is ready \(unix:\/\//);
    // The groups of the three roles (src/api/authorization.ts), each named with what it gives.
    expect(r.stdout).toMatch(/- group kukeon \(gid \d+\) \(operators: workloads in user realms\): (created|already existed)\n/);
    expect(r.stdout).toMatch(/- group kukeon-admin \(gid \d+\) \(admins: everything, root-equivalent\): (created|already existed)\n/);
    expect(r.stdout).toMatch(/- group kukeon-view \(gid \d+\) \(viewers: read-only\): (created|already existed)\n/);
    // The image is this build's (version and bundle hash), imported through the API; the tar is not kept.
    expect(r.stdout).toMatch(/Kukeond image: kukeon\.local\/kukeond:0\.1\.0-[0-9a-f]{12}\n/);
    // It says which range the spaces' /24s come from (this host's --pod-subnet).
    expect(r.stdout).toContain('Pod subnet: 10.254.0.0/16 (each space gets a /24 of it)\n');
    expect(readdirSync(join(host.runPath, 'images'))).toEqual([]);
    const namespaces = execFileSync('ctr', ['-a', host.ctrd.address, 'namespaces', 'ls', '-q'], { encoding: 'utf8' }).split('\n');
    expect(namespaces).toEqual(expect.arrayContaining([`default.${host.suffix}`, `kukeon-system.${host.suffix}`]));

    const cells = await host.kuke(['get', 'cells', ...SYS]);
    expect(cells.code, cells.stderr).toBe(0);
    expect(cells.stdout).toMatch(/^NAME +REALM +SPACE +STACK +STATE +AGE\n-+ +-+ +-+ +-+ +-+ +-+\nkukeond +kukeon-system +kukeon +kukeon +Ready +\d+[smhd]\n$/);

    const pid = host.daemonPid();
    expect(cgroupOf(pid)).toBe(`${host.cgroupRoot}/kukeon-system/kukeon/kukeon/kukeond/kukeon_kukeon_kukeond_root`);
    const st = statSync(host.socket);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o660);
    expect(st.uid).toBe(0);
    expect(st.gid).toBe(groupId('kukeon'));
    expect(statSync(`${host.dir}/run`).mode & 0o777).toBe(0o750);
  });

  it('changes nothing the second time, and says so', async () => {
    const pid = host.daemonPid();
    const headBefore = (await host.kuke(['history', 'cell', 'kukeond', ...SYS, '-o', 'json'])).stdout;
    const r = await host.local(['init']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Kukeon runtime already initialized\n/);
    expect(r.stdout).toContain('cell containers: already running');
    // Through the running daemon, the range is the one kukeond was started with.
    expect(r.stdout).toContain('Pod subnet: 10.254.0.0/16 (each space gets a /24 of it)\n');
    expect(host.daemonPid()).toBe(pid);
    expect((await host.kuke(['history', 'cell', 'kukeond', ...SYS, '-o', 'json'])).stdout).toBe(headBefore);
  });

  it('shows the daemon in the system realm\'s accounting', async () => {
    const r = await host.kuke(['get', 'realms', '-o', 'wide']);
    expect(r.code, r.stderr).toBe(0);
    const row = r.stdout.split('\n').find((l) => l.startsWith('kukeon-system'))!;
    const [, , , ns, cpu, memory] = row.split(/\s{2,}/);
    expect(ns).toBe(`kukeon-system.${host.suffix}`);
    expect(Number.parseFloat(cpu!)).toBeGreaterThan(0);
    expect(memory).toMatch(/Mi$/);
  });

  it('answers version with both the client and the daemon', async () => {
    const r = await host.kuke(['version']);
    expect(r.stdout).toMatch(/^Client: v\S+\nDaemon: v\S+\n$/);
  });
});
