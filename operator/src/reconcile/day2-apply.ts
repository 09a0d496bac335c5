// The I/O half of the day-2 requests (day2.ts parses them, the planner decides membership):
// the fence file every member reads, and the StorageResized condition with its events.
import type { Condition, KVCluster } from '../types.ts';
import type { Kube } from '../kube/kube.ts';
import type { Logger } from '../observability/log.ts';
import { buildFenceConfigMap } from '../specs/fence.ts';
import type { PlanInput } from './planner.ts';
import { fenceFileMembers, fencedMembers, restartRequests } from './day2.ts';
import { record } from './events.ts';
import type { StoragePlan } from './storage.ts';
import { storageCondition } from './storage.ts';

/**
 * Writes the fence ConfigMap: fenced members that no longer vote. Without a leader the voters
 * are the ones the last status recorded, so a member is never unfenced for want of a leader.
 */
export async function applyFenceFile(
  kube: Kube,
  log: Logger,
  kv: KVCluster,
  input: PlanInput,
): Promise<void> {
  const parsed = fencedMembers(kv);
  if (parsed.problem !== undefined)
    log.warn('annotation ignored', { cluster: kv.metadata.name, problem: parsed.problem });
  const restarts = restartRequests(kv);
  if (restarts.problem !== undefined)
    log.warn('annotation ignored', { cluster: kv.metadata.name, problem: restarts.problem });
  const voters = new Set(
    input.raft !== null
      ? input.raft.members.filter((m) => m.role === 'voter').map((m) => m.id)
      : (kv.status?.members ?? []).filter((m) => m.role === 'voter').map((m) => m.name),
  );
  await kube.apply(buildFenceConfigMap(kv, fenceFileMembers(parsed.value, voters)));
}

/** StorageResized (when a resize was ever asked for), with a Warning when it starts refusing. */
export async function day2Status(
  kube: Kube,
  log: Logger,
  kv: KVCluster,
  plan: StoragePlan,
  now: string,
): Promise<Condition[]> {
  const prev = kv.status?.conditions;
  const c = storageCondition(plan, kv.spec.storage?.size ?? '', prev);
  if (c === undefined) return [];
  const old = prev?.find((p) => p.type === 'StorageResized');
  if (
    c.status === 'False' &&
    c.reason !== 'Resizing' &&
    (old?.reason !== c.reason || old.message !== c.message)
  )
    await record(kube, log, kv, {
      type: 'Warning',
      reason: c.reason === 'ShrinkRefused' ? 'VolumeShrinkRefused' : 'VolumeExpansionNotAllowed',
      message: c.message,
    });
  return [
    {
      ...c,
      observedGeneration: kv.metadata.generation ?? 0,
      lastTransitionTime: old !== undefined && old.status === c.status ? old.lastTransitionTime : now,
    },
  ];
}
