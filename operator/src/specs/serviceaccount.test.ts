import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildServiceAccount } from './serviceaccount.ts';
import { kvcluster } from './fixture.test-helper.ts';

void test('node ServiceAccount mounts no token', () => {
  const sa = buildServiceAccount(kvcluster());
  assert.equal(sa.metadata?.name, 'demo-node');
  assert.equal(sa.automountServiceAccountToken, false);
});
