// The node: drives the Raft core with ticks and peer messages, carries out
// each Ready (group-committed LevelDB batch, sends, apply), and implements the
// KV service the HTTP API exposes.
import { defaultConfig, type RaftConfig } from '../raft/config.ts';
import { decodeConfChange } from '../raft/conf-change.ts';
import { RawNode } from '../raft/rawnode.ts';
import {
  ConfChangeType,
  EntryType,
  StateRole,
  type ConfChange,
  type Entry,
  type Message,
  type ProposeError,
  type ProposeResult,
  type Ready,
  type Snapshot,
} from '../raft/types.ts';
import { DiskStorage } from '../storage/disk-storage.ts';
import { SnapshotOutOfDateError } from '../raft/storage.ts';
import { snapshotDue, snapshotPhase } from './snapshot-schedule.ts';
import { decodeCommand, encodeCommand, type Command } from '../kv/commands.ts';
import { KvStateMachine, type ApplyResult } from '../kv/state-machine.ts';
import { PeerTransport } from '../transport/peer-transport.ts';
import { verifyReceivedSnapshot } from '../kv/snapshot-verify.ts';
import { kvError, type KvError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { KeyValue, KvService, MemberInfo, NodeStatus, ReadyCheck } from '../http/service.ts';
import { bootstrapLog, clusterIdFor, parseMemberContext, type MemberAddress } from './bootstrap.ts';
import { ProposalWaiters } from './proposals.ts';
import { ReadBatcher } from './read-batcher.ts';
import { AdminOps } from './admin.ts';

export interface KvNodeOptions {
  id: string;
  dataDir: string;
  /** Advertised URLs of this node (http://host:port). */
  clientUrl: string;
  peerUrl: string;
  /** The other initial members (bootstrap only; ignored once the data dir holds a cluster). */
  peers: MemberAddress[];
  /** Start empty and wait to be added by an existing cluster. */
  join: boolean;
  tickMs: number;
  electionTicks: number;
  snapshotThreshold: number;
  clusterToken: string;
  proposalTimeoutMs: number;
  readTimeoutMs: number;
  /** Debug only: serve "linearizable" reads locally without ReadIndex (the chaos suite must catch this). */
  unsafeLocalReads: boolean;
  /** Largest snapshot accepted from a peer, in bytes (default: the transport's). */
  maxSnapshotBytes?: number;
}

export interface AppliedWrite {
  result: ApplyResult;
  index: number;
}

/** Entries kept behind a snapshot so a briefly lagging follower catches up from the log. */
const SNAPSHOT_CATCHUP_ENTRIES = 5000;

export class KvNode implements KvService {
  readonly opts: KvNodeOptions;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly storage: DiskStorage;
  readonly sm: KvStateMachine;
  readonly transport: PeerTransport;
  rn: RawNode;
  readonly writes = new ProposalWaiters<AppliedWrite>();
  readonly reads: ReadBatcher;
  private readonly admin: AdminOps;

  private ticker: NodeJS.Timeout | null = null;
  private loopRunning = false;
  private turnScheduled = false;
  /** Set once stop() closes transport and storage: nothing may run the loop after that. */
  private closed = false;
  /** Conf-change answers held until the core has adopted the change (see applyEntries). */
  private readonly afterAdvance: (() => void)[] = [];
  private loopIdle: (() => void)[] = [];
  private seq = 0;
  private stopping = false;
  removed = false;
  private fatalError: Error | null = null;
  private lastSnapshotIndex: number;
  private snapshotting = false;
  private caughtUp = false;
  private caughtUpCheckRunning = false;
  private expireInFlight = false;
  private lastExpireCheck = 0;
  private lastLeader: string | null = null;
  private readonly tickListeners = new Set<() => void>();

  private constructor(opts: KvNodeOptions, log: Logger, metrics: Metrics, storage: DiskStorage, sm: KvStateMachine) {
    this.opts = opts;
    this.log = log;
    this.metrics = metrics;
    this.storage = storage;
    this.sm = sm;
    this.lastSnapshotIndex = storage.snapshot().metadata.index;
    this.rn = new RawNode(this.raftConfig());
    this.transport = new PeerTransport({
      selfId: opts.id,
      selfPeerUrl: opts.peerUrl,
      clusterId: () => this.storage.meta.clusterId ?? '',
      onClusterId: (id: string) => {
        void this.storage.setClusterId(id).catch((e: unknown) => this.fatal(e));
      },
      logger: log,
      metrics,
      onMessages: (msgs: Message[]) => this.onPeerMessages(msgs),
      membership: () => this.rn.peerView(),
      verifySnapshot: verifyReceivedSnapshot,
      ...(opts.maxSnapshotBytes !== undefined ? { maxSnapshotBytes: opts.maxSnapshotBytes } : {}),
      // The core's snapshots carry only metadata; the data is read from its file when sent.
      snapshotData: (index: number) => this.storage.snapshotDataAt(index),
      onSnapshotStatus: (peer: string, ok: boolean) => {
        this.rn.reportSnapshot(peer, ok);
        this.schedule();
      },
      onUnreachable: (peer: string) => {
        this.rn.reportUnreachable(peer);
        this.schedule();
      },
    });
    for (const m of sm.members()) if (m.id !== opts.id) this.transport.setPeer(m.id, m.peerUrl);
    this.reads = new ReadBatcher(`${opts.id}-r`, {
      requestReadIndex: (ctx) => {
        this.rn.readIndex(ctx);
        this.schedule();
      },
      appliedIndex: () => this.sm.appliedIndex,
      now: () => Date.now(),
      retryAfterMs: opts.tickMs * opts.electionTicks,
      timeoutMs: opts.readTimeoutMs,
      makeTimeoutError: () =>
        kvError('timeout', 'the read could not be confirmed with a quorum in time (no leader or a partition)'),
    });
    this.admin = new AdminOps(this);
  }

  /** Opens (or bootstraps) the data directory and builds the node; call start() to run it. */
  static async open(opts: KvNodeOptions, log: Logger, metrics: Metrics): Promise<KvNode> {
    const self: MemberAddress = { id: opts.id, peerUrl: opts.peerUrl, clientUrl: opts.clientUrl };
    const initial = [self, ...opts.peers];
    const clusterId = opts.join ? undefined : clusterIdFor(initial, opts.clusterToken);
    const storage = await DiskStorage.open(opts.dataDir, {
      memberId: opts.id,
      ...(clusterId !== undefined ? { clusterId } : {}),
      ...(opts.join ? {} : { bootstrap: { voters: initial.map((m) => m.id), learners: [] } }),
    });
    if (!opts.join && storage.lastIndex() === 0) {
      // A fresh member of a new cluster: write the initial membership as the first committed entries.
      const { entries, hardState } = bootstrapLog(initial);
      await storage.persist({ entries, hardState, snapshot: null });
      log.info('bootstrapped a new cluster', { clusterId, members: initial.map((m) => m.id) });
    } else if (storage.lastIndex() > 0) {
      log.info('restarting from existing data', {
        clusterId: storage.meta.clusterId,
        lastIndex: storage.lastIndex(),
        snapshotIndex: storage.snapshot().metadata.index,
      });
    } else {
      log.info('waiting to be added to a cluster (-join)');
    }
    const sm = new KvStateMachine();
    const snapshotData = await storage.readSnapshotData();
    if (snapshotData.byteLength > 0) sm.restore(snapshotData);
    return new KvNode(opts, log, metrics, storage, sm);
  }

  private raftConfig(): RaftConfig {
    const c = defaultConfig(this.opts.id, this.storage, Math.random);
    c.electionTick = this.opts.electionTicks;
    c.heartbeatTick = 1;
    c.applied = this.sm.appliedIndex;
    c.preVote = true;
    c.checkQuorum = true;
    return c;
  }

  start(): void {
    this.ticker = setInterval(() => this.onTick(), this.opts.tickMs);
    this.schedule();
  }

  // ---- the Ready loop --------------------------------------------------------

  private onPeerMessages(msgs: Message[]): void {
    if (this.stopping) return;
    for (const m of msgs) {
      if (m.to !== this.opts.id) continue;
      try {
        this.rn.step(m);
      } catch (e) {
        this.fatal(e);
        return;
      }
    }
    this.schedule();
  }

  private onTick(): void {
    if (this.stopping) return;
    this.rn.tick();
    this.reads.onTick();
    this.maybeExpireKeys();
    this.maybeCheckCaughtUp();
    for (const l of this.tickListeners) l();
    this.schedule();
  }

  /** Runs `fn` on every tick until it returns true or the deadline passes. */
  waitForTicks(fn: () => boolean, maxMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const deadline = Date.now() + maxMs;
      const check = (): void => {
        if (fn()) {
          this.tickListeners.delete(check);
          resolve(true);
        } else if (Date.now() > deadline || this.stopping) {
          this.tickListeners.delete(check);
          resolve(false);
        }
      };
      this.tickListeners.add(check);
    });
  }

  /**
   * Runs the Ready loop soon. Deferred to setImmediate so everything that
   * arrives in one event-loop turn (many client requests, many peer messages)
   * lands in one Ready: one synced batch, one append per follower.
   */
  schedule(): void {
    if (this.fatalError || this.turnScheduled) return;
    this.turnScheduled = true;
    setImmediate(() => {
      this.turnScheduled = false;
      if (this.fatalError || this.closed) return;
      if (this.loopRunning) {
        // A Ready is being persisted: heartbeats, votes and answers leave now rather than after the
        // fsync. Proposals that arrived meanwhile wait for the next Ready, which sends them all in one
        // append per follower: fewer frames and follower fsyncs (+11% PUT/s at 64 connections).
        this.transport.send(this.rn.takeMessages(false));
        return;
      }
      this.loopRunning = true;
      // The loop is the only writer to storage; errors there are fatal (durability can no longer be promised).
      void this.runLoop().catch((e: unknown) => this.fatal(e));
    });
  }

  private async runLoop(): Promise<void> {
    try {
      while (this.rn.hasReady()) {
        const rd = this.rn.ready();
        await this.handleReady(rd);
        this.rn.advance(rd);
        for (const f of this.afterAdvance.splice(0)) f();
        this.reads.onApplied();
        this.maybeSnapshot();
      }
    } finally {
      this.loopRunning = false;
    }
    if (this.rn.hasReady() && !this.fatalError) this.schedule();
    else {
      const idle = this.loopIdle;
      this.loopIdle = [];
      for (const f of idle) f();
    }
  }

  private async handleReady(rd: Ready): Promise<void> {
    if (rd.softState) this.onSoftState(rd.softState.leader, rd.softState.role);
    this.transport.send(rd.messagesBeforePersist);
    let persisted: Promise<void> | null = null;
    if (rd.entries.length > 0 || rd.hardState || rd.snapshot) {
      const request = { entries: rd.entries, hardState: rd.hardState, snapshot: rd.snapshot };
      // A commit index alone is written without fsync (DiskStorage.needsSync); only synced batches are timed.
      const end = this.storage.needsSync(request) ? this.metrics.diskSyncDurationSeconds.startTimer() : null;
      // Memory is updated now; the promise resolves once the batch has landed.
      persisted = this.storage.persist(request);
      if (end !== null) {
        void persisted.then(
          () => end(),
          () => undefined,
        );
      }
    }
    if (rd.snapshot) {
      await persisted;
      await this.installSnapshot(rd.snapshot);
    }
    // Committed entries are durable on a quorum (the leader counts itself only once its own copy is
    // synced), so they are applied while this Ready's new entries are being synced: the state machine
    // is rebuilt from the log on restart and never runs ahead of what the cluster has committed.
    if (rd.committedEntries.length > 0) {
      const end = this.metrics.applyDurationSeconds.startTimer();
      this.applyEntries(rd.committedEntries);
      end();
    }
    await persisted;
    this.transport.send(rd.messages);
    for (const rs of rd.readStates) this.reads.onReadState(rs.context, rs.index);
    // Term and commit only change through a hard state; rn.status() would also build the leader's
    // per-peer progress map on every Ready, which this hot path does not need.
    if (rd.hardState) {
      this.metrics.term.set(rd.hardState.term);
      this.metrics.commitIndex.set(rd.hardState.commit);
    }
    this.metrics.appliedIndex.set(this.sm.appliedIndex);
    this.metrics.proposalsPending.set(this.writes.size());
    this.metrics.keys.set(this.sm.count());
  }

  private onSoftState(leader: string | null, role: StateRole): void {
    this.metrics.hasLeader.set(leader !== null ? 1 : 0);
    this.metrics.isLeader.set(role === StateRole.Leader ? 1 : 0);
    if (leader !== null && leader !== this.lastLeader) {
      this.metrics.leaderChangesSeenTotal.inc();
      this.log.info('leader changed', { leader, role });
    }
    if (leader === null && this.lastLeader !== null) this.log.warn('lost the leader', { role });
    this.lastLeader = leader;
  }

  private async installSnapshot(snap: Snapshot): Promise<void> {
    await this.sm.restoreAsync(snap.data);
    this.lastSnapshotIndex = snap.metadata.index;
    for (const m of this.sm.members()) if (m.id !== this.opts.id) this.transport.setPeer(m.id, m.peerUrl);
    this.log.info('installed snapshot from leader', { index: snap.metadata.index, bytes: snap.data.byteLength });
  }

  private applyEntries(entries: Entry[]): void {
    for (const e of entries) {
      if (e.index <= this.sm.appliedIndex) continue;
      if (e.type === EntryType.ConfChange) {
        const cc = decodeConfChange(e.data);
        this.applyMembership(cc);
        this.sm.advanceApplied(e.index);
        // The core adopts the new membership in advance(): answer the caller only then, so a status read
        // right after the answer already shows the change.
        const index = e.index;
        this.afterAdvance.push(() =>
          this.writes.applied(index, confRequestId(cc), { result: { ok: true }, index }, overwritten),
        );
      } else if (e.data.byteLength === 0) {
        this.sm.advanceApplied(e.index);
        this.writes.applied(e.index, undefined, { result: { ok: true }, index: e.index }, overwritten);
      } else {
        // A command that does not decode is corruption of the replicated log: stop rather than diverge.
        const cmd = decodeCommand(e.data);
        const result = this.sm.apply(e.index, cmd);
        this.writes.applied(e.index, cmd.requestId, { result, index: e.index }, overwritten);
        this.metrics.proposalsAppliedTotal.inc();
      }
    }
    this.metrics.proposalsCommittedTotal.inc(entries.length);
  }

  private applyMembership(cc: ConfChange): void {
    if (cc.type === ConfChangeType.RemoveNode) {
      this.sm.removeMember(cc.nodeId);
      if (cc.nodeId === this.opts.id) {
        this.removed = true;
        this.log.warn('this member was removed from the cluster; it will refuse to start again with this data');
        void this.storage.markRemoved().catch((e: unknown) => this.fatal(e));
      } else {
        // Let the final messages (the commit of the removal) reach it before forgetting the address.
        const id = cc.nodeId;
        setTimeout(() => {
          if (!this.sm.member(id)) this.transport.removePeer(id);
        }, this.opts.tickMs * this.opts.electionTicks).unref();
      }
      return;
    }
    if (cc.nodeId === this.opts.id && this.removed) {
      // A member id can be reused (an operator replacing a member): a fresh joiner replays its old
      // removal from the log and then this re-add, after which it is a member again.
      this.removed = false;
      this.log.info('this member was added back to the cluster');
      void this.storage.clearRemoved().catch((e: unknown) => this.fatal(e));
    }
    const addr = parseMemberContext(cc.context);
    if (addr) {
      this.sm.setMember(cc.nodeId, addr);
      if (cc.nodeId !== this.opts.id) this.transport.setPeer(cc.nodeId, addr.peerUrl);
    }
  }

  /**
   * Snapshots in the background about every `snapshotThreshold` applied entries, on this member's
   * own phase (snapshot-schedule.ts); encoding yields to the event loop.
   */
  private maybeSnapshot(): void {
    const threshold = this.opts.snapshotThreshold;
    if (this.snapshotting || this.sm.appliedIndex - this.lastSnapshotIndex < Math.ceil(threshold / 2)) return;
    const phase = snapshotPhase(this.opts.id, this.sm.members().map((m) => m.id), threshold);
    if (!snapshotDue(this.sm.appliedIndex, this.lastSnapshotIndex, threshold, phase)) return;
    this.snapshotting = true;
    // Taken now, it matches the applied index snapshotChunks() captures synchronously.
    const confState = this.rn.status().confState;
    const end = this.metrics.snapshotDurationSeconds.startTimer();
    const keep = Math.min(SNAPSHOT_CATCHUP_ENTRIES, this.opts.snapshotThreshold);
    void (async () => {
      // Streamed into the snapshot file chunk by chunk: never the whole snapshot in memory.
      const { appliedIndex, chunks, release } = this.sm.snapshotChunks();
      let bytes: number;
      try {
        bytes = await this.storage.saveSnapshot(appliedIndex, confState, chunks, keep);
      } catch (e) {
        // A snapshot from the leader landed meanwhile and is newer: ours is moot.
        if (e instanceof SnapshotOutOfDateError) return;
        throw e;
      } finally {
        release();
      }
      this.lastSnapshotIndex = appliedIndex;
      end();
      this.metrics.snapshotSizeBytes.set(bytes);
      this.log.info('snapshot saved', { index: appliedIndex, bytes });
    })()
      .catch((e: unknown) => this.fatal(e))
      .finally(() => {
        this.snapshotting = false;
      });
  }

  private maybeExpireKeys(): void {
    if (this.expireInFlight || this.rn.status().role !== StateRole.Leader) return;
    const now = Date.now();
    if (now - this.lastExpireCheck < 100) return;
    this.lastExpireCheck = now;
    const keys = this.sm.expiredKeys(now, 1000);
    if (keys.length === 0) return;
    this.expireInFlight = true;
    this.proposeCommand({ op: 'expire', requestId: this.nextRequestId(), keys })
      .catch((e: unknown) => this.log.debug('expiry proposal failed; retrying on a later tick', { error: String(e) }))
      .finally(() => {
        this.expireInFlight = false;
      });
  }

  private maybeCheckCaughtUp(): void {
    if (this.caughtUp || this.caughtUpCheckRunning || this.rn.status().leader === null) return;
    this.caughtUpCheckRunning = true;
    // Ready once applied up to the leader's commit index as of now (a ReadIndex round tells us which).
    this.reads
      .wait()
      .then(() => {
        this.caughtUp = true;
        this.log.info('caught up with the leader', { applied: this.sm.appliedIndex });
      })
      .catch(() => undefined)
      .finally(() => {
        this.caughtUpCheckRunning = false;
      });
  }

  private fatal(e: unknown): void {
    if (this.fatalError) return;
    this.fatalError = e instanceof Error ? e : new Error(String(e));
    this.log.error('fatal error; the node stops serving', { error: this.fatalError.stack ?? String(e) });
    this.stopping = true;
    if (this.ticker) clearInterval(this.ticker);
    this.writes.failAll(kvError('unavailable', 'the node hit a fatal error'));
    this.reads.failAll(kvError('unavailable', 'the node hit a fatal error'));
  }

  get failed(): Error | null {
    return this.fatalError;
  }

  // ---- proposals --------------------------------------------------------------

  nextRequestId(): string {
    return `${this.opts.id}:${process.pid}:${++this.seq}`;
  }

  proposeCommand(cmd: Command): Promise<AppliedWrite> {
    this.assertServing();
    const p = this.writes.register(cmd.requestId, this.opts.proposalTimeoutMs, () =>
      kvError('timeout', 'the write was not confirmed in time; it may or may not have been applied'),
    );
    this.placeProposal(cmd.requestId, this.rn.propose(encodeCommand(cmd)));
    return p;
  }

  proposeConf(cc: ConfChange): Promise<AppliedWrite> {
    this.assertServing();
    const requestId = confRequestId(cc);
    if (requestId === undefined) throw new Error('conf change without request id');
    const p = this.writes.register(requestId, this.opts.proposalTimeoutMs, () =>
      kvError('timeout', 'the membership change was not confirmed in time; check GET /v1/cluster/members'),
    );
    this.placeProposal(requestId, this.rn.proposeConfChange(cc));
    return p;
  }

  private placeProposal(requestId: string, res: ProposeResult): void {
    if (!res.ok) {
      this.metrics.proposalsFailedTotal.inc({ reason: res.error });
      this.writes.fail(requestId, proposeError(res.error, res.message));
    } else if ('index' in res) {
      this.writes.placed(requestId, res.index);
    }
    this.schedule();
  }

  private assertServing(): void {
    if (this.removed) throw kvError('unavailable', 'this member has been removed from the cluster');
    if (this.stopping) throw kvError('unavailable', 'the node is shutting down');
  }

  private async linearizable(): Promise<void> {
    this.assertServing();
    if (this.opts.unsafeLocalReads) return;
    if (this.rn.status().leader === null) throw kvError('no-leader', 'no leader is known; retry shortly');
    await this.reads.wait();
  }

  // ---- KvService -------------------------------------------------------------

  async get(key: string, o: { consistency: 'linearizable' | 'stale' }): Promise<{ kv: KeyValue | undefined; index: number }> {
    if (o.consistency === 'linearizable') await this.linearizable();
    return { kv: this.sm.get(key, Date.now()), index: this.sm.appliedIndex };
  }

  async list(
    prefix: string,
    o: { consistency: 'linearizable' | 'stale'; limit: number; keysOnly: boolean; separator?: string },
  ): Promise<{ items: KeyValue[] | string[]; more: boolean; index: number }> {
    if (o.consistency === 'linearizable') await this.linearizable();
    const now = Date.now();
    if (o.keysOnly) {
      const r = this.sm.keys(prefix, o.separator, o.limit, now);
      return { items: r.items, more: r.more, index: this.sm.appliedIndex };
    }
    const r = this.sm.list(prefix, o.limit, now);
    return { items: r.items, more: r.more, index: this.sm.appliedIndex };
  }

  async put(
    key: string,
    value: string,
    o: { ttlMs?: number; ttl?: string; cas?: number },
  ): Promise<{ kv: KeyValue; index: number }> {
    const cmd: Command = {
      op: 'put',
      requestId: this.nextRequestId(),
      key,
      value,
      ...(o.ttlMs !== undefined ? { expiresAt: Date.now() + o.ttlMs, ttl: o.ttl ?? `${o.ttlMs}ms` } : {}),
      ...(o.cas !== undefined ? { cas: o.cas } : {}),
    };
    const { result, index } = await this.proposeCommand(cmd);
    if (!result.ok) throw casMismatch(key, result.current);
    if (!result.kv) throw kvError('internal', 'the write applied without a result');
    return { kv: result.kv, index };
  }

  async delete(key: string, o: { cas?: number; recurse: boolean }): Promise<{ deleted: number; index: number }> {
    const cmd: Command = {
      op: 'delete',
      requestId: this.nextRequestId(),
      key,
      ...(o.cas !== undefined ? { cas: o.cas } : {}),
      ...(o.recurse ? { recurse: true } : {}),
    };
    const { result, index } = await this.proposeCommand(cmd);
    if (!result.ok) throw casMismatch(key, result.current);
    return { deleted: result.deleted ?? 0, index };
  }

  watch(key: string, o: { recurse: boolean; index: number; waitMs: number }, signal: AbortSignal): Promise<number> {
    return this.sm.waitForChange(key, o.recurse, o.index, o.waitMs, signal);
  }

  status(): NodeStatus {
    return this.admin.status();
  }

  members(): Promise<{ leader: string | null; members: MemberInfo[] }> {
    return this.admin.members();
  }

  addMember(m: { id: string; peerUrl: string; clientUrl?: string; role: 'learner' | 'voter' }): Promise<MemberInfo> {
    return this.admin.addMember(m);
  }

  promoteMember(id: string): Promise<void> {
    return this.admin.promoteMember(id);
  }

  removeMember(id: string): Promise<void> {
    return this.admin.removeMember(id);
  }

  transferLeadership(to?: string): Promise<{ leader: string }> {
    return this.admin.transferLeadership(to);
  }

  livez(): boolean {
    return this.fatalError === null;
  }

  readyz(): { ready: boolean; checks: ReadyCheck[] } {
    const leader = this.rn.status().leader;
    const checks: ReadyCheck[] = [
      { name: 'storage', ok: this.fatalError === null, ...(this.fatalError ? { message: this.fatalError.message } : {}) },
      { name: 'member', ok: !this.removed, ...(this.removed ? { message: 'removed from the cluster' } : {}) },
      { name: 'leader', ok: leader !== null, ...(leader === null ? { message: 'no leader known' } : {}) },
      { name: 'caught-up', ok: this.caughtUp, ...(this.caughtUp ? {} : { message: 'applying the log' }) },
    ];
    return { ready: checks.every((c) => c.ok), checks };
  }

  // ---- shutdown ----------------------------------------------------------------

  /** Graceful stop: hand over leadership, finish the loop, close transport and storage. */
  async stop(): Promise<void> {
    if (this.rn.status().role === StateRole.Leader && this.rn.status().confState.voters.length > 1 && !this.removed) {
      try {
        await this.admin.transferLeadership(undefined, 3000);
      } catch (e) {
        this.log.warn('leadership transfer before shutdown failed', { error: String(e) });
      }
    }
    this.stopping = true;
    if (this.ticker) clearInterval(this.ticker);
    if (this.loopRunning) await new Promise<void>((r) => this.loopIdle.push(r));
    const err = kvError('unavailable', 'the node is shutting down');
    this.writes.failAll(err);
    this.reads.failAll(err);
    this.closed = true;
    await this.transport.close();
    await this.storage.close();
  }
}

function overwritten(): Error {
  return kvError('proposal-dropped', 'the write was superseded by a new leader and was not applied; retry');
}

function confRequestId(cc: ConfChange): string | undefined {
  if (!cc.context) return undefined;
  try {
    const v = JSON.parse(cc.context) as { requestId?: unknown };
    return typeof v.requestId === 'string' ? v.requestId : undefined;
  } catch {
    return undefined;
  }
}

function casMismatch(key: string, current: KeyValue | undefined): KvError {
  return kvError(
    'cas-mismatch',
    current
      ? `key ${JSON.stringify(key)} has modifyIndex ${current.modifyIndex}`
      : `key ${JSON.stringify(key)} does not exist`,
  );
}

function proposeError(code: ProposeError, message: string): KvError {
  switch (code) {
    case 'too-many-uncommitted':
      return kvError('too-many-requests', message);
    case 'not-leader':
    case 'no-leader':
    case 'conf-change-pending':
    case 'leader-transfer-in-progress':
    case 'invalid-conf-change':
    case 'not-member':
      return kvError(code, message);
  }
}
