// The keys of the store in order, for prefix listing over a million keys
// without sorting per request: sorted chunks of a few hundred keys plus each
// chunk's largest key (the layout of Python's sortedcontainers). Insert and
// delete cost a binary search plus a splice inside one small chunk; a listing
// seeks to its start and walks forward. Only keys live here, so replacing a
// key's value never touches this index. `view()` copies only the chunk arrays
// (pointers): a point-in-time key order, cheaply.
// Order: JavaScript string order (UTF-16 code units), which keeps every
// prefix's keys contiguous.

const LOAD = 512;

function lowerBound(arr: readonly string[], key: string): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class SortedKeys {
  private chunks: string[][] = [];
  /** maxes[i] is the last (largest) key of chunks[i]. */
  private maxes: string[] = [];
  private count = 0;

  /** Builds from strictly increasing keys (e.g. a snapshot), in O(n). */
  static fromSorted(keys: readonly string[]): SortedKeys {
    const s = new SortedKeys();
    for (let i = 0; i < keys.length; i += LOAD) {
      const chunk = keys.slice(i, i + LOAD);
      s.chunks.push(chunk);
      s.maxes.push(chunk[chunk.length - 1]!);
    }
    s.count = keys.length;
    return s;
  }

  get size(): number {
    return this.count;
  }

  /** Adds `key`; returns false if it was already there. */
  add(key: string): boolean {
    if (this.chunks.length === 0) {
      this.chunks.push([key]);
      this.maxes.push(key);
      this.count = 1;
      return true;
    }
    let ci = lowerBound(this.maxes, key);
    if (ci === this.chunks.length) ci--; // larger than everything: goes at the end of the last chunk
    const chunk = this.chunks[ci]!;
    const pos = lowerBound(chunk, key);
    if (chunk[pos] === key) return false;
    chunk.splice(pos, 0, key);
    this.maxes[ci] = chunk[chunk.length - 1]!;
    this.count++;
    if (chunk.length > 2 * LOAD) {
      const tail = chunk.splice(LOAD);
      this.chunks.splice(ci + 1, 0, tail);
      this.maxes.splice(ci, 0, chunk[chunk.length - 1]!);
    }
    return true;
  }

  /** Removes `key`; returns false if there was none. */
  delete(key: string): boolean {
    const ci = lowerBound(this.maxes, key);
    const chunk = this.chunks[ci];
    if (chunk === undefined) return false;
    const pos = lowerBound(chunk, key);
    if (chunk[pos] !== key) return false;
    chunk.splice(pos, 1);
    this.count--;
    if (chunk.length === 0) {
      this.chunks.splice(ci, 1);
      this.maxes.splice(ci, 1);
    } else {
      this.maxes[ci] = chunk[chunk.length - 1]!;
    }
    return true;
  }

  has(key: string): boolean {
    const chunk = this.chunks[lowerBound(this.maxes, key)];
    return chunk !== undefined && chunk[lowerBound(chunk, key)] === key;
  }

  /** Calls `visit` with keys >= `start`, in order, until it returns false. Do not modify while visiting. */
  scan(start: string, visit: (key: string) => boolean): void {
    const chunks = this.chunks;
    let ci = lowerBound(this.maxes, start);
    if (ci >= chunks.length) return;
    let pos = lowerBound(chunks[ci]!, start);
    for (; ci < chunks.length; ci++, pos = 0) {
      const chunk = chunks[ci]!;
      for (; pos < chunk.length; pos++) if (!visit(chunk[pos]!)) return;
    }
  }

  /** A point-in-time copy of the order (chunk arrays copied, key strings shared). */
  view(): string[][] {
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
