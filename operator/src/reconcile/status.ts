// Status of a KVCluster, computed (purely) from the observation and the planned step, and
// written through the status subresource.
import type { Condition, KVClusterStatus, MemberStatus, OperationStatus, Phase } from '../types.ts';
import { quorum, withDefaults } from '../types.ts';
import { configHash } from '../specs/config.ts';
import { selectorString } from '../specs/names.ts';
import type { PlanInput, Step } from './planner.ts';
import { lagOf, memberName, operationKindOf, ordinalOfMember } from './planner.ts';
import type { Observation } from './observe.ts';
import { clusterIdOf, currentVolumes } from './observe.ts';

export function phaseOf(input: PlanInput, step: Step, paused: boolean): Phase {
  if (paused) return 'Paused';
  if (input.hibernate === true) return 'Hibernated';
  if (!input.bootstrapped) return input.statefulSetReplicas === null ? 'Pending' : 'Creating';
  if (input.raft === null) return 'NoQuorum';
  switch (step.kind) {
    case 'refuse':
      return 'Degraded';
    case 'roll-pod':
      return 'Upgrading';
    case 'replace-member':
      return 'Replacing';
    case 'demote':
      return 'Degraded';
    case 'nothing':
      return 'Available';
    case 'transfer-leadership':
      return operationKindOf(step, input) === 'Roll' ? 'Upgrading' : 'Scaling';
    case 'wait': {
      const op = input.operation?.kind;
      if (op === 'Roll') return 'Upgrading';
      if (op === 'Replace') return 'Replacing';
      return input.raft.members.length === 1 && input.desiredReplicas > 1 && input.operation === null
        ? 'Creating'
        : 'Scaling';
    }
    default:
      return 'Scaling';
  }
}

export function membersOf(input: PlanInput): MemberStatus[] {
  const out = new Map<string, MemberStatus>();
  for (const p of input.pods) {
    const name = memberName(input.clusterName, p.ordinal);
    out.set(name, { name, role: 'none', healthy: false, ready: p.ready });
  }
  for (const m of input.raft?.members ?? []) {
    const o = ordinalOfMember(input.clusterName, m.id);
    const name = o === undefined ? m.id : memberName(input.clusterName, o);
    const prev = out.get(name);
    const lag = input.raft === null ? undefined : lagOf(input.raft, m);
    out.set(name, {
      name,
      id: m.id,
      role: m.role,
      healthy: m.healthy,
      ready: prev?.ready ?? false,
      ...(lag !== undefined ? { lag } : {}),
    });
  }
  return [...out.values()].sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
}

function condition(
  prev: Condition[] | undefined,
  c: Omit<Condition, 'lastTransitionTime'>,
  now: string,
): Condition {
  const old = prev?.find((p) => p.type === c.type);
  return {
    ...c,
    lastTransitionTime: old !== undefined && old.status === c.status ? old.lastTransitionTime : now,
  };
}

export function nextOperation(input: PlanInput, step: Step, now: string): OperationStatus | undefined {
  if (step.kind === 'nothing') return undefined;
  if (step.kind === 'wait' || step.kind === 'refuse') {
    return input.operation === null ? undefined : { ...input.operation, message: step.reason };
  }
  const kind = operationKindOf(step, input);
  if (kind === undefined) return undefined;
  const member =
    'member' in step
      ? step.member
      : step.kind === 'transfer-leadership'
        ? step.from
        : `replicas=${'replicas' in step ? step.replicas : ''}`;
  const prev = input.operation;
  const startedAt = prev !== null && prev.kind === kind ? prev.startedAt : now;
  return { kind, member, step: step.kind, startedAt };
}

/**
 * The volume each member's Raft state lives on: recorded while it is not yet a voter, then kept,
 * so a voter later found on another PVC is known to have lost its state (see observe.ts).
 */
export function withVolumes(
  members: MemberStatus[],
  previous: MemberStatus[] | undefined,
  volumes: Map<number, string>,
  cluster: string,
): MemberStatus[] {
  const prev = new Map((previous ?? []).map((m) => [m.name, m]));
  return members.map((m) => {
    const o = ordinalOfMember(cluster, m.name);
    const current = o === undefined ? undefined : volumes.get(o);
    const kept = m.role === 'voter' ? prev.get(m.name)?.volume : undefined;
    const volume = kept ?? current;
    return volume === undefined ? m : { ...m, volume };
  });
}

export function buildStatus(obs: Observation, input: PlanInput, step: Step, now: string): KVClusterStatus {
  const kv = obs.kv;
  const spec = withDefaults(kv.spec);
  const prev = kv.status?.conditions;
  const live = withVolumes(membersOf(input), kv.status?.members, currentVolumes(obs), input.clusterName);
  // Hibernating: members stop answering one by one; the last ones seen are kept (not ready), with
  // their volumes, so the status still lists the cluster that will wake.
  const asleep = input.hibernate === true && input.pods.length === 0;
  const members = input.hibernate === true ? keepMembers(kv.status?.members ?? [], live) : live;
  const voters = members.filter((m) => m.role === 'voter');
  const learners = members.filter((m) => m.role === 'learner');
  const readyVoters = voters.filter((m) => m.ready && m.healthy).length;
  const available = input.raft !== null && readyVoters >= quorum(Math.max(1, voters.length));
  const consistent =
    input.raft !== null &&
    learners.length === 0 &&
    voters.length === spec.replicas &&
    members.every((m) => m.role === 'voter' && ordinalOfMember(input.clusterName, m.name) !== undefined) &&
    input.pods.length === spec.replicas;
  const progressing = !['nothing', 'refuse'].includes(step.kind);
  const degraded =
    !asleep &&
    (step.kind === 'refuse' || (input.raft === null && input.bootstrapped) || voters.some((v) => !v.healthy));
  const reason = step.kind === 'wait' || step.kind === 'refuse' ? step.reason : step.kind;
  const gen = kv.metadata.generation ?? 0;
  const conditions: Condition[] = [
    condition(
      prev,
      {
        type: 'Available',
        status: available ? 'True' : 'False',
        observedGeneration: gen,
        reason: available ? 'QuorumReady' : input.raft === null ? 'NoLeader' : 'QuorumNotReady',
        message: `${readyVoters} of ${voters.length} voters ready`,
      },
      now,
    ),
    condition(
      prev,
      {
        type: 'Progressing',
        status: progressing ? 'True' : 'False',
        observedGeneration: gen,
        reason: progressing ? camel(step.kind) : 'Idle',
        message: progressing ? reason : 'nothing to do',
      },
      now,
    ),
    condition(
      prev,
      {
        type: 'Degraded',
        status: degraded ? 'True' : 'False',
        observedGeneration: gen,
        reason: step.kind === 'refuse' ? 'Refused' : degraded ? 'MembersUnhealthy' : 'Healthy',
        message:
          step.kind === 'refuse'
            ? step.reason
            : `${voters.filter((v) => !v.healthy).length} unhealthy voters`,
      },
      now,
    ),
    condition(
      prev,
      {
        type: 'MembershipConsistent',
        status: consistent ? 'True' : 'False',
        observedGeneration: gen,
        reason: consistent ? 'Consistent' : 'Converging',
        message: `raft: ${voters.length} voters, ${learners.length} learners; pods: ${input.pods.length}; desired: ${spec.replicas}`,
      },
      now,
    ),
  ];
  conditions.push(...day2Conditions(input, prev, gen, now));
  const leader = input.raft?.leader;
  const clusterId = clusterIdOf(obs);
  const operation = nextOperation(input, step, now);
  return {
    observedGeneration: gen,
    // "Available" only when a quorum of voters is actually ready (e.g. not after a node outage).
    phase: ((p) => (p === 'Available' && !available ? 'Degraded' : p))(phaseOf(input, step, spec.paused)),
    replicas: input.pods.length,
    readyReplicas: input.pods.filter((p) => p.ready).length,
    voters: voters.length,
    learners: learners.length,
    ...(leader !== undefined ? { leader } : {}),
    ...(clusterId !== undefined ? { clusterId } : {}),
    selector: selectorString(kv),
    image: spec.image,
    configHash: configHash(kv),
    members,
    ...(operation !== undefined ? { operation } : {}),
    conditions,
  };
}

/** Every member seen before, not ready unless it still answers, plus those that answer now. */
export function keepMembers(previous: MemberStatus[], live: MemberStatus[]): MemberStatus[] {
  const byName = new Map(live.map((m) => [m.name, m]));
  const kept = previous.map((m) => {
    const now = byName.get(m.name);
    if (now === undefined) return { ...m, ready: false, healthy: false };
    // Without a leader a stopping pod has no Raft role to report: keep the one it had.
    return now.role === 'none' && m.role !== 'none' ? { ...m, ready: now.ready, healthy: false } : now;
  });
  const extra = live.filter((m) => !previous.some((p) => p.name === m.name));
  return [...kept, ...extra].sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
}

/** Hibernated and Fenced: present once they were ever true, so `kubectl get` shows the change back. */
export function day2Conditions(
  input: PlanInput,
  prev: Condition[] | undefined,
  gen: number,
  now: string,
): Condition[] {
  const out: Condition[] = [];
  const had = (type: Condition['type']) => prev?.some((c) => c.type === type) === true;
  const hibernating = input.hibernate === true;
  if (hibernating || had('Hibernated')) {
    const done = hibernating && (input.statefulSetReplicas ?? 0) === 0 && input.pods.length === 0;
    out.push(
      condition(
        prev,
        {
          type: 'Hibernated',
          status: done ? 'True' : 'False',
          observedGeneration: gen,
          reason: done ? 'Hibernated' : hibernating ? 'Hibernating' : 'Awake',
          message: done
            ? 'every member stopped; volumes and membership kept'
            : hibernating
              ? `stopping members (${input.pods.length} pods left)`
              : 'spec.hibernate is false: members running',
        },
        now,
      ),
    );
  }
  const fenced = input.fenced ?? [];
  if (fenced.length > 0 || had('Fenced')) {
    const stillVoting = fenced.filter((f) =>
      input.raft?.members.some((m) => m.id === f && m.role === 'voter'),
    );
    out.push(
      condition(
        prev,
        {
          type: 'Fenced',
          status: fenced.length > 0 && stillVoting.length === 0 ? 'True' : 'False',
          observedGeneration: gen,
          reason: fenced.length === 0 ? 'NoneFenced' : stillVoting.length > 0 ? 'Fencing' : 'Fenced',
          message:
            fenced.length === 0
              ? 'no member fenced'
              : `fenced: ${fenced.join(', ')}${stillVoting.length > 0 ? `; still voting: ${stillVoting.join(', ')}` : ''}`,
        },
        now,
      ),
    );
  }
  return out;
}

function camel(kind: string): string {
  return kind.replace(/(^|-)([a-z])/g, (_m, _d: string, c: string) => c.toUpperCase());
}
