// The shape of one recorded client operation. Times are milliseconds from a
// monotonic clock (performance.now()); an operation whose outcome is unknown
// has ret = Infinity: it may take effect at any time after its call, or never.

export type OpKind = 'get' | 'put' | 'delete' | 'cas';

/**
 * ok: the node acknowledged it. fail: it definitely did not take effect
 * (4xx, connection refused before sending). unknown: timeout, reset, 5xx.
 */
export type Outcome = 'ok' | 'fail' | 'unknown';

export interface Operation {
  /** Unique within one history. */
  id: number;
  /** Logical client; a client that saw an unknown outcome continues under a new process id. */
  process: number;
  key: string;
  kind: OpKind;
  /** put / cas: the (unique) value written. */
  value?: string;
  /** cas: the value the client read just before; null = "key absent" (cas=0, create only). */
  expected?: string | null;
  /** get (ok): the value read, null when the key was absent (404). */
  result?: string | null;
  /** delete (ok): whether a key was removed. */
  deleted?: boolean;
  outcome: Outcome;
  call: number;
  ret: number;
  /** Member the request was sent to, for the report only. */
  node?: string;
  error?: string;
  /** modifyIndex reported by the node, for the report only. */
  modifyIndex?: number;
}

export function describeOp(op: Operation): string {
  const outcome = op.outcome === 'ok' ? '' : ` (${op.outcome}${op.error ? `: ${op.error}` : ''})`;
  switch (op.kind) {
    case 'get':
      return `get ${op.key} -> ${op.outcome === 'ok' ? show(op.result ?? null) : '?'}${outcome}`;
    case 'put':
      return `put ${op.key}=${show(op.value ?? null)}${outcome}`;
    case 'delete':
      return `delete ${op.key}${op.outcome === 'ok' ? ` -> deleted=${String(op.deleted)}` : ''}${outcome}`;
    case 'cas':
      return `cas ${op.key} ${show(op.expected ?? null)} => ${show(op.value ?? null)}${op.outcome === 'fail' ? ' (mismatch)' : outcome}`;
  }
}

export function show(value: string | null): string {
  return value === null ? 'nil' : value;
}
