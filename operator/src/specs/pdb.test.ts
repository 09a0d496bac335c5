import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildPodDisruptionBudget, maxUnavailableFor } from './pdb.ts';
import { kvcluster } from './fixture.test-helper.ts';
import { quorum } from '../types.ts';

void test('PDB never lets voluntary disruptions go below quorum', () => {
  for (let n = 1; n <= 9; n++) {
    const max = maxUnavailableFor(n);
    assert.ok(n - max >= quorum(n), `n=${n}`);
    // and it is not stricter than needed
    assert.ok(n - (max + 1) < quorum(n), `n=${n} too strict`);
  }
  assert.deepEqual([1, 2, 3, 4, 5, 7, 9].map(maxUnavailableFor), [0, 0, 1, 1, 2, 3, 4]);
});

void test('PDB selects the cluster members', () => {
  const pdb = buildPodDisruptionBudget(kvcluster({ replicas: 5 }));
  assert.equal(pdb.spec?.maxUnavailable, 2);
  assert.equal(pdb.spec?.selector?.matchLabels?.['app.kubernetes.io/instance'], 'demo');
});
