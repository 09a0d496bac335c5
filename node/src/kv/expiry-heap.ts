// Min-heap of key expiry times. Entries are never updated in place: a rewrite
// or delete leaves the old entry behind ("stale"), recognised because the key's
// current modifyIndex differs. The owner counts stale entries and rebuilds the
// heap from live ones when they dominate, so rewrites cannot grow it unboundedly.

export interface ExpiryEntry {
  expiresAt: number;
  key: string;
  modifyIndex: number;
}

export class ExpiryHeap {
  private heap: ExpiryEntry[] = [];

  get size(): number {
    return this.heap.length;
  }

  peek(): ExpiryEntry | undefined {
    return this.heap[0];
  }

  push(e: ExpiryEntry): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.expiresAt <= e.expiresAt) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = e;
  }

  pop(): ExpiryEntry | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    h[0] = last;
    this.siftDown(0);
    return top;
  }

  /**
   * Entries with expiresAt <= now, without removing them, visiting only the part
   * of the heap that is due (children of a future entry are in the future too).
   */
  *due(nowMs: number): Generator<ExpiryEntry, void, undefined> {
    const h = this.heap;
    const stack: number[] = h.length > 0 ? [0] : [];
    while (stack.length > 0) {
      const i = stack.pop()!;
      const e = h[i];
      if (e === undefined || e.expiresAt > nowMs) continue;
      yield e;
      stack.push(2 * i + 2, 2 * i + 1);
    }
  }

  /** Replaces the content (e.g. live entries only), in O(n). */
  rebuild(entries: ExpiryEntry[]): void {
    this.heap = entries;
    for (let i = (entries.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  entries(): readonly ExpiryEntry[] {
    return this.heap;
  }

  private siftDown(start: number): void {
    const h = this.heap;
    const e = h[start]!;
    let i = start;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= h.length) break;
      if (child + 1 < h.length && h[child + 1]!.expiresAt < h[child]!.expiresAt) child++;
      if (h[child]!.expiresAt >= e.expiresAt) break;
      h[i] = h[child]!;
      i = child;
    }
    h[i] = e;
  }
}
