// An ordered collection of items by their string `key`, for prefix listing
// over a million keys without sorting per request: sorted chunks of a few
// hundred items plus each chunk's largest key (the layout of Python's
// sortedcontainers). Insert and delete cost a binary search plus a splice
// inside one small chunk; a listing seeks to its start and walks forward.
// `view()` copies only the chunk arrays (pointers), which gives a consistent
// point-in-time view cheaply when items themselves are immutable.
// Order: JavaScript string order (UTF-16 code units), which keeps every
// prefix's keys contiguous.

const LOAD = 512;

interface Keyed {
  readonly key: string;
}

function lowerBoundKeys(arr: readonly string[], key: string): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function lowerBoundItems(arr: readonly Keyed[], key: string): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid]!.key < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class SortedList<T extends Keyed> {
  private chunks: T[][] = [];
  /** maxes[i] is the last (largest) key of chunks[i]. */
  private maxes: string[] = [];
  private count = 0;

  /** Builds from items whose keys are strictly increasing (e.g. a snapshot), in O(n). */
  static fromSorted<T extends Keyed>(items: readonly T[]): SortedList<T> {
    const s = new SortedList<T>();
    for (let i = 0; i < items.length; i += LOAD) {
      const chunk = items.slice(i, i + LOAD);
      s.chunks.push(chunk);
      s.maxes.push(chunk[chunk.length - 1]!.key);
    }
    s.count = items.length;
    return s;
  }

  get size(): number {
    return this.count;
  }

  /** Adds `item`, replacing an item with the same key; returns true if the key is new. */
  set(item: T): boolean {
    const key = item.key;
    if (this.chunks.length === 0) {
      this.chunks.push([item]);
      this.maxes.push(key);
      this.count = 1;
      return true;
    }
    let ci = lowerBoundKeys(this.maxes, key);
    if (ci === this.chunks.length) ci--; // larger than everything: goes at the end of the last chunk
    const chunk = this.chunks[ci]!;
    const pos = lowerBoundItems(chunk, key);
    if (chunk[pos]?.key === key) {
      chunk[pos] = item;
      return false;
    }
    chunk.splice(pos, 0, item);
    this.maxes[ci] = chunk[chunk.length - 1]!.key;
    this.count++;
    if (chunk.length > 2 * LOAD) {
      const tail = chunk.splice(LOAD);
      this.chunks.splice(ci + 1, 0, tail);
      this.maxes.splice(ci, 0, chunk[chunk.length - 1]!.key);
    }
    return true;
  }

  /** Removes the item with `key`; returns false if there was none. */
  delete(key: string): boolean {
    const ci = lowerBoundKeys(this.maxes, key);
    const chunk = this.chunks[ci];
    if (chunk === undefined) return false;
    const pos = lowerBoundItems(chunk, key);
    if (chunk[pos]?.key !== key) return false;
    chunk.splice(pos, 1);
    this.count--;
    if (chunk.length === 0) {
      this.chunks.splice(ci, 1);
      this.maxes.splice(ci, 1);
    } else {
      this.maxes[ci] = chunk[chunk.length - 1]!.key;
    }
    return true;
  }

  get(key: string): T | undefined {
    const chunk = this.chunks[lowerBoundKeys(this.maxes, key)];
    if (chunk === undefined) return undefined;
    const item = chunk[lowerBoundItems(chunk, key)];
    return item?.key === key ? item : undefined;
  }

  /** Calls `visit` with items whose key >= `start`, in order, until it returns false. Do not modify while visiting. */
  scan(start: string, visit: (item: T) => boolean): void {
    const chunks = this.chunks;
    let ci = lowerBoundKeys(this.maxes, start);
    if (ci >= chunks.length) return;
    let pos = lowerBoundItems(chunks[ci]!, start);
    for (; ci < chunks.length; ci++, pos = 0) {
      const chunk = chunks[ci]!;
      for (; pos < chunk.length; pos++) if (!visit(chunk[pos]!)) return;
    }
  }

  /** A point-in-time copy of the order (chunk arrays copied, items shared). */
  view(): T[][] {
    return this.chunks.map((c) => c.slice());
  }
}

/** The smallest string greater than every string starting with `prefix`, or undefined if none exists. */
export function prefixSuccessor(prefix: string): string | undefined {
  let end = prefix.length;
  while (end > 0 && prefix.charCodeAt(end - 1) === 0xffff) end--;
  if (end === 0) return undefined;
  return prefix.slice(0, end - 1) + String.fromCharCode(prefix.charCodeAt(end - 1) + 1);
}
