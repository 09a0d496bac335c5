// Copies of log entry payloads, packed into large slabs in log order.
// Entries stay in memory until a snapshot compacts them (up to the snapshot
// threshold, 100,000 by default), and the buffers they arrive in are views into
// Node's shared 64 KiB allocation pool or a whole network frame: one small live
// entry kept its whole pool slab alive, several times the memory of the payloads
// themselves. The log appends and compacts in index order, so slabs fill and
// die in order too: each slab is freed once its last entry is compacted.

const SLAB_BYTES = 1 << 20;

export class LogArena {
  private slab = Buffer.allocUnsafeSlow(0);
  private pos = 0;

  /** A copy of `data` in the current slab (a payload larger than a slab gets its own). */
  copy(data: Uint8Array): Buffer {
    const n = data.byteLength;
    if (this.pos + n > this.slab.byteLength) {
      if (n > SLAB_BYTES / 4) return Buffer.from(data.slice());
      this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.pos = 0;
    }
    const out = this.slab.subarray(this.pos, this.pos + n);
    out.set(data);
    // 8-byte alignment keeps typed-array views over the payload possible.
    this.pos += (n + 7) & ~7;
    return out;
  }
}
