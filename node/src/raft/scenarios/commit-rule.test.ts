// The commit rule (§5.4.2, the paper's Figure 8): a leader commits only
// entries of its own term by counting replicas; earlier ones commit with them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TestCluster } from '../testing/cluster.ts';
import { MessageType } from '../types.ts';

const ids = ['s1', 's2', 's3', 's4', 's5'];

/** Figure 8 (b)/(c): s1 holds index 2 from term 2 on a majority; s5 holds a different index 2 from term 3. */
function figure8(): TestCluster {
  return new TestCluster(ids, {
    logs: {
      s1: { terms: [1, 2], term: 3, commit: 1 },
      s2: { terms: [1, 2], term: 3, commit: 1 },
      s3: { terms: [1, 2], term: 3, commit: 1 },
      s4: { terms: [1], term: 3, commit: 1 },
      s5: { terms: [1, 3], term: 3, commit: 1 },
    },
  });
}

describe('commit rule', () => {
  test('Figure 8: a leader does not commit an earlier-term entry held by a majority, which may then be overwritten safely', () => {
    const c = figure8();
    // s1 wins term 4, but its own term-4 entry never reaches anyone.
    c.filter = (m) => !(m.type === MessageType.App && m.from === 's1');
    c.campaign('s1');
    assert.equal(c.node('s1').role(), 'leader');
    assert.equal(c.node('s1').status().term, 4);
    // s2 and s3 acknowledge index 2 (term 2): with s1 that is 3 of 5.
    for (const from of ['s2', 's3']) {
      c.inject({ type: MessageType.AppResp, from, to: 's1', term: 4, index: 2 });
    }
    const st = c.node('s1').status();
    assert.equal(st.progress.get('s2')?.match, 2);
    assert.equal(st.progress.get('s3')?.match, 2);
    assert.equal(st.commit, 1, 'index 2 is on a majority but from term 2: not committed');
    assert.deepEqual(c.node('s1').appliedData(), ['i1t1']);

    // Figure 8 (d): s1 crashes; s5 wins with votes from s2, s3, s4 and overwrites index 2.
    c.crash('s1');
    c.heal();
    c.campaign('s5');
    assert.equal(c.node('s5').role(), 'leader');
    assert.equal(c.node('s5').status().term, 5);
    for (const id of ['s2', 's3', 's4', 's5']) {
      assert.deepEqual(c.node(id).logTerms(), [1, 3, 5], id);
      assert.deepEqual(c.node(id).appliedData(), ['i1t1', 'i2t3'], id);
    }
    c.restart('s1');
    c.tickAll(2);
    assert.deepEqual(c.node('s1').logTerms(), [1, 3, 5]);
    assert.deepEqual(c.node('s1').appliedData(), ['i1t1', 'i2t3'], 'no node ever applied the term-2 entry');
  });

  test("Figure 8 (e): once an entry of the leader's term is on a majority, earlier entries commit with it and survive", () => {
    const c = figure8();
    c.filter = (m) => !(m.type === MessageType.App && m.from === 's1' && (m.to === 's4' || m.to === 's5'));
    c.campaign('s1');
    assert.equal(c.node('s1').status().term, 4);
    assert.deepEqual(c.node('s2').logTerms(), [1, 2, 4]);
    assert.deepEqual(c.node('s3').logTerms(), [1, 2, 4]);
    assert.equal(c.node('s1').status().commit, 3, 'the term-4 entry commits index 2 along with it');
    for (const id of ['s1', 's2', 's3']) assert.deepEqual(c.node(id).appliedData(), ['i1t1', 'i2t2'], id);

    // s5 can no longer win: s2 and s3 hold a newer last term than its log.
    c.crash('s1');
    c.heal();
    c.campaign('s5');
    assert.notEqual(c.node('s5').role(), 'leader');
    const leader = c.electLeader();
    assert.ok(['s2', 's3'].includes(leader.id), `leader ${leader.id}`);
    c.propose(leader.id, 'next');
    for (const id of ['s2', 's3', 's4', 's5']) {
      assert.deepEqual(c.node(id).logTerms().slice(0, 3), [1, 2, 4], id);
      assert.deepEqual(c.node(id).appliedData(), ['i1t1', 'i2t2', 'next'], id);
    }
  });

  test('a leader commits nothing without a majority and commits once a follower persists the entry', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    assert.equal(c.node('a').status().commit, 1);
    c.crash('b');
    c.crash('c');
    const r = c.propose('a', 'x');
    assert.ok(r.ok && 'index' in r && r.index === 2);
    c.tickAll(3);
    assert.equal(c.node('a').status().commit, 1, 'only the leader holds index 2');
    assert.deepEqual(c.node('a').appliedData(), []);

    c.restart('b');
    c.tickAll(2);
    assert.equal(c.node('a').status().commit, 2);
    assert.deepEqual(c.node('a').appliedData(), ['x']);
    assert.deepEqual(c.node('b').appliedData(), ['x']);
  });
});
