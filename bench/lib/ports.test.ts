import assert from 'node:assert/strict';
import { test } from 'node:test';
import { benchPortOffset } from './ports.ts';

void test('KVSTORE_BENCH_PORT_OFFSET: 0 when unset or empty, the integer given, refused otherwise', () => {
  assert.equal(benchPortOffset({}), 0);
  assert.equal(benchPortOffset({ KVSTORE_BENCH_PORT_OFFSET: '' }), 0);
  assert.equal(benchPortOffset({ KVSTORE_BENCH_PORT_OFFSET: '1000' }), 1000);
  for (const bad of ['-1', '1.5', 'x', '40000'])
    assert.throws(() => benchPortOffset({ KVSTORE_BENCH_PORT_OFFSET: bad }), /0\.\.30000/);
});
