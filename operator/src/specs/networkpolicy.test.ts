import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KVCluster } from '../types.ts';
import { buildNetworkPolicy } from './networkpolicy.ts';

const kv = {
  apiVersion: 'kvstore.io/v1alpha1',
  kind: 'KVCluster',
  metadata: { name: 'demo', namespace: 'apps', uid: 'u1' },
  spec: {},
} as unknown as KVCluster;
const operator = {
  namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kv-store-system' } },
  podSelector: { matchLabels: { app: 'kv-store-operator' } },
};

test('the peer port admits only members of this cluster', () => {
  const np = buildNetworkPolicy(kv, { client: 8080, peer: 8081 }, undefined, operator);
  const peerRule = np.spec!.ingress!.find((r) => r.ports?.some((p) => p.port === 8081))!;
  assert.deepEqual(peerRule._from, [
    {
      podSelector: {
        matchLabels: { 'app.kubernetes.io/name': 'kv-store', 'app.kubernetes.io/instance': 'demo' },
      },
    },
  ]);
  assert.deepEqual(np.spec!.podSelector, peerRule._from[0]!.podSelector);
  assert.deepEqual(np.spec!.policyTypes, ['Ingress']);
  assert.equal(np.metadata!.namespace, 'apps');
  assert.equal(np.metadata!.ownerReferences![0]!.uid, 'u1');
});

test('the client port admits the namespace by default, or exactly the allowed clients, plus members and the operator', () => {
  const byDefault = buildNetworkPolicy(kv, { client: 8080, peer: 8081 }, undefined, operator);
  const rule = (np: typeof byDefault) =>
    np.spec!.ingress!.find((r) => r.ports?.some((p) => p.port === 8080))!;
  assert.deepEqual(rule(byDefault)._from!.at(-1), { podSelector: {} }, 'every pod of the namespace');
  const custom = buildNetworkPolicy(
    kv,
    { client: 8080, peer: 8081 },
    [{ namespaceSelector: { matchLabels: { team: 'a' } } }],
    operator,
  );
  const from = rule(custom)._from!;
  assert.equal(from.length, 3);
  assert.deepEqual(from[1], operator);
  assert.deepEqual(from[2], { namespaceSelector: { matchLabels: { team: 'a' } } });
  const none = buildNetworkPolicy(kv, { client: 8080, peer: 8081 }, [], operator);
  assert.equal(rule(none)._from!.length, 2, 'members and the operator only');
});
