import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kvcluster } from '../specs/fixture.test-helper.ts';
import type { KVClusterSpec } from '../types.ts';
import { MAX_ATTEMPTS, planBackup } from './kvbackup.ts';
import type { KVBackup, KVBackupStatus } from './types.ts';

const backup = (status?: KVBackupStatus): KVBackup => ({
  apiVersion: 'kvstore.io/v1alpha1',
  kind: 'KVBackup',
  metadata: { name: 'b1', namespace: 'ns1', uid: 'u' },
  spec: { cluster: 'demo' },
  ...(status ? { status } : {}),
});
const archived = kvcluster({
  backup: { destination: { url: 's3://b/p/', credentialsSecret: 's' } } as KVClusterSpec['backup'],
});

void test('a KVBackup is taken through the leader of a cluster that archives, retried, then failed', () => {
  assert.deepEqual(planBackup(backup(), archived, true), { kind: 'take', attempt: 1 });
  assert.deepEqual(planBackup(backup({ phase: 'Running', attempts: 1 }), archived, true), {
    kind: 'take',
    attempt: 2,
  });
  assert.equal(planBackup(backup({ phase: 'Running', attempts: MAX_ATTEMPTS }), archived, true).kind, 'fail');
  assert.equal(planBackup(backup(), archived, false).kind, 'wait', 'no leader yet');
  assert.equal(planBackup(backup(), null, false).kind, 'wait', 'the cluster may be created after it');
  const plain = planBackup(backup(), kvcluster(), true);
  assert.equal(plain.kind, 'fail');
  assert.match((plain as { message: string }).message, /no spec.backup/);
  assert.equal(planBackup(backup({ phase: 'Completed' }), archived, true).kind, 'done');
  assert.equal(planBackup(backup({ phase: 'Failed' }), archived, true).kind, 'done');
});
