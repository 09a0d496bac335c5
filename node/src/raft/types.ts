// Data types shared by the Raft core, its storage and the node that drives it.
// Everything here is plain data so it can be persisted and sent as-is.

export type NodeId = string;

/** Term, vote and commit index: what must be on disk before messages that depend on it leave. */
export interface HardState {
  term: number;
  vote: NodeId | null;
  commit: number;
  /**
   * Set for a member that joined with an empty data directory until the cluster's log shows it was
   * not already a voter (a voter whose directory was wiped would otherwise vote again in terms it
   * voted in before); it casts no vote and never campaigns while set (docs/adr/0079).
   */
  joining?: boolean;
}

export const EntryType = {
  /** Application data (an empty payload is the leader's no-op of its term). */
  Normal: 0,
  /** A membership change; `data` is an encoded ConfChange. */
  ConfChange: 1,
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

/** The membership of the cluster. Learners receive the log but neither vote nor count for quorum. */
export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

export const ConfChangeType = {
  /** Add a node as a non-voting learner, or demote a voter to one (fencing, ADR 0076). */
  AddLearner: 0,
  /** Make a learner a voter, or add a new node directly as a voter. */
  AddVoter: 1,
  /** Remove a voter or learner. */
  RemoveNode: 2,
} as const;
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];

export interface ConfChange {
  type: ConfChangeType;
  nodeId: NodeId;
  /** Opaque to Raft: the node layer stores the member's peer address here. */
  context?: string;
}

export interface SnapshotMetadata {
  index: number;
  term: number;
  confState: ConfState;
}

export interface Snapshot {
  metadata: SnapshotMetadata;
  data: Uint8Array;
}

export const MessageType = {
  // Local messages: never sent over the wire.
  Hup: 'hup',
  Beat: 'beat',
  SnapStatus: 'snapStatus',
  Unreachable: 'unreachable',
  // Wire messages.
  Prop: 'prop',
  App: 'app',
  AppResp: 'appResp',
  Vote: 'vote',
  VoteResp: 'voteResp',
  PreVote: 'preVote',
  PreVoteResp: 'preVoteResp',
  Snap: 'snap',
  Heartbeat: 'heartbeat',
  HeartbeatResp: 'heartbeatResp',
  TransferLeader: 'transferLeader',
  TimeoutNow: 'timeoutNow',
  ReadIndex: 'readIndex',
  ReadIndexResp: 'readIndexResp',
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/**
 * One message between Raft peers. A single shape keeps the transport trivial;
 * fields unused by a type are left at their zero values.
 */
export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  /** App: index of the entry before `entries`. AppResp: last index matched (or rejected index). */
  index: number;
  /** App: term of the entry at `index`. Votes: last log term of the candidate. */
  logTerm: number;
  entries: Entry[];
  /** App: leader commit. Heartbeat: commit the follower may safely adopt. */
  commit: number;
  reject: boolean;
  /** AppResp rejections: the follower's last index, to skip ahead when backtracking. */
  rejectHint: number;
  /** AppResp rejections: the term of the follower's entry at `rejectHint` (fast backtracking). */
  hintTerm: number;
  snapshot: Snapshot | null;
  /** ReadIndex requests and their heartbeats: opaque request context. Vote: 'transfer' on leader transfer. */
  context: string;
}

/** A linearizable read that became safe: once applied up to `index`, serve the read tagged `context`. */
export interface ReadState {
  index: number;
  context: string;
}

export const StateRole = {
  Follower: 'follower',
  PreCandidate: 'pre-candidate',
  Candidate: 'candidate',
  Leader: 'leader',
} as const;
export type StateRole = (typeof StateRole)[keyof typeof StateRole];

/** Volatile state worth reporting (status endpoint, metrics); never persisted. */
export interface SoftState {
  leader: NodeId | null;
  role: StateRole;
}

/**
 * Everything the node must do after a turn of the core. Order matters:
 * persist `snapshot`, `entries` and `hardState` (one synced batch), then send
 * `messages`, apply `committedEntries`, answer `readStates`, then `advance()`.
 * Leader messages in `messages` may be sent before persisting (thesis §10.2.1),
 * which `messagesBeforePersist` makes explicit.
 */
export interface Ready {
  softState: SoftState | null;
  hardState: HardState | null;
  snapshot: Snapshot | null;
  entries: Entry[];
  committedEntries: Entry[];
  /** Messages safe to send before the entries and hard state are durable (leader AppendEntries). */
  messagesBeforePersist: Message[];
  /** Messages that must wait until `entries`/`hardState` are durable (votes, append responses). */
  messages: Message[];
  readStates: ReadState[];
}

export type ProposeError =
  | 'not-leader'
  | 'no-leader'
  | 'leader-transfer-in-progress'
  | 'too-many-uncommitted'
  | 'conf-change-pending'
  | 'invalid-conf-change'
  | 'not-member';

export type ProposeResult =
  | { ok: true; index: number; term: number }
  | { ok: true; forwarded: true }
  | { ok: false; error: ProposeError; message: string };

export function emptyMessage(type: MessageType, from: NodeId, to: NodeId, term: number): Message {
  return {
    type,
    from,
    to,
    term,
    index: 0,
    logTerm: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    hintTerm: 0,
    snapshot: null,
    context: '',
  };
}

export function isLocalMessage(type: MessageType): boolean {
  return (
    type === MessageType.Hup ||
    type === MessageType.Beat ||
    type === MessageType.SnapStatus ||
    type === MessageType.Unreachable
  );
}

export function isResponseMessage(type: MessageType): boolean {
  return (
    type === MessageType.AppResp ||
    type === MessageType.VoteResp ||
    type === MessageType.PreVoteResp ||
    type === MessageType.HeartbeatResp ||
    type === MessageType.Unreachable
  );
}
