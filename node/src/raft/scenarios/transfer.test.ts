// Leadership transfer: catch the target up, send TimeoutNow, give up after an
// election timeout, and refuse proposals meanwhile.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TestCluster } from '../testing/cluster.ts';
import { MessageType, type Message } from '../types.ts';

const electionTick = 10;

describe('leader transfer', () => {
  test('a transfer to an up-to-date follower makes it leader at once, despite PreVote and CheckQuorum', () => {
    const c = new TestCluster(['a', 'b', 'c'], { preVote: true, checkQuorum: true });
    c.campaign('a');
    c.propose('a', 'x');
    const sent: Message[] = [];
    c.filter = (m) => {
      sent.push(m);
      return true;
    };
    c.transferLeadership('a', 'b');
    assert.equal(c.node('b').role(), 'leader');
    assert.equal(c.node('b').status().term, 2);
    assert.ok(sent.some((m) => m.type === MessageType.TimeoutNow && m.from === 'a' && m.to === 'b'));
    assert.ok(!sent.some((m) => m.type === MessageType.PreVote), 'the target skips the pre-vote');
    for (const id of ['a', 'c']) {
      assert.equal(c.node(id).role(), 'follower', id);
      assert.equal(c.node(id).status().leader, 'b', id);
    }
    c.propose('b', 'y');
    for (const id of ['a', 'b', 'c']) assert.deepEqual(c.node(id).appliedData(), ['x', 'y'], id);
  });

  test('a transfer to a slow follower first catches it up, then hands over', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    c.isolate('c');
    for (let i = 0; i < 5; i++) c.propose('a', `e${i}`);
    c.heal();
    assert.equal(c.node('c').status().lastIndex, 1);

    let targetLastIndexAtTimeoutNow = -1;
    c.filter = (m) => {
      if (m.type === MessageType.TimeoutNow) targetLastIndexAtTimeoutNow = c.node('c').status().lastIndex;
      return true;
    };
    c.transferLeadership('a', 'c');
    c.tickUntil(() => c.node('c').role() === 'leader', electionTick - 1, ['a']);
    assert.equal(targetLastIndexAtTimeoutNow, 6, 'TimeoutNow only once c holds the whole log');
    assert.equal(c.node('c').status().term, 2);
    assert.deepEqual(c.node('c').appliedData(), ['e0', 'e1', 'e2', 'e3', 'e4']);
    assert.equal(c.node('a').status().leader, 'c');
  });

  test('a transfer that cannot finish within an election timeout is abandoned and the leader carries on', () => {
    const c = new TestCluster(['a', 'b', 'c'], { electionTick });
    c.campaign('a');
    c.isolate('c');
    c.transferLeadership('a', 'c');
    assert.equal(c.node('a').status().leadTransferee, 'c');
    c.tickAll(electionTick - 1);
    assert.equal(c.node('a').status().leadTransferee, 'c', 'still trying within the timeout');
    c.tickAll(1);
    const st = c.node('a').status();
    assert.equal(st.leadTransferee, null);
    assert.equal(st.role, 'leader');
    assert.equal(st.term, 1);
    assert.ok(c.propose('a', 'after-abort').ok);
    assert.deepEqual(c.node('b').appliedData(), ['after-abort']);
  });

  test('proposals are refused during a transfer and forwarded ones dropped; afterwards they reach the new leader', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    c.isolate('c');
    c.propose('a', 'behind');
    c.transferLeadership('a', 'c');
    const r = c.propose('a', 'during');
    assert.equal(r.ok ? 'ok' : r.error, 'leader-transfer-in-progress');
    assert.deepEqual(c.propose('b', 'forwarded-during'), { ok: true, forwarded: true });
    assert.equal(c.node('a').status().lastIndex, 2, 'nothing was appended during the transfer');

    c.heal();
    c.tickUntil(() => c.node('c').role() === 'leader', electionTick - 1, ['a']);
    assert.deepEqual(c.propose('a', 'after'), { ok: true, forwarded: true });
    for (const id of ['a', 'b', 'c']) assert.deepEqual(c.node(id).appliedData(), ['behind', 'after'], id);
  });

  test('a transfer requested through a follower is forwarded and makes the requested node leader', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    c.transferLeadership('b', 'c');
    assert.equal(c.node('c').role(), 'leader');
    assert.equal(c.node('b').role(), 'follower');
    assert.equal(c.node('a').status().leader, 'c');
  });

  test('transfers to itself, to a non-member or to a learner are ignored', () => {
    const c = new TestCluster(['a', 'b', 'c', 'l'], { learners: ['l'] });
    c.campaign('a');
    for (const target of ['a', 'zz', 'l']) {
      c.transferLeadership('a', target);
      const st = c.node('a').status();
      assert.equal(st.leadTransferee, null, target);
      assert.equal(st.role, 'leader', target);
      assert.equal(st.term, 1, target);
      assert.ok(c.propose('a', `to-${target}`).ok, target);
    }
    assert.deepEqual(c.node('l').appliedData(), ['to-a', 'to-zz', 'to-l']);
  });
});
