import { describe, expect, it } from 'vitest';
import { ErrorKind, isKukeError } from '../../../src/errors.js';
import { applyIsolation, hookArgs, isolationChains, isolationRules, parseHooks, restoreInput, type IptablesRunner } from '../../../src/runtime/cni/isolation.js';
import { kindOf, thrown } from '../../support/thrown.js';

const ID = '0123456789abcdef';
const A = { network: 'default.a.01234567', bridge: 'k-aaaaaaaa', allowFrom: [] as string[] };
const B = { network: 'default.b.01234567', bridge: 'k-bbbbbbbb', allowFrom: [] as string[] };

/** A host's filter table in memory, driven through the same two calls as the real runner. */
class Table implements IptablesRunner {
  chains = new Map<string, string[]>([['FORWARD', []]]);
  calls: string[] = [];
  async iptables(args: string[]): Promise<string> {
    this.calls.push(args.join(' '));
    if (args.length === 1 && args[0] === '-S') {
      return [...this.chains].map(([c, rules]) => [c === 'FORWARD' ? '-P FORWARD ACCEPT' : `-N ${c}`, ...rules.map((r) => `-A ${c} ${r}`)].join('\n')).join('\n') + '\n';
    }
    const [op, chain, ...rest] = args;
    const rules = this.chains.get(chain!);
    if (!rules) throw new Error(`iptables: No chain/target/match by that name (${chain})`);
    const spec = rest.map((w) => (/\s/.test(w) ? `"${w}"` : w)).join(' ');
    switch (op) {
      case '-S':
        return [`-N ${chain}`, ...rules.map((r) => `-A ${chain} ${r}`)].join('\n') + '\n';
      case '-I':
        rules.unshift(rest.slice(1).map((w) => (/\s/.test(w) ? `"${w}"` : w)).join(' '));
        return '';
      case '-D': {
        const at = rules.indexOf(spec);
        if (at < 0) throw new Error('iptables: Bad rule (does a matching rule exist in that chain?).');
        rules.splice(at, 1);
        return '';
      }
      case '-F':
        rules.length = 0;
        return '';
      case '-X':
        this.chains.delete(chain!);
        return '';
      default:
        throw new Error(`unexpected ${op}`);
    }
  }
  async restore(input: string): Promise<void> {
    this.calls.push('restore');
    for (const line of input.split('\n')) {
      const decl = /^:(\S+) - \[0:0\]$/.exec(line);
      if (decl) this.chains.set(decl[1]!, []);
      const rule = /^-A (\S+) (.*)$/.exec(line);
      if (rule) this.chains.get(rule[1]!)!.push(rule[2]!);
    }
  }
}

describe('isolation rules of an install', () => {
  it('names the chains with the first 8 hex digits of the install, within iptables\' 28 characters', () => {
    expect(isolationChains(ID)).toEqual({ forward: 'KUKEON-FWD-01234567', isolation: 'KUKEON-ISO-01234567' });
    expect(isolationChains(ID).forward.length).toBeLessThanOrEqual(28);
    expect(hookArgs(ID)).toEqual(['-m', 'comment', '--comment', `kukeon ${ID}`, '-j', 'KUKEON-FWD-01234567']);
  });

  it('accepts replies, published ports, same-space traffic and egress, and drops every other new connection into a space', () => {
    expect(isolationRules(ID, [B, A])).toEqual({
      forward: [
        '-A KUKEON-FWD-01234567 -o k-aaaaaaaa -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
        '-A KUKEON-FWD-01234567 -o k-bbbbbbbb -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
        '-A KUKEON-FWD-01234567 -o k-aaaaaaaa -m conntrack --ctstate DNAT -j ACCEPT',
        '-A KUKEON-FWD-01234567 -o k-bbbbbbbb -m conntrack --ctstate DNAT -j ACCEPT',
        '-A KUKEON-FWD-01234567 -o k-aaaaaaaa -j KUKEON-ISO-01234567',
        '-A KUKEON-FWD-01234567 -o k-bbbbbbbb -j KUKEON-ISO-01234567',
        '-A KUKEON-FWD-01234567 -i k-aaaaaaaa ! -o k-+ -j ACCEPT',
        '-A KUKEON-FWD-01234567 -i k-bbbbbbbb ! -o k-+ -j ACCEPT',
      ],
      isolation: [
        '-A KUKEON-ISO-01234567 -i k-aaaaaaaa -o k-aaaaaaaa -j ACCEPT',
        '-A KUKEON-ISO-01234567 -i k-bbbbbbbb -o k-bbbbbbbb -j ACCEPT',
        '-A KUKEON-ISO-01234567 -o k-aaaaaaaa -j DROP',
        '-A KUKEON-ISO-01234567 -o k-bbbbbbbb -j DROP',
      ],
    });
  });

  it('lets the spaces a space allows open connections into it, one way only, and skips names of no live space', () => {
    const iso = isolationRules(ID, [{ ...A, allowFrom: [B.network, 'gone.x.01234567', A.network] }, B]).isolation;
    expect(iso.filter((r) => / -i k-\S+ -o k-\S+ /.test(r) && !/-i (\S+) -o \1 /.test(r))).toEqual(['-A KUKEON-ISO-01234567 -i k-bbbbbbbb -o k-aaaaaaaa -j ACCEPT']);
    expect(iso.indexOf('-A KUKEON-ISO-01234567 -i k-bbbbbbbb -o k-aaaaaaaa -j ACCEPT')).toBeLessThan(iso.indexOf('-A KUKEON-ISO-01234567 -o k-aaaaaaaa -j DROP'));
  });

  it('refuses a bridge name that is not an interface name (it becomes an iptables argument)', () => {
    expect(isKukeError(thrown(() => isolationRules(ID, [{ ...A, bridge: '-j ACCEPT' }])), ErrorKind.Internal)).toBe(true);
  });

  it('defines both chains in one restore transaction, isolation first (the forward chain jumps to it)', () => {
    const text = restoreInput(ID, isolationRules(ID, [A]));
    expect(text.split('\n').slice(0, 3)).toEqual(['*filter', ':KUKEON-ISO-01234567 - [0:0]', ':KUKEON-FWD-01234567 - [0:0]']);
    expect(text.endsWith('COMMIT\n')).toBe(true);
  });

  it('finds the hooks of a chain in a FORWARD listing, with their comment', () => {
    const listing = ['-P FORWARD DROP', '-A FORWARD -m comment --comment "kukeon 0123456789abcdef" -j KUKEON-FWD-01234567', '-A FORWARD -j DOCKER-USER', '-A FORWARD -j KUKEON-FWD-01234567x'].join('\n');
    expect(parseHooks(listing, 'KUKEON-FWD-01234567')).toEqual([{ args: ['-m', 'comment', '--comment', 'kukeon 0123456789abcdef', '-j', 'KUKEON-FWD-01234567'], comment: 'kukeon 0123456789abcdef' }]);
  });
});

describe('applying the isolation rules', () => {
  it('creates the chains and one hook at the top of FORWARD, and changes nothing when applied again', async () => {
    const t = new Table();
    t.chains.get('FORWARD')!.push('-j DOCKER-USER');
    expect(await applyIsolation(ID, [A, B], t)).toEqual({ changed: true });
    expect(t.chains.get('FORWARD')![0]).toBe(`-m comment --comment "kukeon ${ID}" -j KUKEON-FWD-01234567`);
    expect(t.chains.get('KUKEON-ISO-01234567')).toHaveLength(4);
    t.calls.length = 0;
    expect(await applyIsolation(ID, [B, A], t)).toEqual({ changed: false });
    expect(t.calls).toEqual(['-S']);
    expect(t.chains.get('FORWARD')).toHaveLength(2);
  });

  it('rewrites the chains when a space comes, goes or changes what it allows', async () => {
    const t = new Table();
    await applyIsolation(ID, [A], t);
    expect(await applyIsolation(ID, [{ ...A, allowFrom: [B.network] }, B], t)).toEqual({ changed: true });
    expect(t.chains.get('KUKEON-ISO-01234567')).toContain('-i k-bbbbbbbb -o k-aaaaaaaa -j ACCEPT');
    expect(t.chains.get('FORWARD')).toHaveLength(1);
  });

  it('removes the hook and both chains with the last space, and leaves other rules alone', async () => {
    const t = new Table();
    t.chains.get('FORWARD')!.push('-j DOCKER-USER');
    t.chains.set('KUKEON-FWD-fedcba98', ['-j ACCEPT']);
    await applyIsolation(ID, [A], t);
    expect(await applyIsolation(ID, [], t)).toEqual({ changed: true });
    expect([...t.chains.keys()].sort()).toEqual(['FORWARD', 'KUKEON-FWD-fedcba98']);
    expect(t.chains.get('FORWARD')).toEqual(['-j DOCKER-USER']);
    expect(await applyIsolation(ID, [], t)).toEqual({ changed: false });
  });

  it('refuses to touch a chain of its name that another install hooked (same first 8 digits, other id)', async () => {
    const t = new Table();
    await applyIsolation('01234567ffffffff', [B], t);
    const before = JSON.stringify([...t.chains]);
    expect(await kindOf(applyIsolation(ID, [A], t))).toBe(ErrorKind.FailedPrecondition);
    expect(await kindOf(applyIsolation(ID, [], t))).toBe(ErrorKind.FailedPrecondition);
    expect(JSON.stringify([...t.chains])).toBe(before);
  });
});
