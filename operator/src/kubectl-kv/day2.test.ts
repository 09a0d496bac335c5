import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError } from './api.ts';
import { retryOnConflict } from './day2.ts';

void test('a stale resourceVersion (409) is retried from a fresh attempt; other errors are not', async () => {
  let calls = 0;
  const value = await retryOnConflict(() => {
    calls++;
    if (calls < 3) return Promise.reject(new ApiError(409, 'changed'));
    return Promise.resolve('done');
  });
  assert.equal(value, 'done');
  assert.equal(calls, 3);

  calls = 0;
  await assert.rejects(
    retryOnConflict(() => {
      calls++;
      return Promise.reject(new ApiError(403, 'forbidden'));
    }),
    /forbidden/,
  );
  assert.equal(calls, 1, 'a refusal is not retried');

  calls = 0;
  await assert.rejects(
    retryOnConflict(() => {
      calls++;
      return Promise.reject(new ApiError(409, 'changed'));
    }),
    /changed/,
  );
  assert.equal(calls, 5, 'a lasting conflict is reported after five attempts');
});
