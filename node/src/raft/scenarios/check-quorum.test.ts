// CheckQuorum: a leader must keep hearing from a quorum, and followers that
// hear from a leader ignore would-be candidates (the leader lease).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TestCluster } from '../testing/cluster.ts';
import { MessageType } from '../types.ts';

const electionTick = 10;

describe('check quorum', () => {
  test('a leader cut off from the quorum steps down within two election timeouts, keeping its term', () => {
    const c = new TestCluster(['a', 'b', 'c'], { checkQuorum: true, electionTick });
    c.campaign('a');
    c.isolate('a');
    c.tick('a', 2 * electionTick);
    c.stabilize();
    const st = c.node('a').status();
    assert.equal(st.role, 'follower');
    assert.equal(st.leader, null);
    assert.equal(st.term, 1);
    const r = c.node('a').rn.propose(new TextEncoder().encode('x'));
    assert.equal(r.ok, false, 'a deposed leader takes no proposals');
  });

  test('a leader in contact with a quorum keeps leading across many election timeouts', () => {
    const c = new TestCluster(['a', 'b', 'c'], { checkQuorum: true, electionTick });
    c.campaign('a');
    c.crash('c');
    c.tickAll(10 * electionTick);
    assert.equal(c.node('a').role(), 'leader');
    assert.equal(c.node('a').status().term, 1);
    assert.equal(c.node('b').status().leader, 'a');
  });

  test('votes are ignored while the leader lease is live, and granted without CheckQuorum', () => {
    for (const checkQuorum of [true, false]) {
      const c = new TestCluster(['a', 'b', 'c'], { checkQuorum, electionTick });
      c.campaign('a');
      const last = c.node('c').status().lastIndex;
      const out = c.inject({ type: MessageType.Vote, from: 'c', to: 'b', term: 2, index: last, logTerm: 1 });
      const st = c.node('b').status();
      if (checkQuorum) {
        assert.deepEqual(out, [], 'no answer at all under the lease');
        assert.equal(st.term, 1);
        assert.equal(st.leader, 'a');
        assert.equal(st.vote, 'a');
      } else {
        assert.equal(out.length, 1);
        assert.equal(out[0]!.type, MessageType.VoteResp);
        assert.equal(out[0]!.reject, false);
        assert.equal(st.term, 2);
        assert.equal(st.vote, 'c');
      }
    }
  });

  test('a stale leader is told the newer term in reply to its heartbeat and steps down', () => {
    const c = new TestCluster(['a', 'b', 'c'], { checkQuorum: true, electionTick, seed: 4 });
    c.campaign('a');
    c.isolate('a');
    // Only b and c tick: their lease on a runs out and they elect one of themselves.
    c.tickUntil(() => c.leaders().some((n) => n.id !== 'a'), 200, ['b', 'c']);
    const newLeader = c.leaders().find((n) => n.id !== 'a')!;
    const newTerm = newLeader.status().term;
    assert.ok(newTerm >= 2);
    assert.equal(c.node('a').role(), 'leader', 'a has not ticked enough to notice on its own');

    c.heal();
    c.tick('a');
    c.stabilize();
    assert.equal(c.node('a').role(), 'follower');
    assert.equal(c.node('a').status().term, newTerm);
    assert.equal(newLeader.role(), 'leader');
  });
});
