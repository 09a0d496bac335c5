import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TestCluster } from '../testing/cluster.ts';

describe('basic replication', () => {
  test('a campaigning node becomes leader of three and replicates a proposal to all', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    assert.equal(c.node('a').role(), 'leader');
    const r = c.propose('a', 'x=1');
    assert.ok(r.ok);
    for (const id of ['a', 'b', 'c']) {
      assert.deepEqual(
        c.node(id).applied.map((e) => e.data),
        ['x=1'],
        `node ${id}`,
      );
    }
  });

  test('a single-node cluster elects itself and commits alone', () => {
    const c = new TestCluster(['solo'], { preVote: true, checkQuorum: true });
    c.electLeader();
    c.propose('solo', 'v');
    assert.deepEqual(
      c.node('solo').applied.map((e) => e.data),
      ['v'],
    );
  });

  test('elections happen by ticking with prevote and checkquorum', () => {
    const c = new TestCluster(['a', 'b', 'c'], { preVote: true, checkQuorum: true, seed: 7 });
    const l = c.electLeader();
    c.propose(l.id, 'p');
    for (const n of c.nodes.values())
      assert.deepEqual(
        n.applied.map((e) => e.data),
        ['p'],
      );
  });

  test('a follower forwards proposals to the leader', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    const r = c.propose('b', 'fwd');
    assert.deepEqual(r, { ok: true, forwarded: true });
    for (const n of c.nodes.values())
      assert.deepEqual(
        n.applied.map((e) => e.data),
        ['fwd'],
      );
  });
});
