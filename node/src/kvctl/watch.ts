// `kvctl watch`: a loop over the blocking read `GET /v1/kv/KEY?index=N&wait=D`. The server
// answers once the key (or, with recurse, any key under the prefix) changed after index N, or
// when the wait is over; either way the answer is the current state and X-KV-Index, from which
// the next round resumes. Events are found by comparing states (the previous answer's with this
// one's), so a timeout, a repeated answer after a failover, or an index that went backwards
// (a member restored from a snapshot) prints nothing twice.
import type { KeyValue } from '../kv/types.ts';
import type { Client, Response } from './client.ts';
import { ServerError } from './errors.ts';
import type { WatchEvent } from './format.ts';

/** The largest listing the server serves; a prefix watch over more keys warns. */
export const WATCH_LIST_LIMIT = 10_000;

/** One key's state: null when absent. */
export type KeyState = KeyValue | null;

/**
 * Events between two states of one key. `prev` undefined: unknown (the watch started at a given
 * --index), then a put after `since` is reported and an absence is not (nothing says when it began).
 */
export function diffKey(
  key: string,
  prev: KeyState | undefined,
  next: KeyState,
  index: number,
  since: number,
): WatchEvent[] {
  if (next === null) {
    return prev !== undefined && prev !== null ? [{ type: 'DELETE', key, index }] : [];
  }
  const changed =
    prev === undefined ? next.modifyIndex > since : prev === null || prev.modifyIndex !== next.modifyIndex;
  return changed ? [putEvent(next, index)] : [];
}

/**
 * Events between two listings of a prefix (sorted by key). `more`: the listing was cut at the
 * limit, so keys after its last one are not known to be gone.
 */
export function diffPrefix(
  prev: ReadonlyMap<string, KeyValue> | undefined,
  next: KeyValue[],
  more: boolean,
  index: number,
  since: number,
): WatchEvent[] {
  const puts: KeyValue[] = [];
  for (const kv of next) {
    const before = prev?.get(kv.key);
    if (
      prev === undefined
        ? kv.modifyIndex > since
        : before === undefined || before.modifyIndex !== kv.modifyIndex
    )
      puts.push(kv);
  }
  puts.sort((a, b) => a.modifyIndex - b.modifyIndex);
  const events = puts.map((kv) => putEvent(kv, index));
  if (prev !== undefined) {
    const present = new Set(next.map((kv) => kv.key));
    const last = next.at(-1)?.key;
    for (const key of prev.keys()) {
      if (present.has(key)) continue;
      if (more && (last === undefined || key > last)) continue;
      events.push({ type: 'DELETE', key, index });
    }
  }
  return events;
}

function putEvent(kv: KeyValue, index: number): WatchEvent {
  return {
    type: 'PUT',
    key: kv.key,
    value: kv.value,
    modifyIndex: kv.modifyIndex,
    version: kv.version,
    index,
  };
}

export interface WatchSpec {
  key: string;
  prefix: boolean;
  index: number | undefined;
  wait: string;
  waitMs: number;
}

export interface WatchIo {
  event: (e: WatchEvent) => void;
  warn: (message: string) => void;
  /** Pause between rounds that came back at once with nothing new (defaults to a timer). */
  sleep?: (ms: number) => Promise<void>;
}

type Snapshot =
  | { kind: 'key'; state: KeyState; index: number }
  | { kind: 'prefix'; items: KeyValue[]; more: boolean; index: number };

const QUICK_ROUND_MS = 50;
const QUICK_ROUND_PAUSE_MS = 200;

/** Watches until `signal` aborts (resolves) or the cluster cannot be reached for --timeout (throws). */
export async function runWatch(
  client: Client,
  path: string,
  spec: WatchSpec,
  io: WatchIo,
  signal: AbortSignal,
): Promise<void> {
  const sleep = io.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let warnedMore = false;

  const read = async (blocking: { index: number } | undefined): Promise<Snapshot | undefined> => {
    const query = {
      ...(spec.prefix ? { recurse: true as const, limit: WATCH_LIST_LIMIT } : {}),
      ...(blocking ? { index: blocking.index, wait: spec.wait } : {}),
    };
    let r: Response;
    try {
      r = await client.request({
        method: 'GET',
        path,
        query,
        signal,
        ...(blocking ? { extraTimeoutMs: spec.waitMs } : {}),
      });
    } catch (e) {
      if (signal.aborted) return undefined;
      if (e instanceof ServerError && e.code === 'key-not-found' && !spec.prefix) {
        return { kind: 'key', state: null, index: e.index ?? blocking?.index ?? 0 };
      }
      throw e;
    }
    const index = r.index ?? blocking?.index ?? 0;
    if (!spec.prefix) return { kind: 'key', state: r.body as KeyValue, index };
    const body = r.body as { items: KeyValue[]; more: boolean };
    if (body.more && !warnedMore) {
      warnedMore = true;
      io.warn(
        `more than ${WATCH_LIST_LIMIT} keys under the prefix: changes to keys after the first ${WATCH_LIST_LIMIT} are not reported`,
      );
    }
    return { kind: 'prefix', items: body.items, more: body.more, index };
  };

  let since: number;
  let keyState: KeyState | undefined;
  let prefixState: Map<string, KeyValue> | undefined;
  const remember = (s: Snapshot): void => {
    if (s.kind === 'key') keyState = s.state;
    else prefixState = new Map(s.items.map((kv) => [kv.key, kv]));
  };

  if (spec.index === undefined) {
    const first = await read(undefined);
    if (first === undefined) return;
    remember(first);
    since = first.index;
  } else {
    since = spec.index;
  }

  while (!signal.aborted) {
    const started = Date.now();
    const s = await read({ index: since });
    if (s === undefined) return;
    const events =
      s.kind === 'key'
        ? diffKey(spec.key, keyState, s.state, s.index, since)
        : diffPrefix(prefixState, s.items, s.more, s.index, since);
    for (const e of events) io.event(e);
    remember(s);
    // Resume from the answer's index, even a smaller one (a member restored from a snapshot):
    // the states are compared, so a repeated answer prints nothing.
    since = s.index;
    if (events.length === 0 && Date.now() - started < QUICK_ROUND_MS && !signal.aborted)
      await sleep(QUICK_ROUND_PAUSE_MS);
  }
}
