// The membership planner: a pure function from what the operator observes to the ONE next
// change to make. Everything the operator does to Raft membership, the StatefulSet size, member
// PVCs and pod rolls is decided here, so it can be tested exhaustively without a cluster.
//
// Rules (see docs/adr/0040-operator-membership.md):
// - one change at a time; the plan is recomputed from fresh observations after every change,
//   so a restarted operator simply continues (the recorded operation is only a label);
// - never act without a leader; never remove, roll or promote when the live voters left would
//   be below quorum; never remove or roll the leader (transfer leadership first);
// - new members join as learners and are promoted only when ready and caught up;
// - a member's volume is never reused by a different member: stale data is wiped first.
import type { OperationKind, OperationStatus } from '../types.ts';
import { quorum } from '../types.ts';

/** What the node inside a pod says about its own data. */
export type DataState =
  | 'empty' // started with -join and never received cluster state
  | 'cluster' // holds state of this cluster
  | 'foreign' // holds state of another cluster (different cluster id)
  | 'corrupt' // its records failed their checksums: it serves only its status (docs/adr/0077)
  | 'lost' // its directory lost its log or hard state: same
  | 'unknown'; // node not answering

/** Data a member must not keep: it is replaced (a voter) or removed (a learner), quorum permitting. */
export function isUnusableData(d: DataState): boolean {
  return d === 'empty' || d === 'foreign' || d === 'corrupt' || d === 'lost';
}

export interface ObservedPod {
  ordinal: number;
  ready: boolean;
  terminating: boolean;
  configHash: string | undefined;
  dataState: DataState;
  /** Created before a restart requested for it (`kubectl kv restart`): roll it like an outdated pod. */
  restartDue?: boolean;
}

export interface ObservedPvc {
  ordinal: number;
  /** Labelled kvstore.io/removed=true (Retain policy). */
  markedRemoved: boolean;
}

export interface RaftMember {
  id: string;
  role: 'voter' | 'learner';
  /** The leader's view: recently heard from. */
  healthy: boolean;
  matchIndex?: number;
}

export interface RaftView {
  leader: string;
  commitIndex: number;
  members: RaftMember[];
}

export interface PlanInput {
  clusterName: string;
  desiredReplicas: number;
  desiredConfigHash: string;
  onMemberRemoval: 'Delete' | 'Retain';
  /** Member 0 has bootstrapped the cluster at some point (cluster id recorded). */
  bootstrapped: boolean;
  /** StatefulSet .spec.replicas, null when the StatefulSet does not exist. */
  statefulSetReplicas: number | null;
  pods: ObservedPod[];
  pvcs: ObservedPvc[];
  /** Membership as the leader reports it; null when no member reports a leader. */
  raft: RaftView | null;
  operation: OperationStatus | null;
  /** A learner at most this many entries behind the commit index may be promoted. */
  maxLearnerLag?: number;
  /** spec.hibernate: every member stopped, volumes and membership kept (ADR 0076). */
  hibernate?: boolean;
  /** Members listed in the kvstore.io/fenced-members annotation: demoted to learner, never promoted. */
  fenced?: readonly string[];
}

export type Step =
  | { kind: 'nothing' }
  | { kind: 'wait'; reason: string }
  | { kind: 'refuse'; reason: string }
  | { kind: 'raise-statefulset'; replicas: number }
  | { kind: 'lower-statefulset'; replicas: number }
  | { kind: 'add-learner'; member: string; ordinal: number }
  | { kind: 'promote'; member: string }
  | { kind: 'transfer-leadership'; from: string; to: string }
  | { kind: 'remove-member'; member: string }
  | { kind: 'replace-member'; member: string }
  | { kind: 'delete-pvc'; member: string; ordinal: number; deletePod: boolean }
  | { kind: 'mark-pvc-removed'; member: string; ordinal: number }
  | { kind: 'roll-pod'; member: string }
  | { kind: 'demote'; member: string }
  | { kind: 'hibernate' };

export type StepKind = Step['kind'];

/**
 * A learner at most this many entries behind the commit index is promoted: the node's own rule
 * (node/src/raft/membership.ts PROMOTE_MAX_LAG), copied because the operator image holds only
 * operator/; rules-agree.test.ts fails if the two differ.
 */
export const DEFAULT_MAX_LEARNER_LAG = 100;

export function memberName(cluster: string, ordinal: number): string {
  return `${cluster}-${ordinal}`;
}

export function ordinalOfMember(cluster: string, id: string): number | undefined {
  const prefix = `${cluster}-`;
  if (!id.startsWith(prefix)) return undefined;
  const rest = id.slice(prefix.length);
  return /^(0|[1-9][0-9]{0,3})$/.test(rest) ? Number(rest) : undefined;
}

export function lagOf(raft: RaftView, m: RaftMember): number | undefined {
  if (m.id === raft.leader) return 0;
  return m.matchIndex === undefined ? undefined : Math.max(0, raft.commitIndex - m.matchIndex);
}

/** The membership-operation kind a step belongs to (recorded in status.operation). */
export function operationKindOf(step: Step, input: PlanInput): OperationKind | undefined {
  switch (step.kind) {
    case 'raise-statefulset':
    case 'add-learner':
    case 'promote':
      return 'ScaleUp';
    case 'lower-statefulset':
    case 'remove-member':
    case 'delete-pvc':
    case 'mark-pvc-removed':
      return input.operation?.kind === 'Replace' && step.kind === 'delete-pvc' ? 'Replace' : 'ScaleDown';
    case 'replace-member':
      return 'Replace';
    case 'roll-pod':
      return 'Roll';
    case 'demote':
      return 'Fence';
    case 'hibernate':
      return 'Hibernate';
    case 'transfer-leadership': {
      if (input.operation?.kind === 'Roll' || input.operation?.kind === 'ScaleDown')
        return input.operation.kind;
      if (input.fenced?.includes(step.from) === true) return 'Fence';
      const from = input.pods.find((p) => memberName(input.clusterName, p.ordinal) === step.from);
      if (from !== undefined && (from.restartDue === true || from.configHash !== input.desiredConfigHash))
        return 'Roll';
      return 'ScaleDown';
    }
    default:
      return undefined;
  }
}

export function planNextStep(input: PlanInput): Step {
  const { clusterName, desiredReplicas: desired, raft } = input;
  const sts = input.statefulSetReplicas ?? 0;
  const name = (o: number) => memberName(clusterName, o);
  const podAt = (o: number) => input.pods.find((p) => p.ordinal === o);
  const pvcAt = (o: number) => input.pvcs.find((p) => p.ordinal === o);
  const maxLag = input.maxLearnerLag ?? DEFAULT_MAX_LEARNER_LAG;
  const fenced = new Set(input.fenced ?? []);

  // --- Hibernation: stop every member, touch no membership. Waking (hibernate false) finds the
  // StatefulSet at zero with the volumes kept and takes the "StatefulSet vanished" path below.
  if (input.hibernate === true) {
    if (sts > 0) return { kind: 'hibernate' };
    if (input.pods.length > 0)
      return { kind: 'wait', reason: `hibernating: waiting for ${input.pods.length} pods to stop` };
    return { kind: 'nothing' };
  }

  // --- No leader: never touch membership. Only create or bring back the StatefulSet.
  if (raft === null) {
    if (!input.bootstrapped) {
      if (sts < 1) return { kind: 'raise-statefulset', replicas: 1 };
      return { kind: 'wait', reason: 'waiting for member 0 to bootstrap the cluster' };
    }
    // The StatefulSet vanished (deleted by hand) while the volumes stayed: bring the members
    // back; they restart from their data with -join and elect a leader among themselves.
    if (sts < 1) return { kind: 'raise-statefulset', replicas: desired };
    return {
      kind: 'refuse',
      reason: 'no leader: quorum lost or cluster restarting; membership is left alone',
    };
  }

  const members = raft.members;
  const byId = new Map(members.map((m) => [m.id, m]));
  const ordinalOf = (m: RaftMember) => ordinalOfMember(clusterName, m.id);
  const memberAt = (o: number) => byId.get(name(o));
  const voters = members.filter((m) => m.role === 'voter');
  const podOf = (m: RaftMember) => {
    const o = ordinalOf(m);
    return o === undefined ? undefined : podAt(o);
  };
  // Live: the leader hears from it and its pod is not going away.
  const isLive = (m: RaftMember) => {
    if (!m.healthy) return false;
    const pod = podOf(m);
    return pod !== undefined && !pod.terminating;
  };
  const liveVoters = voters.filter(isLive).length;
  if (liveVoters < quorum(voters.length)) {
    return {
      kind: 'refuse',
      reason: `only ${liveVoters} of ${voters.length} voters live; quorum is ${quorum(voters.length)}`,
    };
  }
  const canLoseVoter = (m: RaftMember) => {
    const remainingLive = liveVoters - (isLive(m) ? 1 : 0);
    return voters.length > 1 && remainingLive >= quorum(voters.length - 1);
  };
  const transferTarget = (avoid: (m: RaftMember) => boolean): RaftMember | undefined =>
    voters
      .filter(
        (m) =>
          m.id !== raft.leader && isLive(m) && podOf(m)?.ready === true && !fenced.has(m.id) && !avoid(m),
      )
      .sort(
        (a, b) => (lagOf(raft, a) ?? Infinity) - (lagOf(raft, b) ?? Infinity) || a.id.localeCompare(b.id),
      )[0];

  const removeSafely = (m: RaftMember, isExtra: (m: RaftMember) => boolean): Step => {
    if (m.role === 'learner') return { kind: 'remove-member', member: m.id };
    if (m.id === raft.leader) {
      const to = transferTarget(isExtra);
      if (to === undefined)
        return { kind: 'wait', reason: `no ready voter to take over leadership from ${m.id}` };
      return { kind: 'transfer-leadership', from: m.id, to: to.id };
    }
    if (!canLoseVoter(m))
      return { kind: 'refuse', reason: `removing ${m.id} would leave fewer live voters than a quorum` };
    return { kind: 'remove-member', member: m.id };
  };

  // --- 1. A voter that lost its data (volume lost, another cluster's data, corrupt or lost
  // records): replace it.
  for (const m of voters) {
    const o = ordinalOf(m);
    if (o === undefined || o >= desired) continue;
    const pod = podAt(o);
    if (pod === undefined || pod.terminating) continue;
    if (isUnusableData(pod.dataState)) {
      if (m.id === raft.leader) continue; // it answers as leader, so it has data; stale report
      if (!canLoseVoter(m))
        return { kind: 'refuse', reason: `cannot replace ${m.id}: quorum would not hold` };
      return { kind: 'replace-member', member: m.id };
    }
  }
  for (const m of members) {
    const o = ordinalOf(m);
    if (m.role !== 'learner' || o === undefined) continue;
    const d = podAt(o)?.dataState;
    if (d === 'foreign' || d === 'corrupt' || d === 'lost') return { kind: 'remove-member', member: m.id };
  }

  // --- 1b. Fencing: a fenced voter is demoted to learner (leadership moved off it first) as long
  // as the voters left keep a quorum, and a majority of the desired size, voting.
  for (const m of voters) {
    if (!fenced.has(m.id)) continue;
    if (!canLoseVoter(m) || voters.length - 1 < quorum(desired))
      return {
        kind: 'refuse',
        reason: `fencing ${m.id} would leave ${voters.length - 1} voters (${liveVoters - (isLive(m) ? 1 : 0)} live); at least ${quorum(desired)} of ${desired} must keep voting`,
      };
    if (m.id === raft.leader) {
      const to = transferTarget(() => false);
      if (to === undefined)
        return { kind: 'wait', reason: `fencing ${m.id}: no ready, unfenced voter to take over leadership` };
      return { kind: 'transfer-leadership', from: m.id, to: to.id };
    }
    return { kind: 'demote', member: m.id };
  }

  // --- 2. Scale-down, one member at a time: the highest pod, if not a member, leaves first.
  if (sts > desired) {
    const top = sts - 1;
    if (memberAt(top) === undefined) return { kind: 'lower-statefulset', replicas: top };
  }
  // PVCs of ordinals the StatefulSet no longer runs, which are not members: per policy.
  for (const pvc of [...input.pvcs].sort((a, b) => b.ordinal - a.ordinal)) {
    if (pvc.ordinal < sts || memberAt(pvc.ordinal) !== undefined) continue;
    if (pvc.ordinal >= desired) {
      if (input.onMemberRemoval === 'Delete')
        return { kind: 'delete-pvc', member: name(pvc.ordinal), ordinal: pvc.ordinal, deletePod: false };
      if (!pvc.markedRemoved)
        return { kind: 'mark-pvc-removed', member: name(pvc.ordinal), ordinal: pvc.ordinal };
    }
  }
  // Members beyond the desired size (or not of this cluster at all): learners first, then
  // the highest ordinal; foreign ids count as highest.
  const isExtra = (m: RaftMember) => {
    const o = ordinalOf(m);
    return o === undefined || o >= desired;
  };
  const extras = members
    .filter(isExtra)
    .sort(
      (a, b) =>
        (a.role === 'learner' ? 0 : 1) - (b.role === 'learner' ? 0 : 1) ||
        (ordinalOf(b) ?? Infinity) - (ordinalOf(a) ?? Infinity),
    );
  const extra = extras[0];
  if (extra !== undefined) return removeSafely(extra, isExtra);

  // --- 3. Scale-up / fill. A learner in flight is finished first (one at a time).
  const learner = members.find((m) => m.role === 'learner' && !fenced.has(m.id));
  if (learner !== undefined) {
    const o = ordinalOf(learner) ?? 0; // extras were removed above, so it has an ordinal < desired
    const pod = podAt(o);
    if (o >= sts) return { kind: 'raise-statefulset', replicas: o + 1 };
    if (pod === undefined || !pod.ready || pod.terminating)
      return { kind: 'wait', reason: `waiting for learner ${learner.id} to become ready` };
    const lag = lagOf(raft, learner);
    if (!learner.healthy || lag === undefined || lag > maxLag) {
      return { kind: 'wait', reason: `waiting for learner ${learner.id} to catch up (lag ${lag ?? '?'})` };
    }
    if (liveVoters + 1 < quorum(voters.length + 1))
      return { kind: 'refuse', reason: `promoting ${learner.id} would leave the cluster without quorum` };
    return { kind: 'promote', member: learner.id };
  }
  // The lowest ordinal below the desired size that is not a voter yet.
  for (let o = 0; o < desired; o++) {
    const pod = podAt(o);
    if (memberAt(o) !== undefined) {
      if (o >= sts) return { kind: 'raise-statefulset', replicas: o + 1 };
      continue; // a missing pod is recreated by the StatefulSet controller
    }
    if (pod !== undefined) {
      if (pod.terminating) return { kind: 'wait', reason: `waiting for pod ${name(o)} to terminate` };
      switch (pod.dataState) {
        case 'empty':
          return { kind: 'add-learner', member: name(o), ordinal: o };
        case 'cluster':
        case 'foreign':
        case 'corrupt':
        case 'lost':
          // A removed member's (or a stranger's, or unusable) data: never let it rejoin with it.
          return { kind: 'delete-pvc', member: name(o), ordinal: o, deletePod: true };
        case 'unknown':
          return { kind: 'wait', reason: `waiting for pod ${name(o)} to answer` };
      }
    }
    if (o < sts) return { kind: 'wait', reason: `waiting for the StatefulSet to create ${name(o)}` };
    if (pvcAt(o) !== undefined) return { kind: 'delete-pvc', member: name(o), ordinal: o, deletePod: false };
    return { kind: 'add-learner', member: name(o), ordinal: o };
  }
  if (sts < desired) return { kind: 'raise-statefulset', replicas: desired };

  // --- 4. Rolling update: membership is exactly right; replace outdated pods one at a time.
  // A fenced member waits (not ready by design) and rolls once unfenced.
  const isOutdatedPod = (p: ObservedPod) => p.configHash !== input.desiredConfigHash || p.restartDue === true;
  const outdated = input.pods.filter(
    (p) => p.ordinal < desired && !fenced.has(name(p.ordinal)) && isOutdatedPod(p),
  );
  if (outdated.length === 0) return { kind: 'nothing' };
  for (let o = 0; o < desired; o++) {
    if (fenced.has(name(o))) continue;
    const pod = podAt(o);
    const m = memberAt(o);
    if (pod === undefined || !pod.ready || pod.terminating)
      return { kind: 'wait', reason: `rolling: waiting for ${name(o)} to be ready` };
    if (m === undefined || !m.healthy || (lagOf(raft, m) ?? Infinity) > maxLag) {
      return { kind: 'wait', reason: `rolling: waiting for ${name(o)} to be healthy and caught up` };
    }
  }
  const followers = outdated
    .filter((p) => name(p.ordinal) !== raft.leader)
    .sort((a, b) => b.ordinal - a.ordinal);
  const next = followers[0];
  const canRoll = (m: RaftMember) => canLoseVoter(m) || voters.length <= 2; // 1-2 voters: unavoidable downtime
  if (next !== undefined) {
    const m = memberAt(next.ordinal);
    if (m === undefined) return { kind: 'wait', reason: 'rolling: member vanished' };
    if (!canRoll(m))
      return { kind: 'refuse', reason: `rolling ${m.id} would leave fewer live voters than a quorum` };
    return { kind: 'roll-pod', member: m.id };
  }
  // Only the leader is outdated: hand leadership to an up-to-date member, then roll it.
  const leader = byId.get(raft.leader);
  if (leader === undefined) return { kind: 'wait', reason: 'leader not in membership' };
  if (voters.length === 1) return { kind: 'roll-pod', member: leader.id };
  const isOutdated = (m: RaftMember) => {
    const pod = podOf(m);
    return pod === undefined || isOutdatedPod(pod);
  };
  const to = transferTarget(isOutdated);
  if (to === undefined)
    return { kind: 'wait', reason: 'rolling: no up-to-date voter to take over leadership' };
  return { kind: 'transfer-leadership', from: leader.id, to: to.id };
}
