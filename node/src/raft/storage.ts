// The narrow interface through which the core reads stable state, and an
// in-memory implementation. The core only reads; the node writes what `ready()`
// hands it (append, setHardState, applySnapshot) and compacts behind snapshots.
import type { ConfState, Entry, HardState, Snapshot } from './types.ts';

export class CompactedError extends Error {
  constructor() {
    super('requested index is unavailable due to compaction');
    this.name = 'CompactedError';
  }
}

export class UnavailableError extends Error {
  constructor(index: number) {
    super(`requested entry at index ${index} is unavailable`);
    this.name = 'UnavailableError';
  }
}

export class SnapshotOutOfDateError extends Error {
  constructor() {
    super('requested snapshot is older than the existing snapshot');
    this.name = 'SnapshotOutOfDateError';
  }
}

export interface Storage {
  initialState(): { hardState: HardState; confState: ConfState };
  /** Entries in [lo, hi), at least one if any exist, then up to `maxSize` bytes of payload. */
  entries(lo: number, hi: number, maxSize: number): Entry[];
  /** Term of the entry at `index`; the snapshot's index is valid too. Throws CompactedError / UnavailableError. */
  term(index: number): number;
  /** Index of the first entry still in the log (snapshot index + 1). */
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
}

export function entrySize(e: Entry): number {
  return e.data.byteLength + 16;
}

/** Keeps entries until `maxSize` of payload is reached, always at least one. */
export function limitSize(entries: Entry[], maxSize: number): Entry[] {
  if (entries.length === 0) return entries;
  let size = entrySize(entries[0]!);
  let n = 1;
  for (; n < entries.length; n++) {
    size += entrySize(entries[n]!);
    if (size > maxSize) break;
  }
  return n === entries.length ? entries : entries.slice(0, n);
}

export function emptySnapshot(): Snapshot {
  return { metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } }, data: new Uint8Array() };
}

/**
 * Log, hard state and snapshot in memory. Also the in-memory half of the
 * LevelDB storage, which writes through to disk.
 * `ents[0]` is a dummy entry holding the snapshot's index and term.
 */
export class MemoryStorage implements Storage {
  protected hardState: HardState = { term: 0, vote: null, commit: 0 };
  protected snap: Snapshot = emptySnapshot();
  protected ents: Entry[] = [{ term: 0, index: 0, type: 0, data: new Uint8Array() }];

  /** A fresh storage for a node that bootstraps a cluster with `voters`. */
  static bootstrap(voters: string[], learners: string[] = []): MemoryStorage {
    const s = new MemoryStorage();
    s.snap = { ...emptySnapshot(), metadata: { index: 0, term: 0, confState: { voters, learners } } };
    return s;
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: this.snap.metadata.confState };
  }

  setHardState(hs: HardState): void {
    this.hardState = { ...hs };
  }

  entries(lo: number, hi: number, maxSize: number): Entry[] {
    const offset = this.ents[0]!.index;
    if (lo <= offset) throw new CompactedError();
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1);
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxSize);
  }

  term(index: number): number {
    const offset = this.ents[0]!.index;
    if (index < offset) throw new CompactedError();
    const e = this.ents[index - offset];
    if (e === undefined) throw new UnavailableError(index);
    return e.term;
  }

  firstIndex(): number {
    return this.ents[0]!.index + 1;
  }

  lastIndex(): number {
    return this.ents[0]!.index + this.ents.length - 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replaces everything with a snapshot received from the leader. */
  applySnapshot(snap: Snapshot): void {
    if (snap.metadata.index <= this.snap.metadata.index) throw new SnapshotOutOfDateError();
    this.snap = snap;
    this.ents = [{ term: snap.metadata.term, index: snap.metadata.index, type: 0, data: new Uint8Array() }];
  }

  /** Records a snapshot of the application state at `index` (which must be applied). */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) throw new SnapshotOutOfDateError();
    if (index > this.lastIndex()) throw new UnavailableError(index);
    this.snap = { metadata: { index, term: this.term(index), confState }, data };
    return this.snap;
  }

  /** Discards entries up to and including `compactIndex`. */
  compact(compactIndex: number): void {
    const offset = this.ents[0]!.index;
    if (compactIndex <= offset) return;
    if (compactIndex > this.lastIndex()) throw new UnavailableError(compactIndex);
    const i = compactIndex - offset;
    const head = this.ents[i]!;
    this.ents = [
      { term: head.term, index: head.index, type: 0, data: new Uint8Array() },
      ...this.ents.slice(i + 1),
    ];
  }

  /** Appends entries, truncating any conflicting suffix. Entries must be contiguous. */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return;
    // Skip anything already compacted away.
    if (first > entries[0]!.index) entries = entries.slice(first - entries[0]!.index);
    const offset = entries[0]!.index - this.ents[0]!.index;
    if (offset > this.ents.length) {
      throw new Error(`missing log entry [last: ${this.lastIndex()}, append at: ${entries[0]!.index}]`);
    }
    if (offset < this.ents.length) this.ents.length = offset;
    for (const e of entries) this.ents.push(e);
  }
}
