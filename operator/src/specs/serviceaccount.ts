// Nodes never talk to the Kubernetes API, so their ServiceAccount mounts no token.
import type { V1ServiceAccount } from '@kubernetes/client-node';
import type { KVCluster } from '../types.ts';
import { names, objectMeta } from './names.ts';

export function buildServiceAccount(kv: KVCluster): V1ServiceAccount {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: objectMeta(kv, names(kv).serviceAccount),
    automountServiceAccountToken: false,
  };
}
