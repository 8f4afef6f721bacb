/**
 * Cell addresses through kuke and kukeond (issue 10, item 6), on real CNI: a cell keeps its address across
 * stop/start even when another cell started meanwhile; `--ip` gives a cell the address asked for (eth0 in its netns
 * has it, `get -o yaml` shows it); an ip outside the space's subnet, its gateway, or one another cell holds is
 * refused with one line and nothing created.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { expectOneLineError, useInitializedHost, type E2eHost } from '../support/e2e.js';
import { statusOf } from '../support/documents.js';

const hostOf = useInitializedHost({ subnet: '10.249.0.0/18', tag: 'ad' });
const IMAGE = 'kukeon.local/busybox:test';
const SLEEP = ['--image', IMAGE, '--arg', 'sleep', '--arg', '3600'];

interface CellJson {
  state: string;
  address: string | null;
  rootPid: number | null;
}

async function cell(host: E2eHost, name: string): Promise<CellJson> {
  const r = await host.kuke(['get', 'cell', name, '-o', 'json']);
  expect(r.code, r.stderr).toBe(0);
  return statusOf<CellJson>(r.stdout);
}

/** The IPv4 addresses on eth0 inside the cell's network namespace (the kernel's view, not kukeon's). */
function eth0(view: CellJson): string[] {
  const out = execFileSync('nsenter', [`--net=/proc/${view.rootPid}/ns/net`, 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'], { encoding: 'utf8' });
  return [...out.matchAll(/inet (\S+)/g)].map((m) => m[1]!);
}

describe('cell addresses', () => {
  let prefix = '';

  it('gives a new cell the first free address of its space, on eth0 from its start', async () => {
    const host = hostOf();
    expect((await host.kuke(['image', 'load', host.testImage.path])).code).toBe(0);
    const space = statusOf<{ network: { subnet: string } }>((await host.kuke(['get', 'space', 'default', '-o', 'json'])).stdout);
    prefix = space.network.subnet.replace(/\.0\/24$/, '');
    const r = await host.kuke(['create', 'cell', 'a', ...SLEEP, '--start']);
    expect(r.code, r.stderr).toBe(0);
    const a = await cell(host, 'a');
    expect(a.address).toBe(`${prefix}.2/24`);
    expect(eth0(a)).toEqual([`${prefix}.2/24`]);
  });

  it('keeps the address across stop/start, although a cell started meanwhile would have taken it from the pool', async () => {
    const host = hostOf();
    expect((await host.kuke(['stop', 'cell', 'a', '--timeout', '1s'])).code).toBe(0);
    expect((await host.kuke(['create', 'cell', 'b', ...SLEEP, '--start'])).code).toBe(0);
    const b = await cell(host, 'b');
    expect(b.address).toBe(`${prefix}.3/24`);
    const start = await host.kuke(['start', 'cell', 'a']);
    expect(start.code, start.stderr).toBe(0);
    const a = await cell(host, 'a');
    expect(a.address).toBe(`${prefix}.2/24`);
    expect(eth0(a)).toEqual([`${prefix}.2/24`]);
    expect((await host.kuke(['restart', 'cell', 'a', '--timeout', '1s'])).code).toBe(0);
    expect(eth0(await cell(host, 'a'))).toEqual([`${prefix}.2/24`]);
  });

  it('honours --ip, shows it in get -o yaml, and a cell created afterwards does not take it', async () => {
    const host = hostOf();
    const r = await host.kuke(['create', 'cell', 'fixed', ...SLEEP, '--ip', `${prefix}.77`, '--start']);
    expect(r.code, r.stderr).toBe(0);
    const fixed = await cell(host, 'fixed');
    expect(fixed.address).toBe(`${prefix}.77/24`);
    expect(eth0(fixed)).toEqual([`${prefix}.77/24`]);
    const yaml = await host.kuke(['get', 'cell', 'fixed', '-o', 'yaml']);
    expect(yaml.stdout).toMatch(new RegExp(`\\n {2}address: ${prefix.replace(/\./g, '\\.')}\\.77/24\\n`));
    expect((await host.kuke(['stop', 'cell', 'fixed', '--timeout', '1s'])).code).toBe(0);
    expect((await host.kuke(['create', 'cell', 'c', ...SLEEP, '--start'])).code).toBe(0);
    expect((await cell(host, 'c')).address).toBe(`${prefix}.4/24`);
    expect((await host.kuke(['start', 'cell', 'fixed'])).code).toBe(0);
    expect(eth0(await cell(host, 'fixed'))).toEqual([`${prefix}.77/24`]);
  });

  it.each([
    ['held by another cell', () => `${prefix}.2`, /ip \S+\.2 is already held by cell "a" \(stack "default"\) in space "default"/],
    ['outside the subnet', () => '192.0.2.9', /ip 192\.0\.2\.9 cannot be used: it is outside the space's subnet/],
    ['the gateway', () => `${prefix}.1`, /cannot be used: it is the gateway of/],
    ['the broadcast address', () => `${prefix}.255`, /cannot be used: it is the broadcast address of/],
  ])('refuses an --ip %s with one line, and creates nothing', async (_what, ip, says) => {
    const host = hostOf();
    const before = (await host.kuke(['history', 'verify', '-o', 'json'])).stdout;
    const r = await host.kuke(['create', 'cell', 'refused', ...SLEEP, '--ip', ip(), '--start']);
    expect(expectOneLineError(r)).toMatch(says);
    expect(r.stderr).not.toMatch(/bug/);
    expect(JSON.parse((await host.kuke(['history', 'verify', '-o', 'json'])).stdout).headSeq).toBe(JSON.parse(before).headSeq);
    expect((await host.kuke(['get', 'cell', 'refused'])).code).toBe(1);
  });
});
