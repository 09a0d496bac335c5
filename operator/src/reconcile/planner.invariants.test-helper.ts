// Safety invariants every planned step must satisfy, whatever the observed state.
import type { PlanInput, RaftMember, Step } from './planner.ts';
import { DEFAULT_MAX_LEARNER_LAG, lagOf, memberName, ordinalOfMember } from './planner.ts';
import { quorum } from '../types.ts';

export function violations(input: PlanInput, step: Step): string[] {
  const out: string[] = [];
  const sts = input.statefulSetReplicas ?? 0;
  const raft = input.raft;
  const fenced = new Set(input.fenced ?? []);
  // Hibernation stops pods and nothing else (ADR 0076).
  if (input.hibernate === true && !['hibernate', 'wait', 'nothing'].includes(step.kind))
    out.push(`${step.kind} while hibernating`);
  if (step.kind === 'hibernate' && input.hibernate !== true) out.push('hibernates an awake cluster');
  if (raft === null) {
    const allowed =
      input.hibernate === true ? ['hibernate', 'wait', 'nothing'] : ['raise-statefulset', 'wait', 'refuse'];
    if (!allowed.includes(step.kind)) out.push(`${step.kind} without a leader`);
    if (step.kind === 'raise-statefulset' && sts >= 1)
      out.push('raised a running StatefulSet without a leader');
    return out;
  }
  const members = raft.members;
  const find = (id: string) => members.find((m) => m.id === id);
  const voters = members.filter((m) => m.role === 'voter');
  const pod = (m: RaftMember) => {
    const o = ordinalOfMember(input.clusterName, m.id);
    return o === undefined ? undefined : input.pods.find((p) => p.ordinal === o);
  };
  const live = (m: RaftMember) => m.healthy && pod(m) !== undefined && pod(m)?.terminating !== true;
  const liveVoters = voters.filter(live).length;
  const isMemberOrdinal = (o: number) => find(memberName(input.clusterName, o)) !== undefined;

  if (liveVoters < quorum(voters.length) && !['wait', 'refuse', 'nothing'].includes(step.kind)) {
    out.push(`${step.kind} while below quorum`);
  }
  switch (step.kind) {
    case 'remove-member':
    case 'replace-member': {
      const m = find(step.member);
      if (m === undefined) out.push(`removes non-member ${step.member}`);
      else {
        if (m.id === raft.leader) out.push('removes the leader');
        if (m.role === 'voter') {
          const remaining = liveVoters - (live(m) ? 1 : 0);
          if (remaining < quorum(voters.length - 1))
            out.push(`removing voter ${m.id} leaves ${remaining} live of ${voters.length - 1}`);
        }
      }
      break;
    }
    case 'promote': {
      const m = find(step.member);
      if (m?.role !== 'learner') out.push('promotes a non-learner');
      else {
        if (fenced.has(m.id)) out.push('promotes a fenced learner');
        if (!m.healthy || pod(m)?.ready !== true) out.push('promotes an unready learner');
        if ((lagOf(raft, m) ?? Infinity) > (input.maxLearnerLag ?? DEFAULT_MAX_LEARNER_LAG))
          out.push('promotes a lagging learner');
        if (liveVoters + 1 < quorum(voters.length + 1)) out.push('promotion breaks quorum');
      }
      break;
    }
    case 'add-learner': {
      if (isMemberOrdinal(step.ordinal)) out.push('adds an existing member');
      if (step.ordinal >= input.desiredReplicas) out.push('adds beyond desired');
      if (members.some((m) => m.role === 'learner')) out.push('adds a second learner');
      const p = input.pods.find((x) => x.ordinal === step.ordinal);
      if (p !== undefined && p.dataState !== 'empty')
        out.push(`adds ${step.member} with ${p.dataState} data`);
      if (p === undefined && input.pvcs.some((x) => x.ordinal === step.ordinal))
        out.push('adds a member whose old PVC still exists');
      break;
    }
    case 'transfer-leadership': {
      if (step.from !== raft.leader) out.push('transfers from a non-leader');
      const to = find(step.to);
      if (to === undefined || to.role !== 'voter' || !live(to) || to.id === raft.leader)
        out.push('transfers to an unfit member');
      if (fenced.has(step.to)) out.push('transfers leadership to a fenced member');
      break;
    }
    case 'demote': {
      const m = find(step.member);
      if (m?.role !== 'voter') out.push('demotes a non-voter');
      else {
        if (!fenced.has(m.id)) out.push('demotes an unfenced member');
        if (m.id === raft.leader) out.push('demotes the leader');
        const remaining = liveVoters - (live(m) ? 1 : 0);
        if (remaining < quorum(voters.length - 1)) out.push(`demoting ${m.id} breaks quorum`);
        if (voters.length - 1 < quorum(input.desiredReplicas))
          out.push(`demoting ${m.id} leaves fewer voters than a majority of the desired size`);
      }
      break;
    }
    case 'hibernate':
      break;
    case 'roll-pod': {
      const m = find(step.member);
      if (m === undefined) out.push('rolls a non-member');
      else {
        if (m.id === raft.leader && voters.length > 1) out.push('rolls the leader');
        if (voters.length > 2 && liveVoters - 1 < quorum(voters.length)) out.push('roll breaks quorum');
      }
      if (fenced.has(step.member)) out.push('rolls a fenced member');
      for (let o = 0; o < input.desiredReplicas; o++) {
        if (fenced.has(memberName(input.clusterName, o))) continue; // not ready by design
        if (input.pods.find((p) => p.ordinal === o)?.ready !== true)
          out.push(`rolls while ${o} is not ready`);
      }
      break;
    }
    case 'lower-statefulset':
      if (step.replicas >= sts) out.push('lower does not lower');
      for (let o = step.replicas; o < sts; o++)
        if (isMemberOrdinal(o)) out.push(`lowering drops member pod ${o}`);
      break;
    case 'raise-statefulset':
      if (step.replicas <= sts) out.push('raise does not raise');
      if (step.replicas > Math.max(1, input.desiredReplicas)) out.push('raises beyond desired');
      break;
    case 'delete-pvc':
    case 'mark-pvc-removed':
      if (isMemberOrdinal(step.ordinal)) out.push(`${step.kind} of a member`);
      break;
    case 'nothing':
    case 'wait':
    case 'refuse':
      break;
  }
  return out;
}
