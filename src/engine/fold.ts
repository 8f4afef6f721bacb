/**
 * A faster pure transition for replay. XState's `transition()` builds a throw-away actor and system on every
 * call (≈37k events/s measured); replay folds millions of events, so this module keeps one inert actor scope
 * per machine and calls `machine.transition(snapshot, event, scope)` directly (several times faster). Our
 * machines spawn nothing, invoke nothing and schedule nothing, so the scope's system is never touched.
 *
 * The scope's shape mirrors xstate's internal `createInertActorScope` (5.33); test/unit/engine/fold.test.ts pins
 * that results equal `transition()`'s, so an xstate upgrade that changes it fails loudly.
 */
import { createActor, type AnyStateMachine } from 'xstate';
import type { AnySnapshot } from '../../machines/index.js';

interface Scope {
  actions: { type: string; params?: unknown }[];
  scope: Record<string, unknown>;
}

const scopes = new WeakMap<AnyStateMachine, Scope>();

function scopeOf(machine: AnyStateMachine): Scope {
  let s = scopes.get(machine);
  if (!s) {
    const self = createActor(machine);
    const holder: Scope = { actions: [], scope: {} };
    holder.scope = {
      self,
      defer: () => {},
      id: '',
      logger: () => {},
      sessionId: '',
      stopChild: () => {},
      system: self.system,
      emit: () => {},
      actionExecutor: (action: { type: string; params?: unknown }) => holder.actions.push(action),
    };
    s = holder;
    scopes.set(machine, s);
  }
  return s;
}

/**
 * Like xstate's `transition(machine, snapshot, event)`: the next snapshot and the actions requested, executing
 * nothing. For an event the machine does not handle, the same snapshot object comes back.
 */
export function foldTransition(machine: AnyStateMachine, snapshot: AnySnapshot, event: { type: string }): [AnySnapshot, { type: string; params?: unknown }[]] {
  const s = scopeOf(machine);
  s.actions = [];
  const next = (machine.transition as (snap: unknown, ev: unknown, scope: unknown) => AnySnapshot)(snapshot, event, s.scope);
  return [next, s.actions];
}
