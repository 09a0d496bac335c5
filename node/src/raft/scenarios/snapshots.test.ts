// Snapshots, compaction and durability across restarts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TestCluster } from '../testing/cluster.ts';
import { MessageType, type Message } from '../types.ts';

function proposeMany(c: TestCluster, via: string, prefix: string, n: number): string[] {
  const data: string[] = [];
  for (let i = 0; i < n; i++) {
    const d = `${prefix}${i}`;
    assert.ok(c.propose(via, d).ok);
    data.push(d);
  }
  return data;
}

function recordSent(c: TestCluster): Message[] {
  const sent: Message[] = [];
  c.filter = (m) => {
    sent.push(m);
    return true;
  };
  return sent;
}

describe('snapshots', () => {
  test('a follower behind the compaction point catches up by snapshot, then by entries', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    const before = proposeMany(c, 'a', 'k', 3);
    c.isolate('c');
    const during = proposeMany(c, 'a', 'm', 10);
    const a = c.node('a');
    a.compact();
    assert.equal(a.storage.firstIndex(), 15, 'entries 1..14 are gone from the leader');

    c.heal();
    const sent = recordSent(c);
    c.tickAll(3);
    const snaps = sent.filter((m) => m.type === MessageType.Snap);
    assert.equal(snaps.length, 1);
    assert.equal(snaps[0]!.to, 'c');
    assert.equal(snaps[0]!.snapshot?.metadata.index, 14);

    const after = proposeMany(c, 'a', 'n', 2);
    const cn = c.node('c');
    assert.equal(cn.storage.snapshot().metadata.index, 14);
    assert.deepEqual(cn.appliedData(), [...before, ...during, ...after]);
    assert.deepEqual(cn.log(), a.log(), 'the tail after the snapshot matches the leader');
    assert.equal(a.status().progress.get('c')?.state, 'replicate');
  });

  test('a follower lagging within the retained tail catches up by entries, without a snapshot', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    proposeMany(c, 'a', 'k', 4);
    c.isolate('c');
    proposeMany(c, 'a', 'm', 3);
    c.node('a').compact(5);
    assert.equal(c.node('a').storage.firstIndex(), 4);
    c.heal();
    const sent = recordSent(c);
    c.tickAll(3);
    assert.ok(!sent.some((m) => m.type === MessageType.Snap));
    assert.equal(c.node('c').storage.snapshot().metadata.index, 0);
    assert.deepEqual(c.node('c').appliedData(), c.node('a').appliedData());
  });

  test('a snapshot the transport reports as failed is sent again', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    c.isolate('c');
    proposeMany(c, 'a', 'k', 5);
    c.node('a').compact();
    c.heal();
    let dropped = 0;
    c.filter = (m) => {
      if (m.type === MessageType.Snap && dropped === 0) {
        dropped++;
        return false;
      }
      return true;
    };
    c.tickAll(2);
    assert.equal(dropped, 1);
    assert.equal(c.node('a').status().progress.get('c')?.state, 'snapshot', 'waiting on the lost snapshot');
    c.node('a').rn.reportSnapshot('c', false);
    c.tickAll(3);
    assert.equal(c.node('c').storage.snapshot().metadata.index, 6);
    assert.deepEqual(c.node('c').appliedData(), ['k0', 'k1', 'k2', 'k3', 'k4']);
  });

  test('a node that joins after compaction gets a snapshot carrying the configuration, then the log tail', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    const early = proposeMany(c, 'a', 'k', 4);
    c.node('a').compact();
    c.addEmptyNode('d');
    assert.ok(c.addLearner('a', 'd').ok);
    const late = proposeMany(c, 'a', 'n', 2);
    c.tickAll(2);
    const d = c.node('d');
    assert.equal(d.storage.snapshot().metadata.index, 5);
    assert.deepEqual(d.status().confState, { voters: ['a', 'b', 'c'], learners: ['d'] });
    assert.deepEqual(d.appliedData(), [...early, ...late]);
    assert.deepEqual(d.log(), c.node('a').log());
  });

  test('a restart from snapshot plus log tail rebuilds exactly the applied state', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    const first = proposeMany(c, 'a', 'k', 5);
    const b = c.node('b');
    b.compact(2);
    const tail = proposeMany(c, 'a', 'm', 3);
    assert.equal(b.storage.snapshot().metadata.index, 6);
    assert.equal(b.storage.firstIndex(), 5);
    const appliedBefore = b.appliedData();
    assert.deepEqual(appliedBefore, [...first, ...tail]);

    c.crash('b');
    c.restart('b');
    c.stabilize();
    const st = b.status();
    assert.equal(st.firstIndex, 5);
    assert.equal(st.lastIndex, 9);
    assert.equal(st.commit, 9);
    assert.deepEqual(b.appliedData(), appliedBefore, 'nothing lost, nothing applied twice');
    c.propose('a', 'post-restart');
    assert.deepEqual(b.appliedData(), [...appliedBefore, 'post-restart']);
  });

  test('a crash and restart keeps term and vote: no second vote in the same term', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.isolate('c');
    c.campaign('a');
    assert.equal(c.node('a').role(), 'leader');
    assert.equal(c.node('b').status().vote, 'a');

    c.crash('b');
    c.restart('b');
    assert.equal(c.node('b').status().term, 1);
    assert.equal(c.node('b').status().vote, 'a');
    // c, still in term 0, campaigns for term 1 and asks b.
    c.node('c').rn.campaign();
    const req = c
      .node('c')
      .process()
      .find((m) => m.type === MessageType.Vote && m.to === 'b');
    assert.equal(req?.term, 1);
    c.deliver(req);
    const reply = c
      .node('b')
      .process()
      .find((m) => m.type === MessageType.VoteResp);
    assert.equal(reply?.reject, true, 'b already voted for a in term 1');
    assert.equal(c.node('b').status().vote, 'a');
  });

  test('a crashed follower keeps its persisted log and fetches only what it missed', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    const kept = proposeMany(c, 'a', 'k', 3);
    c.crash('c');
    const missed = proposeMany(c, 'a', 'm', 2);
    c.restart('c');
    assert.equal(c.node('c').status().lastIndex, 4, 'the persisted log survives the crash');
    const sent = recordSent(c);
    c.tickAll(2);
    const appsToC = sent.filter((m) => m.type === MessageType.App && m.to === 'c' && m.entries.length > 0);
    assert.ok(appsToC.length > 0);
    assert.ok(
      appsToC.every((m) => m.entries[0]!.index >= 5),
      'no entry c already had is sent again',
    );
    assert.deepEqual(c.node('c').appliedData(), [...kept, ...missed]);
  });
});
