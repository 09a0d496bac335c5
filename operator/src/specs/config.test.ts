import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildConfigMap, configHash } from './config.ts';
import { kvcluster } from './fixture.test-helper.ts';
import { withDefaults } from '../types.ts';

void test('ConfigMap carries the tuning as node environment', () => {
  const cm = buildConfigMap(
    kvcluster({ tuning: { tickMs: 50, electionTicks: 20, snapshotThreshold: 500, logLevel: 'debug' } }),
  );
  assert.equal(cm.metadata?.name, 'demo-config');
  assert.deepEqual(cm.data, {
    KVSTORE_TICK_MS: '50',
    KVSTORE_ELECTION_TICKS: '20',
    KVSTORE_SNAPSHOT_THRESHOLD: '500',
    KVSTORE_LOG_LEVEL: 'debug',
    KVSTORE_CLUSTER_TOKEN: 'uid-1234',
  });
  assert.equal(cm.metadata?.ownerReferences?.[0]?.name, 'demo');
});

void test('config hash changes with image and tuning, not with replicas or storage policy', () => {
  const base = configHash(kvcluster());
  assert.equal(configHash(kvcluster()), base);
  assert.notEqual(configHash(kvcluster({ image: 'kv-store:2' })), base);
  assert.notEqual(configHash(kvcluster({ tuning: { ...withDefaults({}).tuning, electionTicks: 11 } })), base);
  assert.equal(configHash(kvcluster({ replicas: 5 })), base);
  assert.equal(
    configHash(kvcluster({ storage: { ...withDefaults({}).storage, onMemberRemoval: 'Retain' } })),
    base,
  );
});
