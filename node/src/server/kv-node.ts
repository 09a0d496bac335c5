// The node: wires the Raft core to its Ready loop (ready-loop.ts), the applier
// (applier.ts) and housekeeping (housekeeping.ts) over injected I/O
// (node-io.ts), and implements the KV service the HTTP API exposes.
import { defaultConfig, type RaftConfig } from '../raft/config.ts';
import { RawNode, type RaftStatus } from '../raft/rawnode.ts';
import {
  StateRole,
  type ConfChange,
  type Message,
  type ProposeError,
  type ProposeResult,
  type SoftState,
} from '../raft/types.ts';
import { DiskStorage } from '../storage/disk-storage.ts';
import { encodeCommand, type Caller, type Command } from '../kv/commands.ts';
import {
  KvStateMachine,
  type ApplyResult,
  type MemberAddress as SmMemberAddress,
} from '../kv/state-machine.ts';
import { PeerTransport } from '../transport/peer-transport.ts';
import { verifyReceivedSnapshot } from '../kv/snapshot-verify.ts';
import { kvError, unauthenticatedError, type KvError } from '../errors.ts';
import { DataDirError } from '../storage/errors.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { KeyValue, KvService, MemberInfo, NodeStatus, ReadyCheck } from '../http/service.ts';
import { bootstrapLog, clusterIdFor, type MemberAddress } from './bootstrap.ts';
import { ProposalWaiters } from './proposals.ts';
import { ReadBatcher } from './read-batcher.ts';
import { AdminOps, type AdminNode, type Forwarder } from './admin.ts';
import type { TlsMaterial } from '../security/tls-material.ts';
import { Applier, confRequestId, type AppliedWrite } from './applier.ts';
import { Housekeeping } from './housekeeping.ts';
import {
  realClock,
  realScheduler,
  type Cancel,
  type Clock,
  type NodeStorage,
  type NodeTransport,
  type Scheduler,
  type TransportHooks,
} from './node-io.ts';
import { ReadyLoop } from './ready-loop.ts';
import { runRequestedForce } from './force-request.ts';

export type { AppliedWrite } from './applier.ts';
import { assertDiskWritable } from './disk-full.ts';
import type { AuthChange, AuthChangeResult, AuthStore } from '../auth/auth-store.ts';
import type { CapturedSnapshot } from '../backup/snapshot-route.ts';
import type { ArchiveSource, ArchiverStatus } from '../backup/archiver.ts';
import type { RestoreInfo } from '../backup/restore-info.ts';

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
  /** Peer mutual TLS: the current peer material (transport/peer-transport.ts). */
  peerTls?: () => TlsMaterial;
  /** How admin requests reach the leader's client API (default: global fetch). */
  forwarder?: Forwarder;
  /** Fencing (server/fence.ts): true while this member must refuse clients and report NotReady. */
  fenced?: () => boolean;
}

/** The node's I/O: real in production (KvNode.open), simulated in sim/. */
export interface KvNodeIo<T extends NodeTransport = NodeTransport> {
  makeTransport(hooks: TransportHooks): T;
  scheduler: Scheduler;
  clock: Clock;
  /** Election timeout jitter. */
  random: () => number;
  /** Makes request ids unique across restarts (default: the process id). */
  instanceId?: string;
  /** Builds the (empty) state machine; the simulation observes applies through a subclass. */
  stateMachine?: () => KvStateMachine;
}

export class KvNode<T extends NodeTransport = PeerTransport> implements KvService, AdminNode {
  readonly opts: KvNodeOptions;
  readonly log: Logger;
  readonly metrics: Metrics;
  private readonly storage: NodeStorage;
  private readonly sm: KvStateMachine;
  /** The peer transport (main.ts serves its streams on the HTTP ports). */
  readonly transport: T;
  private readonly rn: RawNode;
  private readonly scheduler: Scheduler;
  private readonly clock: Clock;
  readonly writes: ProposalWaiters<AppliedWrite>;
  readonly reads: ReadBatcher;
  private readonly loop: ReadyLoop;
  private readonly applier: Applier;
  private readonly housekeeping: Housekeeping;
  private readonly admin: AdminOps;
  private backupStatus: (() => ArchiverStatus) | null = null;
  private restoredFrom: RestoreInfo | null = null;

  private stopTicker: Cancel | null = null;
  private seq = 0;
  private readonly instanceId: string;
  private stopping = false;
  private fatalError: Error | null = null;
  private wipedReported = false;
  /** The leader as of the last Ready's soft state (leader-change logging). */
  private leader: string | null = null;
  private readonly tickListeners = new Set<(stopped: boolean) => void>();
  private readonly appliedListeners = new Set<() => void>();

  private constructor(
    opts: KvNodeOptions,
    log: Logger,
    metrics: Metrics,
    storage: NodeStorage,
    sm: KvStateMachine,
    io: KvNodeIo<T>,
  ) {
    this.opts = opts;
    this.log = log;
    this.metrics = metrics;
    this.storage = storage;
    this.sm = sm;
    this.scheduler = io.scheduler;
    this.clock = io.clock;
    this.instanceId = io.instanceId ?? String(process.pid);
    this.writes = new ProposalWaiters<AppliedWrite>(io.scheduler);
    this.rn = new RawNode(this.raftConfig(io.random));
    this.transport = io.makeTransport({
      clusterId: () => this.storage.meta.clusterId ?? '',
      onClusterId: (id: string) => {
        void this.storage.setClusterId(id).catch((e: unknown) => this.fatal(e));
      },
      onMessages: (msgs: Message[]) => this.onPeerMessages(msgs),
      membership: () => this.rn.peerView(),
      verifySnapshot: verifyReceivedSnapshot,
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
      now: () => this.clock.now(),
      retryAfterMs: opts.tickMs * opts.electionTicks,
      timeoutMs: opts.readTimeoutMs,
      makeTimeoutError: () =>
        kvError(
          'timeout',
          'the read could not be confirmed with a quorum in time (no leader or a partition)',
        ),
    });
    const fatal = (e: unknown): void => this.fatal(e);
    this.applier = new Applier({
      selfId: opts.id,
      sm,
      writes: this.writes,
      storage,
      transport: this.transport,
      scheduler: io.scheduler,
      metrics,
      log,
      forgetPeerAfterMs: opts.tickMs * opts.electionTicks,
      fatal,
    });
    this.housekeeping = new Housekeeping({
      selfId: opts.id,
      snapshotThreshold: opts.snapshotThreshold,
      sm,
      storage,
      reads: this.reads,
      clock: io.clock,
      metrics,
      log,
      confState: () => this.rn.status().confState,
      isLeader: () => this.rn.role() === StateRole.Leader,
      hasLeader: () => this.rn.leader() !== null,
      proposeCommand: (cmd) => this.proposeCommand(cmd),
      nextRequestId: () => this.nextRequestId(),
      fatal,
    });
    this.loop = new ReadyLoop({
      rn: this.rn,
      storage,
      transport: this.transport,
      scheduler: io.scheduler,
      metrics,
      handlers: {
        onSoftState: (ss) => this.onSoftState(ss),
        installSnapshot: async (snap) => {
          await this.applier.installSnapshot(snap);
          this.housekeeping.snapshotInstalled(snap.metadata.index);
        },
        applyCommitted: (entries) => this.applier.apply(entries),
        onReadState: (rs) => this.reads.onReadState(rs.context, rs.index),
        afterReady: (rd) => {
          // Term and commit only change through a hard state; rn.status() would also build the leader's
          // per-peer progress map on every Ready, which this hot path does not need.
          if (rd.hardState) {
            this.metrics.term.set(rd.hardState.term);
            this.metrics.commitIndex.set(rd.hardState.commit);
          }
          this.metrics.appliedIndex.set(this.sm.appliedIndex);
          this.metrics.proposalsPending.set(this.writes.size());
          this.metrics.keys.set(this.sm.count());
        },
        afterAdvance: () => {
          this.checkWipedVoter();
          this.applier.advanced();
          this.reads.onApplied();
          this.housekeeping.maybeSnapshot();
          for (const l of this.appliedListeners) l();
        },
        fatal,
      },
    });
    this.admin = new AdminOps(this, opts.forwarder);
  }

  /** Opens (or bootstraps) the data directory and builds the node; call start() to run it. */
  static async open(opts: KvNodeOptions, log: Logger, metrics: Metrics): Promise<KvNode> {
    const self: MemberAddress = { id: opts.id, peerUrl: opts.peerUrl, clientUrl: opts.clientUrl };
    const initial = [self, ...opts.peers];
    const clusterId = opts.join ? undefined : clusterIdFor(initial, opts.clusterToken);
    const storage = await DiskStorage.open(opts.dataDir, {
      memberId: opts.id,
      ...(clusterId !== undefined ? { clusterId } : {}),
      ...(opts.join ? { joining: true } : { bootstrap: { voters: initial.map((m) => m.id), learners: [] } }),
    });
    try {
      await runRequestedForce(storage, opts, log);
    } catch (e) {
      await storage.close();
      throw e;
    }
    return KvNode.openOn(storage, opts, log, metrics, {
      makeTransport: (hooks) =>
        new PeerTransport({
          selfId: opts.id,
          selfPeerUrl: opts.peerUrl,
          selfClientUrl: opts.clientUrl,
          ...(opts.peerTls ? { tls: opts.peerTls } : {}),
          logger: log,
          metrics,
          ...(opts.maxSnapshotBytes !== undefined ? { maxSnapshotBytes: opts.maxSnapshotBytes } : {}),
          ...hooks,
        }),
      scheduler: realScheduler,
      clock: realClock,
      random: Math.random,
    });
  }

  /**
   * Builds the node on opened storage: a fresh member of a new cluster first writes the initial
   * membership; the state machine starts from the stored snapshot.
   */
  static async openOn<T extends NodeTransport>(
    storage: NodeStorage,
    opts: KvNodeOptions,
    log: Logger,
    metrics: Metrics,
    io: KvNodeIo<T>,
  ): Promise<KvNode<T>> {
    const initial: MemberAddress[] = [
      { id: opts.id, peerUrl: opts.peerUrl, clientUrl: opts.clientUrl },
      ...opts.peers,
    ];
    if (!opts.join && storage.lastIndex() === 0) {
      // A fresh member of a new cluster: write the initial membership as the first committed entries.
      const { entries, hardState } = bootstrapLog(initial);
      await storage.persist({ entries, hardState, snapshot: null });
      log.info('bootstrapped a new cluster', {
        clusterId: storage.meta.clusterId,
        members: initial.map((m) => m.id),
      });
    } else if (storage.lastIndex() > 0) {
      log.info('restarting from existing data', {
        clusterId: storage.meta.clusterId,
        lastIndex: storage.lastIndex(),
        snapshotIndex: storage.snapshot().metadata.index,
      });
    } else {
      log.info('waiting to be added to a cluster (-join)');
    }
    const sm = io.stateMachine?.() ?? new KvStateMachine();
    const snapshotData = await storage.readSnapshotData();
    if (snapshotData.byteLength > 0) sm.restore(snapshotData);
    return new KvNode<T>(opts, log, metrics, storage, sm, io);
  }

  private raftConfig(random: () => number): RaftConfig {
    const c = defaultConfig(this.opts.id, this.storage, random);
    c.electionTick = this.opts.electionTicks;
    c.heartbeatTick = 1;
    c.applied = this.sm.appliedIndex;
    c.preVote = true;
    c.checkQuorum = true;
    return c;
  }

  start(): void {
    this.stopTicker = this.scheduler.every(this.opts.tickMs, () => this.onTick());
    this.schedule();
  }

  // ---- driving the core ------------------------------------------------------

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
    this.housekeeping.onTick();
    for (const l of this.tickListeners) l(false);
    this.schedule();
  }

  /** Runs `fn` on every tick until it returns true, the deadline passes or the node stops (false). */
  waitForTicks(fn: () => boolean, maxMs: number): Promise<boolean> {
    if (this.stopping) return Promise.resolve(false);
    return new Promise((resolve) => {
      const deadline = this.clock.now() + maxMs;
      const check = (stopped: boolean): void => {
        if (!stopped && fn()) {
          this.tickListeners.delete(check);
          resolve(true);
        } else if (stopped || this.clock.now() > deadline || this.stopping) {
          this.tickListeners.delete(check);
          resolve(false);
        }
      };
      this.tickListeners.add(check);
    });
  }

  /** No more ticks come: every waitForTicks() answers false now. */
  private releaseTickListeners(): void {
    for (const l of [...this.tickListeners]) l(true);
  }

  /** Called after every Ready whose entries were applied (HTTP workers mirror the applied index and auth). */
  onApplied(listener: () => void): void {
    this.appliedListeners.add(listener);
  }

  /** Runs the Ready loop soon (see ReadyLoop.schedule). */
  schedule(): void {
    this.loop.schedule();
  }

  private onSoftState(ss: SoftState): void {
    const { leader, role } = ss;
    this.metrics.hasLeader.set(leader !== null ? 1 : 0);
    this.metrics.isLeader.set(role === StateRole.Leader ? 1 : 0);
    if (leader !== null && leader !== this.leader) {
      this.metrics.leaderChangesSeenTotal.inc();
      this.log.info('leader changed', { leader, role });
    }
    if (leader === null && this.leader !== null) this.log.warn('lost the leader', { role });
    this.leader = leader;
  }

  /**
   * The core found this member is a voter whose data directory was wiped (ADR 0079): it must never
   * vote again. Recorded durably, so every later start reports lost data (the operator replaces the
   * member), then the node stops like on any fatal error (/livez fails and the container restarts).
   */
  private checkWipedVoter(): void {
    const reason = this.rn.wipedVoter();
    if (reason === null || this.wipedReported) return;
    this.wipedReported = true;
    this.log.error('this member lost its data: it will not take part in the cluster again', { reason });
    void this.storage
      .markLost(reason)
      .then(() => this.fatal(new DataDirError('lost-state', `this member ${reason}`)))
      .catch((e: unknown) => this.fatal(e));
  }

  private fatal(e: unknown): void {
    if (this.fatalError) return;
    this.fatalError = e instanceof Error ? e : new Error(String(e));
    this.log.error('fatal error; the node stops serving', { error: this.fatalError.stack ?? String(e) });
    this.stopping = true;
    this.loop.halt();
    this.stopTicker?.();
    this.writes.failAll(kvError('unavailable', 'the node hit a fatal error'));
    this.reads.failAll(kvError('unavailable', 'the node hit a fatal error'));
    this.releaseTickListeners();
  }

  get failed(): Error | null {
    return this.fatalError;
  }

  /** This member has applied its own removal from the cluster. */
  get removed(): boolean {
    return this.applier.removed;
  }

  // ---- the read-only view AdminOps uses --------------------------------------

  raftStatus(): RaftStatus {
    return this.rn.status();
  }

  clusterId(): string {
    return this.storage.meta.clusterId ?? '';
  }

  appliedIndex(): number {
    return this.sm.appliedIndex;
  }

  announcedClientUrl(id: string): string | undefined {
    return this.transport.announcedClientUrl?.(id);
  }

  member(id: string): SmMemberAddress | undefined {
    return this.sm.member(id);
  }

  transferLeadershipTo(id: string): void {
    this.rn.transferLeadership(id);
    this.schedule();
  }

  // ---- proposals --------------------------------------------------------------

  nextRequestId(): string {
    return `${this.opts.id}:${this.instanceId}:${++this.seq}`;
  }

  proposeCommand(cmd: Command): Promise<AppliedWrite> {
    this.assertServing();
    assertDiskWritable(this.storage);
    const p = this.writes.register(cmd.requestId, this.opts.proposalTimeoutMs, () =>
      kvError('timeout', 'the write was not confirmed in time; it may or may not have been applied'),
    );
    this.placeProposal(cmd.requestId, this.rn.propose(encodeCommand(cmd)));
    return p;
  }

  proposeConf(cc: ConfChange): Promise<AppliedWrite> {
    this.assertServing();
    assertDiskWritable(this.storage);
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
    if (this.rn.leader() === null) throw kvError('no-leader', 'no leader is known; retry shortly');
    this.metrics.readIndexTotal.inc();
    try {
      await this.reads.wait();
    } catch (e) {
      this.metrics.readIndexFailedTotal.inc();
      throw e;
    }
  }

  // ---- auth (the backend of the /v1/auth API, ADR 0068) ------------------------

  /** The replicated users, roles and token key as this member has applied them. */
  get auth(): AuthStore {
    return this.sm.auth;
  }

  /** Proposes an auth change through the log; resolves with its outcome once applied here. */
  async proposeAuth(change: AuthChange, caller?: Caller): Promise<AuthChangeResult> {
    const { result } = await this.proposeCommand({
      op: 'auth',
      requestId: this.nextRequestId(),
      change,
      ...(caller !== undefined ? { caller } : {}),
    });
    if (!result.ok && result.code !== 'cas-mismatch')
      throw refusedAtApply(result.caller, result.code, 'the auth change');
    if (result.ok && result.auth) return result.auth;
    throw kvError('internal', 'the auth change applied without a result');
  }

  /**
   * The state at the applied index after a ReadIndex round (so it holds every write acknowledged
   * before the call), captured for streaming: applies go on while it is read (backup/snapshot-route.ts).
   */
  async captureSnapshot(): Promise<CapturedSnapshot> {
    await this.linearizable();
    return this.captureNow();
  }

  /** What the archiver reads (backup/archiver.ts): committed entries and captures, no ReadIndex round. */
  archiveSource(): ArchiveSource {
    return {
      isLeader: () => this.rn.role() === StateRole.Leader && !this.stopping,
      clusterId: () => this.clusterId(),
      appliedIndex: () => this.sm.appliedIndex,
      firstIndex: () => this.storage.firstIndex(),
      entries: (lo, hi) => this.storage.entries(lo, hi, Number.MAX_SAFE_INTEGER),
      capture: () => this.captureNow(),
    };
  }

  private captureNow(): CapturedSnapshot {
    const { appliedIndex, chunks, release } = this.sm.snapshotChunks();
    return {
      index: appliedIndex,
      // The applied entry is at or after the stored snapshot, so the log (or the snapshot) holds its term.
      term: appliedIndex === 0 ? 0 : this.storage.term(appliedIndex),
      clusterId: this.clusterId(),
      memberId: this.opts.id,
      takenAt: this.clock.now(),
      keys: this.sm.count(),
      members: this.sm.members(),
      chunks,
      release,
    };
  }

  /** Waits until everything committed before the call is applied here (a ReadIndex round). */
  barrier(): Promise<void> {
    return this.linearizable();
  }

  // ---- KvService -------------------------------------------------------------

  /** A fenced member answers no client request (reads included: its data may be behind). */
  private refuseIfFenced(): void {
    if (this.opts.fenced?.() === true)
      throw kvError(
        'fenced',
        `member ${this.opts.id} is fenced: it serves no client requests; use another member`,
      );
  }

  async get(
    key: string,
    o: { consistency: 'linearizable' | 'stale' },
  ): Promise<{ kv: KeyValue | undefined; index: number }> {
    this.refuseIfFenced();
    if (o.consistency === 'linearizable') await this.linearizable();
    return { kv: this.sm.get(key, this.clock.now()), index: this.sm.appliedIndex };
  }

  async list(
    prefix: string,
    o: { consistency: 'linearizable' | 'stale'; limit: number; keysOnly: boolean; separator?: string },
  ): Promise<{ items: KeyValue[] | string[]; more: boolean; index: number }> {
    this.refuseIfFenced();
    if (o.consistency === 'linearizable') await this.linearizable();
    const now = this.clock.now();
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
    o: { ttlMs?: number; ttl?: string; cas?: number; caller?: Caller },
  ): Promise<{ kv: KeyValue; index: number }> {
    this.refuseIfFenced();
    const cmd: Command = {
      op: 'put',
      requestId: this.nextRequestId(),
      key,
      value,
      ...(o.ttlMs !== undefined
        ? { expiresAt: this.clock.now() + o.ttlMs, ttl: o.ttl ?? `${o.ttlMs}ms` }
        : {}),
      ...(o.cas !== undefined ? { cas: o.cas } : {}),
      proposedAt: this.clock.now(),
      ...(o.caller !== undefined ? { caller: o.caller } : {}),
    };
    const { result, index } = await this.proposeCommand(cmd);
    if (!result.ok) throw writeRefused(key, result);
    if (!result.kv) throw kvError('internal', 'the write applied without a result');
    return { kv: result.kv, index };
  }

  async delete(
    key: string,
    o: { cas?: number; recurse: boolean; caller?: Caller },
  ): Promise<{ deleted: number; index: number }> {
    this.refuseIfFenced();
    const cmd: Command = {
      op: 'delete',
      requestId: this.nextRequestId(),
      key,
      ...(o.cas !== undefined ? { cas: o.cas } : {}),
      ...(o.recurse ? { recurse: true } : {}),
      proposedAt: this.clock.now(),
      ...(o.caller !== undefined ? { caller: o.caller } : {}),
    };
    const { result, index } = await this.proposeCommand(cmd);
    if (!result.ok) throw writeRefused(key, result);
    return { deleted: result.deleted ?? 0, index };
  }

  async watch(
    key: string,
    o: { recurse: boolean; index: number; waitMs: number },
    signal: AbortSignal,
  ): Promise<number> {
    this.refuseIfFenced();
    return this.sm.waitForChange(key, o.recurse, o.index, o.waitMs, signal);
  }

  status(): NodeStatus {
    const s = this.admin.status();
    return {
      ...s,
      ...(this.backupStatus !== null ? { backup: this.backupStatus() } : {}),
      ...(this.restoredFrom !== null ? { restoredFrom: this.restoredFrom } : {}),
    };
  }

  /** The archiver's status, reported in /v1/status (main.ts sets it when archiving is on). */
  setBackupStatus(provider: (() => ArchiverStatus) | null): void {
    this.backupStatus = provider;
  }

  /** What a restore built this data directory from (backup/restore-info.ts), reported in /v1/status. */
  setRestoredFrom(info: RestoreInfo | null): void {
    this.restoredFrom = info;
  }

  lastLogTerm(): number {
    return this.storage.term(this.storage.lastIndex());
  }

  members(): Promise<{ leader: string | null; members: MemberInfo[] }> {
    return this.admin.members();
  }

  addMember(m: {
    id: string;
    peerUrl: string;
    clientUrl?: string;
    role: 'learner' | 'voter';
  }): Promise<MemberInfo> {
    return this.admin.addMember(m);
  }

  promoteMember(id: string): Promise<void> {
    return this.admin.promoteMember(id);
  }

  demoteMember(id: string): Promise<void> {
    return this.admin.demoteMember(id);
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
    const leader = this.rn.leader();
    const removed = this.removed;
    const caughtUp = this.housekeeping.caughtUp;
    const compaction = this.housekeeping.compactionError;
    const diskFull = this.storage.diskFull;
    const fenced = this.opts.fenced?.() === true;
    const checks: ReadyCheck[] = [
      {
        name: 'storage',
        ok: this.fatalError === null,
        ...(this.fatalError ? { message: this.fatalError.message } : {}),
      },
      {
        name: 'compaction',
        ok: compaction === null,
        ...(compaction ? { message: `deleting compacted log entries failed: ${compaction.message}` } : {}),
      },
      // A full disk refuses writes here: take the member out of the client Service until space returns.
      {
        name: 'disk',
        ok: diskFull === null,
        ...(diskFull ? { message: `disk full: ${diskFull.message}` } : {}),
      },
      { name: 'member', ok: !removed, ...(removed ? { message: 'removed from the cluster' } : {}) },
      { name: 'fence', ok: !fenced, ...(fenced ? { message: 'fenced: serving no clients' } : {}) },
      { name: 'leader', ok: leader !== null, ...(leader === null ? { message: 'no leader known' } : {}) },
      { name: 'caught-up', ok: caughtUp, ...(caughtUp ? {} : { message: 'applying the log' }) },
    ];
    return { ready: checks.every((c) => c.ok), checks };
  }

  // ---- shutdown ----------------------------------------------------------------

  /**
   * Whether another voter is reachable right now. A leader stopping with none (the rest of the
   * cluster stopped first, as `npm run dev:cluster` does on Ctrl-C) has nobody to hand over to:
   * trying would wait out the transfer timeout. Raft's recentActive lags by an election timeout,
   * so the transport's open streams decide when it can tell.
   */
  private hasConnectedVoterPeer(): boolean {
    const others = this.rn.status().confState.voters.filter((v) => v !== this.opts.id);
    const connected = this.transport.isConnected?.bind(this.transport);
    return others.length > 0 && (connected === undefined || others.some((v) => connected(v)));
  }

  /** Graceful stop: hand over leadership, finish the loop, close transport and storage. */
  async stop(): Promise<void> {
    if (this.rn.role() === StateRole.Leader && this.hasConnectedVoterPeer() && !this.removed) {
      try {
        await this.admin.transferLeadership(undefined, 3000);
      } catch (e) {
        this.log.warn('leadership transfer before shutdown failed', { error: String(e) });
      }
    }
    this.stopping = true;
    this.stopTicker?.();
    this.releaseTickListeners();
    await this.loop.idle();
    const err = kvError('unavailable', 'the node is shutting down');
    this.writes.failAll(err);
    this.reads.failAll(err);
    this.loop.halt();
    await this.transport.close();
    await this.storage.close();
  }
}

/** A write that applied as a no-op: its compare failed, or its caller may not make it (kv/state-machine.ts). */
function writeRefused(key: string, r: Extract<ApplyResult, { ok: false }>): KvError {
  if (r.code === 'cas-mismatch') return casMismatch(key, r.current);
  return refusedAtApply(r.caller, r.code, `the write to ${JSON.stringify(key)}`);
}

/**
 * The member that took the request had not yet applied the auth state the log holds where the
 * command landed (auth just enabled, a role or user removed): nothing was changed.
 */
function refusedAtApply(
  caller: string | null,
  code: 'unauthenticated' | 'permission-denied',
  what: string,
): KvError {
  return code === 'unauthenticated'
    ? unauthenticatedError(
        `auth was enabled before ${what} was applied; nothing was changed: log in and retry`,
      )
    : kvError(
        'permission-denied',
        `user ${JSON.stringify(caller)} may no longer make ${what} (the auth state changed before it was applied); nothing was changed`,
      );
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
