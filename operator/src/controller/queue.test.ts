import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Clock } from './queue.ts';
import { WorkQueue } from './queue.ts';

class ManualClock implements Clock {
  t = 0;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private next = 0;
  now() {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number) {
    const id = ++this.next;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimeout(h: unknown) {
    this.timers = this.timers.filter((x) => x.id !== h);
  }
  advance(ms: number) {
    this.t += ms;
    const due = this.timers.filter((x) => x.at <= this.t).sort((a, b) => a.at - b.at);
    this.timers = this.timers.filter((x) => x.at > this.t);
    for (const d of due) d.fn();
  }
  pending() {
    return this.timers.length;
  }
}

void describe('WorkQueue', () => {
  void test('de-duplicates keys waiting in the queue', async () => {
    const q = new WorkQueue({ clock: new ManualClock() });
    q.add('a');
    q.add('b');
    q.add('a');
    assert.equal(q.len(), 2);
    assert.equal(await q.get(), 'a');
    assert.equal(await q.get(), 'b');
    assert.equal(q.len(), 0);
  });

  void test('a key added while processing is handed out again only after done()', async () => {
    const q = new WorkQueue({ clock: new ManualClock() });
    q.add('a');
    const k = await q.get();
    q.add('a');
    q.add('a');
    assert.equal(q.len(), 0, 'not handed to a second worker while processing');
    q.done(k!);
    assert.equal(q.len(), 1);
    assert.equal(await q.get(), 'a');
    q.done('a');
    assert.equal(q.len(), 0);
  });

  void test('a waiting worker receives the next added key', async () => {
    const q = new WorkQueue({ clock: new ManualClock() });
    const pending = q.get();
    q.add('x');
    assert.equal(await pending, 'x');
  });

  void test('exponential per-key backoff, reset by forget()', () => {
    const q = new WorkQueue({ clock: new ManualClock(), baseDelayMs: 100, maxDelayMs: 1000 });
    const delays = Array.from({ length: 6 }, () => q.nextRetryDelay('k'));
    assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000]);
    assert.equal(q.nextRetryDelay('other'), 100, 'per key');
    q.forget('k');
    assert.equal(q.nextRetryDelay('k'), 100);
  });

  void test('the token bucket bounds the overall retry rate', () => {
    const q = new WorkQueue({ clock: new ManualClock(), baseDelayMs: 1, qps: 10, burst: 2 });
    assert.equal(q.nextRetryDelay('a'), 1);
    assert.equal(q.nextRetryDelay('b'), 1);
    assert.ok(q.nextRetryDelay('c') >= 100, 'third retry waits for a token');
  });

  void test('addAfter fires once, the earliest schedule wins', () => {
    const clock = new ManualClock();
    const q = new WorkQueue({ clock });
    q.addAfter('a', 1000);
    q.addAfter('a', 5000);
    q.addAfter('a', 200);
    assert.equal(clock.pending(), 1);
    clock.advance(199);
    assert.equal(q.len(), 0);
    clock.advance(1);
    assert.equal(q.len(), 1);
    clock.advance(10_000);
    assert.equal(q.len(), 1);
  });

  void test('addRateLimited schedules the retry', () => {
    const clock = new ManualClock();
    const q = new WorkQueue({ clock, baseDelayMs: 50 });
    q.addRateLimited('a');
    assert.equal(q.len(), 0);
    clock.advance(50);
    assert.equal(q.len(), 1);
    assert.equal(q.retries('a'), 1);
  });

  void test('shutdown releases waiting workers and stops accepting keys', async () => {
    const q = new WorkQueue({ clock: new ManualClock() });
    const waiting = q.get();
    q.shutdown();
    assert.equal(await waiting, undefined);
    q.add('a');
    assert.equal(await q.get(), undefined);
  });
});
