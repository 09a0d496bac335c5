// Blocking watches: a bounded history of recent changes and the set of waiting
// callers. A change is (index, key) or, for a recursive delete, (index, prefix).
// Waiters leave the structures when they resolve, time out or are aborted, and
// their number is capped, so nothing grows without bound.

export class WatchLimitError extends Error {
  readonly code = 'too-many-watches';
  constructor(max: number) {
    super(`too many concurrent watches (limit ${max})`);
    this.name = 'WatchLimitError';
  }
}

interface Change {
  index: number;
  key: string;
  /** True when every key starting with `key` changed (recursive delete). */
  prefix: boolean;
}

interface Waiter {
  key: string;
  recurse: boolean;
  settle: (index: number) => void;
}

export interface WatchHubOptions {
  historySize?: number;
  maxWaiters?: number;
}

function matches(change: Change, key: string, recurse: boolean): boolean {
  if (!change.prefix) return recurse ? change.key.startsWith(key) : change.key === key;
  return key.startsWith(change.key) || (recurse && change.key.startsWith(key));
}

export class WatchHub {
  private readonly ring: (Change | undefined)[];
  private head = 0; // next slot to write
  private length = 0;
  /** Changes at indexes <= floor may be missing from the history. */
  private floor = 0;
  private readonly exact = new Map<string, Set<Waiter>>();
  private readonly recursive = new Set<Waiter>();
  private waiterCount = 0;
  private readonly maxWaiters: number;
  private readonly appliedIndex: () => number;

  constructor(appliedIndex: () => number, opts: WatchHubOptions = {}) {
    this.appliedIndex = appliedIndex;
    this.ring = new Array<Change | undefined>(Math.max(1, opts.historySize ?? 10_000));
    this.maxWaiters = opts.maxWaiters ?? 100_000;
  }

  get waiting(): number {
    return this.waiterCount;
  }

  /** Records a change and wakes the waiters it concerns. */
  record(index: number, key: string, prefix: boolean): void {
    const evicted = this.ring[this.head];
    if (this.length === this.ring.length && evicted !== undefined)
      this.floor = Math.max(this.floor, evicted.index);
    const change: Change = { index, key, prefix };
    this.ring[this.head] = change;
    this.head = (this.head + 1) % this.ring.length;
    this.length = Math.min(this.length + 1, this.ring.length);
    if (this.waiterCount === 0) return;

    const woken: Waiter[] = [];
    if (prefix) {
      for (const [k, set] of this.exact) if (k.startsWith(key)) woken.push(...set);
    } else {
      const set = this.exact.get(key);
      if (set !== undefined) woken.push(...set);
    }
    for (const w of this.recursive) if (matches(change, w.key, true)) woken.push(w);
    for (const w of woken) w.settle(index);
  }

  /** Forgets the history (e.g. after a snapshot replaced the state) and wakes every waiter. */
  reset(floor: number): void {
    this.ring.fill(undefined);
    this.head = 0;
    this.length = 0;
    this.floor = floor;
    const all: Waiter[] = [...this.recursive];
    for (const set of this.exact.values()) all.push(...set);
    for (const w of all) w.settle(floor);
  }

  /** Smallest recorded change index > afterIndex concerning the key/prefix, if any. */
  private firstChangeAfter(key: string, recurse: boolean, afterIndex: number): number | undefined {
    let found: number | undefined;
    for (let n = 0; n < this.length; n++) {
      const c = this.ring[(this.head - 1 - n + this.ring.length) % this.ring.length]!;
      if (c.index <= afterIndex) break; // newest first: older entries are all <= afterIndex
      if (matches(c, key, recurse)) found = c.index;
    }
    return found;
  }

  wait(
    key: string,
    recurse: boolean,
    afterIndex: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<number> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    if (afterIndex < this.floor) return Promise.resolve(this.appliedIndex());
    const seen = this.firstChangeAfter(key, recurse, afterIndex);
    if (seen !== undefined) return Promise.resolve(seen);
    if (this.waiterCount >= this.maxWaiters) return Promise.reject(new WatchLimitError(this.maxWaiters));

    return new Promise<number>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      const detach = (): void => {
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (recurse) this.recursive.delete(waiter);
        else {
          const set = this.exact.get(key);
          set?.delete(waiter);
          if (set?.size === 0) this.exact.delete(key);
        }
        this.waiterCount--;
      };
      const waiter: Waiter = {
        key,
        recurse,
        settle: (index) => {
          if (settled) return;
          detach();
          resolve(index);
        },
      };
      const onAbort = (): void => {
        if (settled) return;
        detach();
        reject(signal!.reason as Error);
      };
      if (recurse) this.recursive.add(waiter);
      else {
        let set = this.exact.get(key);
        if (set === undefined) this.exact.set(key, (set = new Set()));
        set.add(waiter);
      }
      this.waiterCount++;
      signal?.addEventListener('abort', onAbort, { once: true });
      if (Number.isFinite(timeoutMs)) {
        timer = setTimeout(
          () => waiter.settle(this.appliedIndex()),
          Math.min(Math.max(0, timeoutMs), 2 ** 31 - 1),
        );
        // A pending watch must not keep the process alive during shutdown.
        timer.unref();
      }
    });
  }
}
