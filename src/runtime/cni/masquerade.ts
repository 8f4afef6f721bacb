/**
 * The bridge plugin's masquerade rules (ipMasq), removed without the plugin. The plugin tears them down on DEL only
 * when it can enter the netns to learn the addresses; once the cell's netns is gone it releases the IP and leaves
 * the chain behind. Its names are deterministic (plugins/pkg/utils): chain `CNI-` + the first 24 hex digits of
 * sha512(network + containerId), hooked from nat POSTROUTING by `-s <ip> -j <chain> -m comment --comment
 * 'name: "<network>" id: "<containerId>"'`. Everything runs `iptables -w` directly, never through a shell.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { ErrorKind, KukeError } from '../../errors.js';

const run = promisify(execFile);

/** The nat chain the bridge plugin makes for one attachment. */
export function masqueradeChain(network: string, containerId: string): string {
  return `CNI-${createHash('sha512').update(network + containerId).digest('hex').slice(0, 24)}`;
}

/** The comment on the plugin's POSTROUTING rule. */
export function masqueradeComment(network: string, containerId: string): string {
  return `name: "${network}" id: "${containerId}"`;
}

/** One POSTROUTING rule of the plugin, as read back from `iptables -S`. */
export interface MasqueradeRule {
  chain: string;
  source: string;
  network: string;
  containerId: string;
}

/** Parses `iptables -t nat -S POSTROUTING` output into the plugin's masquerade hooks (other rules are skipped). */
export function parseMasqueradeRules(listing: string): MasqueradeRule[] {
  const out: MasqueradeRule[] = [];
  for (const line of listing.split('\n')) {
    if (!line.startsWith('-A POSTROUTING ')) continue;
    const chain = / -j (CNI-[0-9a-f]{24})\b/.exec(line)?.[1];
    const source = / -s (\S+)/.exec(line)?.[1];
    const comment = /--comment "name: \\"([^"\\]+)\\" id: \\"([^"\\]+)\\""/.exec(line);
    if (chain && source && comment) out.push({ chain, source, network: comment[1]!, containerId: comment[2]! });
  }
  return out;
}

async function iptables(args: string[]): Promise<string> {
  try {
    return (await run('iptables', ['-w', '-t', 'nat', ...args], { timeout: 30_000 })).stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new KukeError(ErrorKind.FailedPrecondition, 'iptables is not installed, so masquerade rules cannot be removed', { hint: 'apt-get install iptables' });
    throw new KukeError(ErrorKind.Internal, `iptables ${args.join(' ')} failed: ${String(e.stderr ?? e.message).trim()}`, { cause: err });
  }
}

/** The plugin's masquerade hooks currently in nat POSTROUTING. */
export async function listMasqueradeRules(): Promise<MasqueradeRule[]> {
  return parseMasqueradeRules(await iptables(['-S', 'POSTROUTING']));
}

function missing(err: unknown): boolean {
  return /No chain|does not exist|Bad rule|No such file/i.test((err as Error).message);
}

/**
 * Removes the masquerade hook(s) and chain of one attachment, as the plugin's TeardownIPMasq does. Returns whether
 * anything was there. `rules` may pass a listing already read (gc), else POSTROUTING is read once.
 */
export async function removeMasquerade(network: string, containerId: string, rules?: MasqueradeRule[]): Promise<boolean> {
  const chain = masqueradeChain(network, containerId);
  const hooks = (rules ?? (await listMasqueradeRules())).filter((r) => r.chain === chain);
  for (const hook of hooks) {
    await iptables(['-D', 'POSTROUTING', '-s', hook.source, '-j', chain, '-m', 'comment', '--comment', masqueradeComment(network, containerId)]).catch((err: unknown) => {
      if (!missing(err)) throw err;
    });
  }
  let chainExisted = true;
  for (const op of ['-F', '-X']) {
    await iptables([op, chain]).catch((err: unknown) => {
      if (!missing(err)) throw err;
      chainExisted = false;
    });
  }
  return hooks.length > 0 || chainExisted;
}
