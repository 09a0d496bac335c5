// Regression scenarios for core bugs the randomized simulation (../sim/) found.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TestCluster } from '../testing/cluster.ts';
import { ConfChangeType } from '../types.ts';

describe('found by the simulation', () => {
  test('a member added with empty storage learns the whole membership, not just the changes it replays', () => {
    // The bootstrap membership lives in the snapshot at index 0, which a new node never receives
    // when the leader has not compacted; replaying conf-change deltas onto an empty set left it
    // believing it was the only voter (seed 17: it elected itself alone and overwrote committed entries).
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    c.propose('a', 'x');
    c.addEmptyNode('d');
    assert.ok(c.addLearner('a', 'd').ok);
    assert.ok(c.confChange('a', ConfChangeType.AddVoter, 'd').ok);
    c.stabilize();
    for (const id of ['a', 'b', 'c', 'd']) {
      assert.deepEqual(c.node(id).rn.status().confState, { voters: ['a', 'b', 'c', 'd'], learners: [] }, id);
    }
    // d restarted from its own storage (no snapshot, conf only in log entries) still agrees.
    c.node('d').restart();
    c.stabilize();
    assert.deepEqual(c.node('d').rn.status().confState.voters, ['a', 'b', 'c', 'd']);
  });
});
