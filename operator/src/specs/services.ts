// The two Services of a cluster: a headless one giving every member a stable DNS name for peer
// traffic, and the client Service that load-balances over ready members only.
import type { V1Service } from '@kubernetes/client-node';
import type { KVCluster } from '../types.ts';
import { withDefaults } from '../types.ts';
import { NODE_PORT, PEER_PORT, names, objectMeta, selectorLabels } from './names.ts';

export function buildPeerService(kv: KVCluster): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: objectMeta(kv, names(kv).peerService),
    spec: {
      clusterIP: 'None',
      // Peers must resolve each other before they are ready: a joining learner is not ready
      // until it has caught up, and it can only catch up once the leader can reach it.
      publishNotReadyAddresses: true,
      selector: selectorLabels(kv),
      ports: withDefaults(kv.spec).tls.enabled
        ? [
            { name: 'peer', port: PEER_PORT, targetPort: 'peer', protocol: 'TCP' },
            { name: 'http', port: NODE_PORT, targetPort: 'http', protocol: 'TCP' },
          ]
        : [{ name: 'peer', port: NODE_PORT, targetPort: 'http', protocol: 'TCP' }],
    },
  };
}

export function buildClientService(kv: KVCluster): V1Service {
  const svc = withDefaults(kv.spec).service;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: objectMeta(kv, names(kv).clientService),
    spec: {
      type: svc.type,
      selector: selectorLabels(kv),
      ports: [{ name: 'http', port: svc.port, targetPort: 'http', protocol: 'TCP' }],
    },
  };
}
