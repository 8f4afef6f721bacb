/**
 * Subnet allocation: the first /24 of the pod subnet that no live space holds and the host neither routes nor is
 * addressed in, so a space never shares a range with another install, Podman, Docker or a VPN.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_POD_SUBNET, resolveEngineConfig } from '../../../src/engine/config.js';
import { allocateSubnet } from '../../../src/engine/subnets.js';
import { ipAddrSubnets, ipRouteSubnets, procRouteSubnets, subnetOf } from '../../../src/runtime/cni/host-subnets.js';
import { resolveSettings } from '../../../src/settings.js';

describe('allocateSubnet', () => {
  it.each([
    [[], '10.86.0.0/24'],
    [['10.86.0.0/24'], '10.86.1.0/24'],
    [['10.86.0.0/24', '10.86.2.0/24'], '10.86.1.0/24'],
    [['10.86.0.0/23'], '10.86.2.0/24'],
    [['10.86.0.128/25'], '10.86.1.0/24'],
    [['10.86.0.7/32'], '10.86.1.0/24'],
    [['192.168.1.0/24', '172.17.0.0/16', '10.88.0.0/16'], '10.86.0.0/24'],
  ])('with %j taken picks %s', (taken, expected) => {
    expect(allocateSubnet('10.86.0.0/16', taken)).toBe(expected);
  });

  it('refuses when the host routes the whole pod subnet, naming what covers it', () => {
    expect(() => allocateSubnet('10.86.0.0/22', ['192.0.2.0/24', '10.0.0.0/8'])).toThrow(/^no free \/24 left in pod subnet 10\.86\.0\.0\/22: spaces and the host's routes or addresses use 10\.0\.0\.0\/8$/);
  });
});

describe('the default pod subnet', () => {
  it('is 10.86.0.0/16, which overlaps none of the ranges Podman, Docker, k3s, flannel or Kubernetes use by default', () => {
    expect(DEFAULT_POD_SUBNET).toBe('10.86.0.0/16');
    expect(resolveEngineConfig().podSubnet).toBe(DEFAULT_POD_SUBNET);
    expect(resolveSettings({}, {}).engine.podSubnet).toBe(DEFAULT_POD_SUBNET);
    const peers = ['10.88.0.0/16', '10.89.0.0/16', '10.90.0.0/15', '10.92.0.0/14', '10.96.0.0/11', '10.128.0.0/9', '172.16.0.0/12', '192.168.0.0/16', '10.42.0.0/16', '10.43.0.0/16', '10.244.0.0/16', '10.32.0.0/12', '10.4.0.0/24'];
    // With every one of them taken, the first /24 is still free.
    expect(allocateSubnet(DEFAULT_POD_SUBNET, peers)).toBe('10.86.0.0/24');
  });

  it('gives way to --pod-subnet and KUKEON_POD_SUBNET', () => {
    expect(resolveSettings({ podSubnet: '10.77.0.0/16' }, {}).engine.podSubnet).toBe('10.77.0.0/16');
    expect(resolveSettings({}, { KUKEON_POD_SUBNET: '10.78.0.0/16' }).engine.podSubnet).toBe('10.78.0.0/16');
  });
});

describe('subnetOf', () => {
  it.each([
    ['10.86.3.7', 24, '10.86.3.0/24'],
    ['192.0.2.2', 32, '192.0.2.2/32'],
    ['172.17.5.1', 16, '172.17.0.0/16'],
    ['0.0.0.0', 0, '0.0.0.0/0'],
  ])('%s/%d is in %s', (ip, prefix, expected) => {
    expect(subnetOf(ip, prefix)).toBe(expected);
  });

  it.each([['10.86.3', 24], ['10.86.3.256', 24], ['10.86.3.1', 33], ['fe80::1', 64]])('rejects %s/%d', (ip, prefix) => {
    expect(subnetOf(ip, prefix)).toBeUndefined();
  });
});

describe('procRouteSubnets (/proc/net/route)', () => {
  const table = [
    'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
    'eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0',
    'eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
    'k-703e8b3a\t0000560A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
    'docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0',
    'tun0\t0000000A\t0100A8C0\t0003\t0\t0\t0\t000000FF\t0\t0\t0',
    'tun0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000080\t0\t0\t0',
    'k-703e8b3a\t0000560A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0',
    '',
  ].join('\n');

  it('lists every destination, through a gateway too, but not the default route or a /1 catch-all', () => {
    expect(procRouteSubnets(table)).toEqual(['10.0.0.0/8', '10.86.0.0/24', '172.17.0.0/16', '192.0.2.0/24']);
  });

  it('reads the table of this host without failing', async () => {
    const { readFileSync } = await import('node:fs');
    for (const cidr of procRouteSubnets(readFileSync('/proc/net/route', 'utf8'))) expect(cidr).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
  });
});

describe('ipRouteSubnets (ip -j -4 route show table all)', () => {
  it('lists destinations of every table, host routes as /32, without default and catch-alls', () => {
    const json = JSON.stringify([
      { dst: 'default', gateway: '192.0.2.1', dev: 'eth0' },
      { dst: '192.0.2.0/24', dev: 'eth0', scope: 'link' },
      { dst: '10.88.0.0/16', dev: 'podman0', scope: 'link' },
      { dst: '10.86.5.0/24', gateway: '192.0.2.9', dev: 'eth0' },
      { dst: '0.0.0.0/1', gateway: '10.8.0.1', dev: 'tun0' },
      { dst: '100.64.0.0/10', dev: 'tailscale0', table: '52' },
      { type: 'local', dst: '192.0.2.2', dev: 'eth0', table: 'local' },
      { type: 'unreachable', dst: '10.86.9.0/24' },
    ]);
    expect(ipRouteSubnets(json)).toEqual(['10.86.5.0/24', '10.86.9.0/24', '10.88.0.0/16', '100.64.0.0/10', '192.0.2.0/24', '192.0.2.2/32']);
  });

  it('reads nothing from output that is not a JSON array', () => {
    expect(ipRouteSubnets('')).toEqual([]);
    expect(ipRouteSubnets('{"dst":"10.0.0.0/8"}')).toEqual([]);
  });
});

describe('ipAddrSubnets (ip -j -4 addr show)', () => {
  it('lists the subnet of every IPv4 address, of links that are down too, and of point-to-point peers', () => {
    const json = JSON.stringify([
      { ifname: 'lo', flags: ['LOOPBACK', 'UP'], addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }] },
      { ifname: 'kt0', flags: ['BROADCAST'], operstate: 'DOWN', addr_info: [{ family: 'inet', local: '10.86.0.9', prefixlen: 24 }] },
      { ifname: 'tun0', addr_info: [{ family: 'inet', local: '10.8.0.2', address: '10.8.0.1', prefixlen: 32 }] },
      { ifname: 'eth0', addr_info: [{ family: 'inet6', local: 'fe80::1', prefixlen: 64 }] },
      { ifname: 'eth1' },
    ]);
    expect(ipAddrSubnets(json)).toEqual(['10.8.0.1/32', '10.8.0.2/32', '10.86.0.0/24', '127.0.0.0/8']);
  });
});
