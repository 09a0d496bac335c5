// The NetworkPolicy of a cluster (issue 14): the peer port admits only members of the same
// KVCluster; the client port admits what spec.network.allowedClients says (namespace and pod
// selectors), all of the cluster's namespace by default. Egress is not restricted.
import type { V1LabelSelector, V1NetworkPolicy, V1NetworkPolicyPeer } from '@kubernetes/client-node';
import type { KVCluster } from '../types.ts';
import { names, objectMeta, selectorLabels } from './names.ts';

export interface AllowedClient {
  namespaceSelector?: V1LabelSelector;
  podSelector?: V1LabelSelector;
}

export interface NetworkPolicyPorts {
  client: number;
  peer: number;
}

/** `allowedClients` undefined: the cluster's own namespace; an empty list: nobody but the operator. */
export function buildNetworkPolicy(
  kv: KVCluster,
  ports: NetworkPolicyPorts,
  allowedClients: AllowedClient[] | undefined,
  operator: AllowedClient,
): V1NetworkPolicy {
  const members: V1NetworkPolicyPeer = { podSelector: { matchLabels: selectorLabels(kv) } };
  const clients: V1NetworkPolicyPeer[] =
    allowedClients === undefined ? [{ podSelector: {} }] : allowedClients.map((c) => ({ ...c }));
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: objectMeta(kv, names(kv).networkPolicy),
    spec: {
      podSelector: { matchLabels: selectorLabels(kv) },
      policyTypes: ['Ingress'],
      ingress: [
        { _from: [members], ports: [{ protocol: 'TCP', port: ports.peer }] },
        // Members forward to each other's client port too; the operator reads status and changes membership.
        { _from: [members, { ...operator }, ...clients], ports: [{ protocol: 'TCP', port: ports.client }] },
      ],
    },
  };
}
