import { describe, expect, it } from 'vitest';
import { parseProcNet } from '../../../src/runtime/cni/host-sockets.js';

const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';

describe('sockets of the host (/proc/net)', () => {
  it('reads TCP listeners with their IPv4 address, and skips connections', () => {
    const tcp = [
      HEADER,
      '   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0',
      '   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000000000000 100 0 0 10 0',
      '   2: 0A00000A:0016 0200000A:C350 01 00000000:00000000 02:000AFD5E 00000000     0        0 1003 4 0000000000000000 20 4 29 10 -1',
    ].join('\n');
    expect(parseProcNet(tcp, 'tcp')).toEqual([
      { protocol: 'tcp', port: 22 },
      { protocol: 'tcp', port: 8080, address: '127.0.0.1' },
    ]);
  });

  it('reads IPv6 listeners that take IPv4 traffic (:: and ::ffff:a.b.c.d), not IPv6-only addresses', () => {
    const tcp6 = [
      HEADER,
      '   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2001 1 0000000000000000 100 0 0 10 0',
      '   1: 0000000000000000FFFF00000100007F:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2002 1 0000000000000000 100 0 0 10 0',
      '   2: 00000000000000000000000001000000:1F92 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2003 1 0000000000000000 100 0 0 10 0',
    ].join('\n');
    expect(parseProcNet(tcp6, 'tcp')).toEqual([
      { protocol: 'tcp', port: 8080 },
      { protocol: 'tcp', port: 8081, address: '127.0.0.1' },
    ]);
  });

  it('reads bound, unconnected UDP sockets and skips connected ones', () => {
    const udp = [
      HEADER,
      '  10: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 3001 2 0000000000000000 0',
      '  11: 0A00000A:B1C2 0800000A:0035 01 00000000:00000000 00:00000000 00000000     0        0 3002 2 0000000000000000 0',
    ].join('\n');
    expect(parseProcNet(udp, 'udp')).toEqual([{ protocol: 'udp', port: 53, address: '127.0.0.53' }]);
  });
});
