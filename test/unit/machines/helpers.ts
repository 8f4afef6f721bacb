import { initialTransition, transition, type AnyStateMachine } from 'xstate';

/** Folds events through a machine with the pure API; returns the final snapshot and every effect requested. */
export function run(machine: AnyStateMachine, input: unknown, events: { type: string; [k: string]: unknown }[]) {
  let [snapshot] = initialTransition(machine, input);
  const effects: { type: string; params: unknown }[] = [];
  for (const event of events) {
    if (!snapshot.can(event)) throw new Error(`refused ${event.type} in ${String(snapshot.value)}`);
    const [next, actions] = transition(machine, snapshot, event);
    snapshot = next;
    for (const a of actions) effects.push({ type: a.type, params: a.params });
  }
  return { snapshot, effects, state: String(snapshot.value) };
}

/** Whether the machine accepts `event` after `events`. */
export function accepts(machine: AnyStateMachine, input: unknown, events: { type: string; [k: string]: unknown }[], event: { type: string; [k: string]: unknown }) {
  return run(machine, input, events).snapshot.can(event);
}
