// A simulated disk with DiskStorage's semantics (node-io.ts NodeStorage):
// memory is updated when persist() is called, one writer lands queued writes
// in order after a seeded latency (group commit), and a batch is durable only
// if it, or a later batch, was synced. Whether a write syncs is decided by the
// same mustSync() DiskStorage uses. A crash keeps the durable image plus a
// random prefix of the landed-but-unsynced writes (the OS may have flushed
// them) and loses everything not yet landed.
import { MemoryStorage, SnapshotOutOfDateError, UnavailableError } from '../../raft/storage.ts';
import type { ConfState, Entry, HardState, Snapshot, SnapshotMetadata } from '../../raft/types.ts';
import {
  DEFERRED_COMMIT_MS,
  defersHardState,
  mustSync,
  type PersistRequest,
} from '../../storage/disk-storage.ts';
import type { NodeStorage } from '../node-io.ts';

/** What survives a crash. */
export interface DurableImage {
  hardState: HardState;
  logStart: { index: number; term: number };
  /** Entries logStart.index+1 .. in order. */
  entries: Entry[];
  snap: SnapshotMetadata;
  snapData: Uint8Array;
  removed: boolean;
  clusterId: string | null;
}

/** A write's effect on an image; `live` is true for the disk's own durable image (reported to the checks). */
type Op = (img: DurableImage, live: boolean) => void;

interface Queued {
  ops: Op[];
  sync: boolean;
  termChange: boolean;
  resolve: () => void;
}

export interface DiskEnv {
  /** Runs `fn` after `ms` of virtual time, unless this disk has crashed. */
  after(ms: number, fn: () => void): void;
  /** Latency of the next write batch; `termChange`: it carries a new term or vote. */
  latency(termChange: boolean): number;
  /** A batch became durable: entries appended after an entry of term prevTerm. */
  onDurableEntries?(entries: Entry[], prevTerm: number): void;
  /** Called when a batch has landed, before its promises resolve; may crash the node. */
  onLanded?(): void;
}

export function freshImage(confState: ConfState, clusterId: string | null): DurableImage {
  return {
    hardState: { term: 0, vote: null, commit: 0 },
    logStart: { index: 0, term: 0 },
    entries: [],
    snap: { index: 0, term: 0, confState },
    snapData: new Uint8Array(0),
    removed: false,
    clusterId,
  };
}

function cloneImage(img: DurableImage): DurableImage {
  return {
    ...img,
    hardState: { ...img.hardState },
    logStart: { ...img.logStart },
    entries: img.entries.slice(),
  };
}

function termIn(img: DurableImage, index: number): number {
  if (index === img.logStart.index) return img.logStart.term;
  const e = img.entries[index - img.logStart.index - 1];
  return e ? e.term : -1;
}

export class SimDisk extends MemoryStorage implements NodeStorage {
  private readonly env: DiskEnv;
  private durable: DurableImage;
  /** Landed without sync, oldest first: lost on crash unless a later synced batch lands. */
  private volatile: Op[] = [];
  private queue: Queued[] = [];
  private writing = false;
  /** As DiskStorage: a commit-only hard state rides in the next batch queued, or lands alone later. */
  private deferred: Op | null = null;
  private deferredTimer = false;
  private crashed = false;
  private metaState: { clusterId: string | null; memberId: string; removed: boolean };
  compactionError: Error | null = null;
  /** The simulated disk never fills up (ENOSPC is tested on a real tmpfs: recovery.test.ts). */
  readonly diskFull = null;
  /** Snapshot data by index (the current one and one being received). */
  private snapData: Uint8Array;
  readonly batches = { synced: 0, unsynced: 0 };

  constructor(memberId: string, img: DurableImage, env: DiskEnv) {
    super();
    this.env = env;
    this.durable = cloneImage(img);
    this.metaState = { clusterId: img.clusterId, memberId, removed: img.removed };
    // As DiskStorage.load: the commit index is written unsynced; the snapshot is a safe floor.
    const hs = { ...img.hardState };
    if (hs.commit < img.snap.index) hs.commit = img.snap.index;
    this.hardState = hs;
    this.snap = { metadata: img.snap, data: new Uint8Array(0) };
    this.snapData = img.snapData;
    this.ents = [
      { index: img.logStart.index, term: img.logStart.term, type: 0, data: new Uint8Array(0) },
      ...img.entries,
    ];
  }

  /** The image a restart finds, after a crash that keeps `keepVolatile` of the unsynced writes. */
  crash(keepVolatile: number): DurableImage {
    this.crashed = true;
    const img = cloneImage(this.durable);
    for (const op of this.volatile.slice(0, keepVolatile)) op(img, false);
    this.queue = [];
    return img;
  }

  get volatileCount(): number {
    return this.volatile.length;
  }

  get pendingWrites(): number {
    return this.queue.length + (this.writing ? 1 : 0);
  }

  /** Durable state (for the checks). */
  get image(): DurableImage {
    return this.durable;
  }

  get meta(): { clusterId: string | null; memberId: string } {
    return { clusterId: this.metaState.clusterId, memberId: this.metaState.memberId };
  }

  get removed(): boolean {
    return this.metaState.removed;
  }

  needsSync(p: PersistRequest): boolean {
    return mustSync(p, this.hardState);
  }

  persist(p: PersistRequest): Promise<void> {
    if (p.snapshot !== null && p.snapshot.metadata.index <= this.snap.metadata.index) {
      return Promise.reject(new SnapshotOutOfDateError());
    }
    const sync = this.needsSync(p);
    const ops: Op[] = [];
    if (p.snapshot !== null) {
      const snap = p.snapshot;
      super.applySnapshot({ metadata: snap.metadata, data: new Uint8Array(0) });
      this.snapData = snap.data;
      ops.push((img) => {
        img.snap = snap.metadata;
        img.snapData = snap.data;
        img.logStart = { index: snap.metadata.index, term: snap.metadata.term };
        img.entries = [];
      });
    }
    if (p.entries.length > 0) {
      super.append(p.entries.map((e) => ({ ...e })));
      const entries = p.entries.map((e) => ({ ...e }));
      ops.push((img, live) => this.appendTo(img, entries, live));
    }
    if (p.hardState !== null) {
      super.setHardState(p.hardState);
      const hs = { ...p.hardState };
      ops.push((img) => {
        img.hardState = hs;
      });
    }
    const hs = p.hardState;
    if (defersHardState(p, sync)) {
      this.deferred = ops[0]!;
      if (!this.deferredTimer) {
        this.deferredTimer = true;
        this.env.after(DEFERRED_COMMIT_MS, () => {
          this.deferredTimer = false;
          if (this.deferred !== null) void this.enqueue([], false);
        });
      }
      return Promise.resolve();
    }
    const termChange =
      hs !== null && (hs.term !== this.durable.hardState.term || hs.vote !== this.durable.hardState.vote);
    return this.enqueue(ops, sync, termChange);
  }

  private appendTo(img: DurableImage, entries: Entry[], live: boolean): void {
    const first = img.logStart.index + 1;
    const es = entries.filter((e) => e.index >= first);
    if (es.length === 0) return;
    const at = es[0]!.index - first;
    if (live) this.env.onDurableEntries?.(es, termIn(img, es[0]!.index - 1));
    if (at > img.entries.length)
      throw new Error(`sim disk: gap appending ${es[0]!.index} after ${first + img.entries.length - 1}`);
    img.entries.length = at;
    img.entries.push(...es);
  }

  async saveSnapshot(
    index: number,
    confState: ConfState,
    data: Uint8Array | Iterable<Uint8Array>,
    keepEntries: number,
  ): Promise<number> {
    if (this.crashed) return new Promise<number>(() => undefined);
    if (index <= this.snap.metadata.index) throw new SnapshotOutOfDateError();
    const parts = data instanceof Uint8Array ? [data] : [...data].map((b) => Uint8Array.from(b));
    const bytes = concat(parts);
    // The file write, outside the write queue.
    await new Promise<void>((r) => this.env.after(this.env.latency(false), r));
    if (index <= this.snap.metadata.index) throw new SnapshotOutOfDateError();
    if (index > this.lastIndex()) throw new UnavailableError(index);
    super.createSnapshot(index, confState, new Uint8Array(0));
    this.snapData = bytes;
    const meta = this.snap.metadata;
    const compactIndex = index - Math.max(0, Math.floor(keepEntries));
    const compacts = compactIndex > this.ents[0]!.index;
    if (compacts) super.compact(compactIndex);
    const logStart = { index: this.ents[0]!.index, term: this.ents[0]!.term };
    await this.enqueue(
      [
        (img) => {
          img.snap = meta;
          img.snapData = bytes;
          if (compacts && logStart.index > img.logStart.index) {
            img.entries = img.entries.slice(logStart.index - img.logStart.index);
            img.logStart = logStart;
          }
        },
      ],
      true,
    );
    return bytes.byteLength;
  }

  readSnapshotData(): Promise<Uint8Array> {
    return Promise.resolve(this.snapData);
  }

  snapshotDataAt(index: number): Promise<Uint8Array> {
    if (index !== this.snap.metadata.index) return Promise.reject(new SnapshotOutOfDateError());
    return Promise.resolve(this.snapData);
  }

  setClusterId(id: string): Promise<void> {
    this.metaState.clusterId = id;
    return this.enqueue(
      [
        (img) => {
          img.clusterId = id;
        },
      ],
      true,
    );
  }

  markRemoved(): Promise<void> {
    return this.setRemoved(true);
  }

  /** The node-level simulation never wipes a member (the core simulation does): kept in memory only. */
  markLost(reason: string): Promise<void> {
    this.lostReason = reason;
    return Promise.resolve();
  }

  lostReason: string | null = null;

  clearRemoved(): Promise<void> {
    if (!this.metaState.removed) return Promise.resolve();
    return this.setRemoved(false);
  }

  private setRemoved(removed: boolean): Promise<void> {
    this.metaState.removed = removed;
    return this.enqueue(
      [
        (img) => {
          img.removed = removed;
        },
      ],
      true,
    );
  }

  close(): Promise<void> {
    return this.enqueue([], true);
  }

  // The MemoryStorage mutators would change memory without the disk, as in DiskStorage.
  override append(_entries: Entry[]): void {
    throw new Error('SimDisk: use persist()');
  }
  override setHardState(_hs: HardState): void {
    throw new Error('SimDisk: use persist()');
  }
  override applySnapshot(_snap: Snapshot): void {
    throw new Error('SimDisk: use persist()');
  }

  private enqueue(ops: Op[], sync: boolean, termChange = false): Promise<void> {
    // A crashed disk never answers: the loop of the dead node stays suspended and is thrown away.
    if (this.crashed) return new Promise<void>(() => undefined);
    if (this.deferred !== null) {
      ops = [this.deferred, ...ops];
      this.deferred = null;
    }
    return new Promise<void>((resolve) => {
      this.queue.push({ ops, sync, termChange, resolve });
      if (!this.writing) this.drain();
    });
  }

  /** The single writer: everything queued lands together after one latency (group commit). */
  private drain(): void {
    if (this.crashed || this.queue.length === 0) {
      this.writing = false;
      return;
    }
    this.writing = true;
    const items = this.queue.splice(0);
    this.env.after(this.env.latency(items.some((i) => i.termChange)), () => {
      if (this.crashed) return;
      const sync = items.some((i) => i.sync);
      const ops = items.flatMap((i) => i.ops);
      if (sync) {
        const all = [...this.volatile, ...ops];
        this.volatile = [];
        for (const op of all) this.applyDurable(op);
        this.batches.synced++;
      } else {
        this.volatile.push(...ops);
        this.batches.unsynced++;
      }
      this.env.onLanded?.();
      if (this.crashed) return;
      for (const i of items) i.resolve();
      this.drain();
    });
  }

  private applyDurable(op: Op): void {
    op(this.durable, true);
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.byteLength;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}
