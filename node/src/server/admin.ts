// Cluster administration: status, membership changes and leadership transfer.
// Changes run on the leader (requests to a follower are forwarded) and follow
// the rules of raft/membership.ts: a new member joins only as a learner, and no
// change may leave fewer healthy voters than the quorum of the configuration it
// produces (docs/adr/0066).
import { PROMOTE_MAX_LAG, caughtUp, checkAddVoter, checkRemoveVoter } from '../raft/membership.ts';
import { ConfChangeType, StateRole } from '../raft/types.ts';
import { KvError, isErrorCode, kvError } from '../errors.ts';
import type { MemberInfo, NodeStatus } from '../http/service.ts';
import { forwardedCredentials } from '../http/request-context.ts';
import type { RaftStatus } from '../raft/rawnode.ts';
import type { ConfChange } from '../raft/types.ts';
import type { MemberAddress } from '../kv/state-machine.ts';
import type { AppliedWrite } from './applier.ts';

/** The narrow view of the node the admin layer works through (KvNode implements it). */
export interface AdminNode {
  readonly opts: {
    readonly tickMs: number;
    readonly electionTicks: number;
    readonly proposalTimeoutMs: number;
  };
  readonly removed: boolean;
  raftStatus(): RaftStatus;
  clusterId(): string;
  appliedIndex(): number;
  /** Term of the last log entry. */
  lastLogTerm?(): number;
  member(id: string): MemberAddress | undefined;
  nextRequestId(): string;
  proposeConf(cc: ConfChange): Promise<AppliedWrite>;
  transferLeadershipTo(id: string): void;
  waitForTicks(fn: () => boolean, maxMs: number): Promise<boolean>;
  /** The client URL a member announced on its peer stream (right when -peer-addr is separate). */
  announcedClientUrl?(id: string): string | undefined;
}

/** One HTTP exchange with another member's client API (default: global fetch; main.ts gives an https one). */
export type Forwarder = (
  url: URL,
  request: { method: string; headers: Record<string, string>; body?: string; timeoutMs: number },
) => Promise<{ status: number; text: string }>;

export const fetchForwarder: Forwarder = async (url, r) => {
  const res = await fetch(url, {
    method: r.method,
    headers: r.headers,
    ...(r.body !== undefined ? { body: r.body } : {}),
    signal: AbortSignal.timeout(r.timeoutMs),
  });
  return { status: res.status, text: await res.text() };
};

const MEMBER_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export class AdminOps {
  private readonly node: AdminNode;

  private readonly forwarder: Forwarder;

  constructor(node: AdminNode, forwarder: Forwarder = fetchForwarder) {
    this.node = node;
    this.forwarder = forwarder;
  }

  status(): NodeStatus {
    const n = this.node;
    const s = n.raftStatus();
    let state: NodeStatus['state'];
    if (n.removed) state = 'removed';
    else if (s.role === StateRole.Leader) state = 'leader';
    else if (s.confState.learners.includes(s.id)) state = 'learner';
    else if (s.role === StateRole.Follower) state = 'follower';
    else state = 'candidate';
    return {
      id: s.id,
      clusterId: n.clusterId(),
      state,
      leader: s.leader,
      term: s.term,
      commitIndex: s.commit,
      appliedIndex: n.appliedIndex(),
      lastIndex: s.lastIndex,
      lastLogTerm: n.lastLogTerm?.() ?? 0,
      dataState: 'ok',
      members: this.memberList(),
    };
  }

  private memberList(): MemberInfo[] {
    const n = this.node;
    const s = n.raftStatus();
    const out: MemberInfo[] = [];
    const add = (id: string, role: 'voter' | 'learner'): void => {
      const a = n.member(id);
      const p = s.progress.get(id);
      out.push({
        id,
        peerUrl: a?.peerUrl ?? '',
        clientUrl: a?.clientUrl ?? '',
        role,
        isLeader: id === s.leader,
        ...(p ? { matchIndex: p.match, healthy: id === s.id || p.recentActive } : {}),
      });
    };
    for (const id of s.confState.voters) add(id, 'voter');
    for (const id of s.confState.learners) add(id, 'learner');
    return out.sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  async members(): Promise<{ leader: string | null; members: MemberInfo[] }> {
    const s = this.node.raftStatus();
    if (s.role !== StateRole.Leader && s.leader !== null) {
      // Only the leader knows each member's progress and health.
      try {
        return await this.forward<{ leader: string | null; members: MemberInfo[] }>(
          'GET',
          '/v1/cluster/members',
        );
      } catch {
        // Fall back to our own view.
      }
    }
    return { leader: s.leader, members: this.memberList() };
  }

  async addMember(m: {
    id: string;
    peerUrl: string;
    clientUrl?: string;
    role: 'learner' | 'voter';
  }): Promise<MemberInfo> {
    if (!MEMBER_ID.test(m.id)) {
      throw kvError(
        'invalid-parameter',
        'member id must be 1-63 characters of letters, digits, ".", "_" or "-"',
      );
    }
    if (!isHttpUrl(m.peerUrl) || (m.clientUrl !== undefined && !isHttpUrl(m.clientUrl))) {
      throw kvError('invalid-parameter', 'peerUrl and clientUrl must be http://host:port URLs');
    }
    if (m.role === 'voter') {
      // A voter counts in the quorum from the moment it is added, before it has shown it is alive
      // and holds the log: adds of unreachable addresses could push the quorum out of reach.
      throw kvError(
        'learner-required',
        `a new member joins as a learner: add ${m.id} with {"role":"learner"} (the default), start it with -join, ` +
          `then POST /v1/cluster/members/${m.id}/promote once it has caught up`,
      );
    }
    if (!this.isLeader()) return this.forward<MemberInfo>('POST', '/v1/cluster/members', m);
    const cs = this.node.raftStatus().confState;
    if (cs.voters.includes(m.id) || cs.learners.includes(m.id)) {
      throw kvError('member-exists', `member ${m.id} is already part of the cluster`);
    }
    const clientUrl = m.clientUrl ?? m.peerUrl;
    await this.node.proposeConf({
      type: ConfChangeType.AddLearner,
      nodeId: m.id,
      context: JSON.stringify({ peerUrl: m.peerUrl, clientUrl, requestId: this.node.nextRequestId() }),
    });
    return { id: m.id, peerUrl: m.peerUrl, clientUrl, role: m.role, isLeader: false };
  }

  async promoteMember(id: string): Promise<void> {
    if (!this.isLeader()) {
      await this.forward('POST', `/v1/cluster/members/${encodeURIComponent(id)}/promote`);
      return;
    }
    const s = this.node.raftStatus();
    if (s.confState.voters.includes(id)) return; // already a voter: idempotent
    if (!s.confState.learners.includes(id))
      throw kvError('member-not-found', `no learner ${id} in the cluster`);
    const p = s.progress.get(id);
    // Caught up means: it has acknowledged appends (replicate state) and trails the commit index only a little.
    if (!caughtUp(p, s.commit)) {
      throw kvError(
        'learner-not-caught-up',
        p !== undefined && s.commit - p.match <= PROMOTE_MAX_LAG
          ? `learner ${id} holds ${p.match} of ${s.commit} committed entries but is not yet acknowledging appends steadily ` +
              `(${p.recentActive ? `replication state ${p.state}` : 'not heard from lately'}); retry in a moment`
          : `learner ${id} has replicated up to ${p?.match ?? 0} of ${s.commit} committed; retry when it has caught up`,
      );
    }
    const check = checkAddVoter(s.confState.voters, id, (v) => this.healthy(s, v));
    if (!check.ok) {
      throw kvError(
        'would-lose-quorum',
        `promoting ${id} would make ${check.voters} voters with ${check.healthy} healthy, below the quorum of ${check.quorum}; ` +
          'bring the unhealthy voters back or remove them first',
      );
    }
    const addr = this.node.member(id);
    await this.node.proposeConf({
      type: ConfChangeType.AddVoter,
      nodeId: id,
      context: JSON.stringify({ ...addr, requestId: this.node.nextRequestId() }),
    });
  }

  /**
   * Voter -> learner (fencing, ADR 0076): it keeps receiving the log, so it keeps its data current,
   * but no longer votes or counts in the quorum. Refused for the leader (move leadership first) and
   * when the voters left would have fewer healthy members than their quorum.
   */
  async demoteMember(id: string): Promise<void> {
    if (!this.isLeader()) {
      await this.forward('POST', `/v1/cluster/members/${encodeURIComponent(id)}/demote`);
      return;
    }
    const s = this.node.raftStatus();
    if (s.confState.learners.includes(id)) return; // already a learner: idempotent
    if (!s.confState.voters.includes(id)) throw kvError('member-not-found', `no voter ${id} in the cluster`);
    if (id === s.id)
      throw kvError('invalid-conf-change', `${id} is the leader: move leadership to another voter first`);
    const check = checkRemoveVoter(s.confState.voters, id, (v) => this.healthy(s, v));
    if (check.voters === 0) throw kvError('would-lose-quorum', 'cannot demote the last voter');
    if (!check.ok) {
      throw kvError(
        'would-lose-quorum',
        `demoting ${id} would leave ${check.healthy} live voters of ${check.voters}, below a quorum of ${check.quorum}`,
      );
    }
    await this.node.proposeConf({
      type: ConfChangeType.AddLearner,
      nodeId: id,
      context: JSON.stringify({ ...this.node.member(id), requestId: this.node.nextRequestId() }),
    });
  }

  async removeMember(id: string): Promise<void> {
    if (!this.isLeader()) {
      await this.forward('DELETE', `/v1/cluster/members/${encodeURIComponent(id)}`);
      return;
    }
    const s = this.node.raftStatus();
    const isVoter = s.confState.voters.includes(id);
    if (!isVoter && !s.confState.learners.includes(id)) throw kvError('member-not-found', `no member ${id}`);
    if (isVoter) {
      const check = checkRemoveVoter(s.confState.voters, id, (v) => this.healthy(s, v));
      if (check.voters === 0) throw kvError('would-lose-quorum', 'cannot remove the last voter');
      if (!check.ok) {
        throw kvError(
          'would-lose-quorum',
          `removing ${id} would leave ${check.healthy} live voters of ${check.voters}, below a quorum of ${check.quorum}`,
        );
      }
    }
    if (id === s.id) {
      // The leader cannot safely remove itself while leading: hand over first, then ask the new leader.
      await this.transferLeadership(undefined);
      await this.forward('DELETE', `/v1/cluster/members/${encodeURIComponent(id)}`);
      return;
    }
    await this.node.proposeConf({
      type: ConfChangeType.RemoveNode,
      nodeId: id,
      context: JSON.stringify({ requestId: this.node.nextRequestId() }),
    });
  }

  async transferLeadership(to: string | undefined, timeoutMs?: number): Promise<{ leader: string }> {
    if (!this.isLeader())
      return this.forward<{ leader: string }>('POST', '/v1/cluster/leader', to ? { to } : {});
    const s = this.node.raftStatus();
    let target = to;
    if (target === undefined) {
      // The most up-to-date live voter takes over fastest.
      let best = -1;
      for (const v of s.confState.voters) {
        const p = s.progress.get(v);
        if (v === s.id || !p?.recentActive) continue;
        if (p.match > best) {
          best = p.match;
          target = v;
        }
      }
      if (target === undefined) throw kvError('unavailable', 'no live voter to transfer leadership to');
    } else if (target === s.id) {
      return { leader: s.id };
    } else if (!s.confState.voters.includes(target)) {
      throw kvError('member-not-found', `${target} is not a voter`);
    }
    this.node.transferLeadershipTo(target);
    const wait = timeoutMs ?? this.node.opts.tickMs * this.node.opts.electionTicks * 3;
    const ok = await this.node.waitForTicks(() => {
      const l = this.node.raftStatus().leader;
      return l !== null && l !== s.id;
    }, wait);
    if (!ok) throw kvError('timeout', `leadership transfer to ${target} did not complete in time`);
    return { leader: this.node.raftStatus().leader ?? target };
  }

  /** The leader itself, or a member it has heard from within the last election timeout. */
  private healthy(s: RaftStatus, id: string): boolean {
    return id === s.id || s.progress.get(id)?.recentActive === true;
  }

  private isLeader(): boolean {
    return this.node.raftStatus().role === StateRole.Leader;
  }

  /** Sends an admin request to the leader's client URL and relays its answer or error. */
  private async forward<T>(method: string, path: string, body?: unknown): Promise<T> {
    const leader = this.node.raftStatus().leader;
    if (leader === null) throw kvError('no-leader', 'no leader is known; retry shortly');
    const url = this.node.announcedClientUrl?.(leader) ?? this.node.member(leader)?.clientUrl;
    if (!url) throw kvError('unavailable', `the address of leader ${leader} is not known yet`);
    let res: { status: number; text: string };
    try {
      res = await this.forwarder(new URL(path, url), {
        method,
        headers: {
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          // The leader checks the caller again: pass the same credentials along.
          ...forwardedCredentials(),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        timeoutMs: this.node.opts.proposalTimeoutMs + 2000,
      });
    } catch (e) {
      throw kvError('unavailable', `could not reach leader ${leader} at ${url}: ${String(e)}`);
    }
    const text = res.text;
    const parsed: unknown = text ? JSON.parse(text) : {};
    if (res.status < 200 || res.status > 299) {
      const err = (parsed as { error?: { code?: string; message?: string } }).error;
      const code = err?.code !== undefined && isErrorCode(err.code) ? err.code : 'internal';
      throw new KvError(code, err?.message ?? `leader ${leader} answered ${res.status}`);
    }
    return parsed as T;
  }
}

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.port !== '';
  } catch {
    return false;
  }
}
