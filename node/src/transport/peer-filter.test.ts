import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType } from '../raft/types.ts';
import { acceptMessage, acceptPeerUrl, acceptStream, mayDialLearned, type PeerView } from './peer-filter.ts';

const view = (self: string, voters: string[], learners: string[], leader: string | null): PeerView => ({
  self,
  voters: new Set(voters),
  learners: new Set(learners),
  leader,
});

const member = view('n1', ['n1', 'n2', 'n3'], ['l1'], 'n2');
const leaderless = view('n1', ['n1', 'n2', 'n3'], [], null);
const joiner = view('j', [], [], null);
const replaying = view('j', ['n1', 'n2', 'n3'], [], 'n4');

void test('members are heard: voters and learners, every message type', () => {
  for (const from of ['n2', 'n3', 'l1']) {
    for (const t of Object.values(MessageType))
      assert.equal(acceptMessage(member, from, t), true, `${from} ${t}`);
    assert.equal(acceptStream(member, from), true);
    assert.equal(acceptPeerUrl(member, from), true);
  }
});

void test('a member that follows a leader ignores every non-member', () => {
  for (const t of Object.values(MessageType)) assert.equal(acceptMessage(member, 'intruder', t), false, t);
  assert.equal(acceptStream(member, 'intruder'), false);
  assert.equal(acceptPeerUrl(member, 'intruder'), false);
  assert.equal(mayDialLearned(member, 'intruder'), false);
  assert.equal(mayDialLearned(member, 'n3'), true);
});

void test('a joining node (empty configuration) hears leader traffic from anyone, nothing else', () => {
  for (const t of [MessageType.App, MessageType.Heartbeat, MessageType.Snap])
    assert.equal(acceptMessage(joiner, 'n4', t), true, t);
  for (const t of [
    MessageType.Vote,
    MessageType.PreVote,
    MessageType.AppResp,
    MessageType.TimeoutNow,
    MessageType.Prop,
  ]) {
    assert.equal(acceptMessage(joiner, 'n4', t), false, t);
  }
  assert.equal(acceptStream(joiner, 'n4'), true);
  assert.equal(acceptPeerUrl(joiner, 'n4'), true);
  // It answers only the leader it follows.
  assert.equal(mayDialLearned(view('j', [], [], 'n4'), 'n4'), true);
  assert.equal(mayDialLearned(view('j', [], [], 'n4'), 'n5'), false);
  assert.equal(mayDialLearned(joiner, 'n4'), false);
});

void test('replaying the log before its own addition, a node still hears a leader added later', () => {
  assert.equal(acceptMessage(replaying, 'n4', MessageType.App), true);
  assert.equal(acceptMessage(replaying, 'n4', MessageType.Vote), false);
  assert.equal(mayDialLearned(replaying, 'n4'), true);
});

void test('a member without a leader hears leader traffic from a newer member it does not know yet', () => {
  assert.equal(acceptMessage(leaderless, 'n9', MessageType.App), true);
  assert.equal(acceptMessage(leaderless, 'n9', MessageType.Heartbeat), true);
  assert.equal(acceptMessage(leaderless, 'n9', MessageType.Vote), false);
  assert.equal(acceptMessage(leaderless, 'n9', MessageType.AppResp), false);
  assert.equal(acceptStream(leaderless, 'n9'), true);
  // It keeps n9's URL, but dials it only once it follows n9 (to answer it).
  assert.equal(acceptPeerUrl(leaderless, 'n9'), true);
  assert.equal(mayDialLearned(leaderless, 'n9'), false);
  assert.equal(mayDialLearned(view('n1', ['n1', 'n2', 'n3'], [], 'n9'), 'n9'), true);
});
