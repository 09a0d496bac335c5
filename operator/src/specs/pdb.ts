// PodDisruptionBudget: voluntary disruptions (drains, evictions) may take down at most the
// members the cluster can lose and keep a quorum. 1 or 2 members: none.
import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import type { KVCluster } from '../types.ts';
import { quorum, withDefaults } from '../types.ts';
import { names, objectMeta, selectorLabels } from './names.ts';

export function maxUnavailableFor(replicas: number): number {
  return Math.max(0, replicas - quorum(replicas));
}

export function buildPodDisruptionBudget(kv: KVCluster): V1PodDisruptionBudget {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: objectMeta(kv, names(kv).pdb),
    spec: {
      maxUnavailable: maxUnavailableFor(withDefaults(kv.spec).replicas),
      selector: { matchLabels: selectorLabels(kv) },
    },
  };
}
