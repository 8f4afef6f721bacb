import { describe, expect, it } from 'vitest';
import { isKukeError } from '../../../src/errors.js';
import { buildConflist, checkNetworkSpec, parseConflist, pickCniVersion, pluginConfig, specOf } from '../../../src/runtime/cni/conflist.js';
import { parseReservation } from '../../../src/runtime/cni/ipam.js';
import { masqueradeChain, masqueradeComment, parseMasqueradeRules } from '../../../src/runtime/cni/masquerade.js';
import { parseForwardedPorts, parsePortmapRules, portmapChain } from '../../../src/runtime/cni/portmap.js';

const spec = { name: 'default-default', bridge: 'k-703e8b3a', subnet: '10.88.0.0/24', ipMasq: true };

describe('space network conflists', () => {
  it('lists bridge (gateway, masquerade, the ips capability, host-local with a default route), loopback, then portmap with its capability', () => {
    expect(buildConflist(spec, '1.0.0', '/opt/kukeon/cni/ipam')).toEqual({
      cniVersion: '1.0.0',
      name: 'default-default',
      plugins: [
        {
          type: 'bridge',
          bridge: 'k-703e8b3a',
          isGateway: true,
          ipMasq: true,
          hairpinMode: true,
          capabilities: { ips: true },
          ipam: { type: 'host-local', ranges: [[{ subnet: '10.88.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: '/opt/kukeon/cni/ipam' },
        },
        { type: 'loopback' },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    });
  });

  it('gives a fixed address to bridge (which hands it to host-local) as runtimeConfig, and to no other plugin', () => {
    const conf = buildConflist(spec, '1.0.0', '/x');
    const [bridge, loopback, portmap] = conf.plugins.map((p) => pluginConfig(conf, p, undefined, { ips: ['10.88.0.7'] }));
    expect(bridge).toMatchObject({ type: 'bridge', runtimeConfig: { ips: ['10.88.0.7'] } });
    expect(loopback).not.toHaveProperty('runtimeConfig');
    expect(portmap).not.toHaveProperty('runtimeConfig');
  });

  it('reads the spec back from what it wrote', () => {
    const text = JSON.stringify(buildConflist(spec, '0.4.0', '/x'));
    expect(specOf(parseConflist(text, '/x/n.conflist'))).toEqual(spec);
  });

  it.each([
    ['a bridge name longer than IFNAMSIZ allows', { ...spec, bridge: 'kuke-default-default' }],
    ['a bridge name with a slash', { ...spec, bridge: 'k/1' }],
    ['a network name with a slash', { ...spec, name: '../etc' }],
    ['a network name with upper case', { ...spec, name: 'Default' }],
    ['a subnet with host bits', { ...spec, subnet: '10.88.0.1/24' }],
    ['a subnet that is not a CIDR', { ...spec, subnet: '10.88.0.0' }],
    ['an octet over 255', { ...spec, subnet: '10.300.0.0/24' }],
    ['a /31', { ...spec, subnet: '10.88.0.0/31' }],
  ])('rejects %s', (_what, bad) => {
    expect(() => checkNetworkSpec(bad)).toThrow(expect.objectContaining({ kind: 'InvalidArgument' }));
  });

  it.each([
    ['not JSON', '{'],
    ['no plugins', '{"name":"n","cniVersion":"1.0.0"}'],
    ['a plugin without type', '{"name":"n","cniVersion":"1.0.0","plugins":[{}]}'],
  ])('calls a conflist with %s data loss', (_what, text) => {
    expect(() => parseConflist(text, '/x/n.conflist')).toThrow(expect.objectContaining({ kind: 'DataLoss' }));
  });

  it('builds each plugin config as libcni does: name, cniVersion and prevResult injected', () => {
    const conf = buildConflist(spec, '1.0.0', '/x');
    const prev = { cniVersion: '1.0.0', ips: [{ address: '10.88.0.2/24' }] };
    expect(pluginConfig(conf, conf.plugins[1]!, prev)).toEqual({ type: 'loopback', name: 'default-default', cniVersion: '1.0.0', prevResult: prev });
    expect(pluginConfig(conf, conf.plugins[1]!)).not.toHaveProperty('prevResult');
  });

  it('gives runtimeConfig only to the plugins that declare the capability, as libcni does', () => {
    const conf = buildConflist(spec, '1.0.0', '/x');
    const portMappings = [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' as const }];
    expect(pluginConfig(conf, conf.plugins[2]!, undefined, { portMappings, ips: ['10.88.0.5'] })).toEqual({
      type: 'portmap',
      capabilities: { portMappings: true },
      name: 'default-default',
      cniVersion: '1.0.0',
      runtimeConfig: { portMappings },
    });
    expect(pluginConfig(conf, conf.plugins[0]!, undefined, { portMappings })).not.toHaveProperty('runtimeConfig');
  });

  it('speaks 1.0.0 when every plugin does, 0.4.0 when one lags, and refuses when they share neither', () => {
    const all = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0'];
    expect(pickCniVersion({ bridge: all, 'host-local': all, loopback: all })).toBe('1.0.0');
    expect(pickCniVersion({ bridge: all, 'host-local': all.slice(0, 5), loopback: all })).toBe('0.4.0');
    const err = (() => {
      try {
        pickCniVersion({ bridge: ['0.3.1'], loopback: all });
      } catch (e) {
        return e;
      }
    })();
    expect(isKukeError(err, 'FailedPrecondition')).toBe(true);
    expect((err as Error).message).toContain('bridge: 0.3.1');
  });
});

describe('host-local reservations', () => {
  it('reads the id and interface, in the current and the pre-0.8 format', () => {
    expect(parseReservation('a_b_c_root\r\neth0')).toEqual({ containerId: 'a_b_c_root', ifname: 'eth0' });
    expect(parseReservation('a_b_c_root')).toEqual({ containerId: 'a_b_c_root' });
  });
});

describe('masquerade chains', () => {
  it('derives the chain name as the plugins do (CNI- and 24 hex of sha512(network + id))', () => {
    expect(masqueradeChain('default-default', 'default_default_web_root')).toBe('CNI-9ddda35618833bbbfcffd683');
    expect(masqueradeComment('default-default', 'x_y_z_root')).toBe('name: "default-default" id: "x_y_z_root"');
  });

  it('finds the plugin hooks in an iptables -S listing and nothing else', () => {
    const listing = [
      '-P POSTROUTING ACCEPT',
      '-A POSTROUTING -s 10.88.0.2/32 -m comment --comment "name: \\"default-default\\" id: \\"a_b_c_root\\"" -j CNI-9ddda35618833bbbfcffd683',
      '-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE',
      '-A POSTROUTING -m comment --comment "something else" -j CNI-000000000000000000000000',
    ].join('\n');
    expect(parseMasqueradeRules(listing)).toEqual([{ chain: 'CNI-9ddda35618833bbbfcffd683', source: '10.88.0.2/32', network: 'default-default', containerId: 'a_b_c_root' }]);
  });
});

describe('port forwarding chains', () => {
  it('derives the chain name as portmap does (CNI-DN- and 21 hex of sha512(network + id))', () => {
    expect(portmapChain('default-default', 'default_default_web_root')).toBe(`CNI-DN-${masqueradeChain('default-default', 'default_default_web_root').slice(4, 25)}`);
    expect(portmapChain('n', 'c')).toHaveLength(28);
  });

  it('finds the attachments jumped to from CNI-HOSTPORT-DNAT, once each, and nothing else', () => {
    const comment = '--comment "dnat name: \\"default.default.0123abcd\\" id: \\"a_b_c_root\\""';
    const listing = [
      '-N CNI-HOSTPORT-DNAT',
      `-A CNI-HOSTPORT-DNAT -p tcp -m comment ${comment} -m multiport --dports 8080 -j CNI-DN-9ddda35618833bbbfcffd`,
      `-A CNI-HOSTPORT-DNAT -p udp -m comment ${comment} -m multiport --dports 53 -j CNI-DN-9ddda35618833bbbfcffd`,
      '-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "someone else" -j CNI-DN-000000000000000000000',
    ].join('\n');
    expect(parsePortmapRules(listing)).toEqual([{ chain: 'CNI-DN-9ddda35618833bbbfcffd', network: 'default.default.0123abcd', containerId: 'a_b_c_root' }]);
  });

  it('reads the forwarded host ports from the attachments\' DNAT rules, with their host address and owner', () => {
    const chain = 'CNI-DN-9ddda35618833bbbfcffd';
    const listing = [
      `-A CNI-DN-9ddda35618833bbbfcffd -s 10.86.0.0/24 -d 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK`,
      `-A ${chain} -d 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.86.0.2:80`,
      `-A ${chain} -p udp -m udp --dport 5353 -j DNAT --to-destination 10.86.0.2:53`,
      '-A CNI-DN-000000000000000000000 -p tcp -m tcp --dport 9 -j DNAT --to-destination 10.0.0.2:9',
      `-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"n\\" id: \\"a_b_c_root\\"" -m multiport --dports 8080 -j ${chain}`,
    ].join('\n');
    const owner = { chain, network: 'n', containerId: 'a_b_c_root' };
    expect(parseForwardedPorts(listing)).toEqual([
      { ...owner, protocol: 'tcp', port: 8080, address: '127.0.0.1' },
      { ...owner, protocol: 'udp', port: 5353 },
    ]);
  });
});
