// ReadIndex linearizable reads: the index is the leader's commit index,
// confirmed by a quorum, and a new leader answers only once it has committed
// an entry of its own term.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TestCluster } from '../testing/cluster.ts';
import { MessageType } from '../types.ts';

describe('read index', () => {
  test('the leader answers ReadIndex with its commit index once a quorum acknowledges its heartbeat', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    c.propose('a', 'x');
    c.propose('a', 'y');
    const a = c.node('a');
    assert.equal(a.status().commit, 3);

    a.rn.readIndex('r1');
    a.rn.readIndex('r2');
    c.flush();
    assert.deepEqual(a.readStates, [], 'not before the heartbeat round trip');
    assert.ok(c.queue.some((m) => m.type === MessageType.Heartbeat && m.context !== ''));
    c.stabilize();
    assert.deepEqual(a.readStates, [
      { index: 3, context: 'r1' },
      { index: 3, context: 'r2' },
    ]);
    for (const ans of a.readAnswers) assert.ok(ans.appliedAtAnswer >= ans.index);
  });

  test('a leader cut off from the quorum answers no ReadIndex until contact returns', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    c.propose('a', 'x');
    c.isolate('a');
    c.readIndex('a', 'cut');
    c.tick('a', 3);
    c.stabilize();
    assert.deepEqual(c.node('a').readStates, [], 'no quorum, no answer');

    c.heal();
    c.tickAll(1);
    assert.deepEqual(c.node('a').readStates, [{ index: 2, context: 'cut' }]);
  });

  test('a deposed leader never answers a read it received while a new majority committed writes', () => {
    const c = new TestCluster(['a', 'b', 'c'], { seed: 13 });
    c.campaign('a');
    c.propose('a', 'old');
    c.isolate('a');
    c.readIndex('a', 'stale?');
    c.tickUntil(() => c.leaders().some((n) => n.id !== 'a'), 200, ['b', 'c']);
    const leader = c.leaders().find((n) => n.id !== 'a')!;
    c.propose(leader.id, 'new');

    c.heal();
    c.tickAll(3);
    assert.equal(c.node('a').role(), 'follower');
    assert.deepEqual(c.node('a').readStates, [], 'the old leader must not serve a read that misses "new"');
    c.readIndex(leader.id, 'fresh');
    assert.deepEqual(leader.readStates, [{ index: leader.status().commit, context: 'fresh' }]);
    assert.ok(leader.readStates[0]!.index >= leader.log().find((e) => e.data === 'new')!.index);
  });

  test('a new leader serves no ReadIndex until it has committed an entry of its own term', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    c.propose('a', 'x');
    // b wins term 2 but its no-op does not get out.
    c.filter = (m) => !(m.type === MessageType.App && m.from === 'b');
    c.campaign('b');
    const b = c.node('b');
    assert.equal(b.role(), 'leader');
    assert.equal(b.status().commit, 2, 'b knows index 2 is committed but not whether more is');
    c.readIndex('b', 'early');
    c.stabilize();
    assert.deepEqual(b.readStates, []);

    c.heal();
    c.tickAll(1);
    assert.deepEqual(b.logTerms(), [1, 1, 2]);
    assert.equal(b.status().commit, 3);
    assert.deepEqual(b.readStates, [{ index: 3, context: 'early' }]);
  });

  test("a follower's ReadIndex is forwarded to the leader and answered with the leader's commit index", () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    c.propose('a', 'w');
    const forwarded: string[] = [];
    c.filter = (m) => {
      if (m.type === MessageType.ReadIndex) forwarded.push(`${m.from}->${m.to}`);
      return true;
    };
    c.readIndex('b', 'from-b');
    c.readIndex('c', 'from-c');
    assert.deepEqual(forwarded, ['b->a', 'c->a']);
    assert.deepEqual(c.node('b').readStates, [{ index: 2, context: 'from-b' }]);
    assert.deepEqual(c.node('c').readStates, [{ index: 2, context: 'from-c' }]);
    assert.deepEqual(c.node('a').readStates, [], 'the leader answers the followers, not itself');
    assert.equal(c.node('b').appliedIndex, 2);
  });
});
