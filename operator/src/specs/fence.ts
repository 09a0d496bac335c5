// The fence ConfigMap: one member name a line, the members whose node refuses client requests
// and reports NotReady (node flag -fence-file). Every member mounts it; the kubelet updates the
// file in place, so fencing needs no restart (ADR 0076).
import type { V1ConfigMap } from '@kubernetes/client-node';
import type { KVCluster } from '../types.ts';
import { names, objectMeta } from './names.ts';

export const FENCE_FILE_KEY = 'members';

export function buildFenceConfigMap(kv: KVCluster, members: readonly string[]): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: objectMeta(kv, names(kv).fenceConfigMap),
    data: { [FENCE_FILE_KEY]: members.map((m) => `${m}\n`).join('') },
  };
}
