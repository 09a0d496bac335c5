import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LoginLimiter } from './login-limiter.ts';

const opts = { freeFailures: 2, baseDelayMs: 100, maxDelayMs: 1000, maxTracked: 3 };

test('a few failures are free, then each one doubles the wait up to the cap', () => {
  const l = new LoginLimiter(opts);
  l.failed('u', 0);
  l.failed('u', 0);
  assert.equal(l.retryAfterMs('u', 0), 0);
  l.failed('u', 0);
  assert.equal(l.retryAfterMs('u', 0), 100);
  l.failed('u', 0);
  assert.equal(l.retryAfterMs('u', 0), 200);
  for (let i = 0; i < 10; i++) l.failed('u', 0);
  assert.equal(l.retryAfterMs('u', 0), 1000);
  assert.equal(l.retryAfterMs('u', 1000), 0, 'the wait elapses');
  assert.equal(l.retryAfterMs('other', 0), 0, 'per user');
});

test('a success clears the record', () => {
  const l = new LoginLimiter(opts);
  for (let i = 0; i < 5; i++) l.failed('u', 0);
  l.succeeded('u');
  assert.equal(l.retryAfterMs('u', 0), 0);
});

test('memory is bounded: the oldest names are forgotten', () => {
  const l = new LoginLimiter(opts);
  for (const n of ['a', 'b', 'c', 'd', 'e']) l.failed(n, 0);
  assert.equal(l.tracked, 3);
});
