import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PROMOTE_MAX_LAG, caughtUp, checkAddVoter, checkRemoveVoter } from './membership.ts';
import { isQuorum, majority, voteResult } from './quorum.ts';

void test('majority of n voters', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].map(majority), [1, 1, 2, 2, 3, 3, 4, 4]);
  assert.equal(
    isQuorum(['a', 'b', 'c'], (id) => id !== 'c'),
    true,
  );
  assert.equal(
    isQuorum(['a', 'b', 'c', 'd'], (id) => id === 'a' || id === 'b'),
    false,
  );
});

void test('vote results: won at a majority, lost once a majority can no longer grant', () => {
  const votes = new Map<string, boolean>([['a', true]]);
  const voters = ['a', 'b', 'c'];
  assert.equal(
    voteResult(voters, (id) => votes.get(id)),
    'pending',
  );
  votes.set('b', false);
  assert.equal(
    voteResult(voters, (id) => votes.get(id)),
    'pending',
  );
  votes.set('c', false);
  assert.equal(
    voteResult(voters, (id) => votes.get(id)),
    'lost',
  );
  votes.set('c', true);
  assert.equal(
    voteResult(voters, (id) => votes.get(id)),
    'won',
  );
  assert.equal(
    voteResult(['a'], (id) => (id === 'a' ? true : undefined)),
    'won',
  );
});

void test('strict reconfiguration: a change leaving fewer healthy voters than the new quorum is refused', () => {
  const alive = new Set(['a', 'b', 'c']);
  const healthy = (id: string) => alive.has(id);
  // 3 healthy of 3; adding an unhealthy fourth voter: 3 of 4 >= 3, allowed by arithmetic alone...
  assert.equal(checkAddVoter(['a', 'b', 'c'], 'x', healthy).ok, true);
  // ...but the second dead voter makes 3 of 5 and the third 3 of 6 < 4.
  assert.deepEqual(checkAddVoter(['a', 'b', 'c', 'x', 'y'], 'z', healthy), {
    ok: false,
    healthy: 3,
    voters: 6,
    quorum: 4,
  });
  alive.delete('c');
  assert.equal(checkAddVoter(['a', 'b', 'c'], 'x', healthy).ok, false, '2 healthy of 4 is below 3');
  alive.add('x');
  assert.equal(checkAddVoter(['a', 'b', 'c'], 'x', healthy).ok, true, 'a healthy learner promoted: 3 of 4');
  assert.equal(checkRemoveVoter(['a', 'b', 'c'], 'a', healthy).ok, false, 'b alone of b, c');
  assert.equal(checkRemoveVoter(['a', 'b', 'c'], 'c', healthy).ok, true);
  assert.equal(checkRemoveVoter(['a'], 'a', () => true).ok, false, 'never the last voter');
});

void test('caught up: replicating, recently active and within PROMOTE_MAX_LAG of the commit index', () => {
  const p = { recentActive: true, state: 'replicate' as const, match: 1000 - PROMOTE_MAX_LAG };
  assert.equal(caughtUp(p, 1000), true);
  assert.equal(caughtUp({ ...p, match: p.match - 1 }, 1000), false);
  assert.equal(caughtUp({ ...p, state: 'probe' }, 1000), false);
  assert.equal(caughtUp({ ...p, recentActive: false }, 1000), false);
  assert.equal(caughtUp(undefined, 1000), false);
});
