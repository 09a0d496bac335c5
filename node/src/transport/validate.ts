// Validation of every decoded peer message before it reaches the Raft core. A message
// that fails is dropped and counted (kvstore_peer_messages_rejected_total{reason}); it
// never throws past the transport, never reaches storage, never crashes the process.
//
// Numbers: storage keeps terms and indexes as unsigned 48-bit integers (storage/records.ts:
// entry keys and entry terms use writeUIntBE(..., 6)), so anything at or above 2^48 would
// fail when written, on every retry and restart. Wire values are bounded at 2^47 - 1,
// half that range: the core only ever adds small increments to a received value (one per
// election, one per appended entry), so no accepted value can grow into the unstorable range.
import { decodeCommand } from '../kv/commands.ts';
import { decodeConfChange } from '../raft/conf-change.ts';
import {
  EntryType,
  MessageType,
  type ConfState,
  type Entry,
  type Message,
  type NodeId,
  type Snapshot,
} from '../raft/types.ts';
import { isValidMemberId } from '../cli/flags.ts';

/** Largest term or index accepted from the wire (see above). */
export const MAX_WIRE_NUMBER = 2 ** 47 - 1;
/** Opaque context strings are request ids or 'transfer'; anything longer is not ours. */
export const MAX_CONTEXT_CHARS = 1024;
/** Members in one configuration; far above any real cluster, low enough to bound the work. */
export const MAX_CONF_MEMBERS = 1000;

export type RejectReason =
  | 'malformed'
  | 'unknown-type'
  | 'out-of-range'
  | 'misaddressed'
  | 'bad-entry'
  | 'bad-snapshot'
  | 'bad-conf-state'
  | 'not-member'
  | 'bad-envelope'
  | 'snapshot-too-large'
  | 'snapshot-corrupt'
  | 'stream-limit'
  | 'peer-identity';

export class PeerInputError extends Error {
  readonly reason: RejectReason;
  constructor(reason: RejectReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

const fail = (reason: RejectReason, message: string): never => {
  throw new PeerInputError(reason, message);
};

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A non-negative safe integer the storage can hold, with headroom. */
export function isWireNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= MAX_WIRE_NUMBER;
}

const WIRE_TYPES: ReadonlySet<string> = new Set([
  MessageType.Prop,
  MessageType.App,
  MessageType.AppResp,
  MessageType.Vote,
  MessageType.VoteResp,
  MessageType.PreVote,
  MessageType.PreVoteResp,
  MessageType.Snap,
  MessageType.Heartbeat,
  MessageType.HeartbeatResp,
  MessageType.TransferLeader,
  MessageType.TimeoutNow,
  MessageType.ReadIndex,
  MessageType.ReadIndexResp,
]);

const NUMBER_FIELDS = ['term', 'index', 'logTerm', 'commit', 'rejectHint', 'hintTerm'] as const;

/** Voters and learners: valid, distinct, disjoint member ids; at least one voter. */
export function checkConfState(v: unknown, what = 'conf state'): ConfState {
  if (!isRecord(v) || !Array.isArray(v.voters) || !Array.isArray(v.learners))
    return fail('bad-conf-state', `${what} malformed`);
  const voters = v.voters as unknown[];
  const learners = v.learners as unknown[];
  if (voters.length === 0) fail('bad-conf-state', `${what} has no voters`);
  if (voters.length + learners.length > MAX_CONF_MEMBERS)
    fail('bad-conf-state', `${what} has too many members`);
  const seen = new Set<string>();
  for (const id of [...voters, ...learners]) {
    if (typeof id !== 'string' || !isValidMemberId(id))
      return fail('bad-conf-state', `${what} names an invalid member id`);
    if (seen.has(id)) fail('bad-conf-state', `${what} names "${id}" twice`);
    seen.add(id);
  }
  return { voters: voters as NodeId[], learners: learners as NodeId[] };
}

function checkEntryData(e: Entry): void {
  if (e.type === EntryType.ConfChange) {
    let cc;
    try {
      cc = decodeConfChange(e.data);
    } catch {
      return fail('bad-entry', `conf change entry ${e.index} does not decode`);
    }
    if (!isValidMemberId(cc.nodeId))
      fail('bad-entry', `conf change entry ${e.index} names an invalid member id`);
    if (cc.after !== undefined) checkConfState(cc.after, `conf change entry ${e.index}`);
    return;
  }
  // An empty payload is a leader's no-op; anything else must be a command the state machine
  // can apply (the node stops on a command that does not decode: it is in the log for good).
  if (e.data.byteLength === 0) return;
  try {
    decodeCommand(e.data);
  } catch {
    fail('bad-entry', `entry ${e.index} is not a command`);
  }
}

function checkEntries(
  m: Record<string, unknown>,
  type: string,
  term: number,
  index: number,
  logTerm: number,
): Entry[] {
  if (!Array.isArray(m.entries)) return fail('malformed', 'entries is not an array');
  const entries = m.entries as unknown[];
  if (entries.length > 0 && type !== MessageType.App && type !== MessageType.Prop) {
    fail('bad-entry', `${type} carries entries`);
  }
  let prevTerm = logTerm;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (!isRecord(e) || !(e.data instanceof Uint8Array)) return fail('bad-entry', 'malformed entry');
    if (!isWireNumber(e.index) || !isWireNumber(e.term))
      fail('out-of-range', 'entry index or term out of range');
    if (e.type !== EntryType.Normal && e.type !== EntryType.ConfChange)
      fail('bad-entry', `unknown entry type ${String(e.type)}`);
    const entry = e as unknown as Entry;
    if (type === MessageType.App) {
      // Contiguous after `index`, terms never decreasing, none newer than the leader's term.
      if (entry.index !== index + 1 + i)
        fail('bad-entry', `entry ${i} has index ${entry.index}, expected ${index + 1 + i}`);
      if (entry.term < prevTerm || entry.term > term || entry.term === 0)
        fail('bad-entry', `entry ${entry.index} has an impossible term ${entry.term}`);
      prevTerm = entry.term;
    } else if (entry.type !== EntryType.Normal) {
      fail('bad-entry', 'a forwarded proposal carries a conf change');
    }
    checkEntryData(entry);
  }
  return entries as Entry[];
}

function checkSnapshot(m: Record<string, unknown>, type: string, term: number): Snapshot | null {
  if (m.snapshot === null || m.snapshot === undefined) {
    if (type === MessageType.Snap) fail('bad-snapshot', 'snap message without a snapshot');
    return null;
  }
  if (type !== MessageType.Snap) return fail('bad-snapshot', `${type} carries a snapshot`);
  const s = m.snapshot;
  if (!isRecord(s) || !isRecord(s.metadata) || !(s.data instanceof Uint8Array))
    return fail('bad-snapshot', 'malformed snapshot');
  const md = s.metadata;
  if (!isWireNumber(md.index) || !isWireNumber(md.term))
    fail('out-of-range', 'snapshot index or term out of range');
  if ((md.index as number) < 1 || (md.term as number) < 1 || (md.term as number) > term)
    fail('bad-snapshot', 'impossible snapshot metadata');
  const confState = checkConfState(md.confState, 'snapshot conf state');
  return { metadata: { index: md.index as number, term: md.term as number, confState }, data: s.data };
}

/**
 * A message decoded from a peer stream, checked field by field. `from` is the stream's
 * authenticated-by-handshake sender, `self` this node: a message for anyone else is refused.
 * Throws PeerInputError; the caller drops and counts.
 */
export function validateMessage(raw: unknown, from: NodeId, self: NodeId): Message {
  if (!isRecord(raw)) return fail('malformed', 'message is not an object');
  const type = raw.type;
  if (typeof type !== 'string' || !WIRE_TYPES.has(type))
    return fail('unknown-type', `unknown message type ${String(type).slice(0, 32)}`);
  if (raw.from !== from || raw.to !== self) {
    fail(
      'misaddressed',
      `message ${String(raw.from).slice(0, 64)}->${String(raw.to).slice(0, 64)} on a stream ${from}->${self}`,
    );
  }
  for (const f of NUMBER_FIELDS) {
    if (!isWireNumber(raw[f])) fail('out-of-range', `field ${f} is not an integer in [0, 2^47)`);
  }
  if (typeof raw.reject !== 'boolean') fail('malformed', 'field reject is not a boolean');
  if (typeof raw.context !== 'string' || raw.context.length > MAX_CONTEXT_CHARS)
    fail('malformed', 'field context malformed');
  const term = raw.term as number;
  // Only requests without a term may carry term 0 (proposals and reads forwarded by followers).
  if (
    term === 0 &&
    type !== MessageType.Prop &&
    type !== MessageType.ReadIndex &&
    type !== MessageType.TransferLeader
  ) {
    fail('out-of-range', `${type} with term 0`);
  }
  const entries = checkEntries(raw, type, term, raw.index as number, raw.logTerm as number);
  const snapshot = checkSnapshot(raw, type, term);
  return {
    type: type as MessageType,
    from,
    to: self,
    term,
    index: raw.index as number,
    logTerm: raw.logTerm as number,
    entries,
    commit: raw.commit as number,
    reject: raw.reject as boolean,
    rejectHint: raw.rejectHint as number,
    hintTerm: raw.hintTerm as number,
    snapshot,
    context: raw.context as string,
  };
}
