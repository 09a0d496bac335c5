import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Step } from './planner.ts';
import { failureEvent, refusalEvent, stepError, stepEvent } from './events.ts';
import { NodeApiError } from './nodeclient.ts';

test('every action the planner can choose has a Normal event naming the member', () => {
  const actions: Step[] = [
    { kind: 'raise-statefulset', replicas: 3 },
    { kind: 'lower-statefulset', replicas: 2 },
    { kind: 'add-learner', member: 'demo-1', ordinal: 1 },
    { kind: 'promote', member: 'demo-1' },
    { kind: 'transfer-leadership', from: 'demo-0', to: 'demo-1' },
    { kind: 'remove-member', member: 'demo-2' },
    { kind: 'replace-member', member: 'demo-2' },
    { kind: 'delete-pvc', member: 'demo-2', ordinal: 2, deletePod: false },
    { kind: 'mark-pvc-removed', member: 'demo-2', ordinal: 2 },
    { kind: 'roll-pod', member: 'demo-1' },
    { kind: 'demote', member: 'demo-1' },
    { kind: 'hibernate' },
  ];
  const reasons = new Set<string>();
  for (const step of actions) {
    const ev = stepEvent(step);
    assert.ok(ev !== null, step.kind);
    assert.equal(ev.type, 'Normal');
    assert.match(ev.reason, /^[A-Z][A-Za-z]+$/);
    if ('member' in step) assert.ok(ev.message.includes(step.member), ev.message);
    reasons.add(ev.reason);
  }
  for (const r of [
    'MemberAdded',
    'MemberPromoted',
    'MemberRemoved',
    'MemberReplaced',
    'MemberRolled',
    'LeaderMoved',
    'MemberFenced',
  ])
    assert.ok(reasons.has(r), r);
  assert.equal(
    stepEvent({ kind: 'transfer-leadership', from: 'demo-0', to: 'demo-2' })?.message.includes('demo-2'),
    true,
  );
  assert.equal(stepEvent({ kind: 'nothing' }), null);
  assert.equal(stepEvent({ kind: 'wait', reason: 'x' }), null);
});

test('a failed step keeps its cause: in the Warning and in status.lastError', () => {
  const step: Step = { kind: 'promote', member: 'demo-2' };
  const err = new NodeApiError(409, 'learner-not-caught-up', 'learner demo-2 has replicated up to 5 of 90');
  const ev = failureEvent(step, err);
  assert.equal(ev.type, 'Warning');
  assert.equal(ev.reason, 'StepFailed');
  assert.match(
    ev.message,
    /promote of demo-2 failed: learner-not-caught-up: learner demo-2 has replicated up to 5 of 90/,
  );
  assert.deepEqual(stepError(step, err, '2026-12-01T00:00:00Z'), {
    step: 'promote',
    member: 'demo-2',
    message: 'learner-not-caught-up: learner demo-2 has replicated up to 5 of 90',
    time: '2026-12-01T00:00:00Z',
  });
  assert.ok(failureEvent(step, 'x'.repeat(5000)).message.length < 1100, 'bounded');
});

test('a refusal is an event when it starts or its reason changes, not every reconcile', () => {
  const step: Step = { kind: 'refuse', reason: 'only 1 of 3 voters live; quorum is 2' };
  const ev = refusalEvent(step, undefined);
  assert.equal(ev?.type, 'Warning');
  assert.equal(ev?.reason, 'Refused');
  assert.equal(ev?.message, step.reason);
  const same = [
    {
      type: 'Degraded' as const,
      status: 'True' as const,
      reason: 'Refused',
      message: step.reason,
      lastTransitionTime: 't',
    },
  ];
  assert.equal(refusalEvent(step, same), null);
  assert.notEqual(refusalEvent({ kind: 'refuse', reason: 'another reason' }, same), null);
  assert.equal(refusalEvent({ kind: 'nothing' }, undefined), null);
});
