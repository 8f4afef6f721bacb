/**
 * Isolation between spaces, in kukeon-owned iptables chains of the filter table (issue 10). Docker's
 * DOCKER-ISOLATION-STAGE-1/2 and netavark's NETAVARK_FORWARD are the models; everything here works whatever the
 * FORWARD policy is (DROP is usual where Docker runs), because every packet of a kukeon bridge is decided here.
 *
 * One install (instance `<16 hex>`) owns two chains, named with the first 8 hex digits of its id:
 *
 *   FORWARD  -m comment --comment "kukeon <instance>" -j KUKEON-FWD-<8hex>     one hook, inserted at the top
 *   KUKEON-FWD-<8hex>    what kukeon accepts, per bridge b of a live space:
 *     -o b  conntrack RELATED,ESTABLISHED  ACCEPT     replies to connections allowed earlier
 *     -o b  conntrack DNAT                 ACCEPT     published ports (portmap), reachable as the host's ports are
 *     -o b                                 KUKEON-ISO  a new connection into a space: who may make it
 *     -i b ! -o k-+                        ACCEPT     egress (the uplink, other interfaces; masquerade does the rest)
 *   KUKEON-ISO-<8hex>    who may open connections into space D (bridge d):
 *     -i d -o d                            ACCEPT     cells of one space (br_netfilter makes bridged frames traverse FORWARD)
 *     -i s -o d                            ACCEPT     for each space s that d's allowFrom names
 *     -o d                                 DROP       every other space, another install's or Docker's bridges, the uplink
 *
 * The host reaches its cells (and cells the host) through OUTPUT and INPUT, which these chains do not touch. Traffic
 * from a space to a `k-` bridge that is not ours is left to the rest of FORWARD: the other install's chain drops it
 * whichever hook comes first. Rules other software inserts above ours (Docker's `-i docker0 ! -o docker0 -j ACCEPT`
 * when it starts after us) are theirs to decide; nothing here touches them.
 *
 * The whole rule set of the instance is computed from its live spaces at each call and written in one
 * `iptables-restore --noflush` transaction (the two chains flushed and refilled atomically: no window where a space is
 * open or cut); nothing is written when the chains already hold exactly those rules. With no space left, the hook and
 * both chains are removed. Everything runs `iptables -w` / `iptables-restore -w` directly, never through a shell.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ErrorKind, KukeError } from '../../errors.js';
import type { IsolationSpec } from '../ports.js';
import { BRIDGE_NAME } from './conflist.js';

const run = promisify(execFile);

/** The chains of one install. */
export interface IsolationChains {
  /** `KUKEON-FWD-<8 hex>`, hooked from FORWARD. */
  forward: string;
  /** `KUKEON-ISO-<8 hex>`, jumped to from the forward chain. */
  isolation: string;
}

/** The chain names of an install (its 16-hex id); at most 19 characters, under iptables' 28. */
export function isolationChains(instance: string): IsolationChains {
  if (!/^[0-9a-f]{16}$/.test(instance)) throw new KukeError(ErrorKind.Internal, `invalid install id "${instance}" for iptables chains (16 hex digits expected)`);
  const tag = instance.slice(0, 8);
  return { forward: `KUKEON-FWD-${tag}`, isolation: `KUKEON-ISO-${tag}` };
}

/** The comment on the FORWARD hook: it names the whole install id, so a chain is never taken for another's. */
export function hookComment(instance: string): string {
  return `kukeon ${instance}`;
}

/** The FORWARD hook's match and target, as given to `-I`, `-C` or `-D`. */
export function hookArgs(instance: string): string[] {
  return ['-m', 'comment', '--comment', hookComment(instance), '-j', isolationChains(instance).forward];
}

/** The rules of both chains, as `iptables -S` prints them (so that a listing can be compared line by line). */
export interface IsolationRules {
  forward: string[];
  isolation: string[];
}

/**
 * The rule set of an install with these spaces. Pure. Bridges are checked (they become iptables arguments); an
 * `allowFrom` entry naming a network that is not in `spaces` is skipped (its space is gone, or not made yet).
 *
 * @example
 * isolationRules('0123456789abcdef', [{ network: 'a', bridge: 'k-aaaaaaaa', allowFrom: [] }]).isolation
 * // ['-A KUKEON-ISO-01234567 -i k-aaaaaaaa -o k-aaaaaaaa -j ACCEPT', '-A KUKEON-ISO-01234567 -o k-aaaaaaaa -j DROP']
 */
export function isolationRules(instance: string, spaces: IsolationSpec[]): IsolationRules {
  const { forward: fwd, isolation: iso } = isolationChains(instance);
  const sorted = [...spaces].sort((a, b) => a.bridge.localeCompare(b.bridge) || a.network.localeCompare(b.network));
  const bridgeOf = new Map<string, string>();
  for (const s of sorted) {
    if (!BRIDGE_NAME.test(s.bridge) || s.bridge.length > 15) throw new KukeError(ErrorKind.Internal, `invalid bridge name "${s.bridge}" of network ${s.network}`);
    bridgeOf.set(s.network, s.bridge);
  }
  const bridges = [...new Set(sorted.map((s) => s.bridge))];
  const forward = [
    ...bridges.map((b) => rule(fwd, '-o', b, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT')),
    ...bridges.map((b) => rule(fwd, '-o', b, '-m', 'conntrack', '--ctstate', 'DNAT', '-j', 'ACCEPT')),
    ...bridges.map((b) => rule(fwd, '-o', b, '-j', iso)),
    ...bridges.map((b) => rule(fwd, '-i', b, '!', '-o', 'k-+', '-j', 'ACCEPT')),
  ];
  const isolation: string[] = [];
  for (const b of bridges) isolation.push(rule(iso, '-i', b, '-o', b, '-j', 'ACCEPT'));
  for (const s of sorted) {
    const sources = [...new Set(s.allowFrom.map((n) => bridgeOf.get(n)).filter((b): b is string => b !== undefined && b !== s.bridge))].sort();
    for (const src of sources) isolation.push(rule(iso, '-i', src, '-o', s.bridge, '-j', 'ACCEPT'));
  }
  for (const b of bridges) isolation.push(rule(iso, '-o', b, '-j', 'DROP'));
  return { forward, isolation: [...new Set(isolation)] };
}

/** One rule as `iptables -S` prints it. */
function rule(chain: string, ...words: string[]): string {
  return ['-A', chain, ...words].join(' ');
}

/** The `iptables-restore --noflush` input that (re)defines both chains with exactly these rules. */
export function restoreInput(instance: string, rules: IsolationRules): string {
  const { forward, isolation } = isolationChains(instance);
  return ['*filter', `:${isolation} - [0:0]`, `:${forward} - [0:0]`, ...rules.isolation, ...rules.forward, 'COMMIT', ''].join('\n');
}

/** A FORWARD rule that jumps to one of our chain names, as read from `iptables -S FORWARD`. */
export interface ForwardHook {
  /** The rule's spec after `-A FORWARD`, split as iptables takes it back with `-D FORWARD`. */
  args: string[];
  comment: string | undefined;
}

/** The FORWARD rules that jump to `chain` (an install's hook, in one or more copies). */
export function parseHooks(listing: string, chain: string): ForwardHook[] {
  const out: ForwardHook[] = [];
  for (const line of listing.split('\n')) {
    if (!line.startsWith('-A FORWARD ')) continue;
    const args = splitRule(line.slice('-A FORWARD '.length));
    const target = args.indexOf('-j');
    if (target < 0 || args[target + 1] !== chain) continue;
    const at = args.indexOf('--comment');
    out.push({ args, comment: at >= 0 ? args[at + 1] : undefined });
  }
  return out;
}

/** Splits a rule as `iptables -S` prints it: words, with "double-quoted" ones (comments) kept whole. */
function splitRule(text: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return out;
}

/** Runs iptables; injectable so that the plumbing can be tested without a host. */
export interface IptablesRunner {
  /** `iptables -w -t filter <args>`; resolves with stdout. */
  iptables(args: string[]): Promise<string>;
  /** `iptables-restore -w --noflush` fed `input`. */
  restore(input: string): Promise<void>;
}

function failure(command: string, args: string[], err: unknown): KukeError {
  const e = err as NodeJS.ErrnoException & { stderr?: string };
  if (e.code === 'ENOENT') {
    return new KukeError(ErrorKind.FailedPrecondition, `${command} is not installed, and kukeon isolates spaces from each other with it`, { hint: 'apt-get install iptables (or bind it into the daemon image)' });
  }
  return new KukeError(ErrorKind.Internal, `${command} ${args.join(' ')} failed: ${String(e.stderr ?? e.message).trim()}`, { cause: err });
}

/** The runner over the host's iptables binaries. */
export const hostIptables: IptablesRunner = {
  async iptables(args) {
    try {
      return (await run('iptables', ['-w', '-t', 'filter', ...args], { timeout: 30_000 })).stdout;
    } catch (err) {
      throw failure('iptables', args, err);
    }
  },
  async restore(input) {
    const args = ['-w', '--noflush'];
    try {
      const pending = run('iptables-restore', args, { timeout: 30_000 });
      pending.child.stdin?.end(input);
      await pending;
    } catch (err) {
      throw failure('iptables-restore', args, err);
    }
  },
};

/** What {@link applyIsolation} did. */
export interface IsolationReport {
  /** Whether any rule was written or removed. */
  changed: boolean;
}

/** The rules of each user chain of a `iptables -S` listing of the table (a chain without rules maps to []). */
export function parseChains(listing: string): Map<string, string[]> {
  const chains = new Map<string, string[]>();
  for (const line of listing.split('\n')) {
    const created = /^-N (\S+)$/.exec(line);
    if (created) chains.set(created[1]!, chains.get(created[1]!) ?? []);
    const rule = /^-A (\S+) /.exec(line);
    if (rule && chains.has(rule[1]!)) chains.get(rule[1]!)!.push(line);
  }
  return chains;
}

/**
 * Makes the install's chains hold exactly the rules of `spaces` (removing hook and chains when it is empty).
 * Idempotent. FailedPrecondition if our chain name is hooked by another install (same first 8 hex digits): it is
 * never touched. The table is read in one listing: iptables-nft 1.8.9 answers `-S <chain>` for a missing chain with
 * "incompatible" rather than "No chain", so chains are looked up in the listing of the whole table instead.
 */
export async function applyIsolation(instance: string, spaces: IsolationSpec[], ipt: IptablesRunner = hostIptables): Promise<IsolationReport> {
  const chains = isolationChains(instance);
  const listing = await ipt.iptables(['-S']);
  const hooks = parseHooks(listing, chains.forward);
  const foreign = hooks.find((h) => h.comment !== hookComment(instance));
  if (foreign) {
    throw new KukeError(ErrorKind.FailedPrecondition, `iptables chain ${chains.forward} is hooked from FORWARD by someone else (comment "${foreign.comment ?? ''}"), not by this install ${instance}; kukeon does not share it`, {
      hint: 'remove the other install\'s spaces, or its FORWARD rule, first',
    });
  }
  const current = parseChains(listing);
  if (spaces.length === 0) return removeIsolation(chains, hooks, current, ipt);

  const rules = isolationRules(instance, spaces);
  let changed = false;
  if (!sameLines(current.get(chains.forward), rules.forward) || !sameLines(current.get(chains.isolation), rules.isolation)) {
    await ipt.restore(restoreInput(instance, rules));
    changed = true;
  }
  if (hooks.length === 0) {
    await ipt.iptables(['-I', 'FORWARD', '1', ...hookArgs(instance)]);
    changed = true;
  }
  return { changed };
}

async function removeIsolation(chains: IsolationChains, hooks: ForwardHook[], current: Map<string, string[]>, ipt: IptablesRunner): Promise<IsolationReport> {
  let changed = false;
  const tolerate = (err: unknown) => {
    if (!/No chain|does not exist|Bad rule|No such file/i.test((err as Error).message)) throw err;
  };
  for (const hook of hooks) {
    await ipt.iptables(['-D', 'FORWARD', ...hook.args]).catch(tolerate);
    changed = true;
  }
  // The forward chain jumps to the isolation chain: both are flushed before either is deleted.
  const present = [chains.forward, chains.isolation].filter((c) => current.has(c));
  for (const op of ['-F', '-X']) {
    for (const chain of present) {
      await ipt.iptables([op, chain]).catch(tolerate);
      changed = true;
    }
  }
  return { changed };
}

function sameLines(current: string[] | undefined, wanted: string[]): boolean {
  return current !== undefined && current.length === wanted.length && current.every((l, i) => l === wanted[i]);
}
