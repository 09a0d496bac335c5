// Creation and steady state of the owned objects: everything except membership is declarative
// and re-applied (server-side apply, owner references) on every reconcile.
import type { KVCluster } from '../types.ts';
import { withDefaults } from '../types.ts';
import type { Kube } from '../kube/kube.ts';
import {
  NODE_PORT,
  PEER_PORT,
  buildNetworkPolicy,
  type AllowedClient,
  buildClientService,
  buildConfigMap,
  buildPeerService,
  buildPodDisruptionBudget,
  buildServiceAccount,
  buildStatefulSet,
} from '../specs/index.ts';

export async function applyOwnedObjects(kube: Kube, kv: KVCluster, operator: AllowedClient): Promise<void> {
  await kube.apply(buildServiceAccount(kv));
  await kube.apply(buildConfigMap(kv));
  await kube.apply(buildPeerService(kv));
  await kube.apply(buildClientService(kv));
  await kube.apply(buildPodDisruptionBudget(kv));
  const spec = withDefaults(kv.spec);
  if (spec.network.policy) {
    // Without TLS peers share the client port, so it can only be as closed as the client rule.
    const ports = { client: NODE_PORT, peer: spec.tls.enabled ? PEER_PORT : NODE_PORT };
    await kube.apply(buildNetworkPolicy(kv, ports, spec.network.allowedClients, operator));
  }
}

/** Applies the StatefulSet with the replica count the planner wants right now. */
export async function applyStatefulSet(
  kube: Kube,
  kv: KVCluster,
  replicas: number,
  bootstrapped: boolean,
): Promise<void> {
  await kube.apply(buildStatefulSet(kv, { replicas, bootstrapped }));
}
