// Continuous archiving (docs/adr/0070): the leader uploads every committed entry, in segments,
// and periodically a full snapshot, to an S3 bucket. Off the hot path: it runs on its own timer,
// reads committed entries from the in-memory Raft log (it never holds entries itself beyond one
// segment), one upload at a time, and backs off on failure. A write is never delayed by it.
//
// No gap across leadership changes: a member that becomes leader lists the bucket and resumes
// after the highest archived index. An old leader still uploading writes the same committed
// entries (harmless: keys name ranges, restore keeps one entry per index). If the entries it
// needs were compacted away (the bucket was unreachable for longer than the log keeps entries),
// it uploads a full snapshot instead and continues after it: the chain from that snapshot on is
// whole, points in the gap are not restorable, and the restore says so.
import type { Registry } from 'prom-client';
import { archiverMetrics } from './archiver-metrics.ts';
import { decodeCommand } from '../kv/commands.ts';
import type { Logger } from '../logger.ts';
import { EntryType, type Entry } from '../raft/types.ts';
import {
  ARCHIVE_DEFAULTS,
  encodeSegment,
  parseSegmentKey,
  parseSnapshotKey,
  SEGMENTS,
  segmentKey,
  SNAPSHOTS,
  snapshotKey,
  type ArchivedEntry,
} from './archive-layout.ts';
import type { CapturedSnapshot } from './snapshot-route.ts';
import { footerBytes, SNAPSHOT_FILE_FORMAT } from './snapshot-file.ts';
import { createHash } from 'node:crypto';
import type { ObjectStore } from './s3.ts';
import { longestCronGapMs, nextCronTime, parseCron, type CronSchedule } from './cron.ts';
import { planRetention } from './retention.ts';

export interface ArchiveSource {
  isLeader(): boolean;
  clusterId(): string;
  appliedIndex(): number;
  /** First index the in-memory log still holds. */
  firstIndex(): number;
  /** Entries [lo, hi), committed and applied. */
  entries(lo: number, hi: number): Entry[];
  /** The applied state now (no ReadIndex round: the leader's applied state is committed). */
  capture(): CapturedSnapshot;
}

export interface ArchiverOptions {
  store: Pick<ObjectStore, 'putOnce' | 'list' | 'remove'> & { loc: { prefix: string } };
  source: ArchiveSource;
  log: Logger;
  registry: Registry;
  now?: () => number;
  rpoMs?: number;
  fullEveryMs?: number;
  /** A cron schedule (UTC) for full snapshots instead of fullEveryMs (-backup-full-schedule). */
  fullSchedule?: string | null;
  keepFull?: number;
  /** Also keep what restores to any point this far back need (-backup-keep-age); null: keepFull alone. */
  keepAgeMs?: number | null;
  maxSegmentEntries?: number;
}

export { ARCHIVE_DEFAULTS };

/** What /v1/status reports about archiving (the operator's BackupHealthy reads it from the leader). */
export interface ArchiverStatus {
  /** True while this member is leader and has found where the bucket's chain ends. */
  uploading: boolean;
  rpoMs: number;
  /** The interval, or with a schedule the longest time between two of its firings. */
  fullEveryMs: number;
  /** The cron schedule of full snapshots; null: every fullEveryMs. */
  fullSchedule: string | null;
  /** When the next scheduled full snapshot is due (null: not uploading, or no schedule). */
  nextFullAt: number | null;
  /** Highest index in the bucket as this member knows it (null: not uploading). */
  archivedIndex: number | null;
  /** Wall-clock ms of the entry at archivedIndex (its proposal stamp). */
  archivedTime: number | null;
  lagEntries: number;
  lagSeconds: number;
  /** The newest full snapshot this member uploaded or found in the bucket. */
  lastFullSnapshot: FullSnapshotInfo | null;
  /** Wall-clock ms of the last successful upload (segment or snapshot). */
  lastSuccessAt: number | null;
  /** Failed rounds since the last success (retried with backoff). */
  consecutiveFailures: number;
  lastError: string | null;
}

export interface FullSnapshotInfo {
  index: number;
  /** Capture time (ms), or the object's LastModified when found in the bucket. */
  takenAt: number;
  key: string;
  /** Bytes of the object; 0 when found by listing. */
  bytes: number;
  /** Keys in the state; -1 when found by listing. */
  keys: number;
}

export class Archiver {
  private readonly o: ArchiverOptions;
  private readonly now: () => number;
  private readonly flushMs: number;
  private readonly fullEveryMs: number;
  private readonly keepFull: number;
  private readonly keepAgeMs: number | null;
  private readonly fullSchedule: CronSchedule | null;
  private readonly maxEntries: number;
  /** Highest index in the bucket as this member knows it; null: not leader, or not listed yet. */
  private archived: number | null = null;
  private lastFullAt = 0;
  private lastTime = 0;
  /** When the oldest not-yet-archived applied entry was first seen (lag in seconds). */
  private pendingSince: number | null = null;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  private backoffMs = 0;
  private archivedTime: number | null = null;
  private lastFull: FullSnapshotInfo | null = null;
  private lastSuccessAt: number | null = null;
  private consecutiveFailures = 0;
  private lastError: string | null = null;
  /** On-demand full snapshots asked for (POST /v1/cluster/backup), taken by the next round. */
  private inRound = false;
  private fullRequests: { resolve: (i: FullSnapshotInfo) => void; reject: (e: Error) => void }[] = [];
  private readonly rpoMs: number;
  private readonly m: ReturnType<typeof archiverMetrics>;

  constructor(o: ArchiverOptions) {
    this.o = o;
    this.now = o.now ?? Date.now;
    // Flush several times per RPO so one failed upload and its retry still fit in it.
    this.rpoMs = o.rpoMs ?? ARCHIVE_DEFAULTS.rpoMs;
    this.flushMs = Math.max(50, Math.floor(this.rpoMs / 5));
    this.fullSchedule = o.fullSchedule ? parseCron(o.fullSchedule) : null;
    // With a schedule, "how often" is its longest gap: what the overdue alert and condition compare with.
    this.fullEveryMs =
      this.fullSchedule !== null
        ? longestCronGapMs(this.fullSchedule, this.now())
        : (o.fullEveryMs ?? ARCHIVE_DEFAULTS.fullEveryMs);
    this.keepFull = o.keepFull ?? ARCHIVE_DEFAULTS.keepFull;
    this.keepAgeMs = o.keepAgeMs ?? null;
    this.maxEntries = o.maxSegmentEntries ?? ARCHIVE_DEFAULTS.maxSegmentEntries;
    this.m = archiverMetrics(o.registry);
  }

  start(): void {
    this.o.log.info('full snapshots', {
      ...(this.fullSchedule !== null
        ? { schedule: this.fullSchedule.source, longestGapMs: this.fullEveryMs }
        : { everyMs: this.fullEveryMs }),
      keepFull: this.keepFull,
      keepAgeMs: this.keepAgeMs,
    });
    this.m.rpo.set(this.rpoMs / 1000);
    this.m.fullInterval.set(this.fullEveryMs / 1000);
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** The archived-up-to index (null while not leader or before the bucket was listed). */
  get archivedIndex(): number | null {
    return this.archived;
  }

  status(): ArchiverStatus {
    const lag = this.archived === null ? 0 : Math.max(0, this.o.source.appliedIndex() - this.archived);
    return {
      uploading: this.archived !== null && this.o.source.isLeader(),
      rpoMs: this.rpoMs,
      fullEveryMs: this.fullEveryMs,
      fullSchedule: this.fullSchedule?.source ?? null,
      nextFullAt: this.fullSchedule !== null && this.archived !== null ? this.nextScheduledFull() : null,
      archivedIndex: this.archived,
      archivedTime: this.archived === null ? null : this.archivedTime,
      lagEntries: lag,
      lagSeconds: this.pendingSince === null || lag === 0 ? 0 : (this.now() - this.pendingSince) / 1000,
      lastFullSnapshot: this.lastFull,
      lastSuccessAt: this.lastSuccessAt,
      consecutiveFailures: this.consecutiveFailures,
      lastError: this.lastError,
    };
  }

  /**
   * A full snapshot now, on demand, taken by the archiver's own loop (one upload at a time).
   * Refused at once when this member is not the leader; bounded by `timeoutMs`.
   */
  requestFull(timeoutMs = 120_000): Promise<FullSnapshotInfo> {
    if (this.stopped || !this.o.source.isLeader())
      return Promise.reject(new NotUploadingError('this member is not the leader; ask the leader'));
    return new Promise<FullSnapshotInfo>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fullRequests = this.fullRequests.filter((r) => r.resolve !== done);
        reject(new Error(`no full snapshot uploaded within ${timeoutMs} ms (${this.lastError ?? 'busy'})`));
      }, timeoutMs);
      const done = (i: FullSnapshotInfo): void => {
        clearTimeout(timer);
        resolve(i);
      };
      this.fullRequests.push({
        resolve: done,
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      // Run a round at once unless one is running (its end schedules the next at once).
      if (!this.inRound) {
        if (this.timer) clearTimeout(this.timer);
        this.schedule(0);
      }
    });
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.inRound = true;
      this.running = this.round().finally(() => {
        this.inRound = false;
        const behind =
          this.archived !== null && this.o.source.appliedIndex() - this.archived >= this.maxEntries;
        const next = this.fullRequests.length > 0 || behind ? 0 : this.flushMs;
        this.schedule(this.backoffMs > 0 && this.fullRequests.length === 0 ? this.backoffMs : next);
      });
    }, ms);
    this.timer.unref();
  }

  /** One step: list after becoming leader, a full snapshot when due, then one segment. */
  async round(): Promise<void> {
    const src = this.o.source;
    if (!src.isLeader()) {
      this.archived = null;
      this.pendingSince = null;
      for (const r of this.fullRequests.splice(0))
        r.reject(new NotUploadingError('this member lost leadership before the snapshot was taken'));
      this.m.lagEntries.set(0);
      this.m.lagSeconds.set(0);
      return;
    }
    let kind = 'list';
    try {
      if (this.archived === null) this.archived = await this.discover();
      const applied = src.appliedIndex();
      // The entries after the chain's end are gone from the log (compacted while the bucket was
      // unreachable), or there is no chain yet: a full snapshot starts a new one.
      const broken = this.archived === 0 || this.archived + 1 < src.firstIndex();
      const asked = this.fullRequests.splice(0);
      if (broken || asked.length > 0 || this.fullDue()) {
        kind = 'snapshot';
        const reason = broken
          ? 'chain-start'
          : asked.length > 0
            ? 'requested'
            : this.fullSchedule !== null
              ? 'schedule'
              : 'interval';
        try {
          const info = await this.uploadFull(broken, reason);
          for (const r of asked) r.resolve(info);
        } catch (e) {
          for (const r of asked) r.reject(e as Error);
          throw e;
        }
      } else if (applied > this.archived) {
        kind = 'segment';
        this.pendingSince ??= this.now();
        await this.uploadSegment(applied);
      }
      this.backoffMs = 0;
      if (kind !== 'list') this.lastSuccessAt = this.now();
      this.consecutiveFailures = 0;
      this.lastError = null;
    } catch (e) {
      this.m.failures.inc({ kind });
      this.consecutiveFailures++;
      this.lastError = `${kind}: ${(e as Error).message}`;
      this.backoffMs = Math.min(ARCHIVE_DEFAULTS.maxBackoffMs, Math.max(200, this.backoffMs * 2));
      this.o.log.warn('archive upload failed; retrying', {
        kind,
        error: (e as Error).message,
        retryInMs: this.backoffMs,
      });
    }
    const applied = src.appliedIndex();
    const lag = this.archived === null ? 0 : Math.max(0, applied - this.archived);
    if (lag === 0) this.pendingSince = null;
    else this.pendingSince ??= this.now();
    this.m.lagEntries.set(lag);
    this.m.lagSeconds.set(this.pendingSince === null ? 0 : (this.now() - this.pendingSince) / 1000);
  }

  /** The first scheduled minute after the last full snapshot (ours, or the newest in the bucket). */
  private nextScheduledFull(): number {
    return nextCronTime(this.fullSchedule!, this.lastFullAt);
  }

  /**
   * A scheduled full snapshot is due once its minute has come and no full snapshot was taken since
   * the one before it: a new leader takes the one the old leader missed (or a bucket outage
   * delayed) at once, and never two for one minute.
   */
  private fullDue(): boolean {
    if (this.fullSchedule !== null) return this.now() >= this.nextScheduledFull();
    return this.now() - this.lastFullAt >= this.fullEveryMs;
  }

  /**
   * Where the chain of segments ends (any uploader's), or the newest snapshot when there is no
   * segment; 0 when the bucket holds no snapshot yet. Full snapshots never move the chain's
   * end on their own: a restore to a point before a snapshot's capture time starts from an older
   * snapshot and needs every entry after it.
   */
  private async discover(): Promise<number> {
    const prefix = this.o.store.loc.prefix;
    let newestSnapshot = -1;
    let newestUpload = 0;
    for (const { key, lastModified } of await this.o.store.list(SNAPSHOTS)) {
      const i = parseSnapshotKey(prefix, key);
      if (i !== null) newestUpload = Math.max(newestUpload, lastModified);
      if (i === null || i <= newestSnapshot) continue;
      newestSnapshot = i;
      if (this.lastFull === null || this.lastFull.index < i) {
        this.lastFull = { index: i, takenAt: lastModified, key, bytes: 0, keys: -1 };
        // A new leader reports the newest snapshot in the bucket, whoever uploaded it.
        if (lastModified > 0) this.m.lastFull.set(lastModified / 1000);
      }
    }
    let segmentsEnd = 0;
    for (const { key } of await this.o.store.list(SEGMENTS)) {
      const r = parseSegmentKey(prefix, key);
      if (r !== null) segmentsEnd = Math.max(segmentsEnd, r.last);
    }
    // Interval: the next full snapshot one interval after taking over (none yet: at once).
    // Schedule: from the newest upload in the bucket, so a firing the old leader missed is taken now.
    this.lastFullAt = newestSnapshot < 0 ? 0 : this.fullSchedule !== null ? newestUpload : this.now();
    // Resume after the segments even when a newer snapshot exists: the entries between them are
    // needed by restores to times before that snapshot's capture (and if the log no longer holds
    // them, round() starts a new chain from a fresh snapshot).
    const end = newestSnapshot < 0 ? 0 : segmentsEnd > 0 ? segmentsEnd : newestSnapshot;
    this.o.log.info('archiving as leader', { resumeAfter: end });
    return end;
  }

  private async uploadSegment(applied: number): Promise<void> {
    const first = this.archived! + 1;
    const last = Math.min(applied, first + this.maxEntries - 1);
    const entries = this.o.source.entries(first, last + 1);
    const rows: ArchivedEntry[] = [];
    let bytes = 0;
    for (const e of entries) {
      rows.push({ index: e.index, term: e.term, type: e.type, data: e.data, time: this.entryTime(e) });
      bytes += e.data.byteLength;
      if (bytes >= ARCHIVE_DEFAULTS.maxSegmentBytes) break;
    }
    const end = rows.at(-1)!.index;
    const endTime = rows.at(-1)!.time;
    const body = encodeSegment(this.o.source.clusterId(), rows);
    await this.o.store.putOnce(segmentKey(this.o.store.loc.prefix, first, end), body);
    const done = this.now();
    for (const r of rows) this.m.delay.observe(Math.max(0, done - r.time) / 1000);
    this.m.uploads.inc({ kind: 'segment' });
    this.setArchived(end);
    this.archivedTime = endTime;
  }

  private entryTime(e: Entry): number {
    if (e.type === EntryType.Normal && e.data.byteLength > 0) {
      try {
        const cmd = decodeCommand(e.data);
        if ('proposedAt' in cmd && typeof cmd.proposedAt === 'number')
          this.lastTime = Math.max(this.lastTime, cmd.proposedAt);
      } catch {
        // Applied entries decode (the applier would have stopped); keep the last time if not.
      }
    }
    // Entries without a stamp (membership, no-ops, expiry) take the latest seen, never running backwards.
    if (this.lastTime === 0) this.lastTime = this.now();
    return this.lastTime;
  }

  /** A full snapshot of the applied state; `restart`: the segment chain continues after it. */
  private async uploadFull(restart: boolean, reason: string): Promise<FullSnapshotInfo> {
    const snap = this.o.source.capture();
    let data: Buffer;
    try {
      const parts: Buffer[] = [];
      for (let r = snap.chunks.next(); r.done !== true; r = snap.chunks.next())
        parts.push(Buffer.from(r.value));
      data = Buffer.concat(parts);
    } finally {
      snap.release();
    }
    const footer = footerBytes({
      format: SNAPSHOT_FILE_FORMAT,
      index: snap.index,
      term: snap.term,
      clusterId: snap.clusterId,
      memberId: snap.memberId,
      takenAt: snap.takenAt,
      keys: snap.keys,
      members: snap.members,
      bytes: data.byteLength,
      sha256: createHash('sha256').update(data).digest('hex'),
    });
    const key = snapshotKey(this.o.store.loc.prefix, snap.index);
    const body = Buffer.concat([data, footer]);
    // false: the same index is already in the bucket (an earlier snapshot of the same state).
    await this.o.store.putOnce(key, body);
    const info: FullSnapshotInfo = {
      index: snap.index,
      takenAt: snap.takenAt,
      key,
      bytes: body.byteLength,
      keys: snap.keys,
    };
    this.lastFull = info;
    this.m.uploads.inc({ kind: 'snapshot' });
    this.lastFullAt = this.now();
    this.m.lastFull.set(this.lastFullAt / 1000);
    this.o.log.info('archived a full snapshot', {
      reason,
      index: snap.index,
      bytes: data.byteLength,
      keys: snap.keys,
    });
    if (restart && snap.index > (this.archived ?? 0)) {
      if ((this.archived ?? 0) > 0)
        this.o.log.warn(
          'archive chain restarted from a full snapshot: entries after the old chain were compacted before upload',
          {
            chainEnd: this.archived,
            snapshotIndex: snap.index,
          },
        );
      this.setArchived(snap.index);
      this.archivedTime = snap.takenAt;
    }
    await this.applyRetention().catch((e: unknown) => {
      // Object-locked objects cannot be deleted before their retention ends: not an upload
      // failure, archiving goes on, and the next full snapshot's pass tries them again.
      this.m.failures.inc({ kind: 'retention' });
      this.o.log.warn('archive retention could not delete old objects', { error: (e as Error).message });
    });
    return info;
  }

  private setArchived(index: number): void {
    this.archived = Math.max(this.archived ?? 0, index);
    this.m.archivedIndex.set(this.archived);
  }

  /** Deletes what no retained point in time needs (retention.ts decides). */
  private async applyRetention(): Promise<void> {
    const prefix = this.o.store.loc.prefix;
    const snaps = (await this.o.store.list(SNAPSHOTS)).flatMap(({ key, lastModified }) => {
      const index = parseSnapshotKey(prefix, key);
      return index === null ? [] : [{ key, index, lastModified }];
    });
    const segs = (await this.o.store.list(SEGMENTS)).flatMap(({ key }) => {
      const r = parseSegmentKey(prefix, key);
      return r === null ? [] : [{ key, ...r }];
    });
    const plan = planRetention(
      snaps,
      segs,
      { keepFull: this.keepFull, keepAgeMs: this.keepAgeMs },
      this.now(),
    );
    if (plan.deleteSnapshots.length + plan.deleteSegments.length === 0) return;
    await this.o.store.remove([...plan.deleteSnapshots, ...plan.deleteSegments]);
    this.o.log.info('archive retention', {
      snapshotsDeleted: plan.deleteSnapshots.length,
      segmentsDeleted: plan.deleteSegments.length,
      oldestKept: plan.oldestKept,
      keptBy: plan.keptBy,
    });
  }
}

/** An on-demand snapshot asked of a member that does not upload (not the leader). */
export class NotUploadingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotUploadingError';
  }
}
