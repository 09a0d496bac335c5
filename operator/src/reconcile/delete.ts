// Deletion. Every owned object carries an owner reference to the KVCluster, and member PVCs
// follow storage.onClusterDeletion through the StatefulSet's PVC retention policy (and the
// owner reference put on retained PVCs), so Kubernetes garbage collection does the cleanup and
// no finalizer is needed. This file only removes a finalizer an older operator version might
// have left, so deletion can never hang on us.
import type { KVCluster } from '../types.ts';
import { API_VERSION, KIND } from '../types.ts';
import type { Kube } from '../kube/kube.ts';

export const LEGACY_FINALIZER = 'kvstore.io/finalizer';

export async function handleDeletion(kube: Kube, kv: KVCluster): Promise<void> {
  const finalizers = kv.metadata.finalizers ?? [];
  if (!finalizers.includes(LEGACY_FINALIZER)) return;
  await kube.mergePatch(API_VERSION, KIND, kv.metadata.namespace, kv.metadata.name, {
    metadata: { finalizers: finalizers.filter((f) => f !== LEGACY_FINALIZER) },
  });
}
