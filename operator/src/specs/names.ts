// Names and labels of everything the operator owns for one KVCluster. One place, so the
// builders, the reconciler and the tests agree.
import type { KVCluster } from '../types.ts';
import { API_VERSION, KIND } from '../types.ts';

export const NODE_PORT = 8080;
/** With TLS, peer traffic has its own port (mutual TLS only); without, it shares NODE_PORT. */
export const PEER_PORT = 8081;
/** Where members mount their certificates (the `<name>-tls` Secret). */
export const TLS_DIR = '/etc/kv-store/tls';
export const DATA_DIR = '/var/lib/kv-store';
/** Where members mount the fence ConfigMap; the node reads FENCE_DIR/members (-fence-file). */
export const FENCE_DIR = '/etc/kv-store/fence';
export const FIELD_MANAGER = 'kv-store-operator';
export const CONFIG_HASH_ANNOTATION = 'kvstore.io/config-hash';
export const REMOVED_LABEL = 'kvstore.io/removed';

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller: boolean;
  blockOwnerDeletion: boolean;
}

export function names(kv: KVCluster) {
  const n = kv.metadata.name;
  return {
    statefulSet: n,
    peerService: `${n}-peers`,
    clientService: n,
    configMap: `${n}-config`,
    /** Members whose node refuses clients (fenced); mounted by every member (ADR 0076). */
    fenceConfigMap: `${n}-fence`,
    pdb: n,
    serviceAccount: `${n}-node`,
    /** The cluster CA with its key: read by the operator only. */
    caSecret: `${n}-ca`,
    /** Mounted by members: trust bundle and every member's certificate and key. */
    tlsSecret: `${n}-tls`,
    /** For clients: ca.crt only. */
    caBundleSecret: `${n}-ca-bundle`,
    /** For clients: username and password of root. */
    rootSecret: `${n}-root`,
    networkPolicy: `${n}-network`,
    volumeClaimTemplate: 'data',
    /** Pod name of member `ordinal` (also its Raft id). */
    member: (ordinal: number) => `${n}-${ordinal}`,
    /** PVC of member `ordinal`, as the StatefulSet controller names it. */
    pvc: (ordinal: number) => `data-${n}-${ordinal}`,
    /** Stable DNS name through the headless peer Service. */
    memberHost: (ordinal: number) => `${n}-${ordinal}.${n}-peers.${kv.metadata.namespace}.svc.cluster.local`,
  };
}

/** Selector labels: stable for the life of the cluster (a StatefulSet selector is immutable). */
export function selectorLabels(kv: KVCluster): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'kv-store',
    'app.kubernetes.io/instance': kv.metadata.name,
  };
}

export function commonLabels(kv: KVCluster): Record<string, string> {
  return {
    ...selectorLabels(kv),
    'app.kubernetes.io/component': 'node',
    'app.kubernetes.io/managed-by': 'kv-store-operator',
    'app.kubernetes.io/part-of': 'kv-store',
  };
}

export function selectorString(kv: KVCluster): string {
  return Object.entries(selectorLabels(kv))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

export function ownerReference(kv: KVCluster): OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: kv.metadata.name,
    uid: kv.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function objectMeta(kv: KVCluster, name: string, extraLabels: Record<string, string> = {}) {
  return {
    name,
    namespace: kv.metadata.namespace,
    labels: { ...commonLabels(kv), ...extraLabels },
    ownerReferences: [ownerReference(kv)],
  };
}

/** Ordinal of a member name `<cluster>-<n>`, or undefined for a name not of this cluster. */
export function ordinalOf(clusterName: string, member: string): number | undefined {
  const prefix = `${clusterName}-`;
  if (!member.startsWith(prefix)) return undefined;
  const rest = member.slice(prefix.length);
  if (!/^(0|[1-9][0-9]{0,3})$/.test(rest)) return undefined;
  return Number(rest);
}
