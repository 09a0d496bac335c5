// The node-facing API of the core: feed it ticks and messages, take a Ready,
// carry it out (persist, send, apply), then advance().
import type { RaftConfig } from './config.ts';
import { decodeConfChange, encodeConfChange } from './conf-change.ts';
import type { ProgressState } from './progress.ts';
import { Raft } from './raft.ts';
import {
  EntryType,
  MessageType,
  StateRole,
  emptyMessage,
  isLocalMessage,
  isResponseMessage,
  type ConfChange,
  type ConfState,
  type HardState,
  type Message,
  type NodeId,
  type ProposeResult,
  type Ready,
  type SoftState,
} from './types.ts';

export interface PeerProgress {
  match: number;
  next: number;
  state: ProgressState;
  recentActive: boolean;
  isLearner: boolean;
}

export interface RaftStatus {
  id: NodeId;
  term: number;
  vote: NodeId | null;
  commit: number;
  applied: number;
  lastIndex: number;
  firstIndex: number;
  leader: NodeId | null;
  role: StateRole;
  confState: ConfState;
  leadTransferee: NodeId | null;
  /** Leader only. */
  progress: Map<NodeId, PeerProgress>;
  /** Joined with an empty data directory and not yet admitted: casts no vote (HardState.joining). */
  joining: boolean;
  /** Why this member found it was a voter whose data was wiped; it then does nothing (null: it was not). */
  wipedVoter: string | null;
}

export class RawNode {
  private readonly raft: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;
  private readyOutstanding = false;
  /** Self-addressed after-persist messages of the outstanding Ready. */
  private stepsOnAdvance: Message[] = [];

  constructor(cfg: RaftConfig) {
    this.raft = new Raft(cfg);
    this.prevSoft = this.softState();
    this.prevHard = this.hardState();
  }

  tick(): void {
    this.raft.tick();
  }

  campaign(): void {
    this.raft.step(emptyMessage(MessageType.Hup, this.raft.id, this.raft.id, 0));
  }

  /** A message from a peer. Local message types are refused: they are not for the wire. */
  step(m: Message): void {
    if (isLocalMessage(m.type)) return;
    // Responses from nodes we do not track are harmless but meaningless.
    if (isResponseMessage(m.type) && this.raft.role === StateRole.Leader && !this.raft.tracks(m.from)) return;
    this.raft.step(m);
  }

  propose(data: Uint8Array): ProposeResult {
    return this.raft.propose(data, EntryType.Normal);
  }

  /** Several entries at once (group commit); see Raft.proposeBatch. */
  proposeBatch(datas: readonly Uint8Array[]): ProposeResult {
    return this.raft.proposeBatch(datas);
  }

  proposeConfChange(cc: ConfChange): ProposeResult {
    return this.raft.propose(encodeConfChange(cc), EntryType.ConfChange);
  }

  readIndex(context: string): void {
    this.raft.readIndex(context);
  }

  transferLeadership(to: NodeId): void {
    if (this.raft.role === StateRole.Leader) this.raft.transferLeadership(to);
    else if (this.raft.lead !== null) {
      const m = emptyMessage(MessageType.TransferLeader, to, this.raft.lead, 0);
      this.raft.step(m);
    }
  }

  /** Why this member stopped as a wiped voter (HardState.joining, ADR 0079); null if it did not. */
  wipedVoter(): string | null {
    return this.raft.wipedVoter;
  }

  reportUnreachable(id: NodeId): void {
    this.raft.step(emptyMessage(MessageType.Unreachable, id, this.raft.id, 0));
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    const m = emptyMessage(MessageType.SnapStatus, id, this.raft.id, 0);
    m.reject = !ok;
    this.raft.step(m);
  }

  private softState(): SoftState {
    return { leader: this.raft.lead, role: this.raft.role };
  }

  private hardState(): HardState {
    const hs: HardState = { term: this.raft.term, vote: this.raft.vote, commit: this.raft.raftLog.committed };
    if (this.raft.joining) hs.joining = true;
    return hs;
  }

  hasReady(): boolean {
    if (this.readyOutstanding) return false;
    const r = this.raft;
    r.flushBroadcast();
    const ss = this.softState();
    const hs = this.hardState();
    return (
      ss.leader !== this.prevSoft.leader ||
      ss.role !== this.prevSoft.role ||
      !hardStateEqual(hs, this.prevHard) ||
      r.raftLog.unstable.snapshot !== null ||
      r.raftLog.unstableEntries().length > 0 ||
      r.hasOutbox() ||
      r.raftLog.hasNextCommittedEnts()
    );
  }

  /** Everything to do now. Call advance(rd) once it is done, before the next ready(). */
  ready(maxCommittedSize = Number.MAX_SAFE_INTEGER): Ready {
    if (this.readyOutstanding) throw new Error('raft: ready() called again before advance()');
    const r = this.raft;
    r.flushBroadcast();
    const ss = this.softState();
    const hs = this.hardState();
    const outbox = r.takeOutbox();
    const rd: Ready = {
      softState: ss.leader !== this.prevSoft.leader || ss.role !== this.prevSoft.role ? ss : null,
      hardState: hardStateEqual(hs, this.prevHard) ? null : hs,
      snapshot: r.raftLog.unstable.snapshot,
      entries: r.raftLog.unstableEntries().slice(),
      committedEntries: r.raftLog.nextCommittedEnts(maxCommittedSize),
      messagesBeforePersist: outbox.early,
      messages: [],
      readStates: outbox.readStates,
    };
    // Messages to ourselves (our own vote) are stepped in advance(), once this Ready is durable.
    for (const m of outbox.afterPersist) {
      if (m.to === r.id) this.stepsOnAdvance.push(m);
      else rd.messages.push(m);
    }
    if (rd.softState) this.prevSoft = ss;
    if (rd.hardState) this.prevHard = hs;
    this.readyOutstanding = true;
    return rd;
  }

  /**
   * Messages that may leave at once (appends, heartbeats, votes), taken out of
   * band while a Ready is being persisted, so replication and read rounds
   * need not wait for the local fsync. Never includes messages that
   * acknowledge state not yet on disk. With `flushProposals` false, appends
   * for proposals made since the last Ready are left for the next one (which
   * then carries them all in one append per follower).
   */
  takeMessages(flushProposals = true): Message[] {
    const r = this.raft;
    if (flushProposals) r.flushBroadcast();
    return r.takeEarlyMessages();
  }

  /** The Ready has been persisted, sent and applied. */
  advance(rd: Ready): void {
    const r = this.raft;
    this.readyOutstanding = false;
    if (rd.snapshot) {
      r.raftLog.stableSnapTo(rd.snapshot.metadata.index);
      if (rd.snapshot.metadata.index > r.raftLog.applied) r.raftLog.appliedTo(rd.snapshot.metadata.index);
    }
    const last = rd.entries[rd.entries.length - 1];
    if (last) r.stableTo(last.index, last.term);
    const lastCommitted = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastCommitted) {
      r.raftLog.appliedTo(lastCommitted.index);
      r.reduceUncommittedSize(rd.committedEntries);
      for (const e of rd.committedEntries) {
        if (e.type === EntryType.ConfChange) r.applyConfChange(decodeConfChange(e.data));
      }
    }
    const steps = this.stepsOnAdvance;
    this.stepsOnAdvance = [];
    for (const m of steps) r.step(m);
  }

  /** The known leader, without building the status (hot paths: every read, every tick). */
  leader(): NodeId | null {
    return this.raft.lead;
  }

  role(): StateRole {
    return this.raft.role;
  }

  /** Membership and leader without copies: the transport's message filter asks on every frame. */
  peerView(): {
    self: NodeId;
    voters: ReadonlySet<NodeId>;
    learners: ReadonlySet<NodeId>;
    leader: NodeId | null;
  } {
    const r = this.raft;
    return { self: r.id, voters: r.voters, learners: r.learners, leader: r.lead };
  }

  status(): RaftStatus {
    const r = this.raft;
    const progress = new Map<NodeId, PeerProgress>();
    if (r.role === StateRole.Leader) {
      for (const [id, p] of r.progress()) {
        progress.set(id, {
          match: p.match,
          next: p.next,
          state: p.state,
          recentActive: p.recentActive,
          isLearner: p.isLearner,
        });
      }
    }
    return {
      id: r.id,
      term: r.term,
      vote: r.vote,
      commit: r.raftLog.committed,
      applied: r.raftLog.applied,
      lastIndex: r.raftLog.lastIndex(),
      firstIndex: r.raftLog.firstIndex(),
      leader: r.lead,
      role: r.role,
      confState: r.confState(),
      leadTransferee: r.leadTransferee,
      progress,
      joining: r.joining,
      wipedVoter: r.wipedVoter,
    };
  }
}

function hardStateEqual(a: HardState, b: HardState): boolean {
  return (
    a.term === b.term &&
    a.vote === b.vote &&
    a.commit === b.commit &&
    (a.joining === true) === (b.joining === true)
  );
}
