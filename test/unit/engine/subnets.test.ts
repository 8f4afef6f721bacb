/**
 * Subnet allocation: the first /24 of the pod subnet that no live space holds and no link of the host is on, so a
 * second install with the same pod subnet takes the next /24s instead of the first install's.
 */
import { describe, expect, it } from 'vitest';
import { allocateSubnet } from '../../../src/engine/subnets.js';
import { connectedSubnets } from '../../../src/runtime/cni/ipam.js';

describe('allocateSubnet', () => {
  it.each([
    [[], '10.88.0.0/24'],
    [['10.88.0.0/24'], '10.88.1.0/24'],
    [['10.88.0.0/24', '10.88.2.0/24'], '10.88.1.0/24'],
    [['10.88.0.0/23'], '10.88.2.0/24'],
    [['10.88.0.128/25'], '10.88.1.0/24'],
    [['192.168.1.0/24', '172.17.0.0/16'], '10.88.0.0/24'],
  ])('with %j taken picks %s', (taken, expected) => {
    expect(allocateSubnet('10.88.0.0/16', taken)).toBe(expected);
  });

  it('refuses when a link covers the whole pod subnet', () => {
    expect(() => allocateSubnet('10.88.0.0/22', ['10.88.0.0/16'])).toThrow(/no free \/24 left in pod subnet 10\.88\.0\.0\/22/);
  });
});

describe('connectedSubnets (/proc/net/route)', () => {
  const table = [
    'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
    'eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0',
    'eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
    'k-703e8b3a\t0000580A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
    'docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0',
    'tun0\t0000000A\t0100A8C0\t0003\t0\t0\t0\t000000FF\t0\t0\t0',
    'k-703e8b3a\t0000580A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0',
    '',
  ].join('\n');

  it('lists the subnets links are directly on, not the default route or routes through a gateway', () => {
    expect(connectedSubnets(table)).toEqual(['10.88.0.0/24', '172.17.0.0/16', '192.0.2.0/24']);
  });

  it('reads the table of this host without failing', async () => {
    const { readFileSync } = await import('node:fs');
    for (const cidr of connectedSubnets(readFileSync('/proc/net/route', 'utf8'))) expect(cidr).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
  });
});
