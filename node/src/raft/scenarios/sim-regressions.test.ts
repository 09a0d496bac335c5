// Regression scenarios for core bugs the randomized simulation (../sim/) found.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TestCluster } from '../testing/cluster.ts';
import { ConfChangeType, MessageType } from '../types.ts';

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

  test('a follower whose full window of appends was lost is caught up after the next heartbeat', () => {
    // All appends in flight to c vanish while the window is full; heartbeats kept flowing but
    // the leader never sent c anything again (seed 19: liveness lost after healing).
    const c = new TestCluster(['a', 'b', 'c'], { maxInflightMsgs: 2 });
    c.campaign('a');
    c.propose('a', 'first'); // c is now in replicate state
    c.filter = (m) => !(m.type === MessageType.App && m.to === 'c');
    for (const v of ['p1', 'p2', 'p3', 'p4']) c.propose('a', v);
    assert.equal(c.node('c').applied.length, 1);
    c.heal();
    c.tickAll(3);
    assert.deepEqual(
      c.node('c').applied.map((e) => e.data),
      ['first', 'p1', 'p2', 'p3', 'p4'],
    );
  });
});
