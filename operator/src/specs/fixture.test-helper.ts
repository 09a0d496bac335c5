// Test fixture: a KVCluster as the API server would return it after defaulting.
import type { KVCluster, KVClusterSpec } from '../types.ts';
import { withDefaults } from '../types.ts';

export function kvcluster(spec: Partial<KVClusterSpec> = {}, name = 'demo', namespace = 'ns1'): KVCluster {
  return {
    apiVersion: 'kvstore.io/v1alpha1',
    kind: 'KVCluster',
    metadata: { name, namespace, uid: 'uid-1234', generation: 1 },
    spec: withDefaults(spec),
  };
}
