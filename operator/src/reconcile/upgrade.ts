// Rolling updates: the StatefulSet uses OnDelete, so a pod picks up a new image or tuning only
// when the operator deletes it. The planner decides which pod and when (followers first, one at
// a time, each ready and caught up; the leader last after a leadership transfer).
import type { KVCluster } from '../types.ts';
import type { Kube } from '../kube/kube.ts';

export async function rollPod(kube: Kube, kv: KVCluster, member: string): Promise<void> {
  await kube.delete('v1', 'Pod', kv.metadata.namespace, member);
}
