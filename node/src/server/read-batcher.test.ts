import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isKvError } from '../errors.ts';
import { ReadBatcher, type ReadBatcherDeps } from './read-batcher.ts';

function batcher(over: Partial<ReadBatcherDeps> = {}): { b: ReadBatcher; requested: string[] } {
  const requested: string[] = [];
  const b = new ReadBatcher('t', {
    requestReadIndex: (ctx) => requested.push(ctx),
    appliedIndex: () => 0,
    now: () => 0,
    retryAfterMs: 1000,
    timeoutMs: 1_500,
    makeTimeoutError: () => new Error('timeout'),
    ...over,
  });
  return { b, requested };
}

void test('reads that arrive during a round share the next one and are released once applied', async () => {
  let applied = 0;
  const { b, requested } = batcher({ appliedIndex: () => applied });
  const first = b.wait();
  const second = b.wait();
  const third = b.wait();
  assert.equal(requested.length, 1);
  b.onReadState(requested[0]!, 0);
  await first;
  assert.equal(requested.length, 2, 'one round for the two reads that waited');
  b.onReadState(requested[1]!, 5);
  assert.equal(b.pendingCount(), 2);
  applied = 5;
  b.onApplied();
  await Promise.all([second, third]);
  assert.equal(b.pendingCount(), 0);
});

void test(
  'pending reads are bounded: past the bound a read is refused at once with 429 too-many-requests',
  { timeout: 2000 },
  async () => {
    const { b } = batcher({ maxPending: 3 });
    const held = [b.wait(), b.wait(), b.wait()];
    await assert.rejects(
      b.wait(),
      (e: unknown) => isKvError(e) && e.code === 'too-many-requests' && e.status === 429,
    );
    assert.equal(b.pendingCount(), 3);
    b.failAll(new Error('stop'));
    for (const p of held) await assert.rejects(p);
  },
);

void test('the default bound is finite', { timeout: 20_000 }, async () => {
  const { b } = batcher();
  const held: Promise<void>[] = [];
  let refused = false;
  for (let i = 0; i < 200_000 && !refused; i++) {
    const p = b.wait();
    held.push(p);
    if (b.pendingCount() < held.length) refused = true;
  }
  assert.ok(refused, 'some read was refused');
  b.failAll(new Error('stop'));
  await Promise.allSettled(held);
});
