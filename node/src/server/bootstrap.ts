// The first log entries of a new cluster, identical on every initial member:
// one AddVoter per member carrying its addresses, so later joiners (and
// snapshots) learn every member's address from the log itself.
import { createHash } from 'node:crypto';
import { encodeConfChange } from '../raft/conf-change.ts';
import { ConfChangeType, EntryType, type Entry, type HardState } from '../raft/types.ts';

export interface MemberAddress {
  id: string;
  peerUrl: string;
  clientUrl: string;
}

/** The cluster id every initial member derives alike from the initial membership. */
export function clusterIdFor(members: MemberAddress[], token = ''): string {
  const h = createHash('sha256');
  h.update(`kv-store/v1\n${token}\n`);
  for (const m of [...members].sort((a, b) => (a.id < b.id ? -1 : 1))) h.update(`${m.id}=${m.peerUrl}\n`);
  return h.digest('hex').slice(0, 16);
}

export function memberContext(m: MemberAddress): string {
  return JSON.stringify({ peerUrl: m.peerUrl, clientUrl: m.clientUrl });
}

export function parseMemberContext(
  ctx: string | undefined,
): { peerUrl: string; clientUrl: string } | undefined {
  if (!ctx) return undefined;
  try {
    const v = JSON.parse(ctx) as { peerUrl?: unknown; clientUrl?: unknown };
    if (typeof v.peerUrl !== 'string') return undefined;
    return { peerUrl: v.peerUrl, clientUrl: typeof v.clientUrl === 'string' ? v.clientUrl : v.peerUrl };
  } catch {
    return undefined;
  }
}

/** Entries 1..n and the hard state that make a fresh log hold the initial membership, committed. */
export function bootstrapLog(members: MemberAddress[]): { entries: Entry[]; hardState: HardState } {
  const sorted = [...members].sort((a, b) => (a.id < b.id ? -1 : 1));
  const entries = sorted.map((m, i): Entry => ({
    term: 1,
    index: i + 1,
    type: EntryType.ConfChange,
    data: encodeConfChange({ type: ConfChangeType.AddVoter, nodeId: m.id, context: memberContext(m) }),
  }));
  return { entries, hardState: { term: 1, vote: null, commit: entries.length } };
}
