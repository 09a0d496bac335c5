// Quorum-loss recovery and member-data reporting, decided purely (docs/adr/0077).
//
// Quorum lost: no leader, and even if every voter that is merely unreachable came back, the voters
// whose data survived would be fewer than a quorum (the others answer with no data, another
// cluster's, or corrupt/lost data). The operator then does not guess: it reports the condition
// `QuorumLost` with the survivors and how far each got, and waits for a human to approve a
// rebuild from one of them (`kubectl kv recover CLUSTER --from MEMBER`, which writes the
// annotations below). Approved, it asks that survivor to force a new one-member configuration;
// once it leads, the ordinary planner grows the cluster back (empty pods join as learners, stale
// volumes are wiped first) and the approval is removed so that it never applies to a later loss.
import { quorum } from '../types.ts';
import type { NodeStatus } from './nodeclient.ts';
import { memberName } from './planner.ts';

/** The member to rebuild from (a pod name of this cluster). */
export const RECOVER_FROM_ANNOTATION = 'kvstore.io/recover-from';
/** Unique per approval: the node recognises a request it already carried out by it. */
export const RECOVER_ID_ANNOTATION = 'kvstore.io/recover-id';
/** "true": rebuild from the named member even though another survivor holds a longer log. */
export const RECOVER_ACCEPT_BEHIND_ANNOTATION = 'kvstore.io/recover-accept-data-loss';

export interface MemberObservation {
  ordinal: number;
  /** /v1/status of its node; null when it did not answer. */
  status: NodeStatus | null;
  terminating: boolean;
}

export interface Survivor {
  member: string;
  lastIndex: number;
  lastLogTerm: number;
  commitIndex: number;
}

export interface QuorumAssessment {
  /** The voters of the most advanced survivor's configuration. */
  voters: string[];
  survivors: Survivor[];
  /** Voters answering without usable data (wiped, foreign, corrupt, lost). */
  gone: string[];
  /** Voters not answering at all (may come back). */
  unreachable: string[];
  /** The survivor a rebuild should start from: the longest log by the election rule. */
  best: Survivor | null;
}

export interface Approval {
  from: string;
  requestId: string;
  acceptBehind: boolean;
}

export interface RecoveryInput {
  clusterName: string;
  /** The cluster id (status.clusterId); members reporting another one are foreign. */
  clusterId: string | undefined;
  bootstrapped: boolean;
  /** Some member reports a leader the operator can use. */
  hasLeader: boolean;
  members: MemberObservation[];
  approval: Approval | null;
}

export type RecoveryDecision =
  | { kind: 'none' }
  /** A leader leads again and an approval is still on the KVCluster: remove it. */
  | { kind: 'clear-approval'; reason: string }
  | { kind: 'quorum-lost'; assessment: QuorumAssessment; message: string }
  | { kind: 'refuse-approval'; assessment: QuorumAssessment; message: string }
  | { kind: 'force'; member: string; requestId: string; assessment: QuorumAssessment; message: string };

/** Compares logs as the Raft election rule does: last term first, then last index. */
export function compareLogs(a: Survivor, b: Survivor): number {
  return a.lastLogTerm - b.lastLogTerm || a.lastIndex - b.lastIndex;
}

/** The order survivors are offered in: longest log, then highest known commit, then name. */
function moreAdvanced(a: Survivor, b: Survivor): number {
  return compareLogs(a, b) || a.commitIndex - b.commitIndex || b.member.localeCompare(a.member);
}

function intact(s: NodeStatus | null, clusterId: string | undefined): s is NodeStatus {
  if (s === null) return false;
  if (s.dataState !== undefined && s.dataState !== 'ok') return false;
  if (s.state === 'removed' || s.clusterId === null || s.clusterId === '') return false;
  return clusterId === undefined || s.clusterId === clusterId;
}

export function assessQuorum(input: RecoveryInput): QuorumAssessment {
  const byName = new Map(input.members.map((m) => [memberName(input.clusterName, m.ordinal), m]));
  const candidates: { survivor: Survivor; voters: string[] }[] = [];
  for (const [name, m] of byName) {
    if (m.terminating || !intact(m.status, input.clusterId)) continue;
    const s = m.status;
    const voters = s.members.filter((x) => x.role === 'voter').map((x) => x.id);
    if (!voters.includes(name)) continue; // a learner's log may lag arbitrarily
    candidates.push({
      survivor: {
        member: name,
        lastIndex: s.lastIndex ?? s.commitIndex,
        lastLogTerm: s.lastLogTerm ?? s.term,
        commitIndex: s.commitIndex,
      },
      voters,
    });
  }
  candidates.sort((a, b) => moreAdvanced(b.survivor, a.survivor));
  const best = candidates[0];
  const voters = [...(best?.voters ?? [])].sort();
  const survivors = candidates.filter((c) => voters.includes(c.survivor.member)).map((c) => c.survivor);
  const gone: string[] = [];
  const unreachable: string[] = [];
  for (const v of voters) {
    if (survivors.some((s) => s.member === v)) continue;
    const m = byName.get(v);
    if (m === undefined || m.status === null || m.terminating) unreachable.push(v);
    else gone.push(v);
  }
  return { voters, survivors, gone, unreachable, best: best?.survivor ?? null };
}

function describe(a: QuorumAssessment): string {
  const list = a.survivors
    .map((s) => `${s.member} (last ${s.lastLogTerm}/${s.lastIndex}, commit ${s.commitIndex})`)
    .join(', ');
  return (
    `voters ${a.voters.join(', ')}: survivors ${list || 'none'}; without data ${a.gone.join(', ') || 'none'}` +
    `; unreachable ${a.unreachable.join(', ') || 'none'}`
  );
}

export function decideRecovery(input: RecoveryInput): RecoveryDecision {
  if (input.hasLeader) {
    return input.approval === null
      ? { kind: 'none' }
      : {
          kind: 'clear-approval',
          reason: 'the cluster has a leader; the recovery approval is no longer needed',
        };
  }
  if (!input.bootstrapped) return { kind: 'none' };
  const a = assessQuorum(input);
  if (a.voters.length === 0) {
    // No member with usable data answers: nothing to rebuild from here (restore from a backup).
    const anyGone = input.members.some((m) => m.status !== null && !intact(m.status, input.clusterId));
    if (!anyGone) return { kind: 'none' };
    return {
      kind: 'quorum-lost',
      assessment: a,
      message: 'no member with usable data answers: nothing to rebuild from; restore from a backup',
    };
  }
  if (a.survivors.length + a.unreachable.length >= quorum(a.voters.length)) return { kind: 'none' };
  const summary = describe(a);
  const best = a.best!;
  const hint = `approve with: kubectl kv recover ${input.clusterName} --from ${best.member}`;
  const ap = input.approval;
  if (ap === null)
    return { kind: 'quorum-lost', assessment: a, message: `quorum lost (${summary}); ${hint}` };
  const chosen = a.survivors.find((s) => s.member === ap.from);
  if (chosen === undefined)
    return {
      kind: 'refuse-approval',
      assessment: a,
      message: `cannot recover from ${ap.from}: not a surviving voter (${summary}); ${hint}`,
    };
  if (compareLogs(best, chosen) > 0 && !ap.acceptBehind)
    return {
      kind: 'refuse-approval',
      assessment: a,
      message:
        `cannot recover from ${ap.from}: ${best.member} holds a longer log (${best.lastLogTerm}/${best.lastIndex} vs ` +
        `${chosen.lastLogTerm}/${chosen.lastIndex}); entries only it holds would be lost. ${hint}, or accept the loss ` +
        `with ${RECOVER_ACCEPT_BEHIND_ANNOTATION}=true`,
    };
  if (ap.requestId === '')
    return { kind: 'refuse-approval', assessment: a, message: `${RECOVER_ID_ANNOTATION} is empty` };
  return {
    kind: 'force',
    member: chosen.member,
    requestId: ap.requestId,
    assessment: a,
    message: `rebuilding from ${chosen.member} (last ${chosen.lastLogTerm}/${chosen.lastIndex}, commit ${chosen.commitIndex}); ${summary}`,
  };
}

/** The approval written on the KVCluster, if any. */
export function approvalOf(annotations: Record<string, string> | undefined): Approval | null {
  const from = annotations?.[RECOVER_FROM_ANNOTATION];
  if (from === undefined || from === '') return null;
  return {
    from,
    requestId: annotations?.[RECOVER_ID_ANNOTATION] ?? '',
    acceptBehind: annotations?.[RECOVER_ACCEPT_BEHIND_ANNOTATION] === 'true',
  };
}

/** Members whose node refused its data, with the reason it gave (for a condition and events). */
export function unusableMembers(
  clusterName: string,
  members: MemberObservation[],
): { member: string; dataState: 'corrupt' | 'lost'; reason: string }[] {
  const out: { member: string; dataState: 'corrupt' | 'lost'; reason: string }[] = [];
  for (const m of members) {
    const d = m.status?.dataState;
    if (d === 'corrupt' || d === 'lost')
      out.push({
        member: memberName(clusterName, m.ordinal),
        dataState: d,
        reason: m.status?.dataReason ?? '',
      });
  }
  return out.sort((a, b) => a.member.localeCompare(b.member, 'en', { numeric: true }));
}
