// Background duties of a node: snapshots on a schedule, TTL expiry (leader
// only), the caught-up check behind readiness, and surfacing a failed
// background compaction.
import { SnapshotOutOfDateError } from '../raft/storage.ts';
import { DiskFullError } from '../storage/errors.ts';
import type { ConfState } from '../raft/types.ts';
import type { Command } from '../kv/commands.ts';
import type { KvStateMachine } from '../kv/state-machine.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { AppliedWrite } from './applier.ts';
import type { Clock, NodeStorage } from './node-io.ts';
import type { ReadBatcher } from './read-batcher.ts';
import { snapshotDue, snapshotPhase } from './snapshot-schedule.ts';

/** Entries kept behind a snapshot so a briefly lagging follower catches up from the log. */
const SNAPSHOT_CATCHUP_ENTRIES = 5000;

export interface HousekeepingDeps {
  selfId: string;
  snapshotThreshold: number;
  sm: KvStateMachine;
  storage: Pick<NodeStorage, 'saveSnapshot' | 'compactionError' | 'snapshot'>;
  reads: ReadBatcher;
  clock: Clock;
  metrics: Metrics;
  log: Logger;
  /** The membership as of the applied index (taken when a snapshot starts). */
  confState(): ConfState;
  /** Cheap (RawNode.role()/leader(), not status()): they run on every tick. */
  isLeader(): boolean;
  hasLeader(): boolean;
  proposeCommand(cmd: Command): Promise<AppliedWrite>;
  nextRequestId(): string;
  fatal(e: unknown): void;
}

export class Housekeeping {
  private readonly d: HousekeepingDeps;
  private lastSnapshotIndex: number;
  private snapshotting = false;
  /** Applied up to the leader's commit index once (readiness). */
  caughtUp = false;
  private caughtUpCheckRunning = false;
  private expireInFlight = false;
  private lastExpireCheck = 0;
  private compactionReported: Error | null = null;

  constructor(deps: HousekeepingDeps) {
    this.d = deps;
    this.lastSnapshotIndex = deps.storage.snapshot().metadata.index;
  }

  onTick(): void {
    this.maybeExpireKeys();
    this.maybeCheckCaughtUp();
    this.checkCompaction();
  }

  /** A snapshot from the leader replaced the state. */
  snapshotInstalled(index: number): void {
    this.lastSnapshotIndex = index;
  }

  /** The background compaction's failure, reported once in the log and kept failing readiness. */
  get compactionError(): Error | null {
    return this.d.storage.compactionError;
  }

  private checkCompaction(): void {
    const err = this.d.storage.compactionError;
    if (err === null || err === this.compactionReported) return;
    this.compactionReported = err;
    this.d.log.error('deleting compacted log entries failed; the disk may be failing', {
      error: err.message,
    });
  }

  /**
   * Snapshots in the background about every `snapshotThreshold` applied entries, on this member's
   * own phase (snapshot-schedule.ts); encoding yields to the event loop.
   */
  maybeSnapshot(): void {
    const { sm, snapshotThreshold: threshold, storage, metrics, log } = this.d;
    if (this.snapshotting || sm.appliedIndex - this.lastSnapshotIndex < Math.ceil(threshold / 2)) return;
    const phase = snapshotPhase(
      this.d.selfId,
      sm.members().map((m) => m.id),
      threshold,
    );
    if (!snapshotDue(sm.appliedIndex, this.lastSnapshotIndex, threshold, phase)) return;
    this.snapshotting = true;
    // Taken now, it matches the applied index snapshotChunks() captures synchronously.
    const confState = this.d.confState();
    const end = metrics.snapshotDurationSeconds.startTimer();
    const keep = Math.min(SNAPSHOT_CATCHUP_ENTRIES, threshold);
    void (async () => {
      // Streamed into the snapshot file chunk by chunk: never the whole snapshot in memory.
      const { appliedIndex, chunks, release } = sm.snapshotChunks();
      let bytes: number;
      try {
        bytes = await storage.saveSnapshot(appliedIndex, confState, chunks, keep);
      } catch (e) {
        // A snapshot from the leader landed meanwhile and is newer: ours is moot.
        // A full disk: no snapshot this time; the log keeps everything and a later one is tried.
        if (e instanceof SnapshotOutOfDateError || e instanceof DiskFullError) return;
        throw e;
      } finally {
        release();
      }
      this.lastSnapshotIndex = appliedIndex;
      end();
      metrics.snapshotSizeBytes.set(bytes);
      log.info('snapshot saved', { index: appliedIndex, bytes });
    })()
      .catch((e: unknown) => this.d.fatal(e))
      .finally(() => {
        this.snapshotting = false;
      });
  }

  private maybeExpireKeys(): void {
    if (this.expireInFlight || !this.d.isLeader()) return;
    const now = this.d.clock.now();
    if (now - this.lastExpireCheck < 100) return;
    this.lastExpireCheck = now;
    const keys = this.d.sm.expiredKeys(now, 1000);
    if (keys.length === 0) return;
    this.expireInFlight = true;
    this.d
      .proposeCommand({ op: 'expire', requestId: this.d.nextRequestId(), keys })
      .catch((e: unknown) =>
        this.d.log.debug('expiry proposal failed; retrying on a later tick', { error: String(e) }),
      )
      .finally(() => {
        this.expireInFlight = false;
      });
  }

  private maybeCheckCaughtUp(): void {
    if (this.caughtUp || this.caughtUpCheckRunning || !this.d.hasLeader()) return;
    this.caughtUpCheckRunning = true;
    // Ready once applied up to the leader's commit index as of now (a ReadIndex round tells us which).
    this.d.reads
      .wait()
      .then(() => {
        this.caughtUp = true;
        this.d.log.info('caught up with the leader', { applied: this.d.sm.appliedIndex });
      })
      .catch(() => undefined)
      .finally(() => {
        this.caughtUpCheckRunning = false;
      });
  }
}
