// The Raft state machine: roles, elections (PreVote, CheckQuorum), replication
// with flow control, ReadIndex, membership changes, leadership transfer and
// snapshots. Pure: it reacts to tick() and step() and queues messages; the
// RawNode turns its state into Ready batches for the node to carry out.
import { majority, voteResult } from './quorum.ts';
import { validateConfig, type RaftConfig } from './config.ts';
import { decodeConfChange, encodeConfChange, type LoggedConfChange } from './conf-change.ts';
import { RaftLog } from './log.ts';
import { Progress, ProgressState } from './progress.ts';
import { ReadOnly } from './read-only.ts';
import { entrySize } from './storage.ts';
import {
  ConfChangeType,
  EntryType,
  MessageType,
  StateRole,
  emptyMessage,
  isLocalMessage,
  type ConfChange,
  type ConfState,
  type Entry,
  type Message,
  type NodeId,
  type ProposeResult,
  type ReadState,
  type Snapshot,
} from './types.ts';

const TRANSFER_CONTEXT = 'transfer';

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId | null = null;
  lead: NodeId | null = null;
  role: StateRole = StateRole.Follower;
  readonly raftLog: RaftLog;

  /** Voters and learners of the applied configuration. */
  voters = new Set<NodeId>();
  learners = new Set<NodeId>();
  /** Leader only: one Progress per member (self included). */
  private prs = new Map<NodeId, Progress>();

  /** Messages that may leave at once; messages that must wait for persistence. */
  private msgs: Message[] = [];
  private msgsAfterAppend: Message[] = [];
  private readStates: ReadState[] = [];

  private votes = new Map<NodeId, boolean>();
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  leadTransferee: NodeId | null = null;
  /** Index of the latest conf change proposed; another waits until it is applied. */
  pendingConfIndex = 0;
  private uncommittedSize = 0;
  /** Proposals appended but not yet broadcast (flushed by the RawNode before messages leave). */
  private pendingBroadcast = false;
  private readOnly = new ReadOnly();
  /** HardState.joining: no vote and no campaign until the log proves this is not a wiped voter. */
  joining = false;
  /**
   * The first commit index a joining member learned from a leader that had committed an entry of
   * its term: every entry committed before it could not have been acknowledged by this directory.
   */
  private firstContactCommit: number | null = null;
  /** A leader's commit index heard while joining, whose entry the log does not hold yet. */
  private commitCandidate: { index: number; term: number } | null = null;
  /** Set when a joining member finds itself a voter already: it was wiped; it does nothing more. */
  wipedVoter: string | null = null;
  /** ReadIndex requests received before this leader committed an entry of its term. */
  private pendingReadIndexMessages: Message[] = [];

  private readonly cfg: RaftConfig;
  private readonly matchScratch: number[] = [];

  constructor(cfg: RaftConfig) {
    validateConfig(cfg);
    this.cfg = cfg;
    this.id = cfg.id;
    this.raftLog = new RaftLog(cfg.storage);
    const { hardState, confState } = cfg.storage.initialState();
    this.applyConfState(confState);
    if (hardState.term > 0 || hardState.commit > 0 || hardState.vote !== null) {
      if (hardState.commit < this.raftLog.committed || hardState.commit > this.raftLog.lastIndex()) {
        throw new Error(
          `raft: hard state commit ${hardState.commit} out of range [${this.raftLog.committed}, ${this.raftLog.lastIndex()}]`,
        );
      }
      this.raftLog.committed = hardState.commit;
      this.term = hardState.term;
      this.vote = hardState.vote;
    }
    this.joining = hardState.joining === true;
    if (cfg.applied > this.raftLog.applied) this.raftLog.appliedTo(cfg.applied);
    // Conf changes between the snapshot and what the application already applied took effect before the restart.
    const first = this.raftLog.firstIndex();
    if (this.raftLog.applied >= first) {
      for (const e of this.raftLog.slice(first, this.raftLog.applied + 1, Number.MAX_SAFE_INTEGER) ?? []) {
        if (e.type === EntryType.ConfChange) this.applyConfChange(decodeConfChange(e.data));
      }
    }
    this.becomeFollower(this.term, null);
  }

  // ---- helpers -------------------------------------------------------------

  private get electionTimeout(): number {
    return this.cfg.electionTick;
  }

  promotable(): boolean {
    return this.voters.has(this.id);
  }

  isLearner(): boolean {
    return this.learners.has(this.id);
  }

  private quorum(): number {
    return majority(this.voters.size);
  }

  confState(): ConfState {
    return { voters: [...this.voters].sort(), learners: [...this.learners].sort() };
  }

  // ---- outbox (what the RawNode hands to the application) ----------------------

  hasOutbox(): boolean {
    return this.msgs.length > 0 || this.msgsAfterAppend.length > 0 || this.readStates.length > 0;
  }

  /** Everything queued: messages that may leave now, messages that wait for persistence, read states. */
  takeOutbox(): { early: Message[]; afterPersist: Message[]; readStates: ReadState[] } {
    const out = { early: this.msgs, afterPersist: this.msgsAfterAppend, readStates: this.readStates };
    this.msgs = [];
    this.msgsAfterAppend = [];
    this.readStates = [];
    return out;
  }

  /** Only the messages that may leave before the pending state is persisted. */
  takeEarlyMessages(): Message[] {
    const out = this.msgs;
    this.msgs = [];
    return out;
  }

  /** Leader only: whether `id` has a progress entry (is a member we replicate to). */
  tracks(id: NodeId): boolean {
    return this.prs.has(id);
  }

  /** Leader only: a read-only view of every member's progress. */
  progress(): ReadonlyMap<NodeId, Readonly<Progress>> {
    return this.prs;
  }

  private send(m: Message): void {
    // A forwarded TransferLeader names the transferee in `from`; keep it.
    if (m.type !== MessageType.TransferLeader) m.from = this.id;
    if (
      m.type === MessageType.Vote ||
      m.type === MessageType.VoteResp ||
      m.type === MessageType.PreVote ||
      m.type === MessageType.PreVoteResp
    ) {
      if (m.term === 0) throw new Error(`raft: term should be set when sending ${m.type}`);
    } else if (m.type !== MessageType.Prop && m.type !== MessageType.ReadIndex) {
      // Proposals and forwarded reads carry no term: they are not Raft RPCs.
      m.term = this.term;
    }
    if (
      m.type === MessageType.AppResp ||
      m.type === MessageType.VoteResp ||
      m.type === MessageType.PreVoteResp ||
      m.type === MessageType.Vote
    ) {
      // These acknowledge (or, for a vote request, stake a claim on) state that must be on disk first:
      // a vote request leaves only once the candidate's term and self-vote are durable, otherwise it
      // could win a term, crash, forget it and win the same term again with another log (issue 13).
      // docs/adr/0067-votes-durable-before-counted.md reviews the messages that still leave early.
      this.msgsAfterAppend.push(m);
    } else {
      this.msgs.push(m);
    }
  }

  private resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout =
      this.electionTimeout + Math.floor(this.cfg.random() * this.electionTimeout);
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = null;
    }
    this.lead = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.votes.clear();
    this.prs.clear();
    this.readOnly = new ReadOnly();
    this.pendingReadIndexMessages = [];
    this.uncommittedSize = 0;
  }

  private newProgress(id: NodeId): Progress {
    const p = new Progress(
      this.raftLog.lastIndex() + 1,
      this.cfg.maxInflightMsgs,
      this.cfg.maxSizePerMsg * this.cfg.maxInflightMsgs,
      this.learners.has(id),
    );
    return p;
  }

  private resetProgress(): void {
    this.prs.clear();
    for (const id of [...this.voters, ...this.learners]) {
      const p = this.newProgress(id);
      if (id === this.id) p.recentActive = true;
      this.prs.set(id, p);
    }
  }

  // ---- role transitions ------------------------------------------------------

  becomeFollower(term: number, lead: NodeId | null): void {
    this.reset(term);
    this.lead = lead;
    this.role = StateRole.Follower;
  }

  private becomePreCandidate(): void {
    if (this.role === StateRole.Leader) throw new Error('raft: invalid transition [leader -> pre-candidate]');
    // PreVote changes neither term nor vote: a partitioned node cannot disrupt the cluster.
    this.votes.clear();
    this.lead = null;
    this.role = StateRole.PreCandidate;
    this.electionElapsed = 0;
    this.resetRandomizedElectionTimeout();
  }

  private becomeCandidate(): void {
    if (this.role === StateRole.Leader) throw new Error('raft: invalid transition [leader -> candidate]');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = StateRole.Candidate;
  }

  private becomeLeader(): void {
    if (this.role === StateRole.Follower) throw new Error('raft: invalid transition [follower -> leader]');
    this.reset(this.term);
    this.lead = this.id;
    this.role = StateRole.Leader;
    this.resetProgress();
    const self = this.prs.get(this.id)!;
    // Our own log counts once it is persisted (advance() moves match forward).
    self.becomeReplicate();
    self.match = 0;
    // No conf change until an entry of this term is applied (Raft thesis §4.1 bug fix).
    this.pendingConfIndex = this.raftLog.lastIndex();
    // The empty entry commits everything before it and, once committed, enables ReadIndex.
    this.appendEntry([{ term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array() }]);
  }

  // ---- tick ------------------------------------------------------------------

  tick(): void {
    if (this.wipedVoter !== null) return;
    if (this.role === StateRole.Leader) this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.step(emptyMessage(MessageType.Hup, this.id, this.id, 0));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum && !this.quorumActive()) {
        // CheckQuorum: a leader that cannot hear a quorum steps down rather than serve stale state.
        this.becomeFollower(this.term, null);
        return;
      }
      for (const [id, pr] of this.prs) if (id !== this.id) pr.recentActive = false;
      if (this.leadTransferee !== null) this.abortLeaderTransfer();
    }
    if (this.role !== StateRole.Leader) return;
    if (this.heartbeatElapsed >= this.cfg.heartbeatTick) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  private quorumActive(): boolean {
    let active = 0;
    for (const id of this.voters) {
      if (id === this.id || this.prs.get(id)?.recentActive) active++;
    }
    return active >= this.quorum();
  }

  // ---- elections ---------------------------------------------------------------

  /** Starts an election (pre-vote first if enabled) unless it cannot win or must not. */
  hup(transfer: boolean): void {
    if (this.role === StateRole.Leader) return;
    if (!this.promotable()) return;
    if (this.joining) return;
    if (this.hasUnappliedConfChanges()) return;
    if (this.cfg.preVote && !transfer) this.campaign('pre', false);
    else this.campaign('election', transfer);
  }

  private hasUnappliedConfChanges(): boolean {
    if (this.raftLog.applied >= this.raftLog.committed) return false;
    const ents = this.raftLog.slice(
      this.raftLog.applied + 1,
      this.raftLog.committed + 1,
      Number.MAX_SAFE_INTEGER,
    );
    return (ents ?? []).some((e) => e.type === EntryType.ConfChange);
  }

  private campaign(kind: 'pre' | 'election', transfer: boolean): void {
    let term: number;
    let type: MessageType;
    if (kind === 'pre') {
      this.becomePreCandidate();
      type = MessageType.PreVote;
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      type = MessageType.Vote;
      term = this.term;
    }
    if (kind === 'pre') {
      // A pre-vote changes no state, so our own counts at once.
      if (this.poll(this.id, true) === 'won') {
        this.campaign('election', transfer);
        return;
      }
    } else {
      // Our own vote counts only once term and vote are on disk: it is a response to ourselves,
      // released with the after-persist messages and stepped by the RawNode in advance().
      this.send(emptyMessage(MessageType.VoteResp, this.id, this.id, term));
    }
    for (const id of [...this.voters].sort()) {
      if (id === this.id) continue;
      const m = emptyMessage(type, this.id, id, term);
      m.index = this.raftLog.lastIndex();
      m.logTerm = this.raftLog.lastTerm();
      if (transfer) m.context = TRANSFER_CONTEXT;
      this.send(m);
    }
  }

  private poll(id: NodeId, granted: boolean): 'won' | 'lost' | 'pending' {
    if (!this.votes.has(id)) this.votes.set(id, granted);
    return voteResult(this.voters, (v) => this.votes.get(v));
  }

  // ---- step --------------------------------------------------------------------

  step(m: Message): void {
    // A wiped voter must not take part in anything: not votes, not appends, not proposals.
    if (this.wipedVoter !== null) return;
    if (
      m.term === 0 ||
      isLocalMessage(m.type) ||
      m.type === MessageType.Prop ||
      m.type === MessageType.ReadIndex
    ) {
      // Local message or a request without a term: no term handling.
    } else if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force = m.context === TRANSFER_CONTEXT;
        const inLease =
          this.cfg.checkQuorum && this.lead !== null && this.electionElapsed < this.electionTimeout;
        // Leader lease: while we hear from a leader, ignore candidates (a rejoining node cannot disrupt).
        if (!force && inLease) return;
      }
      if (m.type === MessageType.PreVote) {
        // Never change term on a pre-vote request.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // A granted pre-vote carries the future term; it is counted once a quorum grants.
      } else if (
        m.type === MessageType.App ||
        m.type === MessageType.Heartbeat ||
        m.type === MessageType.Snap
      ) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, null);
      }
    } else if (m.term < this.term) {
      if (
        (this.cfg.checkQuorum || this.cfg.preVote) &&
        (m.type === MessageType.Heartbeat || m.type === MessageType.App)
      ) {
        // A stale leader learns our term (and steps down) instead of being silently ignored.
        this.send(emptyMessage(MessageType.AppResp, this.id, m.from, this.term));
      } else if (m.type === MessageType.PreVote) {
        const r = emptyMessage(MessageType.PreVoteResp, this.id, m.from, this.term);
        r.reject = true;
        this.send(r);
      }
      return;
    }

    switch (m.type) {
      case MessageType.Hup:
        this.hup(false);
        return;
      case MessageType.Vote:
      case MessageType.PreVote:
        this.handleVoteRequest(m);
        return;
    }

    switch (this.role) {
      case StateRole.Leader:
        this.stepLeader(m);
        return;
      case StateRole.Candidate:
      case StateRole.PreCandidate:
        this.stepCandidate(m);
        return;
      case StateRole.Follower:
        this.stepFollower(m);
        return;
    }
  }

  private handleVoteRequest(m: Message): void {
    // A joining member has no term of its own to refuse with yet: it stays silent instead.
    if (this.joining && this.term === 0) return;
    const canVote =
      !this.joining &&
      (this.vote === m.from ||
        (this.vote === null && this.lead === null) ||
        (m.type === MessageType.PreVote && m.term > this.term));
    const respType = m.type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp;
    if (canVote && this.raftLog.isUpToDate(m.index, m.logTerm)) {
      // Reply with the request's term so a pre-candidate counts it.
      this.send(emptyMessage(respType, this.id, m.from, m.term));
      if (m.type === MessageType.Vote) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      const r = emptyMessage(respType, this.id, m.from, this.term);
      r.reject = true;
      this.send(r);
    }
  }

  private stepCandidate(m: Message): void {
    const myVoteResp = this.role === StateRole.PreCandidate ? MessageType.PreVoteResp : MessageType.VoteResp;
    switch (m.type) {
      case MessageType.App:
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case myVoteResp: {
        const res = this.poll(m.from, !m.reject);
        if (res === 'won') {
          if (this.role === StateRole.PreCandidate) this.campaign('election', false);
          else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (res === 'lost') {
          this.becomeFollower(this.term, null);
        }
        return;
      }
      default:
        // Proposals, reads and transfers are dropped: there is no leader to serve them.
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.Prop:
      case MessageType.TransferLeader:
      case MessageType.ReadIndex:
        if (this.lead === null) return;
        m.to = this.lead;
        this.send(m);
        return;
      case MessageType.App:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case MessageType.TimeoutNow:
        // Leadership transfer: campaign at once, bypassing pre-vote and the voters' leases.
        this.hup(true);
        return;
      case MessageType.ReadIndexResp:
        this.readStates.push({ index: m.index, context: m.context });
        return;
      default:
        return;
    }
  }

  // ---- follower handlers -------------------------------------------------------

  private handleAppend(m: Message): void {
    const r = emptyMessage(MessageType.AppResp, this.id, m.from, this.term);
    if (m.index < this.raftLog.committed) {
      r.index = this.raftLog.committed;
      this.send(r);
      return;
    }
    const lastNew = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      if (this.joining) {
        this.noteLeaderCommit(m.commit, m.term);
        this.checkAdmission();
      }
      if (this.wipedVoter !== null) return;
      r.index = lastNew;
      this.send(r);
      return;
    }
    // §5.3 mismatch: hint where our log might agree so the leader skips a term per round trip.
    const hint = this.raftLog.findConflictByTerm(Math.min(m.index, this.raftLog.lastIndex()), m.logTerm);
    r.index = m.index;
    r.reject = true;
    r.rejectHint = hint.index;
    r.hintTerm = hint.term;
    this.send(r);
  }

  private handleHeartbeat(m: Message): void {
    this.raftLog.commitTo(Math.min(m.commit, this.raftLog.lastIndex()));
    const r = emptyMessage(MessageType.HeartbeatResp, this.id, m.from, this.term);
    r.context = m.context;
    this.send(r);
  }

  private handleSnapshot(m: Message): void {
    const snap = m.snapshot;
    const r = emptyMessage(MessageType.AppResp, this.id, m.from, this.term);
    if (snap && this.restore(snap)) {
      if (this.joining) {
        this.noteLeaderCommit(m.commit, m.term);
        this.checkAdmission();
      }
      if (this.wipedVoter !== null) return;
      r.index = this.raftLog.lastIndex();
    } else {
      r.index = this.raftLog.committed;
    }
    this.send(r);
  }

  /**
   * Only a commit index at an entry of the leader's own term covers everything committed before it
   * (a new leader's commit index lags until an entry of its term commits). The first one heard is
   * kept until the log reaches it and shows its term; a stale one is dropped for the next.
   */
  private noteLeaderCommit(commit: number, term: number): void {
    if (this.firstContactCommit !== null) return;
    this.commitCandidate ??= { index: commit, term };
    const c = this.commitCandidate;
    if (c.index > this.raftLog.lastIndex()) return;
    if (this.raftLog.term(c.index) === c.term) {
      this.firstContactCommit = c.index;
      return;
    }
    this.commitCandidate = null;
    if (commit !== c.index || term !== c.term) this.noteLeaderCommit(commit, term);
  }

  /**
   * A joining member (HardState.joining) is admitted once its log holds every entry the leader had
   * committed when they first spoke: those were committed without any acknowledgement from this
   * data directory, so if they leave this member a voter, a previous life of it voted and its
   * directory was wiped since (a new member is added as a learner and promoted only after it caught
   * up, i.e. by a later entry). Admitted only as a learner; the admission lands in the hard state of
   * the same Ready as the entries. A snapshot newer than the first contact hides when the member
   * became a voter: being one there counts as wiped too (a replacement costs less than a double
   * vote). Direct voter additions of an empty member are thus refused (docs/adr/0079).
   */
  private checkAdmission(): void {
    const c0 = this.firstContactCommit;
    if (c0 === null || this.raftLog.lastIndex() < c0) return;
    const snap = this.raftLog.snapshot().metadata;
    let role: 'voter' | 'learner' | 'none' = snap.confState.voters.includes(this.id)
      ? 'voter'
      : snap.confState.learners.includes(this.id)
        ? 'learner'
        : 'none';
    let at = `the snapshot at ${snap.index}`;
    if (snap.index < c0) {
      for (const e of this.raftLog.slice(snap.index + 1, c0 + 1, Number.MAX_SAFE_INTEGER) ?? []) {
        if (e.type !== EntryType.ConfChange) continue;
        const cc = decodeConfChange(e.data);
        if (cc.nodeId !== this.id) continue;
        role =
          cc.type === ConfChangeType.AddVoter
            ? 'voter'
            : cc.type === ConfChangeType.AddLearner
              ? 'learner'
              : 'none';
        at = `entry ${e.index}`;
      }
    }
    // 'none': a leader replicates to this member (so it applied an entry adding it, at or below its
    // commit index) yet the log up to there never adds it: it is a founding member, whose
    // membership came from the bootstrap configuration.
    if (role !== 'learner') {
      const how =
        role === 'voter'
          ? `had already made this member a voter (${at})`
          : 'counts this member among its founding members';
      this.wipedVoter =
        `joined with an empty data directory, but the cluster ${how} before it first heard from the ` +
        `leader (commit index ${c0}): its data was lost or wiped, and voting again could elect two ` +
        'leaders in one term; replace the member (remove it, add it back as a learner)';
      return;
    }
    this.joining = false;
  }

  /** Installs a snapshot from the leader; false if we already have what it holds. */
  private restore(s: Snapshot): boolean {
    const { index, term } = s.metadata;
    if (index <= this.raftLog.committed) return false;
    if (this.raftLog.matchTerm(index, term)) {
      // Our log already contains it: just fast-forward the commit.
      this.raftLog.commitTo(index);
      return false;
    }
    this.raftLog.restore(s);
    this.applyConfState(s.metadata.confState);
    return true;
  }

  // ---- leader ----------------------------------------------------------------------

  private stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.Beat:
        this.bcastHeartbeat();
        return;
      case MessageType.Prop:
        // Forwarded proposals: best effort; the proposer learns the outcome from what it applies.
        // Membership changes are only proposed on the leader itself, never forwarded: drop any that arrive.
        this.proposeEntries(m.entries.filter((e) => e.type === EntryType.Normal));
        return;
      case MessageType.ReadIndex:
        this.handleReadIndex(m);
        return;
      case MessageType.TransferLeader:
        this.transferLeadership(m.from);
        return;
    }
    const pr = this.prs.get(m.from);
    if (!pr) return;
    switch (m.type) {
      case MessageType.AppResp:
        this.handleAppendResponse(m, pr);
        return;
      case MessageType.HeartbeatResp:
        this.handleHeartbeatResponse(m, pr);
        return;
      case MessageType.SnapStatus:
        if (pr.state !== ProgressState.Snapshot) return;
        // Success or not, probe from where the snapshot leaves it; wait for the answer before sending more.
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        pr.probeSent = true;
        return;
      case MessageType.Unreachable:
        // An optimistic pipeline to an unreachable follower is probably lost.
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        return;
    }
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      if (m.index >= pr.match && m.rejectHint < pr.match) {
        // It refuses an append right after what it acknowledged in this term, and its log ends below
        // that: it lost its data (a wiped directory restarted empty; a durable follower's hint is at
        // least its match). Probe below the old match, or it could never be caught up again.
        pr.match = m.rejectHint;
      }
      let nextProbe = m.rejectHint;
      if (m.hintTerm > 0) nextProbe = this.raftLog.findConflictByTerm(m.rejectHint, m.hintTerm).index;
      if (pr.maybeDecrTo(m.index, nextProbe)) {
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === ProgressState.Probe) {
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.Snapshot && pr.match + 1 >= this.raftLog.firstIndex()) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.Replicate) {
      pr.inflights.freeLE(m.index);
    }
    if (this.maybeCommit()) {
      this.releasePendingReadIndexMessages();
      this.bcastAppend();
    } else if (wasPaused) {
      this.sendAppend(m.from);
    }
    // Keep the pipe full while the window allows.
    while (this.maybeSendAppend(m.from, false)) {
      /* empty */
    }
    if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) {
      this.sendTimeoutNow(m.from);
    }
  }

  private handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.probeSent = false;
    if (pr.match < this.raftLog.lastIndex()) {
      // The appends filling a full window may all have been lost: send one more beyond the window.
      // It is either accepted or rejected, and a rejection makes us probe from the match point.
      this.maybeSendAppend(m.from, true, true);
    }
    if (m.context === '') return;
    const acks = this.readOnly.recvAck(m.from, m.context);
    if (!acks) return;
    let granted = 0;
    for (const v of this.voters) if (acks.has(v)) granted++;
    if (granted < this.quorum()) return;
    for (const rs of this.readOnly.advance(m.context)) this.answerRead(rs.from, rs.index, rs.context);
  }

  private answerRead(from: NodeId, index: number, context: string): void {
    if (from === this.id) {
      this.readStates.push({ index, context });
    } else {
      const r = emptyMessage(MessageType.ReadIndexResp, this.id, from, this.term);
      r.index = index;
      r.context = context;
      this.send(r);
    }
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.raftLog.term(this.raftLog.committed) === this.term;
  }

  private handleReadIndex(m: Message): void {
    const from = m.from === '' ? this.id : m.from;
    if (this.voters.size === 1 && this.voters.has(this.id)) {
      if (this.committedEntryInCurrentTerm()) this.answerRead(from, this.raftLog.committed, m.context);
      else this.pendingReadIndexMessages.push(m);
      return;
    }
    if (!this.committedEntryInCurrentTerm()) {
      // A new leader does not know the commit index until an entry of its term commits.
      this.pendingReadIndexMessages.push(m);
      return;
    }
    this.readOnly.add(this.raftLog.committed, m.context, from, this.id);
    this.bcastHeartbeatWithContext(m.context);
  }

  private releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const pending = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of pending) this.handleReadIndex(m);
  }

  /** Leader: commit what a quorum of voters has persisted (only entries of this term count, §5.4.2). */
  private maybeCommit(): boolean {
    // Runs on every append response: reuse one array, and insertion-sort it (a handful of voters;
    // Array.prototype.sort with a comparator costs more than the rest of this function).
    const matches = this.matchScratch;
    matches.length = 0;
    for (const id of this.voters) {
      const m = this.prs.get(id)?.match ?? 0;
      let j = matches.length;
      matches.push(m);
      for (; j > 0 && matches[j - 1]! < m; j--) matches[j] = matches[j - 1]!;
      matches[j] = m;
    }
    if (matches.length === 0) return false;
    const mci = matches[this.quorum() - 1]!;
    return this.raftLog.maybeCommit(mci, this.term);
  }

  /** Appends entries at the leader; false if the uncommitted-size limit refuses them. */
  private appendEntry(es: Entry[]): boolean {
    let li = this.raftLog.lastIndex();
    let size = 0;
    for (const e of es) size += e.data.byteLength;
    if (
      this.uncommittedSize > 0 &&
      size > 0 &&
      this.uncommittedSize + size > this.cfg.maxUncommittedEntriesSize
    ) {
      return false;
    }
    this.uncommittedSize += size;
    for (const e of es) {
      e.term = this.term;
      e.index = ++li;
    }
    this.raftLog.append(es);
    return true;
  }

  /** Called when committed entries are handed to the application. */
  reduceUncommittedSize(ents: Entry[]): void {
    if (this.role !== StateRole.Leader) return;
    let size = 0;
    for (const e of ents) size += e.data.byteLength;
    this.uncommittedSize = Math.max(0, this.uncommittedSize - size);
  }

  /** Leader-side proposal; returns the outcome for the caller. */
  private proposeEntries(entries: Entry[]): ProposeResult {
    if (entries.length === 0)
      return { ok: false, error: 'invalid-conf-change', message: 'nothing to propose' };
    if (!this.prs.has(this.id)) {
      return { ok: false, error: 'not-member', message: 'this node was removed from the cluster' };
    }
    if (this.leadTransferee !== null) {
      return {
        ok: false,
        error: 'leader-transfer-in-progress',
        message: `leadership is being transferred to ${this.leadTransferee}`,
      };
    }
    for (const e of entries) {
      if (e.type !== EntryType.ConfChange) continue;
      const err = this.checkConfChange(decodeConfChange(e.data));
      if (err) return err;
    }
    const copy = entries.map((e) => ({ ...e }));
    // Record the full resulting membership in each conf change (see LoggedConfChange).
    let conf: ConfState | null = null;
    for (const e of copy) {
      if (e.type !== EntryType.ConfChange) continue;
      const cc = decodeConfChange(e.data);
      conf = confAfter(conf ?? this.confState(), cc);
      e.data = encodeConfChange({ ...cc, after: conf });
    }
    if (!this.appendEntry(copy)) {
      return {
        ok: false,
        error: 'too-many-uncommitted',
        message: 'too many uncommitted entries; the cluster is falling behind, retry later',
      };
    }
    const last = copy[copy.length - 1]!;
    for (const e of copy) if (e.type === EntryType.ConfChange) this.pendingConfIndex = e.index;
    // Batch: many proposals in a row share one append per follower (see flushBroadcast).
    this.pendingBroadcast = true;
    return { ok: true, index: last.index, term: last.term };
  }

  private checkConfChange(cc: ConfChange): ProposeResult | undefined {
    if (this.pendingConfIndex > this.raftLog.applied) {
      return {
        ok: false,
        error: 'conf-change-pending',
        message:
          'another membership change is in progress (or the leader has not yet committed an entry of its term)',
      };
    }
    const isVoter = this.voters.has(cc.nodeId);
    const isLearner = this.learners.has(cc.nodeId);
    switch (cc.type) {
      case ConfChangeType.AddLearner:
        // On a voter it demotes (as etcd's raft does): the member keeps its log but stops voting.
        if (isLearner) return invalid(`${cc.nodeId} is already a learner`);
        if (isVoter && this.voters.size === 1) return invalid('cannot demote the last voter');
        return undefined;
      case ConfChangeType.AddVoter:
        if (isVoter) return invalid(`${cc.nodeId} is already a voter`);
        return undefined;
      case ConfChangeType.RemoveNode:
        if (!isVoter && !isLearner) return invalid(`${cc.nodeId} is not a member`);
        if (isVoter && this.voters.size === 1) return invalid('cannot remove the last voter');
        return undefined;
    }
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send(emptyMessage(MessageType.TimeoutNow, this.id, to, this.term));
  }

  transferLeadership(to: NodeId): void {
    if (this.role !== StateRole.Leader) return;
    if (!this.voters.has(to)) return;
    if (to === this.id) return;
    if (this.leadTransferee === to) return;
    this.abortLeaderTransfer();
    // The transfer must finish within an election timeout or it is abandoned.
    this.electionElapsed = 0;
    this.leadTransferee = to;
    const pr = this.prs.get(to)!;
    if (pr.match === this.raftLog.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to);
  }

  private abortLeaderTransfer(): void {
    this.leadTransferee = null;
  }

  // ---- sending -----------------------------------------------------------------

  private sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  /** Sends what `to` needs next; false if nothing was sent (paused, or nothing new and !sendIfEmpty). */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean, ignoreFullWindow = false): boolean {
    const pr = this.prs.get(to);
    if (!pr || to === this.id) return false;
    if (pr.isPaused() && !(ignoreFullWindow && pr.state === ProgressState.Replicate)) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.raftLog.term(prevIndex);
    const ents = this.raftLog.entries(pr.next, this.cfg.maxSizePerMsg);
    if (ents !== undefined && ents.length === 0 && !sendIfEmpty) return false;
    if (prevTerm === undefined || ents === undefined) {
      return this.sendSnapshot(to, pr);
    }
    const m = emptyMessage(MessageType.App, this.id, to, this.term);
    m.index = prevIndex;
    m.logTerm = prevTerm;
    m.entries = ents;
    m.commit = this.raftLog.committed;
    let bytes = 0;
    for (const e of ents) bytes += entrySize(e);
    pr.sentEntries(prevIndex + ents.length, bytes, ents.length);
    this.send(m);
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    // Only to a follower we have heard from: a dead one would pin the snapshot for nothing.
    if (!pr.recentActive) return false;
    const snap = this.raftLog.snapshot();
    if (snap.metadata.index === 0) throw new Error('raft: need a snapshot but none is available');
    const m = emptyMessage(MessageType.Snap, this.id, to, this.term);
    m.snapshot = snap;
    // A joining follower learns from it what was committed before they first spoke.
    m.commit = this.raftLog.committed;
    pr.becomeSnapshot(snap.metadata.index);
    this.send(m);
    return true;
  }

  /** Sends the appends deferred by proposals since the last flush. */
  flushBroadcast(): void {
    if (!this.pendingBroadcast) return;
    this.pendingBroadcast = false;
    if (this.role === StateRole.Leader) this.bcastAppend();
  }

  bcastAppend(): void {
    for (const id of this.prs.keys()) if (id !== this.id) this.sendAppend(id);
  }

  private bcastHeartbeat(): void {
    const ctx = this.readOnly.lastPendingContext();
    this.bcastHeartbeatWithContext(ctx ?? '');
  }

  private bcastHeartbeatWithContext(ctx: string): void {
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue;
      const m = emptyMessage(MessageType.Heartbeat, this.id, id, this.term);
      // Never tell a follower to commit beyond what it is known to have.
      m.commit = Math.min(pr.match, this.raftLog.committed);
      m.context = ctx;
      this.send(m);
    }
  }

  // ---- local API (used by RawNode) ------------------------------------------------

  propose(data: Uint8Array, type: EntryType): ProposeResult {
    return this.proposeLocal([{ term: 0, index: 0, type, data }]);
  }

  /**
   * Normal entries proposed together (group commit): appended atomically and
   * replicated with one append per follower instead of one per entry. On the
   * leader the result names the last entry; the first is at index - n + 1.
   */
  proposeBatch(datas: readonly Uint8Array[]): ProposeResult {
    if (datas.length === 0) throw new Error('raft: proposeBatch needs at least one entry');
    return this.proposeLocal(datas.map((data) => ({ term: 0, index: 0, type: EntryType.Normal, data })));
  }

  private proposeLocal(entries: Entry[]): ProposeResult {
    if (this.role === StateRole.Leader) return this.proposeEntries(entries);
    if (this.lead === null)
      return { ok: false, error: 'no-leader', message: 'no leader is known; retry later' };
    if (entries.some((e) => e.type === EntryType.ConfChange)) {
      return {
        ok: false,
        error: 'not-leader',
        message: `membership changes must be sent to the leader ${this.lead}`,
      };
    }
    const m = emptyMessage(MessageType.Prop, this.id, this.lead, 0);
    m.entries = entries;
    this.send(m);
    return { ok: true, forwarded: true };
  }

  readIndex(context: string): void {
    const m = emptyMessage(MessageType.ReadIndex, '', this.id, 0);
    m.context = context;
    if (this.role === StateRole.Leader) this.handleReadIndex(m);
    else if (this.lead !== null) {
      m.from = this.id;
      m.to = this.lead;
      this.send(m);
    }
  }

  /** Called by the node after persisting entries up to (index, term). */
  stableTo(index: number, term: number): void {
    this.raftLog.stableTo(index, term);
    if (this.role !== StateRole.Leader || this.raftLog.term(index) !== term) return;
    const self = this.prs.get(this.id);
    if (self?.maybeUpdate(index) && this.maybeCommit()) {
      this.releasePendingReadIndexMessages();
      this.bcastAppend();
    }
  }

  // ---- membership ----------------------------------------------------------------

  private applyConfState(cs: ConfState): void {
    this.voters = new Set(cs.voters);
    this.learners = new Set(cs.learners);
    if (this.role === StateRole.Leader) this.syncProgress();
  }

  /** Applies a committed membership change (one node at a time). */
  applyConfChange(cc: LoggedConfChange): void {
    // Entries logged without `after` (none are, since the leader always records it) fall back to the delta.
    const after = cc.after ?? confAfter(this.confState(), cc);
    this.voters = new Set(after.voters);
    this.learners = new Set(after.learners);
    if (this.role !== StateRole.Leader) return;
    if (!this.voters.has(this.id)) {
      // Removed (or demoted): stop leading; the remaining voters elect a leader among themselves.
      this.becomeFollower(this.term, null);
      return;
    }
    this.syncProgress();
    if (this.leadTransferee !== null && !this.voters.has(this.leadTransferee)) this.abortLeaderTransfer();
    // A smaller quorum may commit more now.
    if (this.maybeCommit()) this.releasePendingReadIndexMessages();
    this.bcastAppend();
  }

  private syncProgress(): void {
    for (const id of [...this.prs.keys()]) {
      if (!this.voters.has(id) && !this.learners.has(id)) this.prs.delete(id);
    }
    for (const id of [...this.voters, ...this.learners]) {
      const existing = this.prs.get(id);
      if (existing) existing.isLearner = this.learners.has(id);
      else {
        const p = this.newProgress(id);
        // A new member gets the benefit of the doubt for CheckQuorum until the next check.
        p.recentActive = true;
        this.prs.set(id, p);
      }
    }
  }
}

/** The membership after applying `cc` to `cs` (one change at a time). */
/** The configuration `cc` results in when applied to `cs` (the delta; a logged `after` stamp takes precedence). */
export function confAfter(cs: ConfState, cc: ConfChange): ConfState {
  const voters = new Set(cs.voters);
  const learners = new Set(cs.learners);
  switch (cc.type) {
    case ConfChangeType.AddLearner:
      // A voter named here is demoted.
      voters.delete(cc.nodeId);
      learners.add(cc.nodeId);
      break;
    case ConfChangeType.AddVoter:
      learners.delete(cc.nodeId);
      voters.add(cc.nodeId);
      break;
    case ConfChangeType.RemoveNode:
      voters.delete(cc.nodeId);
      learners.delete(cc.nodeId);
      break;
  }
  return { voters: [...voters].sort(), learners: [...learners].sort() };
}

function invalid(message: string): ProposeResult {
  return { ok: false, error: 'invalid-conf-change', message };
}
