/**
 * `kuke exec` end to end, through kukeond running in its own cell (its stdio FIFOs under the run path, which the
 * daemon's container and containerd's shims both see): exit codes, stdin piped in with -i, a real pseudo terminal
 * with -t (util-linux `script` gives kuke one), refusals in one line, and every exec in history with its caller and
 * exit code.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { statusOf } from '../support/documents.js';
import { expectOneLineError, KUKE, until, useInitializedHost } from '../support/e2e.js';

const hostOf = useInitializedHost({ subnet: '10.243.0.0/18', tag: 'ex', loadImage: true });

interface EventJson {
  type: string;
  stream: string;
  actor: { type: string; uid?: number; pid?: number };
  data: Record<string, unknown>;
}

let started = false;
/** The cell the tests exec into (created once, by the first test that needs it). */
async function box(): Promise<void> {
  if (started) return;
  const r = await hostOf().kuke(['create', 'cell', 'box', '--image', hostOf().testImage.ref, '--env', 'GREETING=hello', '--arg', 'sleep', '--arg', '3600', '--start']);
  expect(r.code, r.stderr).toBe(0);
  started = true;
}

const exec = (args: string[], input?: string) => hostOf().kuke(['exec', ...args], input === undefined ? {} : { input });

describe('kuke exec through the daemon in its cell', () => {
  it('exits with the command exit code: 0, 3, and 127 for a command that does not exist', async () => {
    await box();
    const ok = await exec(['box', '--', 'sh', '-c', 'echo "$GREETING from $(hostname)"']);
    expect(ok).toEqual({ code: 0, stdout: 'hello from box\n', stderr: '' });
    const three = await exec(['box', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(three).toEqual({ code: 3, stdout: 'out\n', stderr: 'err\n' });
    const missing = await exec(['box', '--', 'no-such-command']);
    expect(missing.code).toBe(127);
    expect(missing.stdout).toBe('');
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toContain('no-such-command');
  });

  it('sends piped stdin with -i (echo hi | kuke exec -i box -- cat), and none without', async () => {
    await box();
    expect(await exec(['-i', 'box', '--', 'cat'], 'hi\nthere\n')).toEqual({ code: 0, stdout: 'hi\nthere\n', stderr: '' });
    expect(await exec(['box', '--', 'cat'], 'ignored\n')).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('gives -t a real terminal of the size of kuke\'s, in raw mode with -i, and restores it', async () => {
    await box();
    const host = hostOf();
    const kuke = [process.execPath, KUKE, 'exec', '-it', 'box', '--', 'sh', '-c', 'tty; stty size'].map((a) => `'${a}'`).join(' ');
    // `stty -g` before and after: kuke's terminal is the same once it is done (raw mode undone).
    // script's own stdin stays open until it is done: at its end of file, script would type an EOF into the terminal.
    const child = spawn('script', ['-qec', `stty cols 101 rows 33; stty -g; ${kuke}; echo "exit=$?"; stty -g`, '/dev/null'], { env: host.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const r = { status, stdout, stderr };
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.replace(/\r/g, '').split('\n').filter(Boolean);
    expect(lines[1]).toMatch(/^\/dev\/pts\/\d+$/);
    expect(lines[2]).toBe('33 101');
    expect(lines[3]).toBe('exit=0');
    expect(lines[4]).toBe(lines[0]);
  });

  it('refuses -it when kuke\'s stdin is not a terminal, and a cell that is not there, in one line', async () => {
    await box();
    expect(expectOneLineError(await exec(['-it', 'box', '--', 'sh']))).toContain('not a TTY');
    expect(expectOneLineError(await exec(['nope', '--', 'true']))).toContain('not found');
    expect(expectOneLineError(await exec(['box', '--container', 'side', '--', 'true']))).toContain('no container "side"');
    expect(expectOneLineError(await exec(['box']))).toContain('command');
  });

  it('ends an exec whose daemon was killed at the next start: the process killed, its end in history', async () => {
    await box();
    const host = hostOf();
    const running = spawn(process.execPath, [KUKE, 'exec', 'box', '--', 'sleep', '3001'], { env: host.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const ended = new Promise<number | null>((resolve) => running.on('close', resolve));
    const execStarted = async () =>
      (JSON.parse((await host.kuke(['history', 'cell', 'box', '-o', 'json'])).stdout) as EventJson[]).find((e) => e.type === 'ExecStarted' && (e.data.command as string[]).includes('3001'));
    const started = await until(execStarted, (e) => e !== undefined);
    expect((await host.local(['daemon', 'kill'])).code).toBe(0);
    expect(await ended).not.toBe(0);
    expect((await host.local(['daemon', 'start'])).code).toBe(0);
    const events = JSON.parse((await host.kuke(['history', 'cell', 'box', '-o', 'json'])).stdout) as EventJson[];
    const exited = events.find((e) => e.type === 'ExecExited' && e.data.execId === started!.data.execId);
    expect(exited?.data).toMatchObject({ code: 137, error: expect.stringContaining('kukeond stopped while it ran') });
    expect(exited?.actor.type).toBe('daemon');
    expect((await exec(['box', '--', 'ps', '-o', 'args'])).stdout).not.toContain('sleep 3001');
  });

  it('records every exec in the cell history with its caller and exit code, the cell staying Ready', async () => {
    await box();
    const r = await exec(['box', '-e', 'X=1', '--', 'sh', '-c', 'exit 5']);
    expect(r.code).toBe(5);
    const events = JSON.parse((await hostOf().kuke(['history', 'cell', 'box', '-o', 'json'])).stdout) as EventJson[];
    const startedEv = events.filter((e) => e.type === 'ExecStarted').at(-1)!;
    expect(startedEv.stream).toBe('container/default/default/default/box/box_root');
    expect(startedEv.data).toMatchObject({ command: ['sh', '-c', 'exit 5'], tty: false, stdin: false });
    expect(startedEv.actor).toMatchObject({ type: 'user', uid: 0 });
    expect(startedEv.actor.pid).toBeGreaterThan(0);
    const exited = events.find((e) => e.type === 'ExecExited' && e.data.execId === startedEv.data.execId)!;
    expect(exited.data).toMatchObject({ code: 5 });
    const table = (await hostOf().kuke(['history', 'cell', 'box'])).stdout;
    expect(table).toMatch(/ExecStarted .*Running → Running .*user uid=0 .*exec exec-[0-9a-f]{16}: sh -c "exit 5"/);
    expect(table).toMatch(/ExecExited .*exited with code 5/);
    const cell = statusOf<{ state: string }>((await hostOf().kuke(['get', 'cell', 'box', '-o', 'json'])).stdout);
    expect(cell.state).toBe('Ready');
    // Every process's FIFOs are gone.
    expect(readdirSync(join(hostOf().runPath, 'io', 'exec'))).toEqual([]);
  });
});
