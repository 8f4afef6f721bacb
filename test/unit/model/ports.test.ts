import { describe, expect, it } from 'vitest';
import { isKukeError } from '../../../src/errors.js';
import { bindingsOverlap, cellPortsProblem, formatPort, parsePublish, portMappingsOf } from '../../../src/model/ports.js';
import type { ContainerTemplate } from '../../../events/specs.js';
import { template } from '../../support/fake-engine.js';

const container = (name: string, extra: Partial<ContainerTemplate> = {}): ContainerTemplate => ({ ...template().containers[0]!, name, ...extra });

describe('-p / --publish (Docker spelling)', () => {
  it.each([
    ['8080:80', { containerPort: 80, hostPort: 8080, protocol: 'tcp' }],
    ['8080:80/udp', { containerPort: 80, hostPort: 8080, protocol: 'udp' }],
    ['8080:80/TCP', { containerPort: 80, hostPort: 8080, protocol: 'tcp' }],
    ['127.0.0.1:8080:80', { containerPort: 80, hostPort: 8080, hostIP: '127.0.0.1', protocol: 'tcp' }],
    ['0.0.0.0:53:53/udp', { containerPort: 53, hostPort: 53, protocol: 'udp' }],
    ['65535:1', { containerPort: 1, hostPort: 65535, protocol: 'tcp' }],
  ])('reads %s', (value, port) => {
    expect(parsePublish(value)).toEqual(port);
  });

  it.each([
    ['80', 'it names no host port'],
    [':80', 'it names no host port'],
    ['127.0.0.1::80', 'it names no host port'],
    ['8080:80/sctp', 'protocol "sctp" is not tcp or udp'],
    ['8080:0', 'container port "0" is not between 1 and 65535'],
    ['70000:80', 'host port "70000" is not between 1 and 65535'],
    ['http:80', 'host port "http" is not a port number'],
    ['8080-8081:80-81', 'port ranges are not supported'],
    ['localhost:8080:80', 'host address "localhost" is not an IPv4 address'],
    ['300.1.1.1:8080:80', 'host address "300.1.1.1" is not an IPv4 address'],
    ['[::1]:8080:80', 'IPv6 host addresses are not supported'],
    ['', 'it names no host port'],
  ])('refuses %j with one line naming the value', (value, why) => {
    let err: unknown;
    try {
      parsePublish(value);
    } catch (e) {
      err = e;
    }
    expect(isKukeError(err, 'InvalidArgument')).toBe(true);
    expect((err as Error).message.startsWith(`invalid -p ${JSON.stringify(value)}: ${why}`)).toBe(true);
    expect((err as Error).message).not.toContain('\n');
  });
});

describe('ports of a cell', () => {
  it('prints ports as docker ps does', () => {
    expect(formatPort({ containerPort: 80, hostPort: 8080, protocol: 'tcp' })).toBe('0.0.0.0:8080->80/tcp');
    expect(formatPort({ containerPort: 53, hostPort: 5353, hostIP: '127.0.0.1', protocol: 'udp' })).toBe('127.0.0.1:5353->53/udp');
    expect(formatPort({ containerPort: 9090, protocol: 'tcp' })).toBe('9090/tcp');
  });

  it('publishes the union of its containers\' published ports, and not the ports only declared', () => {
    const template = {
      root: 'web',
      containers: [
        container('web', { ports: [{ containerPort: 80, hostPort: 8080, hostIP: '127.0.0.1', protocol: 'tcp' }, { containerPort: 9090, protocol: 'tcp' }] }),
        container('dns', { ports: [{ containerPort: 53, hostPort: 5353, protocol: 'udp' }] }),
        container('quiet'),
      ],
    };
    expect(portMappingsOf(template)).toEqual([
      { hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '127.0.0.1' },
      { hostPort: 5353, containerPort: 53, protocol: 'udp' },
    ]);
    expect(cellPortsProblem(template)).toBeUndefined();
  });

  it('sees two bindings collide on the same protocol and port when one binds every address or both bind the same one', () => {
    expect(bindingsOverlap({ protocol: 'tcp', port: 8080 }, { protocol: 'tcp', port: 8080, address: '127.0.0.1' })).toBe(true);
    expect(bindingsOverlap({ protocol: 'tcp', port: 8080, address: '127.0.0.1' }, { protocol: 'tcp', port: 8080, address: '127.0.0.1' })).toBe(true);
    expect(bindingsOverlap({ protocol: 'tcp', port: 8080, address: '127.0.0.1' }, { protocol: 'tcp', port: 8080, address: '10.0.0.5' })).toBe(false);
    expect(bindingsOverlap({ protocol: 'tcp', port: 8080 }, { protocol: 'udp', port: 8080 })).toBe(false);
    expect(bindingsOverlap({ protocol: 'tcp', port: 8080 }, { protocol: 'tcp', port: 8081 })).toBe(false);
  });

  it('allows one container port published on two host ports, not one host port published twice', () => {
    const twoHostPorts = { root: 'web', containers: [container('web', { ports: [{ containerPort: 80, hostPort: 8080, protocol: 'tcp' }, { containerPort: 80, hostPort: 8081, protocol: 'tcp' }] })] };
    expect(cellPortsProblem(twoHostPorts)).toBeUndefined();
    const sameHostPort = { root: 'web', containers: [container('web', { ports: [{ containerPort: 80, hostPort: 8080, protocol: 'udp' }] }), container('side', { ports: [{ containerPort: 81, hostPort: 8080, protocol: 'udp' }] })] };
    expect(cellPortsProblem(sameHostPort)).toBe('host port *:8080/udp is published twice (0.0.0.0:8080->80/udp and 0.0.0.0:8080->81/udp)');
  });
});
