/**
 * Fake CNI plugins for unit tests: small /bin/sh scripts in a temp dir that log every call (command, environment,
 * stdin) as one JSON line and answer as a script says. They never touch the network, so no root is needed.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One logged plugin call. */
export interface PluginCall {
  plugin: string;
  command: string;
  containerId: string;
  netns: string;
  ifname: string;
  args: string;
  path: string;
  stdin: Record<string, unknown>;
}

/** A directory of fake plugins and the log they write. */
export class FakePlugins {
  readonly dir = mkdtempSync(join(tmpdir(), 'kukeon-fake-cni-'));
  readonly log = join(this.dir, 'calls.jsonl');

  constructor() {
    writeFileSync(this.log, '');
  }

  /**
   * Writes plugin `type`. `body` is sh run after the call is logged, with the config in `$input`; it prints the
   * answer and exits. VERSION is answered with `versions` unless the body handles it.
   */
  plugin(type: string, body: string, versions = '"0.4.0","1.0.0"'): string {
    const path = join(this.dir, type);
    writeFileSync(
      path,
      `#!/bin/sh
input=$(cat)
printf '{"plugin":"%s","command":"%s","containerId":"%s","netns":"%s","ifname":"%s","args":"%s","path":"%s","stdin":%s}\\n' \\
  '${type}' "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_NETNS" "$CNI_IFNAME" "$CNI_ARGS" "$CNI_PATH" "\${input:-null}" >> '${this.log}'
if [ "$CNI_COMMAND" = VERSION ]; then printf '{"cniVersion":"1.0.0","supportedVersions":[${versions}]}'; exit 0; fi
${body}
`,
    );
    chmodSync(path, 0o755);
    return path;
  }

  /** A marker file the scripts can test with `[ -e … ]`. */
  marker(name: string): string {
    return join(this.dir, name);
  }

  /** The calls logged so far (VERSION calls left out unless asked). */
  calls(withVersion = false): PluginCall[] {
    return readFileSync(this.log, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as PluginCall)
      .filter((c) => withVersion || c.command !== 'VERSION');
  }

  clearCalls(): void {
    writeFileSync(this.log, '');
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A bridge that answers ADD with 10.9.0.<n>/24 (n counts up from 2), honours marker files, and succeeds otherwise. */
export function fakeBridge(fake: FakePlugins): void {
  const counter = fake.marker('counter');
  writeFileSync(counter, '2');
  fake.plugin(
    'bridge',
    `case "$CNI_COMMAND" in
  ADD)
    if [ -e '${fake.marker('dup')}' ]; then rm -f '${fake.marker('dup')}'; printf '{"code":999,"msg":"failed to allocate for range 0: 10.9.0.2 has been allocated to x, duplicate allocation is not allowed"}'; exit 1; fi
    n=$(cat '${counter}'); echo $((n + 1)) > '${counter}'
    printf '{"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}],"ips":[{"address":"10.9.0.%s/24","gateway":"10.9.0.1","interface":0}]}' "$n" ;;
  CHECK)
    if [ -e '${fake.marker('fail-check')}' ]; then printf '{"code":999,"msg":"eth0 not found"}'; exit 1; fi ;;
  DEL) ;;
esac
exit 0`,
  );
}
