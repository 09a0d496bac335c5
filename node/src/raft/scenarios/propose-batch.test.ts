import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bytes, TestCluster } from '../testing/cluster.ts';

describe('proposeBatch (group commit)', () => {
  test('a batch on the leader is appended in order and replicated in one append per follower', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    const r = c.node('a').rn.proposeBatch(['x', 'y', 'z'].map(bytes));
    assert.ok(r.ok && 'index' in r);
    c.flush();
    const apps = c.queue.filter((m) => m.type === 'app' && m.entries.length > 0);
    assert.equal(apps.length, 2);
    c.stabilize();
    for (const n of c.nodes.values()) {
      assert.deepEqual(
        n.applied.map((e) => [e.index, e.data]),
        [
          [r.index - 2, 'x'],
          [r.index - 1, 'y'],
          [r.index, 'z'],
        ],
        n.id,
      );
    }
  });

  test('a batch on a follower is forwarded whole', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    assert.deepEqual(c.node('b').rn.proposeBatch(['p', 'q'].map(bytes)), { ok: true, forwarded: true });
    c.stabilize();
    assert.deepEqual(
      c.node('c').applied.map((e) => e.data),
      ['p', 'q'],
    );
  });

  test('takeMessages(false) leaves proposals for the next Ready: one append per follower for all of them', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    c.stabilize();
    const rn = c.node('a').rn;
    rn.propose(bytes('1'));
    const early = rn.takeMessages(false);
    rn.propose(bytes('2'));
    assert.ok(!early.some((m) => m.type === 'app' && m.entries.length > 0), 'no append taken early');
    const rd = rn.ready();
    const apps = [...rd.messagesBeforePersist, ...rd.messages].filter(
      (m) => m.type === 'app' && m.entries.length > 0,
    );
    assert.equal(apps.length, 2);
    assert.ok(apps.every((m) => m.entries.map((e) => Buffer.from(e.data).toString()).join() === '1,2'));
  });

  test('an empty batch is refused', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    assert.throws(() => c.node('a').rn.proposeBatch([]), /at least one entry/);
  });
});
