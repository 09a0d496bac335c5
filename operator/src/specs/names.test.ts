import { test } from 'node:test';
import assert from 'node:assert/strict';
import { names, ordinalOf, ownerReference, selectorString } from './names.ts';
import { kvcluster } from './fixture.test-helper.ts';

void test('member names, PVC names and DNS names follow the StatefulSet conventions', () => {
  const n = names(kvcluster());
  assert.equal(n.member(2), 'demo-2');
  assert.equal(n.pvc(2), 'data-demo-2');
  assert.equal(n.memberHost(0), 'demo-0.demo-peers.ns1.svc.cluster.local');
});

void test('ordinalOf accepts only this cluster members', () => {
  assert.equal(ordinalOf('demo', 'demo-0'), 0);
  assert.equal(ordinalOf('demo', 'demo-12'), 12);
  assert.equal(ordinalOf('demo', 'demo-01'), undefined);
  assert.equal(ordinalOf('demo', 'demox-1'), undefined);
  assert.equal(ordinalOf('demo', 'other-1'), undefined);
  assert.equal(ordinalOf('demo', 'demo-'), undefined);
  assert.equal(ordinalOf('demo-1', 'demo-1-3'), 3);
});

void test('owner reference makes the KVCluster the controller', () => {
  const ref = ownerReference(kvcluster());
  assert.equal(ref.kind, 'KVCluster');
  assert.equal(ref.uid, 'uid-1234');
  assert.equal(ref.controller, true);
  assert.equal(
    selectorString(kvcluster()),
    'app.kubernetes.io/name=kv-store,app.kubernetes.io/instance=demo',
  );
});
