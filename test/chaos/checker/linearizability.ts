// Linearizability checker after Porcupine (Athalye): the Wing & Gong search
// with Lowe's memoisation of (set of linearized operations, model state), run
// per key (a register history is linearizable iff each key's sub-history is).
import type { Operation } from './history.ts';
import { relevant, step, type RegisterState } from './model.ts';

export type KeyVerdict = 'ok' | 'violation' | 'unknown';

export interface KeyResult {
  key: string;
  verdict: KeyVerdict;
  /** Operations checked (after dropping failed reads and failed writes). */
  ops: Operation[];
  /** Search steps taken. */
  steps: number;
  /** For violations: the longest partial linearization found, in order. */
  longestLinearization: Operation[];
  /** For violations: the unlinearized operation whose return blocked the deepest attempt. */
  stuckAt?: Operation;
  /** Set when the budget was exhausted. */
  reason?: string;
}

export interface CheckResult {
  verdict: KeyVerdict;
  keys: KeyResult[];
}

export interface CheckOptions {
  /** Max search steps per key (default 5 million). */
  maxSteps?: number;
  /** Wall-clock budget per key in ms (default 30 s). */
  timeoutMs?: number;
  /** Initial value of every key (default null = absent). */
  initial?: RegisterState;
}

/** Model state standing for "some value no operation ever observes". */
const UNOBSERVED = '\u0000unobserved';

interface Entry {
  op: Operation;
  /** Dense index of the op inside this key's history (bit in the linearized set). */
  index: number;
  isCall: boolean;
  /** call entry -> its return entry. */
  match?: Entry;
  prev?: Entry;
  next?: Entry;
}

export function checkHistory(history: readonly Operation[], options: CheckOptions = {}): CheckResult {
  const byKey = new Map<string, Operation[]>();
  for (const op of history) {
    if (!relevant(op)) continue;
    let list = byKey.get(op.key);
    if (!list) byKey.set(op.key, (list = []));
    list.push(op);
  }
  const keys = [...byKey.entries()].map(([key, ops]) => checkKey(key, ops, options));
  const verdict: KeyVerdict = keys.some((k) => k.verdict === 'violation')
    ? 'violation'
    : keys.some((k) => k.verdict === 'unknown')
      ? 'unknown'
      : 'ok';
  return { verdict, keys };
}

export function checkKey(key: string, ops: readonly Operation[], options: CheckOptions = {}): KeyResult {
  const maxSteps = options.maxSteps ?? 5_000_000;
  const deadline = performance.now() + (options.timeoutMs ?? 30_000);
  const n = ops.length;
  const head = buildEntries(ops);
  const words = Math.ceil(n / 32) || 1;
  const linearized = new Uint32Array(words);
  const zobrist = zobristTable(n);
  let hash = 0;
  const cache = new Map<string, Uint32Array[]>();
  const stack: { entry: Entry; state: RegisterState; hash: number }[] = [];
  let state: RegisterState = options.initial ?? null;
  // Values nobody ever reads (no get returned them, no cas expected them) are
  // indistinguishable for every later operation, so they share one model
  // state: this keeps the memo small when many writes have unknown outcomes.
  const observed = new Set<string>();
  for (const op of ops) {
    if (op.kind === 'get' && op.result != null) observed.add(op.result);
    if (op.kind === 'cas' && op.expected != null) observed.add(op.expected);
  }
  if (state !== null) observed.add(state);
  const canonical = (s: RegisterState): RegisterState => (s === null || observed.has(s) ? s : UNOBSERVED);
  // Unknown-outcome ops with the same effect are interchangeable: e.g. two
  // timed-out puts of unobserved values, or two timed-out deletes. Any one that
  // was called before the current frontier can stand in for another, so the
  // memo records how many of each class are linearized instead of which ones.
  // Without this, k concurrent timeouts cost 2^k configurations.
  const classOf = effectClasses(ops, observed);
  const classCount = new Int32Array(Math.max(...classOf, -1) + 1);
  const classKey = (): string => classCount.join(',');
  let entry = head.next;
  let steps = 0;
  let longest: Operation[] = [];
  let stuckAt: Operation | undefined;
  let stuckDepth = -1;
  // Operations with a known return still to linearize; when none are left the
  // rest (all unknown) can go last, i.e. "took effect late, or never".
  let knownLeft = ops.filter((op) => op.ret !== Infinity).length;
  const result = (verdict: KeyVerdict, reason?: string): KeyResult => ({
    key,
    verdict,
    ops: [...ops],
    steps,
    longestLinearization: verdict === 'violation' ? longest : [],
    ...(verdict === 'violation' && stuckAt ? { stuckAt } : {}),
    ...(reason ? { reason } : {}),
  });

  while (head.next) {
    if (++steps > maxSteps) return result('unknown', `search budget of ${maxSteps} steps exceeded`);
    if ((steps & 0x3fff) === 0 && performance.now() > deadline) {
      return result('unknown', `search timeout of ${options.timeoutMs ?? 30_000} ms exceeded`);
    }
    if (!entry) throw new Error('checker invariant: ran off the entry list');
    if (knownLeft === 0) break;
    if (entry.isCall) {
      const stepped = step(state, entry.op);
      const next = stepped === undefined ? undefined : canonical(stepped);
      if (next !== undefined) {
        const cls = classOf[entry.index]!;
        let newHash = hash;
        if (cls >= 0) classCount[cls]!++;
        else {
          newHash = (hash ^ zobrist[entry.index]!) >>> 0;
          setBit(linearized, entry.index);
        }
        if (remember(cache, `${newHash}:${classKey()}`, next, linearized)) {
          stack.push({ entry, state, hash });
          state = next;
          hash = newHash;
          lift(entry);
          if (entry.op.ret !== Infinity) knownLeft--;
          if (stack.length > longest.length) longest = stack.map((s) => s.entry.op);
          entry = head.next;
          continue;
        }
        if (cls >= 0) classCount[cls]!--;
        else clearBit(linearized, entry.index);
      }
      entry = entry.next;
    } else {
      // A return event of an op not yet linearized: every order of what came
      // before failed from this prefix; backtrack.
      if (stack.length > stuckDepth) {
        stuckDepth = stack.length;
        stuckAt = entry.op;
      }
      const top = stack.pop();
      if (!top) return result('violation');
      state = top.state;
      hash = top.hash;
      const cls = classOf[top.entry.index]!;
      if (cls >= 0) classCount[cls]!--;
      else clearBit(linearized, top.entry.index);
      unlift(top.entry);
      if (top.entry.op.ret !== Infinity) knownLeft++;
      entry = top.entry.next;
    }
  }
  return result('ok');
}

/** Per op: an effect-class number for interchangeable unknown ops, -1 for ops tracked individually. */
function effectClasses(ops: readonly Operation[], observed: ReadonlySet<string>): number[] {
  const ids = new Map<string, number>();
  return ops.map((op) => {
    if (op.ret !== Infinity || op.outcome !== 'unknown') return -1;
    let signature: string;
    if (op.kind === 'delete') signature = 'delete';
    else if (op.value !== undefined && observed.has(op.value)) return -1;
    else if (op.kind === 'put') signature = 'put-unobserved';
    else if (op.kind === 'cas') signature = `cas-unobserved:${op.expected ?? '\u0000nil'}`;
    else return -1;
    let id = ids.get(signature);
    if (id === undefined) ids.set(signature, (id = ids.size));
    return id;
  });
}

function buildEntries(ops: readonly Operation[]): Entry {
  const events: Entry[] = [];
  ops.forEach((op, index) => {
    const ret: Entry = { op, index, isCall: false };
    const call: Entry = { op, index, isCall: true, match: ret };
    events.push(call, ret);
  });
  const time = (e: Entry): number => (e.isCall ? e.op.call : e.op.ret);
  // Calls before returns at equal times: treat touching intervals as concurrent (the lenient choice).
  events.sort(
    (a, b) =>
      time(a) - time(b) || Number(a.isCall === false) - Number(b.isCall === false) || a.index - b.index,
  );
  const head: Entry = { op: ops[0]!, index: -1, isCall: false };
  let prev = head;
  for (const e of events) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }
  return head;
}

function lift(call: Entry): void {
  call.prev!.next = call.next;
  if (call.next) call.next.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next) ret.next.prev = ret.prev;
}

function unlift(call: Entry): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next) call.next.prev = call;
}

function setBit(bits: Uint32Array, i: number): void {
  bits[i >>> 5]! |= 1 << (i & 31);
}
function clearBit(bits: Uint32Array, i: number): void {
  bits[i >>> 5]! &= ~(1 << (i & 31));
}

/** Adds (bits, state) to the cache; false if it was already there. */
function remember(
  cache: Map<string, Uint32Array[]>,
  hash: string,
  state: RegisterState,
  bits: Uint32Array,
): boolean {
  const key = `${hash}:${state === null ? '\u0000' : state}`;
  const bucket = cache.get(key);
  if (!bucket) {
    cache.set(key, [bits.slice()]);
    return true;
  }
  for (const seen of bucket) if (equalBits(seen, bits)) return false;
  bucket.push(bits.slice());
  return true;
}

function equalBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Random 32-bit value per op so the hash of the linearized set updates in O(1). */
function zobristTable(n: number): Uint32Array {
  const table = new Uint32Array(n);
  let x = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    // xorshift32: deterministic, good enough for hashing.
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    table[i] = x >>> 0;
  }
  return table;
}
