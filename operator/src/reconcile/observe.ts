// Turns what the operator reads (Kubernetes objects, node /v1/status answers) into the
// planner's input. Pure: the I/O that gathers an Observation lives in reconciler.ts.
import type { V1PersistentVolumeClaim, V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import type { KVCluster } from '../types.ts';
import { withDefaults } from '../types.ts';
import { configHash } from '../specs/config.ts';
import { CONFIG_HASH_ANNOTATION, REMOVED_LABEL, names, ordinalOf } from '../specs/names.ts';
import type { DataState, ObservedPod, ObservedPvc, PlanInput, RaftView } from './planner.ts';
import type { NodeStatus } from './nodeclient.ts';
import { fencedMembers, restartDue, restartRequests } from './day2.ts';

export interface Observation {
  kv: KVCluster;
  statefulSet: V1StatefulSet | null;
  pods: V1Pod[];
  pvcs: V1PersistentVolumeClaim[];
  /** /v1/status of the node in each pod (by pod name); null when it did not answer. */
  nodeStatuses: Map<string, NodeStatus | null>;
}

export function isPodReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
}

/** The leader's status: the node claiming leadership in the highest term. */
export function leaderStatus(obs: Observation): NodeStatus | null {
  let best: NodeStatus | null = null;
  for (const s of obs.nodeStatuses.values()) {
    if (s?.state === 'leader' && (best === null || s.term > best.term)) best = s;
  }
  return best;
}

export function raftView(leader: NodeStatus | null): RaftView | null {
  if (leader === null) return null;
  return {
    leader: leader.id,
    commitIndex: leader.commitIndex,
    members: leader.members.map((m) => ({
      id: m.id,
      role: m.role,
      healthy: m.id === leader.id ? true : (m.healthy ?? false),
      ...(m.id === leader.id
        ? { matchIndex: leader.commitIndex }
        : m.matchIndex !== undefined
          ? { matchIndex: m.matchIndex }
          : {}),
    })),
  };
}

export function clusterIdOf(obs: Observation): string | undefined {
  const recorded = obs.kv.status?.clusterId;
  if (recorded !== undefined && recorded !== '') return recorded;
  const leader = leaderStatus(obs);
  return leader?.clusterId ?? undefined;
}

export function dataStateOf(status: NodeStatus | null | undefined, clusterId: string | undefined): DataState {
  if (status === null || status === undefined) return 'unknown';
  // The node refused its own data and serves only its status (docs/adr/0077).
  if (status.dataState === 'corrupt' || status.dataState === 'lost') return status.dataState;
  // A removed member keeps (and refuses to rejoin with) its old state: stale, wipe before reuse.
  if (status.state === 'removed')
    return clusterId !== undefined && status.clusterId !== '' && status.clusterId !== clusterId
      ? 'foreign'
      : 'cluster';
  if (status.clusterId === null || status.clusterId === '') return 'empty';
  if (clusterId !== undefined && status.clusterId !== clusterId) return 'foreign';
  return 'cluster';
}

export function isBootstrapped(obs: Observation): boolean {
  if (clusterIdOf(obs) !== undefined) return true;
  const args = obs.statefulSet?.spec?.template.spec?.containers[0]?.args ?? [];
  return args.includes('-join');
}

/** UID of the live (not terminating) PVC of each ordinal. */
export function currentVolumes(obs: Observation): Map<number, string> {
  const out = new Map<number, string>();
  const prefix = `${names(obs.kv).volumeClaimTemplate}-`;
  for (const c of obs.pvcs) {
    if (c.metadata?.deletionTimestamp !== undefined && c.metadata.deletionTimestamp !== null) continue;
    const name = c.metadata?.name ?? '';
    if (!name.startsWith(prefix)) continue;
    const ordinal = ordinalOf(obs.kv.metadata.name, name.slice(prefix.length));
    if (ordinal !== undefined && c.metadata?.uid !== undefined) out.set(ordinal, c.metadata.uid);
  }
  return out;
}

export function toPlanInput(obs: Observation): PlanInput {
  const kv = obs.kv;
  const spec = withDefaults(kv.spec);
  const n = names(kv);
  const clusterId = clusterIdOf(obs);
  const pods: ObservedPod[] = [];
  const volumes = currentVolumes(obs);
  const recorded = new Map((kv.status?.members ?? []).map((m) => [m.name, m.volume]));
  const raftIds = new Set(raftView(leaderStatus(obs))?.members.map((m) => m.id) ?? []);
  const restarts = restartRequests(kv).value;
  for (const p of obs.pods) {
    const name = p.metadata?.name ?? '';
    const ordinal = ordinalOf(kv.metadata.name, name);
    if (ordinal === undefined) continue;
    let dataState = dataStateOf(obs.nodeStatuses.get(name), clusterId);
    // A member now running on a different volume than the one its Raft state was on lost that
    // state, whatever its node says (an empty node may re-adopt the cluster id from the leader).
    const was = recorded.get(name);
    const now = volumes.get(ordinal);
    if (raftIds.has(name) && was !== undefined && now !== undefined && was !== now) dataState = 'empty';
    pods.push({
      ordinal,
      ready: isPodReady(p),
      terminating: p.metadata?.deletionTimestamp !== undefined && p.metadata.deletionTimestamp !== null,
      configHash: p.metadata?.annotations?.[CONFIG_HASH_ANNOTATION],
      dataState,
      restartDue: restartDue(restarts, name, createdAt(p)),
    });
  }
  const pvcs: ObservedPvc[] = [];
  for (const c of obs.pvcs) {
    // A PVC being deleted is as good as gone (its deletion waits only for its pod).
    if (c.metadata?.deletionTimestamp !== undefined && c.metadata.deletionTimestamp !== null) continue;
    const name = c.metadata?.name ?? '';
    const prefix = `${n.volumeClaimTemplate}-`;
    if (!name.startsWith(prefix)) continue;
    const ordinal = ordinalOf(kv.metadata.name, name.slice(prefix.length));
    if (ordinal === undefined) continue;
    pvcs.push({ ordinal, markedRemoved: c.metadata?.labels?.[REMOVED_LABEL] === 'true' });
  }
  return {
    clusterName: kv.metadata.name,
    desiredReplicas: spec.replicas,
    desiredConfigHash: configHash(kv),
    onMemberRemoval: spec.storage.onMemberRemoval,
    bootstrapped: isBootstrapped(obs),
    statefulSetReplicas: obs.statefulSet === null ? null : (obs.statefulSet.spec?.replicas ?? 0),
    pods,
    pvcs,
    raft: raftView(leaderStatus(obs)),
    operation: kv.status?.operation ?? null,
    hibernate: spec.hibernate,
    fenced: fencedMembers(kv).value,
  };
}

function createdAt(p: V1Pod): number | undefined {
  const t = p.metadata?.creationTimestamp;
  if (t === undefined || t === null) return undefined;
  return t instanceof Date ? t.getTime() : Date.parse(String(t));
}
