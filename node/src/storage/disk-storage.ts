// Durable Raft storage on LevelDB (classic-level). The core reads storage
// synchronously, so the whole unsnapshotted log lives in memory (MemoryStorage)
// and every change is written through to disk: in-memory state changes at call
// time, disk writes are chained so they land in call order, and anything the
// node must not acknowledge before it is durable goes in one synced batch.
//
// Invariant: once every queued write has landed, the entries on disk are
// exactly the in-memory entries after the dummy `ents[0]`, whose index/term are
// stored as the "log start" record. Snapshot data lives in files beside the
// database (snapshot-files.ts), not in memory: the snapshot the core sees carries
// only metadata, and the bytes are read from the file when a follower needs them
// (readSnapshotData). Only the file the snapshot record names is live.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClassicLevel } from 'classic-level';
import { MemoryStorage, SnapshotOutOfDateError } from '../raft/storage.ts';
import { decodeConfChange } from '../raft/conf-change.ts';
import { ConfChangeType, EntryType } from '../raft/types.ts';
import type { ConfState, Entry, HardState, Snapshot, SnapshotMetadata } from '../raft/types.ts';
import { CorruptionError, DataDirError, DiskFullError, diskFullMessage, isDiskFull } from './errors.ts';
import {
  FORMAT_VERSION,
  KEY_HARD_STATE,
  KEY_LOG_START,
  KEY_META,
  KEY_SNAPSHOT,
  decodeHardState,
  decodeLogStart,
  decodeMeta,
  decodeSnapshotRecord,
  packr,
} from './meta-records.ts';
import type { MetaRecord, SnapshotRecord } from './meta-records.ts';
import {
  ALL_RANGE,
  ENTRY_RANGE,
  decodeEntryPayload,
  entryIndexOfKey,
  entryKey,
  openRecord,
  printableKey,
  sealEntryRecord,
  sealRecord,
} from './records.ts';
import { LogArena } from './log-arena.ts';
import { SnapshotFiles, type SnapshotFile } from './snapshot-files.ts';
import { hasIdentity, priorEvidence, writeIdentity } from './identity.ts';

export { FORMAT_VERSION } from './meta-records.ts';
/** Longest a commit-only hard state waits for a batch to ride in before it is written alone. */
export const DEFERRED_COMMIT_MS = 100;
/** Compacted log entries deleted per background batch. */
const COMPACT_DELETE_BATCH = 1000;
const COMPACT_DELETE_PAUSE_MS = 5;
const NO_DATA = new Uint8Array(0);
/** Writes held for lack of space are tried again after this long, doubling up to the maximum. */
const DISK_FULL_RETRY_FIRST_MS = 50;
const DISK_FULL_RETRY_MAX_MS = 2000;
const DISK_FULL_SNAPSHOT_RETRY_MS = 10_000;

type BatchOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

export interface DiskStorageOptions {
  memberId: string;
  clusterId?: string;
  /** Initial membership for a node that bootstraps a new cluster; ignored if the directory holds data. */
  bootstrap?: ConfState;
  /** A new directory built by a restore (MetaRecord.origin); ignored if the directory holds data. */
  origin?: 'restore';
  /**
   * A new directory of a member that joins (-join): its first hard state is `joining`, so it casts
   * no vote until the cluster's log shows it was not already a voter (ADR 0079).
   */
  joining?: boolean;
}

export interface PersistRequest {
  entries: Entry[];
  hardState: HardState | null;
  snapshot: Snapshot | null;
}

export class DiskStorage extends MemoryStorage {
  private readonly db: ClassicLevel<Buffer, Buffer>;
  /** Set while writes fail for lack of space (ENOSPC); cleared once the held batch lands. */
  private full: { since: number; message: string } | null = null;
  /** A snapshot file could not be written for lack of space: no new attempt before this time. */
  private snapshotSpaceRetryAt = 0;
  private metaRecord: MetaRecord;
  /** Writes not yet started, in call order; one writer drains them (see drain()). */
  private queue: QueuedWrite[] = [];
  private writing = false;
  /** A batch was written without fsync since the last synced one (see persist()); close() syncs it. */
  private unsynced = false;
  /**
   * A commit-only hard state not yet queued (see persist()): it rides in the next batch queued, or
   * is written on its own, unsynced, DEFERRED_COMMIT_MS later.
   */
  private deferredHardState: BatchOp | null = null;
  private deferredTimer: NodeJS.Timeout | null = null;
  /** Batches written with and without fsync (read by tests). */
  readonly batchesWritten = { synced: 0, unsynced: 0 };
  /** Set when a write fails: memory is then ahead of disk and nothing more may be acknowledged. */
  private failure: Error | null = null;
  private closed = false;
  /** close() was called: background work stops pacing itself. */
  private closing = false;
  /** Background deletion of compacted log entries (one at a time). */
  private compacting: Promise<void> = Promise.resolve();
  /** The last background compaction failure, for diagnostics. */
  compactionError: Error | null = null;
  private readonly files: SnapshotFiles;
  /** Payloads of the in-memory log entries (see log-arena.ts). */
  private readonly arena = new LogArena();
  /**
   * Where the data of the current snapshot (this.snap, whose `data` is always empty) is:
   * its file once written, or still in memory while a snapshot received from the leader is
   * being written (`pending`). `file` null and no `pending`: the snapshot has no data (index 0).
   */
  private current: { index: number; file: SnapshotFile | null; pending: Uint8Array | null } = {
    index: 0,
    file: null,
    pending: null,
  };
  /** Snapshot files being written outside the write queue (see saveSnapshot); close() waits for them. */
  private fileWrites = new Set<Promise<unknown>>();

  private constructor(db: ClassicLevel<Buffer, Buffer>, meta: MetaRecord, dir: string) {
    super();
    this.db = db;
    this.metaRecord = meta;
    this.files = new SnapshotFiles(dir);
  }

  static async open(dir: string, opts: DiskStorageOptions): Promise<DiskStorage> {
    try {
      await mkdir(dir, { recursive: true });
    } catch (err) {
      throw notWritable(dir, err);
    }
    const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    try {
      await db.open();
    } catch (err) {
      throw openError(dir, err);
    }
    try {
      const rawMeta = await db.get(KEY_META);
      if (rawMeta === undefined) {
        const evidence = await priorEvidence(dir);
        if (evidence.length > 0) {
          throw new DataDirError(
            'lost-state',
            `data directory ${dir} has lost its state: its LevelDB holds no kv-store records, but ${evidence.join(' and ')} show a member lived here; ` +
              'starting would forget its log and vote',
          );
        }
        return await DiskStorage.initialise(db, opts, dir);
      }
      const meta = decodeMeta(rawMeta);
      if (meta.lostReason !== undefined)
        throw new DataDirError(
          'lost-state',
          `data directory ${dir} has lost its state: this member ${meta.lostReason}`,
        );
      checkIdentity(dir, meta, opts);
      const storage = new DiskStorage(db, meta, dir);
      await storage.files.init();
      await storage.load();
      storage.checkNotLost(dir, opts);
      if (meta.removed) await storage.checkRemoved(dir);
      // Directories from before the identity file, or a crash between the first batch and the file.
      if (!(await hasIdentity(dir))) await writeIdentity(dir, meta.memberId);
      if (meta.clusterId === null && opts.clusterId !== undefined) await storage.setClusterId(opts.clusterId);
      return storage;
    } catch (err) {
      await db.close();
      throw err;
    }
  }

  /**
   * The records are there but say the member has lost part of its state: entries committed that
   * the log no longer holds, or (when asked to bootstrap) an empty log beside a term or vote that
   * bootstrapping would overwrite. Every write that lands a hard state lands the entries it commits
   * in the same or an earlier synced batch, and bootstrapping writes its entries and hard state in
   * one batch, so neither happens to an intact directory.
   */
  private checkNotLost(dir: string, opts: DiskStorageOptions): void {
    const last = this.lastIndex();
    const hs = this.hardState;
    if (hs.commit > last) {
      throw new DataDirError(
        'lost-state',
        `data directory ${dir} has lost its state: the hard state records entries up to ${hs.commit} as committed but the log ends at ${last}`,
      );
    }
    if (opts.bootstrap !== undefined && last === 0 && (hs.term !== 0 || hs.vote !== null)) {
      throw new DataDirError(
        'lost-state',
        `data directory ${dir} has lost its state: the log is empty but the hard state holds term ${hs.term}` +
          `${hs.vote !== null ? ` and a vote for ${hs.vote}` : ''}; bootstrapping again would forget them`,
      );
    }
  }

  private static async initialise(
    db: ClassicLevel<Buffer, Buffer>,
    opts: DiskStorageOptions,
    dir: string,
  ): Promise<DiskStorage> {
    for await (const key of db.keys({ ...ALL_RANGE, limit: 1 })) {
      throw new DataDirError(
        'unknown-format',
        `data directory holds records (${printableKey(key)}) but no kv-store metadata; refusing to use it`,
      );
    }
    const meta: MetaRecord = {
      formatVersion: FORMAT_VERSION,
      memberId: opts.memberId,
      clusterId: opts.clusterId ?? null,
      removed: false,
      ...(opts.origin ? { origin: opts.origin } : {}),
    };
    const storage = new DiskStorage(db, meta, dir);
    await storage.files.init();
    await storage.files.removeAllExcept(() => false);
    if (opts.bootstrap !== undefined) {
      const confState = { voters: [...opts.bootstrap.voters], learners: [...opts.bootstrap.learners] };
      storage.snap = { metadata: { index: 0, term: 0, confState }, data: new Uint8Array() };
    } else if (opts.joining === true) {
      storage.hardState = { ...storage.hardState, joining: true };
    }
    // Meta goes last in key order but all of it lands atomically in one batch.
    const ops: BatchOp[] = [
      putOp(KEY_HARD_STATE, packr.pack(storage.hardState)),
      putOp(KEY_SNAPSHOT, packr.pack(snapshotRecord(storage.snap.metadata, null))),
      putOp(KEY_LOG_START, packr.pack({ index: 0, term: 0 })),
      putOp(KEY_META, packr.pack(meta)),
    ];
    await db.batch(ops, { sync: true });
    // After the records: from now on an empty LevelDB beside this file means lost state.
    await writeIdentity(dir, meta.memberId);
    return storage;
  }

  /** Loads hard state, snapshot and the log into memory, verifying every record. */
  private async load(): Promise<void> {
    this.hardState = decodeHardState(await this.mustGet(KEY_HARD_STATE));
    const logStart = decodeLogStart(await this.mustGet(KEY_LOG_START));
    const snapRec = decodeSnapshotRecord(await this.mustGet(KEY_SNAPSHOT));

    const ents: Entry[] = [{ index: logStart.index, term: logStart.term, type: 0, data: new Uint8Array() }];
    let expected = logStart.index + 1;
    // Entries at or below the log start are compacted away; they are deleted in the background after a
    // snapshot (see saveSnapshot), so a crash can leave some behind: they are garbage, never data.
    for await (const [key, value] of this.db.iterator({ gte: entryKey(expected), lt: ENTRY_RANGE.lt })) {
      const index = entryIndexOfKey(key);
      if (index !== expected)
        throw new CorruptionError(printableKey(key), `gap in the log: expected entry ${expected}`);
      const { term, type, data } = decodeEntryPayload(key, openRecord(key, value));
      if (type !== 0 && type !== 1)
        throw new CorruptionError(printableKey(key), `unknown entry type ${type}`);
      const prevTerm = ents[ents.length - 1]!.term;
      if (term < prevTerm)
        throw new CorruptionError(printableKey(key), `term ${term} below previous term ${prevTerm}`);
      ents.push({ index, term, type, data: this.arena.copy(data) });
      expected++;
    }
    const last = expected - 1;
    const snapIndex = snapRec.metadata.index;
    if (snapIndex < logStart.index || snapIndex > last) {
      throw new CorruptionError(
        printableKey(KEY_SNAPSHOT),
        `snapshot index ${snapIndex} outside the stored log [${logStart.index}, ${last}]`,
      );
    }

    if (snapRec.file !== null) await this.files.check(snapRec.file, printableKey(KEY_SNAPSHOT));
    // The commit index is written unsynced (mustSync); a crash can leave it behind the snapshot, which
    // holds only committed state, so the snapshot's index is a safe floor.
    if (this.hardState.commit < snapIndex) this.hardState = { ...this.hardState, commit: snapIndex };
    this.ents = ents;
    this.snap = { metadata: snapRec.metadata, data: NO_DATA };
    this.current = { index: snapIndex, file: snapRec.file, pending: null };
    await this.files.removeAllExcept((name) => name === snapRec.file?.file);
    this.deleteCompactedInBackground(logStart.index);
  }

  /**
   * The removed marker is set when this member applies its own removal, and cleared when it applies
   * a later re-add of its id (an operator reusing the id on a fresh volume replays both). A crash
   * between the two leaves the marker set although the log adds the member back, so the marker is
   * only believed when the log agrees: the last conf change in the log concerning this member
   * decides. A removal (or no change in the log: the removal is at or behind the snapshot, and the
   * clearing of a re-add it covers landed before it) refuses; an add clears the marker. An add
   * beyond the durable commit index counts too: a leader only replicates to this member once it has
   * applied the member's (re-)add, and no second conf change is proposed while one is pending.
   */
  private async checkRemoved(dir: string): Promise<void> {
    const me = this.metaRecord.memberId;
    let last: number | undefined;
    for (let i = this.ents.length - 1; i > 0 && last === undefined; i--) {
      const e = this.ents[i]!;
      if (e.type !== EntryType.ConfChange) continue;
      let cc: { type: number; nodeId: string };
      try {
        cc = decodeConfChange(e.data);
      } catch {
        continue;
      }
      if (cc.nodeId !== me) continue;
      // A removal counts only once committed; an add is committed whenever this member holds it.
      if (cc.type === ConfChangeType.RemoveNode && e.index > this.hardState.commit) continue;
      last = cc.type;
    }
    if (last === undefined || last === ConfChangeType.RemoveNode) {
      throw new DataDirError(
        'member-removed',
        `member ${me} was removed from cluster ${this.metaRecord.clusterId ?? '(unknown)'}; wipe ${dir} to join again`,
      );
    }
    await this.clearRemoved();
  }

  /**
   * The current snapshot's data (empty for the initial index-0 snapshot), read from its file and
   * checked against the size and checksum its record holds.
   */
  readSnapshotData(): Promise<Uint8Array> {
    const { pending, file } = this.current;
    if (pending !== null) return Promise.resolve(pending);
    if (file === null) return Promise.resolve(NO_DATA);
    return this.files.read(file, printableKey(KEY_SNAPSHOT));
  }

  /** The data of the snapshot at `index`, for sending it to a follower; rejects if a newer one replaced it. */
  snapshotDataAt(index: number): Promise<Uint8Array> {
    if (index !== this.current.index) {
      return Promise.reject(new SnapshotOutOfDateError());
    }
    return this.readSnapshotData();
  }

  private async mustGet(key: Buffer): Promise<Buffer> {
    const value = await this.db.get(key);
    if (value === undefined) throw new CorruptionError(printableKey(key), 'record missing');
    return openRecord(key, value);
  }

  get meta(): { clusterId: string | null; memberId: string } {
    return { clusterId: this.metaRecord.clusterId, memberId: this.metaRecord.memberId };
  }

  get removed(): boolean {
    return this.metaRecord.removed;
  }

  /**
   * Persists one Ready: snapshot, entries (truncating a conflicting suffix) and
   * hard state. Memory is updated before this returns its promise; the promise
   * resolves once everything is on disk in one synced batch.
   */
  persist(p: PersistRequest): Promise<void> {
    try {
      this.assertWritable();
    } catch (err) {
      return Promise.reject(asError(err));
    }
    // An out-of-date snapshot is refused before anything changes.
    if (p.snapshot !== null && p.snapshot.metadata.index <= this.snap.metadata.index) {
      return Promise.reject(new SnapshotOutOfDateError());
    }
    const ops: BatchOp[] = [];
    let prepare: (() => Promise<BatchOp[]>) | undefined;
    const sync = this.needsSync(p);
    try {
      if (p.snapshot !== null) prepare = this.applySnapshotInMemory(p.snapshot, ops);
      if (p.entries.length > 0) this.appendInMemory(p.entries, ops);
      if (p.hardState !== null) {
        super.setHardState(p.hardState);
        ops.push(putOp(KEY_HARD_STATE, packr.pack(this.hardState)));
      }
    } catch (err) {
      // Memory may be half-updated (e.g. an append leaving a gap): stop trusting this storage.
      this.failure = asError(err);
      return Promise.reject(this.failure);
    }
    if (defersHardState(p, sync)) {
      // A commit index alone is not written now: its batch protected nothing (a crash may lose an
      // unsynced write anyway) and cost every member a write per Ready. It goes in the next batch, so
      // it lands after every entry it counts, like etcd's WAL, which buffers it until the next sync.
      this.deferHardState(ops[0]!);
      return Promise.resolve();
    }
    const written = this.enqueue(ops, prepare, sync);
    if (p.snapshot !== null) this.afterSwitch(written, p.snapshot.metadata.index);
    return written;
  }

  private deferHardState(op: BatchOp): void {
    this.deferredHardState = op;
    this.deferredTimer ??= setTimeout(() => {
      this.deferredTimer = null;
      // A failure here poisons the storage: the next persist reports it.
      if (this.deferredHardState !== null) void this.enqueue([], undefined, false).catch(() => undefined);
    }, DEFERRED_COMMIT_MS).unref();
  }

  /** Whether persist(p) will fsync (see mustSync). */
  needsSync(p: PersistRequest): boolean {
    return mustSync(p, this.hardState);
  }

  /**
   * Records a snapshot of the applied state at `index` and compacts the log so
   * that `keepEntries` entries before `index` remain (for followers slightly behind).
   * `data` (one buffer, or its parts in order, consumed lazily) goes to a file
   * first, outside the write queue, so Raft writes keep landing meanwhile; then
   * one small synced batch switches the snapshot record and the log start over
   * to it. Resolves to the snapshot's size in bytes.
   */
  async saveSnapshot(
    index: number,
    confState: ConfState,
    data: Uint8Array | Iterable<Uint8Array>,
    keepEntries: number,
  ): Promise<number> {
    this.assertWritable();
    if (index <= this.snap.metadata.index) throw new SnapshotOutOfDateError();
    if (this.full !== null || Date.now() < this.snapshotSpaceRetryAt) {
      throw new DiskFullError(this.full?.message ?? 'no space left on the device for a snapshot file');
    }
    const parts = data instanceof Uint8Array ? [data] : data;
    let file: SnapshotFile;
    try {
      file = await this.trackFileWork(this.files.write(SnapshotFiles.nameFor(index), parts));
    } catch (err) {
      if (!isDiskFull(err)) throw err;
      // The partial file is gone (SnapshotFiles.write); the log is kept and a later snapshot tries again.
      this.snapshotSpaceRetryAt = Date.now() + DISK_FULL_SNAPSHOT_RETRY_MS;
      throw new DiskFullError(diskFullMessage(err));
    }
    const ops: BatchOp[] = [];
    try {
      this.assertWritable();
      // Throws SnapshotOutOfDateError if a snapshot from the leader landed while the file was written.
      super.createSnapshot(index, confState, NO_DATA);
    } catch (err) {
      this.files.settled(file.file);
      await this.files.remove(file.file);
      throw err;
    }
    // From here the file is the current snapshot's: garbage collection keeps it by name.
    this.files.settled(file.file);
    this.current = { index, file, pending: null };
    ops.push(putOp(KEY_SNAPSHOT, packr.pack(snapshotRecord(this.snap.metadata, file))));
    const compactIndex = index - Math.max(0, Math.floor(keepEntries));
    const compacts = compactIndex > this.ents[0]!.index;
    if (compacts) {
      super.compact(compactIndex);
      ops.push(putOp(KEY_LOG_START, packr.pack({ index: this.ents[0]!.index, term: this.ents[0]!.term })));
    }
    const written = this.enqueue(ops);
    this.afterSwitch(written, index);
    // Once the new log start lands, the entries below it are unreachable: delete them afterwards in
    // small batches, so synced Raft writes never queue behind one huge batch of deletes.
    if (compacts) {
      void written.then(
        () => this.deleteCompactedInBackground(compactIndex),
        () => undefined,
      );
    }
    await written;
    return file.size;
  }

  /** Snapshot file work outside the write queue: close() waits for it. */
  private async trackFileWork<T>(work: Promise<T>): Promise<T> {
    this.fileWrites.add(work);
    try {
      return await work;
    } finally {
      this.fileWrites.delete(work);
    }
  }

  /**
   * Once the switch to the snapshot at `index` is durable: its data no longer needs to be held in
   * memory, and the files of earlier snapshots are garbage.
   */
  private afterSwitch(written: Promise<void>, index: number): void {
    void written.then(
      async () => {
        if (this.current.index !== index) return;
        this.current.pending = null;
        await this.trackFileWork(
          this.files.removeAllExcept((name) => name === this.current.file?.file).catch(() => undefined),
        );
      },
      () => undefined,
    );
  }

  /** Records the cluster id learned after joining. Refuses to change an id already recorded. */
  setClusterId(id: string): Promise<void> {
    if (this.metaRecord.clusterId !== null && this.metaRecord.clusterId !== id) {
      return Promise.reject(
        new DataDirError(
          'cluster-id-mismatch',
          `data directory belongs to cluster ${this.metaRecord.clusterId}, not ${id}`,
        ),
      );
    }
    return this.writeMeta({ ...this.metaRecord, clusterId: id });
  }

  /** Marks this member as removed from the cluster: later opens of the directory are refused. */
  markRemoved(): Promise<void> {
    return this.writeMeta({ ...this.metaRecord, removed: true });
  }

  /** The member was added back to the cluster (its log replays a removal, then a re-add). */
  clearRemoved(): Promise<void> {
    if (!this.metaRecord.removed) return Promise.resolve();
    return this.writeMeta({ ...this.metaRecord, removed: false });
  }

  markLost(reason: string): Promise<void> {
    return this.writeMeta({ ...this.metaRecord, lostReason: reason });
  }

  private writeMeta(meta: MetaRecord): Promise<void> {
    this.metaRecord = meta;
    return this.enqueue([putOp(KEY_META, packr.pack(meta))]);
  }

  /** Approximate bytes used on disk by all records. */
  diskUsageBytes(): Promise<number> {
    return this.db.approximateSize(ALL_RANGE.gte, ALL_RANGE.lt);
  }

  /**
   * Deletes log entries at or below `upTo` (already behind the durable log start) in batches of
   * COMPACT_DELETE_BATCH, unsynced: anything a crash leaves behind is deleted again on the next open.
   */
  private deleteCompactedInBackground(upTo: number): void {
    this.compacting = this.compacting
      .then(async () => {
        let batch: BatchOp[] = [];
        for await (const key of this.db.keys({ gte: ENTRY_RANGE.gte, lte: entryKey(upTo) })) {
          batch.push({ type: 'del', key });
          if (batch.length >= COMPACT_DELETE_BATCH) {
            await this.db.batch(batch);
            batch = [];
            // Paced, so the synced writes clients wait on keep the disk and LevelDB's writer to themselves.
            if (!this.closing) await sleep(COMPACT_DELETE_PAUSE_MS);
          }
        }
        if (batch.length > 0) await this.db.batch(batch);
      })
      .catch((err: unknown) => {
        // Only garbage is left behind; the next open deletes it.
        this.compactionError = asError(err);
      });
  }

  /** Waits for queued writes and background compaction, then closes the database. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    while (this.fileWrites.size > 0) await Promise.allSettled([...this.fileWrites]);
    await this.enqueue([]).catch(() => undefined);
    // A clean stop leaves the latest commit index on disk too (restarts then replay the whole log at once).
    if (this.unsynced)
      await this.enqueue([putOp(KEY_HARD_STATE, packr.pack(this.hardState))]).catch(() => undefined);
    // Bounded (at most one snapshot interval of entries, in small batches); leftovers would be deleted on the next open anyway.
    await this.compacting;
    this.closed = true;
    await this.db.close();
  }

  /** Resolves when every write queued so far has landed; rejects if the storage failed. */
  flush(): Promise<void> {
    return this.enqueue([]);
  }

  // The MemoryStorage mutators would change memory without touching disk.
  override append(_entries: Entry[]): void {
    throw new Error('DiskStorage: use persist()');
  }
  override setHardState(_hs: HardState): void {
    throw new Error('DiskStorage: use persist()');
  }
  override applySnapshot(_snap: Snapshot): void {
    throw new Error('DiskStorage: use persist()');
  }
  override createSnapshot(_index: number, _confState: ConfState, _data: Uint8Array): Snapshot {
    throw new Error('DiskStorage: use saveSnapshot()');
  }
  override compact(_compactIndex: number): void {
    throw new Error('DiskStorage: use saveSnapshot()');
  }

  /**
   * A snapshot received from the leader replaces the log in memory at once; returns the step the
   * writer runs before this write's batch: writing the data to its file, which yields the record.
   */
  private applySnapshotInMemory(snap: Snapshot, ops: BatchOp[]): () => Promise<BatchOp[]> {
    const oldFirst = this.firstIndex();
    const oldLast = this.lastIndex();
    const { metadata, data } = snap;
    super.applySnapshot({ metadata, data: NO_DATA });
    for (let i = oldFirst; i <= oldLast; i++) ops.push({ type: 'del', key: entryKey(i) });
    ops.push(putOp(KEY_LOG_START, packr.pack({ index: metadata.index, term: metadata.term })));
    const current = { index: metadata.index, file: null as SnapshotFile | null, pending: data };
    this.current = current;
    return async () => {
      const file = await this.files.write(SnapshotFiles.nameFor(metadata.index), [data]);
      current.file = file;
      this.files.settled(file.file);
      return [putOp(KEY_SNAPSHOT, packr.pack(snapshotRecord(metadata, file)))];
    };
  }

  private appendInMemory(entries: Entry[], ops: BatchOp[]): void {
    const oldLast = this.lastIndex();
    super.append(
      entries.map((e) => ({ index: e.index, term: e.term, type: e.type, data: this.arena.copy(e.data) })),
    );
    const newLast = this.lastIndex();
    const from = Math.max(entries[0]!.index, this.firstIndex());
    for (let i = from; i <= newLast; i++) {
      const e = this.ents[i - this.ents[0]!.index]!;
      const key = entryKey(i);
      ops.push({ type: 'put', key, value: sealEntryRecord(key, e.term, e.type, e.data) });
    }
    for (let i = newLast + 1; i <= oldLast; i++) ops.push({ type: 'del', key: entryKey(i) });
  }

  private assertWritable(): void {
    if (this.closed) throw new Error('DiskStorage is closed');
    if (this.failure !== null) throw this.failure;
  }

  /**
   * Queues a batch to be written (synced) after every batch queued before it;
   * resolves when it has landed. `prepare` runs first, in queue order, and adds
   * operations to the batch (a received snapshot's file write and record).
   */
  private enqueue(ops: BatchOp[], prepare?: () => Promise<BatchOp[]>, sync = true): Promise<void> {
    try {
      this.assertWritable();
    } catch (err) {
      return Promise.reject(asError(err));
    }
    if (this.deferredHardState !== null) {
      // Before this write's own records: a hard state of its own, if any, comes later and wins.
      ops = [this.deferredHardState, ...ops];
      this.deferredHardState = null;
      if (this.deferredTimer !== null) clearTimeout(this.deferredTimer);
      this.deferredTimer = null;
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ ops, prepare, sync, resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  /**
   * The single writer. Writes queued while a batch was being synced are merged
   * into the next synced batch (group commit across calls), concatenated in
   * call order, so a later write still wins over an earlier one.
   */
  private async drain(): Promise<void> {
    this.writing = true;
    while (this.queue.length > 0) {
      const items = this.queue.splice(0);
      let delay = DISK_FULL_RETRY_FIRST_MS;
      let reopen = false;
      for (;;) {
        try {
          if (this.failure !== null) throw this.failure;
          if (reopen) await this.reopen();
          reopen = false;
          await this.writeItems(items);
          if (this.full !== null) this.full = null;
          for (const item of items) item.resolve();
          break;
        } catch (err) {
          if (this.failure === null && isDiskFull(err) && !this.closing) {
            // Out of space: hold this batch (memory already holds it, the caller is still waiting) and
            // write it again once space returns; later writes queue behind it, so order is kept.
            this.full ??= { since: Date.now(), message: diskFullMessage(err) };
            await sleep(delay);
            delay = Math.min(delay * 2, DISK_FULL_RETRY_MAX_MS);
            // A failed write can leave a torn record in LevelDB's log (and a failed sync or flush
            // poisons the handle): later records appended behind it could be unreadable on recovery.
            // Reopening recovers the log up to the last whole record and starts a new one.
            reopen = true;
            continue;
          }
          this.failure ??= this.full !== null ? new DiskFullError(this.full.message) : asError(err);
          for (const item of items) item.reject(this.failure);
          break;
        }
      }
    }
    this.writing = false;
  }

  /**
   * Writes one merged batch. Re-writing the same items after a failure is idempotent: entry and
   * record puts overwrite, deletes of absent keys do nothing, and a received snapshot's file is
   * written again only if its first write failed.
   */
  private async writeItems(items: QueuedWrite[]): Promise<void> {
    const main: BatchOp[] = [];
    for (const item of items) {
      if (item.prepare !== undefined) {
        item.prepared ??= await item.prepare();
        main.push(...item.prepared);
      }
      main.push(...item.ops);
    }
    // A synced write makes the unsynced ones before it durable too (LevelDB's log is sequential; across a
    // switch to a new log file it may not, and load() tolerates a stale commit index).
    const sync = items.some((item) => item.sync);
    if (main.length > 0) {
      await this.db.batch(main, { sync });
      this.unsynced = !sync;
      this.batchesWritten[sync ? 'synced' : 'unsynced']++;
    }
  }

  private async reopen(): Promise<void> {
    if (this.db.status === 'open') await this.db.close();
    await this.db.open();
  }

  /** Set while writes are held for lack of disk space (see drain); null otherwise. */
  get diskFull(): { since: number; message: string } | null {
    return this.full;
  }
}

interface QueuedWrite {
  ops: BatchOp[];
  prepare: (() => Promise<BatchOp[]>) | undefined;
  /** What prepare yielded, kept so a retried batch does not write the snapshot file again. */
  prepared?: BatchOp[];
  /** false only for a hard state whose commit index alone changed */
  sync: boolean;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * Raft needs entries, snapshots, term and vote on disk before anything that depends on them leaves
 * the node. A commit index alone need not be: after a crash the member learns it again from the
 * leader (as etcd-raft's MustSync), and load() lifts a stale one to the snapshot's index. Syncing it
 * cost a second fsync per write at low concurrency (ADR 0064).
 */
export function mustSync(p: PersistRequest, previous: HardState): boolean {
  if (p.snapshot !== null || p.entries.length > 0) return true;
  const hs = p.hardState;
  return (
    hs !== null &&
    (hs.term !== previous.term ||
      hs.vote !== previous.vote ||
      (hs.joining === true) !== (previous.joining === true))
  );
}

/**
 * Whether persist(p) writes nothing now and leaves its hard state to ride in the next batch: a
 * commit index alone (`sync` is mustSync's verdict). SimDisk decides with this too.
 */
export function defersHardState(p: PersistRequest, sync: boolean): boolean {
  return !sync && p.snapshot === null && p.entries.length === 0 && p.hardState !== null;
}

function putOp(key: Buffer, payload: Uint8Array): BatchOp {
  return { type: 'put', key, value: sealRecord(key, payload) };
}

function snapshotRecord(metadata: SnapshotMetadata, file: SnapshotFile | null): SnapshotRecord {
  return { metadata, file };
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function checkIdentity(dir: string, meta: MetaRecord, opts: DiskStorageOptions): void {
  if (meta.formatVersion !== FORMAT_VERSION) {
    throw new DataDirError(
      'unknown-format',
      `data directory ${dir} has format version ${meta.formatVersion}; this build reads version ${FORMAT_VERSION}`,
    );
  }
  if (meta.memberId !== opts.memberId) {
    throw new DataDirError(
      'member-id-mismatch',
      `data directory ${dir} belongs to member ${meta.memberId}, not ${opts.memberId}`,
    );
  }
  // A restored directory's id was chosen by the restore, not derived from the flags (MetaRecord.origin).
  if (
    opts.clusterId !== undefined &&
    meta.clusterId !== null &&
    meta.clusterId !== opts.clusterId &&
    meta.origin !== 'restore'
  ) {
    throw new DataDirError(
      'cluster-id-mismatch',
      `data directory ${dir} belongs to cluster ${meta.clusterId}, not ${opts.clusterId}`,
    );
  }
  // meta.removed is checked against the log once it is loaded (checkRemoved).
}

function causeOf(err: unknown): { code?: unknown; message?: unknown } | undefined {
  const c = (err as { cause?: unknown } | undefined)?.cause;
  return typeof c === 'object' && c !== null ? c : undefined;
}

const NOT_WRITABLE = /read-only file system|permission denied|EROFS|EACCES|EPERM/i;

function notWritable(dir: string, err: unknown): Error {
  const msg = asError(err).message;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (
    code === 'EROFS' ||
    code === 'EACCES' ||
    code === 'EPERM' ||
    code === 'ENOENT' ||
    NOT_WRITABLE.test(msg)
  ) {
    return new DataDirError(
      'not-writable',
      `data directory ${dir} is not writable (${msg}); a read-only file system or missing permissions`,
    );
  }
  return asError(err);
}

/** LevelDB's open failures, told apart: another process holds the lock, or the directory is read-only. */
function openError(dir: string, err: unknown): Error {
  const cause = causeOf(err);
  const detail = typeof cause?.message === 'string' ? cause.message : asError(err).message;
  if (cause?.code === 'LEVEL_LOCKED') {
    return new DataDirError(
      'locked',
      `data directory ${dir} is in use: another process holds its lock file ${join(dir, 'LOCK')} (is another kv-store running with this data directory?)`,
    );
  }
  if (NOT_WRITABLE.test(detail)) {
    return new DataDirError(
      'not-writable',
      `data directory ${dir} is not writable (${detail}); a read-only file system or missing permissions`,
    );
  }
  return asError(err);
}
