// Durable Raft storage on LevelDB (classic-level). The core reads storage
// synchronously, so the whole unsnapshotted log lives in memory (MemoryStorage)
// and every change is written through to disk: in-memory state changes at call
// time, disk writes are chained so they land in call order, and anything the
// node must not acknowledge before it is durable goes in one synced batch.
//
// Invariant: once every queued write has landed, the entries on disk are
// exactly the in-memory entries after the dummy `ents[0]`, whose index/term are
// stored as the "log start" record. Snapshot data is stored in chunks under a
// generation named by the snapshot's index; only the generation named by the
// snapshot record is live, older or half-written ones are garbage.
import { mkdir } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { ClassicLevel } from 'classic-level';
import { Packr } from 'msgpackr';
import { MemoryStorage, SnapshotOutOfDateError } from '../raft/storage.ts';
import type { ConfState, Entry, HardState, Snapshot, SnapshotMetadata } from '../raft/types.ts';
import { CorruptionError, DataDirError } from './errors.ts';
import {
  ALL_RANGE,
  CHUNK_RANGE,
  ENTRY_RANGE,
  chunkKey,
  chunkKeyParts,
  decodeEntryPayload,
  encodeEntryPayload,
  entryIndexOfKey,
  entryKey,
  metaKey,
  openRecord,
  printableKey,
  sealRecord,
} from './records.ts';

export const FORMAT_VERSION = 1;
const SNAPSHOT_CHUNK_BYTES = 1 << 20;
/** Snapshot chunks written per synced batch before the snapshot record switches over. */
const CHUNKS_PER_BATCH = 8;

const KEY_META = metaKey('meta');
const KEY_HARD_STATE = metaKey('hard-state');
const KEY_SNAPSHOT = metaKey('snapshot');
const KEY_LOG_START = metaKey('log-start');

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

interface MetaRecord {
  formatVersion: number;
  memberId: string;
  clusterId: string | null;
  removed: boolean;
}

interface SnapshotRecord {
  metadata: SnapshotMetadata;
  chunks: number;
  size: number;
  crc: number;
}

type BatchOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

export interface DiskStorageOptions {
  memberId: string;
  clusterId?: string;
  /** Initial membership for a node that bootstraps a new cluster; ignored if the directory holds data. */
  bootstrap?: ConfState;
}

export interface PersistRequest {
  entries: Entry[];
  hardState: HardState | null;
  snapshot: Snapshot | null;
}

export class DiskStorage extends MemoryStorage {
  private readonly db: ClassicLevel<Buffer, Buffer>;
  private metaRecord: MetaRecord;
  /** The last queued disk write; later writes wait for it so they land in call order. */
  private tail: Promise<void> = Promise.resolve();
  /** Set when a write fails: memory is then ahead of disk and nothing more may be acknowledged. */
  private failure: Error | null = null;
  private closed = false;
  /** The snapshot generation whose chunks are live on disk (once queued writes land). */
  private liveChunks = { snapshotIndex: 0, chunks: 0 };

  private constructor(db: ClassicLevel<Buffer, Buffer>, meta: MetaRecord) {
    super();
    this.db = db;
    this.metaRecord = meta;
  }

  static async open(dir: string, opts: DiskStorageOptions): Promise<DiskStorage> {
    await mkdir(dir, { recursive: true });
    const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    try {
      const rawMeta = await db.get(KEY_META);
      if (rawMeta === undefined) return await DiskStorage.initialise(db, opts);
      const meta = decodeMeta(rawMeta);
      checkIdentity(dir, meta, opts);
      const storage = new DiskStorage(db, meta);
      await storage.load();
      if (meta.clusterId === null && opts.clusterId !== undefined) await storage.setClusterId(opts.clusterId);
      return storage;
    } catch (err) {
      await db.close();
      throw err;
    }
  }

  private static async initialise(db: ClassicLevel<Buffer, Buffer>, opts: DiskStorageOptions): Promise<DiskStorage> {
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
    };
    const storage = new DiskStorage(db, meta);
    if (opts.bootstrap !== undefined) {
      const confState = { voters: [...opts.bootstrap.voters], learners: [...opts.bootstrap.learners] };
      storage.snap = { metadata: { index: 0, term: 0, confState }, data: new Uint8Array() };
    }
    // Meta goes last in key order but all of it lands atomically in one batch.
    const ops: BatchOp[] = [
      putOp(KEY_HARD_STATE, packr.pack(storage.hardState)),
      putOp(KEY_SNAPSHOT, packr.pack(snapshotRecord(storage.snap.metadata, 0, 0, 0))),
      putOp(KEY_LOG_START, packr.pack({ index: 0, term: 0 })),
      putOp(KEY_META, packr.pack(meta)),
    ];
    await db.batch(ops, { sync: true });
    return storage;
  }

  /** Loads hard state, snapshot and the log into memory, verifying every record. */
  private async load(): Promise<void> {
    this.hardState = decodeHardState(await this.mustGet(KEY_HARD_STATE));
    const logStart = decodeLogStart(await this.mustGet(KEY_LOG_START));
    const snapRec = decodeSnapshotRecord(await this.mustGet(KEY_SNAPSHOT));

    const ents: Entry[] = [{ index: logStart.index, term: logStart.term, type: 0, data: new Uint8Array() }];
    let expected = logStart.index + 1;
    for await (const [key, value] of this.db.iterator(ENTRY_RANGE)) {
      const index = entryIndexOfKey(key);
      if (index !== expected) {
        const what = index < expected ? 'stale entry before the log start' : `gap in the log: expected entry ${expected}`;
        throw new CorruptionError(printableKey(key), what);
      }
      const { term, type, data } = decodeEntryPayload(key, openRecord(key, value));
      if (type !== 0 && type !== 1) throw new CorruptionError(printableKey(key), `unknown entry type ${type}`);
      const prevTerm = ents[ents.length - 1]!.term;
      if (term < prevTerm) throw new CorruptionError(printableKey(key), `term ${term} below previous term ${prevTerm}`);
      ents.push({ index, term, type, data });
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

    const data = await this.loadSnapshotData(snapRec);
    this.ents = ents;
    this.snap = { metadata: snapRec.metadata, data };
    this.liveChunks = { snapshotIndex: snapIndex, chunks: snapRec.chunks };
    await this.collectGarbageChunks(snapIndex);
  }

  private async loadSnapshotData(rec: SnapshotRecord): Promise<Uint8Array> {
    if (rec.chunks === 0) return new Uint8Array();
    const parts: Buffer[] = [];
    for (let i = 0; i < rec.chunks; i++) {
      const key = chunkKey(rec.metadata.index, i);
      const value = await this.db.get(key);
      if (value === undefined) throw new CorruptionError(printableKey(key), 'snapshot chunk missing');
      parts.push(openRecord(key, value));
    }
    const data = Buffer.concat(parts);
    if (data.byteLength !== rec.size || crc32(data) !== rec.crc) {
      throw new CorruptionError(printableKey(KEY_SNAPSHOT), 'snapshot data does not match its recorded size/checksum');
    }
    return data;
  }

  /** Deletes chunks of snapshots that were superseded or only half written before a crash. */
  private async collectGarbageChunks(liveIndex: number): Promise<void> {
    const garbage: BatchOp[] = [];
    for await (const key of this.db.keys(CHUNK_RANGE)) {
      if (chunkKeyParts(key).snapshotIndex !== liveIndex) garbage.push({ type: 'del', key });
    }
    if (garbage.length > 0) await this.db.batch(garbage, { sync: true });
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
    let chunkOps: BatchOp[][] = [];
    try {
      if (p.snapshot !== null) chunkOps = this.applySnapshotInMemory(p.snapshot, ops);
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
    return this.enqueue([...chunkOps, ops]);
  }

  /**
   * Records a snapshot of the applied state at `index` and compacts the log so
   * that `keepEntries` entries before `index` remain (for followers slightly behind).
   */
  saveSnapshot(index: number, confState: ConfState, data: Uint8Array, keepEntries: number): Promise<void> {
    try {
      this.assertWritable();
      const snap = super.createSnapshot(index, confState, data);
      const ops: BatchOp[] = [];
      const chunkOps = this.snapshotWriteOps(snap, ops);
      const compactIndex = index - Math.max(0, Math.floor(keepEntries));
      const oldOffset = this.ents[0]!.index;
      if (compactIndex > oldOffset) {
        super.compact(compactIndex);
        for (let i = oldOffset + 1; i <= compactIndex; i++) ops.push({ type: 'del', key: entryKey(i) });
        ops.push(putOp(KEY_LOG_START, packr.pack({ index: this.ents[0]!.index, term: this.ents[0]!.term })));
      }
      return this.enqueue([...chunkOps, ops]);
    } catch (err) {
      return Promise.reject(asError(err));
    }
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

  private writeMeta(meta: MetaRecord): Promise<void> {
    this.metaRecord = meta;
    return this.enqueue([[putOp(KEY_META, packr.pack(meta))]]);
  }

  /** Approximate bytes used on disk by all records. */
  diskUsageBytes(): Promise<number> {
    return this.db.approximateSize(ALL_RANGE.gte, ALL_RANGE.lt);
  }

  /** Waits for queued writes, then closes the database. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tail;
    await this.db.close();
  }

  /** Resolves when every write queued so far has landed (or failed). */
  async flush(): Promise<void> {
    await this.tail;
    if (this.failure !== null) throw this.failure;
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

  private applySnapshotInMemory(snap: Snapshot, ops: BatchOp[]): BatchOp[][] {
    const oldFirst = this.firstIndex();
    const oldLast = this.lastIndex();
    super.applySnapshot(snap);
    for (let i = oldFirst; i <= oldLast; i++) ops.push({ type: 'del', key: entryKey(i) });
    ops.push(putOp(KEY_LOG_START, packr.pack({ index: snap.metadata.index, term: snap.metadata.term })));
    return this.snapshotWriteOps(snap, ops);
  }

  /**
   * Returns batches that write the snapshot's chunks (synced, before the switch)
   * and appends to `ops` the switch itself: the snapshot record and the deletion
   * of the previous generation's chunks.
   */
  private snapshotWriteOps(snap: Snapshot, ops: BatchOp[]): BatchOp[][] {
    const data = snap.data;
    const chunks = Math.ceil(data.byteLength / SNAPSHOT_CHUNK_BYTES);
    const batches: BatchOp[][] = [];
    for (let i = 0; i < chunks; i++) {
      if (i % CHUNKS_PER_BATCH === 0) batches.push([]);
      const part = data.subarray(i * SNAPSHOT_CHUNK_BYTES, (i + 1) * SNAPSHOT_CHUNK_BYTES);
      batches[batches.length - 1]!.push(putOp(chunkKey(snap.metadata.index, i), part));
    }
    const old = this.liveChunks;
    for (let i = 0; i < old.chunks; i++) ops.push({ type: 'del', key: chunkKey(old.snapshotIndex, i) });
    this.liveChunks = { snapshotIndex: snap.metadata.index, chunks };
    ops.push(putOp(KEY_SNAPSHOT, packr.pack(snapshotRecord(snap.metadata, chunks, data.byteLength, crc32(data)))));
    return batches;
  }

  private appendInMemory(entries: Entry[], ops: BatchOp[]): void {
    const oldLast = this.lastIndex();
    super.append(entries);
    const newLast = this.lastIndex();
    const from = Math.max(entries[0]!.index, this.firstIndex());
    for (let i = from; i <= newLast; i++) {
      const e = this.ents[i - this.ents[0]!.index]!;
      ops.push(putOp(entryKey(i), encodeEntryPayload(e.term, e.type, e.data)));
    }
    for (let i = newLast + 1; i <= oldLast; i++) ops.push({ type: 'del', key: entryKey(i) });
  }

  private assertWritable(): void {
    if (this.closed) throw new Error('DiskStorage is closed');
    if (this.failure !== null) throw this.failure;
  }

  /** Queues batches to be written in order, each synced; resolves when the last has landed. */
  private enqueue(batches: BatchOp[][]): Promise<void> {
    try {
      this.assertWritable();
    } catch (err) {
      return Promise.reject(asError(err));
    }
    const run = async (): Promise<void> => {
      if (this.failure !== null) throw this.failure;
      try {
        for (const batch of batches) if (batch.length > 0) await this.db.batch(batch, { sync: true });
      } catch (err) {
        this.failure = asError(err);
        throw this.failure;
      }
    };
    const done = this.tail.then(run);
    // The chain itself never rejects; each caller sees its own outcome through `done`.
    this.tail = done.catch(() => undefined);
    return done;
  }
}

function putOp(key: Buffer, payload: Uint8Array): BatchOp {
  return { type: 'put', key, value: sealRecord(key, payload) };
}

function snapshotRecord(metadata: SnapshotMetadata, chunks: number, size: number, crc: number): SnapshotRecord {
  return { metadata, chunks, size, crc };
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
  if (opts.clusterId !== undefined && meta.clusterId !== null && meta.clusterId !== opts.clusterId) {
    throw new DataDirError(
      'cluster-id-mismatch',
      `data directory ${dir} belongs to cluster ${meta.clusterId}, not ${opts.clusterId}`,
    );
  }
  if (meta.removed) {
    throw new DataDirError(
      'member-removed',
      `member ${meta.memberId} was removed from cluster ${meta.clusterId ?? '(unknown)'}; wipe ${dir} to join again`,
    );
  }
}

// Decoders: each validates shape, since a record with a good checksum but an
// unexpected shape (e.g. written by a future version) must not be half-trusted.

function unpackAt(key: Buffer, payload: Buffer): unknown {
  try {
    return packr.unpack(payload);
  } catch (err) {
    throw new CorruptionError(printableKey(key), `undecodable record (${asError(err).message})`);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function decodeMeta(raw: Buffer): MetaRecord {
  const v = unpackAt(KEY_META, openRecord(KEY_META, raw));
  if (!isRecord(v) || typeof v.formatVersion !== 'number') {
    throw new DataDirError('unknown-format', 'data directory metadata is not in a known format');
  }
  if (
    typeof v.memberId !== 'string' ||
    !(v.clusterId === null || typeof v.clusterId === 'string') ||
    typeof v.removed !== 'boolean'
  ) {
    if (v.formatVersion !== FORMAT_VERSION) {
      throw new DataDirError('unknown-format', `unknown data directory format version ${String(v.formatVersion)}`);
    }
    throw new CorruptionError(printableKey(KEY_META), 'malformed metadata');
  }
  return { formatVersion: v.formatVersion, memberId: v.memberId, clusterId: v.clusterId, removed: v.removed };
}

function decodeHardState(payload: Buffer): HardState {
  const v = unpackAt(KEY_HARD_STATE, payload);
  if (!isRecord(v) || !isIndex(v.term) || !isIndex(v.commit) || !(v.vote === null || typeof v.vote === 'string')) {
    throw new CorruptionError(printableKey(KEY_HARD_STATE), 'malformed hard state');
  }
  return { term: v.term, vote: v.vote, commit: v.commit };
}

function decodeLogStart(payload: Buffer): { index: number; term: number } {
  const v = unpackAt(KEY_LOG_START, payload);
  if (!isRecord(v) || !isIndex(v.index) || !isIndex(v.term)) {
    throw new CorruptionError(printableKey(KEY_LOG_START), 'malformed log start');
  }
  return { index: v.index, term: v.term };
}

function isIdList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

function decodeSnapshotRecord(payload: Buffer): SnapshotRecord {
  const v = unpackAt(KEY_SNAPSHOT, payload);
  const m = isRecord(v) ? v.metadata : undefined;
  const cs = isRecord(m) ? m.confState : undefined;
  if (
    !isRecord(v) ||
    !isRecord(m) ||
    !isRecord(cs) ||
    !isIndex(m.index) ||
    !isIndex(m.term) ||
    !isIdList(cs.voters) ||
    !isIdList(cs.learners) ||
    !isIndex(v.chunks) ||
    !isIndex(v.size) ||
    !isIndex(v.crc)
  ) {
    throw new CorruptionError(printableKey(KEY_SNAPSHOT), 'malformed snapshot record');
  }
  return {
    metadata: { index: m.index, term: m.term, confState: { voters: cs.voters, learners: cs.learners } },
    chunks: v.chunks,
    size: v.size,
    crc: v.crc,
  };
}
