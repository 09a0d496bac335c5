// Which peers a member listens to. Pure functions over the core's current configuration,
// so the rule is unit-tested on its own and the transport only asks.
//
// The rule (docs/adr/0021-node-network-layers.md):
// - Messages from ids in the current configuration (voters and learners) are accepted.
// - From any other id, only leader traffic (App, Heartbeat, Snap) is accepted, and only while
//   this node cannot tell a real leader from an impostor anyway: when it is not in its own
//   configuration (a `-join` node with an empty configuration, or one replaying the log up
//   to its own addition) or knows no leader (a member cut off while the membership changed,
//   whose configuration may predate the new leader). Everything else from a non-member is
//   dropped: it can no longer depose a leader or a follower that hears from one.
// - A learned peer URL (the `x-raft-peer-url` handshake header) is kept only from a member, or
//   from a sender whose leader traffic would be accepted (the cases above); it is dialled only
//   for a member, or for the leader this node follows (which, for a non-member, it can only have
//   adopted in one of those cases): a healthy member never dials an address a non-member names.
import { MessageType, type NodeId } from '../raft/types.ts';

export interface PeerView {
  self: NodeId;
  voters: ReadonlySet<NodeId>;
  learners: ReadonlySet<NodeId>;
  /** The leader this node currently follows, if any. */
  leader: NodeId | null;
}

const LEADER_TRAFFIC: ReadonlySet<string> = new Set([
  MessageType.App,
  MessageType.Heartbeat,
  MessageType.Snap,
]);

export function isMember(view: PeerView, id: NodeId): boolean {
  return view.voters.has(id) || view.learners.has(id);
}

/** True while this node must listen to leaders it cannot check against its configuration. */
function open(view: PeerView): boolean {
  return !isMember(view, view.self) || view.leader === null;
}

export function acceptMessage(view: PeerView, from: NodeId, type: string): boolean {
  if (isMember(view, from)) return true;
  return LEADER_TRAFFIC.has(type) && open(view);
}

/** Handshake: a stream from a non-member is refused when none of its messages could be accepted. */
export function acceptStream(view: PeerView, from: NodeId): boolean {
  return isMember(view, from) || open(view);
}

/** Whether to remember the URL a peer announced in its handshake. */
export function acceptPeerUrl(view: PeerView, from: NodeId): boolean {
  return isMember(view, from) || open(view);
}

/** Whether a learned (not configured) URL may be dialled to send to `to`. */
export function mayDialLearned(view: PeerView, to: NodeId): boolean {
  return isMember(view, to) || view.leader === to;
}
