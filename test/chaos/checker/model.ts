// Register model for one key: the state is the current value, or null when the
// key is absent.
//
// cas is modelled as compare-and-set on the VALUE: the client reads
// (value, modifyIndex) and then sends PUT ?cas=<modifyIndex>. Every written
// value is unique, so "the key's modifyIndex is still X" is equivalent to "the
// key still holds the value that was read together with X": both mean "no write
// or delete has happened since the write that produced X". cas=0 (create only)
// maps to expected = null. This keeps the model state small (a string), which
// is what makes memoisation effective.
import type { Operation } from './history.ts';

export type RegisterState = string | null;

/** Returns the state after op, or undefined if op cannot happen in `state`. */
export function step(state: RegisterState, op: Operation): RegisterState | undefined {
  switch (op.kind) {
    case 'get':
      // Only ok reads reach the model (others are dropped by prepare()).
      return state === (op.result ?? null) ? state : undefined;
    case 'put':
      return op.value ?? null;
    case 'delete':
      if (op.outcome === 'ok' && op.deleted !== undefined && op.deleted !== (state !== null))
        return undefined;
      return null;
    case 'cas': {
      const matches = state === (op.expected ?? null);
      if (op.outcome === 'ok') return matches ? (op.value ?? null) : undefined;
      if (op.outcome === 'fail') return matches ? undefined : state;
      // unknown: deterministic given where it is linearized; "never" = linearized last.
      return matches ? (op.value ?? null) : state;
    }
  }
}

/**
 * Drops what carries no information: failed or unknown reads, and writes that
 * definitely did not happen. A failed cas stays: a 412 observes "the value was
 * not the expected one".
 */
export function relevant(op: Operation): boolean {
  if (op.kind === 'get') return op.outcome === 'ok';
  // A cas rejected for another reason (400, 413) observed nothing.
  if (op.kind === 'cas')
    return op.outcome !== 'fail' || op.error === undefined || op.error === 'cas-mismatch';
  return op.outcome !== 'fail';
}
