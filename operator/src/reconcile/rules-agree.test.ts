// The operator plans membership with copies of the node's rules (its image holds only operator/,
// so it cannot import node/src at run time). This test fails if a copy drifts from the node.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PROMOTE_MAX_LAG } from '../../../node/src/raft/membership.ts';
import { majority } from '../../../node/src/raft/quorum.ts';
import { MEMBER_URI_PREFIX as NODE_MEMBER_URI_PREFIX } from '../../../node/src/security/peer-identity.ts';
import { MEMBER_URI_PREFIX } from '../certs/pki.ts';
import { quorum } from '../types.ts';
import { DEFAULT_MAX_LEARNER_LAG } from './planner.ts';

void test('the operator promotes at the same lag the node accepts', () => {
  assert.equal(DEFAULT_MAX_LEARNER_LAG, PROMOTE_MAX_LAG);
});

void test('the operator counts the same quorum as the Raft core', () => {
  for (let n = 0; n <= 15; n++) assert.equal(quorum(n), majority(n), `${n} voters`);
});

void test('member certificates carry the member URI the node checks peers against', () => {
  assert.equal(MEMBER_URI_PREFIX, NODE_MEMBER_URI_PREFIX);
});
