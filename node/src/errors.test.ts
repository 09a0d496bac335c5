import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CODES, isErrorCode, isKvError, KvError, kvError } from './errors.ts';

void test('every code is kebab-case with a 4xx/5xx status', () => {
  for (const [code, status] of Object.entries(ERROR_CODES)) {
    assert.match(code, /^[a-z]+(-[a-z]+)*$/, code);
    assert.ok(status >= 400 && status < 600, code);
  }
});

void test('the statuses API.md promises', () => {
  const expected: Record<string, number> = {
    'key-not-found': 404,
    'invalid-key': 400,
    'invalid-body': 400,
    'invalid-ttl': 400,
    'unknown-parameter': 400,
    'value-too-large': 413,
    'cas-mismatch': 412,
    'method-not-allowed': 405,
    'no-leader': 503,
    timeout: 504,
    'would-lose-quorum': 409,
    'learner-not-caught-up': 409,
    'member-not-found': 404,
    'too-many-requests': 429,
    internal: 500,
  };
  for (const [code, status] of Object.entries(expected)) {
    assert.ok(isErrorCode(code), code);
    assert.equal(kvError(code, 'x').status, status, code);
  }
  assert.equal(isErrorCode('toString'), false);
});

void test('503 and 429 carry Retry-After unless given; others carry no headers', () => {
  assert.deepEqual(kvError('no-leader', 'x').headers, { 'Retry-After': '1' });
  assert.deepEqual(kvError('too-many-requests', 'x').headers, { 'Retry-After': '1' });
  assert.deepEqual(kvError('no-leader', 'x', { headers: { 'Retry-After': '3' } }).headers, {
    'Retry-After': '3',
  });
  assert.equal(kvError('cas-mismatch', 'x').headers, undefined);
});

void test('KvError is an Error with a JSON body', () => {
  const cause = new Error('disk');
  const e = kvError('internal', 'broke', { cause });
  assert.ok(e instanceof Error);
  assert.ok(e instanceof KvError);
  assert.ok(isKvError(e));
  assert.equal(isKvError(new Error('x')), false);
  assert.equal(e.cause, cause);
  assert.equal(JSON.stringify(e), '{"error":{"code":"internal","message":"broke"}}');
});
