/**
 * Why a machine refuses a command, in words the CLI can print. XState's `can()` only says no; this module says
 * why, from the same pure inputs (state, context, event), and what to do instead.
 */

/** A refusal: a message and, when there is one, what the user can do next. */
export interface Rejection {
  message: string;
  hint?: string;
  /** Whether retrying later can succeed (the aggregate is busy), as opposed to a command that makes no sense. */
  busy: boolean;
}

const VERBS: Record<string, string> = {
  Create: 'create',
  Update: 'update',
  Delete: 'delete',
  Start: 'start',
  Stop: 'stop',
};

const TRANSIENT = new Set(['Creating', 'Updating', 'Starting', 'Stopping', 'Deleting']);

function verbOf(eventType: string): string {
  const match = /^(Create|Update|Delete|Start|Stop)/.exec(eventType);
  return match ? VERBS[match[1]!]! : eventType;
}

/**
 * Explains why `eventType` is not accepted by a `kind` aggregate named `label` in `state`.
 *
 * @example
 * describeRejection('cell', 'cell "web"', 'Ready', { type: 'StartCell' })
 * // { message: 'cell "web" is already running (Ready)', hint: 'stop it first: kuke stop cell web', busy: false }
 */
export function describeRejection(
  kind: string,
  label: string,
  state: string,
  event: { type: string; [key: string]: unknown },
  context?: Record<string, unknown>,
): Rejection {
  const verb = event.type === 'StopCell' && event.mode === 'kill' ? 'kill' : verbOf(event.type);
  if (state === 'Absent' || state === 'Deleted') {
    return { message: `${label} does not exist`, busy: false };
  }
  if (TRANSIENT.has(state)) {
    return {
      message: `cannot ${verb} ${label}: it is ${state}`,
      hint: `wait until it settles (kuke get ${kind}) and try again`,
      busy: true,
    };
  }
  if (/^Create/.test(event.type)) {
    return { message: `${label} already exists (${state})`, busy: false };
  }
  if (event.type === 'DeleteSecret' && Array.isArray(event.users) && event.users.length > 0) {
    return { message: `${label} is used by cell(s) ${event.users.join(', ')}`, hint: 'delete those cells first, or use --force', busy: false };
  }
  if (/^Delete/.test(event.type) && typeof event.children === 'number' && event.children > 0) {
    const child = kind === 'realm' ? 'space' : kind === 'space' ? 'stack' : 'cell';
    return {
      message: `${label} has ${event.children} ${child}(s)`,
      hint: `delete them first, or use --cascade`,
      busy: false,
    };
  }
  if (/^Delete/.test(event.type) && context?.protected === true) {
    return {
      message: `${label} is the system realm: it hosts kukeond and cannot be deleted`,
      hint: 'to remove the daemon, see: kuke daemon reset',
      busy: false,
    };
  }
  if (event.type === 'StartCell' && (state === 'Ready' || state === 'Degraded')) {
    return { message: `${label} is already running (${state})`, hint: 'stop it first: kuke stop cell', busy: false };
  }
  if (event.type === 'StopCell' && (state === 'Stopped' || state === 'Exited' || state === 'Pending')) {
    return { message: `${label} is not running (${state})`, busy: false };
  }
  if (/^Update/.test(event.type) && (state === 'Ready' || state === 'Degraded')) {
    return { message: `cannot update ${label} while it runs`, hint: 'stop it first, or re-apply to recreate it', busy: false };
  }
  return { message: `cannot ${verb} ${label}: it is ${state}`, busy: false };
}
