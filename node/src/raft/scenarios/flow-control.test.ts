// Flow control: the inflight window, probe pacing, stale or duplicated
// acknowledgements, the uncommitted-size limit and message size limits.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bytes, TestCluster } from '../testing/cluster.ts';
import { entrySize } from '../storage.ts';
import { MessageType, type Message } from '../types.ts';

function appsTo(msgs: Message[], to: string): Message[] {
  return msgs.filter((m) => m.type === MessageType.App && m.to === to);
}

function indexes(m: Message): number[] {
  return m.entries.map((e) => e.index);
}

describe('flow control', () => {
  test('the inflight window fills at maxInflightMsgs, then each ack frees room for one more append', () => {
    const c = new TestCluster(['a', 'b', 'c'], { maxInflightMsgs: 3 });
    c.campaign('a');
    const a = c.node('a');
    assert.equal(a.status().progress.get('b')?.state, 'replicate');
    for (let i = 0; i < 5; i++) assert.ok(a.rn.propose(bytes(`p${i}`)).ok);
    c.flush();
    assert.equal(appsTo(c.queue, 'c').length, 3);
    const toB = c.take((m) => m.type === MessageType.App && m.to === 'b');
    assert.deepEqual(toB.map(indexes), [[2], [3], [4]], 'three appends, then the window is full');
    assert.equal(a.status().progress.get('b')?.next, 5);

    // b acknowledges the first append: exactly one more goes out, carrying what waited.
    c.deliver(toB[0]!);
    const ack = c.node('b').process();
    assert.deepEqual(
      ack.map((m) => [m.type, m.index]),
      [[MessageType.AppResp, 2]],
    );
    c.deliver(ack[0]!);
    const next = a.process();
    assert.deepEqual(appsTo(next, 'b').map(indexes), [[5, 6]]);
    assert.equal(appsTo(next, 'c').length, 0, "c's window is still full");

    c.queue.push(toB[1]!, toB[2]!, ...next);
    c.stabilize();
    assert.equal(a.status().commit, 6);
    for (const id of ['b', 'c'])
      assert.deepEqual(c.node(id).appliedData(), ['p0', 'p1', 'p2', 'p3', 'p4'], id);
  });

  test('appends lost while the inflight window is full are recovered through heartbeats', () => {
    const c = new TestCluster(['a', 'b', 'c'], { maxInflightMsgs: 3, preVote: true, checkQuorum: true });
    c.campaign('a');
    const a = c.node('a');
    for (let i = 0; i < 5; i++) a.rn.propose(bytes(`p${i}`));
    c.flush();
    assert.equal(appsTo(c.queue, 'b').length, 3);
    // Every append is lost in transit and the transport reports nothing.
    c.queue = [];
    c.tickAll(5);
    assert.equal(a.role(), 'leader');
    assert.equal(a.status().commit, 6);
    for (const id of ['b', 'c']) {
      assert.deepEqual(c.node(id).appliedData(), ['p0', 'p1', 'p2', 'p3', 'p4'], id);
      assert.equal(a.status().progress.get(id)?.state, 'replicate', id);
    }
  });

  test('reordered, duplicated and stale append responses change nothing and trigger no resends', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    const a = c.node('a');
    for (let i = 0; i < 3; i++) a.rn.propose(bytes(`p${i}`));
    c.flush();
    const acks: Message[] = [];
    for (const app of appsTo(c.queue, 'b')) {
      c.deliver(app);
      acks.push(
        ...c
          .node('b')
          .process()
          .filter((m) => m.type === MessageType.AppResp),
      );
    }
    c.queue = [];
    assert.deepEqual(
      acks.map((m) => m.index),
      [2, 3, 4],
    );
    c.deliver(acks[2]!);
    a.process();
    assert.equal(a.status().commit, 4);

    const staleReject: Message = { ...acks[0]!, index: 1, reject: true, rejectHint: 1, hintTerm: 1 };
    for (const m of [acks[1]!, acks[0]!, acks[2]!, acks[0]!, staleReject]) {
      c.deliver(m);
      assert.deepEqual(a.process(), [], `ack ${m.index}${m.reject ? ' (reject)' : ''} caused no traffic`);
    }
    const pr = a.status().progress.get('b')!;
    assert.equal(pr.match, 4);
    assert.equal(pr.next, 5);
    assert.equal(pr.state, 'replicate');
    assert.equal(a.status().commit, 4);
  });

  test('a follower in probe state gets one append at a time until it answers', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    let blockC = true;
    const sentToC: Message[] = [];
    c.filter = (m) => {
      if (m.type !== MessageType.App || m.to !== 'c') return true;
      sentToC.push(m);
      return !blockC;
    };
    c.campaign('a');
    assert.equal(c.node('a').status().progress.get('c')?.state, 'probe');
    for (let i = 0; i < 3; i++) c.propose('a', `p${i}`);
    assert.equal(sentToC.length, 1, 'only the first probe went out; later proposals wait for its answer');

    blockC = false;
    c.tickAll(1);
    assert.equal(c.node('a').status().progress.get('c')?.state, 'replicate');
    assert.deepEqual(c.node('c').appliedData(), ['p0', 'p1', 'p2']);
  });

  test('an unreachable report stops the optimistic pipeline to that follower', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    const a = c.node('a');
    assert.equal(a.status().progress.get('c')?.state, 'replicate');
    a.rn.reportUnreachable('c');
    assert.equal(a.status().progress.get('c')?.state, 'probe');
    for (let i = 0; i < 3; i++) a.rn.propose(bytes(`p${i}`));
    c.flush();
    assert.equal(appsTo(c.queue, 'c').length, 1);
    assert.equal(appsTo(c.queue, 'b').length, 3, 'b is still pipelined');
  });

  test('the uncommitted-size limit refuses proposals with too-many-uncommitted until entries commit', () => {
    const c = new TestCluster(['a', 'b', 'c'], { maxUncommittedEntriesSize: 30 });
    c.campaign('a');
    c.crash('b');
    c.crash('c');
    const ten = 'x'.repeat(10);
    for (let i = 0; i < 3; i++) assert.ok(c.propose('a', ten).ok, `proposal ${i} fits`);
    const refused = c.propose('a', ten);
    assert.equal(refused.ok ? 'ok' : refused.error, 'too-many-uncommitted');
    assert.equal(c.node('a').status().lastIndex, 4, 'the refused entry was not appended');

    c.restart('b');
    c.tickAll(2);
    assert.equal(c.node('a').status().applied, 4);
    assert.ok(c.propose('a', ten).ok, 'room again once the backlog committed');
    assert.equal(c.node('b').appliedData().length, 4);
  });

  test('a large backlog is sent in messages of at most maxSizePerMsg bytes', () => {
    const maxSizePerMsg = 100;
    const c = new TestCluster(['a', 'b', 'c'], { maxSizePerMsg });
    c.campaign('a');
    c.isolate('c');
    const data: string[] = [];
    for (let i = 0; i < 20; i++) {
      const d = `entry-${String(i).padStart(2, '0')}-${'y'.repeat(11)}`;
      assert.equal(d.length, 20);
      data.push(d);
      c.propose('a', d);
    }
    c.heal();
    const sent: Message[] = [];
    c.filter = (m) => {
      sent.push(m);
      return true;
    };
    c.tickAll(3);
    const apps = appsTo(sent, 'c').filter((m) => m.entries.length > 0);
    for (const m of apps) {
      const size = m.entries.reduce((s, e) => s + entrySize(e), 0);
      assert.ok(size <= maxSizePerMsg, `message of ${m.entries.length} entries is ${size} bytes`);
    }
    assert.ok(apps.length >= 10, `20 entries of 36 bytes need at least 10 messages, got ${apps.length}`);
    assert.deepEqual(c.node('c').appliedData(), data);
  });
});
