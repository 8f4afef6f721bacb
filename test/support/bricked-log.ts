/**
 * Writes into a log what an older kukeon could have stored and today's refuses at create time: a realm whose
 * containerd namespace containerd itself rejects (`Bad NS!`). Appended straight through the store, as that version's
 * engine did, so the records are exactly what such a log holds (issue 9: such a realm stopped the daemon from
 * starting).
 */
import type { EventStore } from '../../src/store/types.js';

const at = () => new Date().toISOString();

/**
 * Appends `CreateRealm{namespace}` and, unless `state` is 'Creating' (a crash before provisioning reported back),
 * the `EffectFailed` that provisioning recorded: the realm is then Failed with containerd's reason.
 */
export async function appendBrickedRealm(store: EventStore, options: { realm?: string; namespace?: string; state?: 'Creating' | 'Failed' } = {}): Promise<{ stream: string; namespace: string }> {
  const realm = options.realm ?? 'bad';
  const namespace = options.namespace ?? 'Bad NS!';
  const stream = `realm/${realm}`;
  const ver = await store.streamVersion(stream);
  await store.append(
    stream,
    [{ stream, type: 'CreateRealm', v: 1, data: { namespace, labels: {}, system: false }, at: at(), actor: { type: 'user', uid: 0 }, from: 'Absent', to: 'Creating' }],
    { expectedVersion: ver },
  );
  if (options.state !== 'Creating') {
    const error = { kind: 'InvalidArgument', message: `creating namespace ${namespace}: namespace validation: invalid namespace name` };
    await store.append(
      stream,
      [{ stream, type: 'EffectFailed', v: 1, data: { effect: 'provisionRealm', error }, at: at(), actor: { type: 'engine' }, from: 'Creating', to: 'Failed' }],
      { expectedVersion: ver + 1 },
    );
  }
  return { stream, namespace };
}
