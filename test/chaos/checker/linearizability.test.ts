import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Operation } from './history.ts';
import { checkHistory, checkKey } from './linearizability.ts';
import { explainViolation } from './timeline.ts';

let nextId = 0;
type Spec = Omit<Operation, 'id' | 'process' | 'key' | 'outcome'> &
  Partial<Pick<Operation, 'process' | 'key' | 'outcome'>>;
function op(spec: Spec): Operation {
  return { id: nextId++, process: 0, key: 'k', outcome: 'ok', ...spec };
}
const put = (value: string, call: number, ret: number, extra: Partial<Operation> = {}): Operation =>
  op({ kind: 'put', value, call, ret, ...extra });
const get = (result: string | null, call: number, ret: number, extra: Partial<Operation> = {}): Operation =>
  op({ kind: 'get', result, call, ret, ...extra });
const del = (deleted: boolean, call: number, ret: number, extra: Partial<Operation> = {}): Operation =>
  op({ kind: 'delete', deleted, call, ret, ...extra });
const cas = (
  expected: string | null,
  value: string,
  call: number,
  ret: number,
  extra: Partial<Operation> = {},
): Operation => op({ kind: 'cas', expected, value, call, ret, ...extra });
const unknown = { outcome: 'unknown' as const, ret: Infinity };

const verdict = (ops: Operation[]): string => checkHistory(ops).verdict;

describe('linearizability checker', () => {
  test('empty and sequential histories are linearizable', () => {
    assert.equal(verdict([]), 'ok');
    assert.equal(
      verdict([put('a', 0, 1), get('a', 2, 3), del(true, 4, 5), get(null, 6, 7), del(false, 8, 9)]),
      'ok',
    );
  });

  test('read of a never-written value is a violation', () => {
    assert.equal(verdict([put('a', 0, 1), get('zzz', 2, 3)]), 'violation');
  });

  test('concurrent overlapping writes and reads may be ordered either way', () => {
    // Two overlapping puts; reads during the overlap may see either; a later read sees the winner,
    // and the order of the two reads fixes which one won.
    const ops = [put('a', 0, 10), put('b', 1, 11), get('b', 2, 3), get('a', 4, 12), get('a', 13, 14)];
    assert.equal(verdict(ops), 'ok');
  });

  test('two sequential reads that flip back are a violation (stale read)', () => {
    // a then b written sequentially; a read after b completed still sees a.
    assert.equal(verdict([put('a', 0, 1), put('b', 2, 3), get('a', 4, 5)]), 'violation');
    // With b still in flight the same read is fine.
    assert.equal(verdict([put('a', 0, 1), put('b', 2, 6), get('a', 4, 5)]), 'ok');
  });

  test('stale read after a newer value was already observed', () => {
    const ops = [
      put('a', 0, 1),
      put('b', 2, 20),
      get('b', 3, 4, { process: 1 }),
      get('a', 5, 6, { process: 2 }),
    ];
    assert.equal(verdict(ops), 'violation');
  });

  test('lost write: acknowledged put followed by a read of the old value', () => {
    assert.equal(verdict([put('a', 0, 1), put('b', 2, 3), get('a', 10, 11)]), 'violation');
    assert.equal(verdict([put('a', 0, 1), get(null, 3, 4)]), 'violation');
  });

  test('unknown write that takes effect late', () => {
    // put b timed out; much later a read sees b after a read saw a.
    const ops = [put('a', 0, 1), put('b', 2, 3, unknown), get('a', 10, 11), get('b', 20, 21)];
    assert.equal(verdict(ops), 'ok');
  });

  test('unknown write that never takes effect', () => {
    const ops = [put('a', 0, 1), put('b', 2, 3, unknown), get('a', 10, 11), get('a', 20, 21)];
    assert.equal(verdict(ops), 'ok');
  });

  test('unknown write cannot take effect before it was called', () => {
    const ops = [put('a', 0, 1), get('b', 2, 3), put('b', 5, 6, unknown)];
    assert.equal(verdict(ops), 'violation');
  });

  test('failed writes never happened and failed reads are dropped', () => {
    const failedPut = put('b', 2, 3, { outcome: 'fail', error: 'value-too-large' });
    assert.equal(verdict([put('a', 0, 1), failedPut, get('b', 4, 5)]), 'violation');
    assert.equal(
      verdict([put('a', 0, 1), failedPut, get('zzz', 4, 5, { outcome: 'fail' }), get('a', 6, 7)]),
      'ok',
    );
    assert.equal(verdict([put('a', 0, 1), get('zzz', 4, 5, { outcome: 'unknown', ret: Infinity })]), 'ok');
  });

  test('delete results are checked against presence', () => {
    assert.equal(verdict([del(true, 0, 1)]), 'violation');
    assert.equal(verdict([put('a', 0, 1), del(false, 2, 3)]), 'violation');
    assert.equal(verdict([put('a', 0, 1), del(true, 2, 3), get('a', 4, 5)]), 'violation');
  });

  describe('cas', () => {
    test('successful cas from the current value', () => {
      assert.equal(verdict([put('a', 0, 1), cas('a', 'b', 2, 3), get('b', 4, 5)]), 'ok');
      assert.equal(verdict([cas(null, 'a', 0, 1), get('a', 2, 3)]), 'ok');
    });
    test('successful cas from a stale value is a violation', () => {
      assert.equal(verdict([put('a', 0, 1), put('b', 2, 3), cas('a', 'c', 4, 5)]), 'violation');
      assert.equal(verdict([put('a', 0, 1), cas(null, 'c', 4, 5)]), 'violation');
    });
    test('a mismatch is an observation too', () => {
      assert.equal(
        verdict([put('a', 0, 1), cas('a', 'b', 2, 3, { outcome: 'fail', error: 'cas-mismatch' })]),
        'violation',
      );
      assert.equal(
        verdict([
          put('a', 0, 1),
          put('x', 1.5, 4),
          cas('a', 'b', 2, 3, { outcome: 'fail', error: 'cas-mismatch' }),
        ]),
        'ok',
      );
      // Rejected for another reason: no information.
      assert.equal(
        verdict([put('a', 0, 1), cas('a', 'b', 2, 3, { outcome: 'fail', error: 'bad-request' })]),
        'ok',
      );
    });
    test('two successful cas from the same value cannot both win', () => {
      const ops = [
        put('a', 0, 1),
        cas('a', 'b', 2, 10, { process: 1 }),
        cas('a', 'c', 3, 11, { process: 2 }),
      ];
      assert.equal(verdict(ops), 'violation');
    });
    test('unknown cas may or may not have applied', () => {
      assert.equal(verdict([put('a', 0, 1), cas('a', 'b', 2, 3, unknown), get('b', 5, 6)]), 'ok');
      assert.equal(verdict([put('a', 0, 1), cas('a', 'b', 2, 3, unknown), get('a', 5, 6)]), 'ok');
      assert.equal(
        verdict([put('a', 0, 1), cas('a', 'b', 2, 3, unknown), get('b', 5, 6), get('a', 7, 8)]),
        'violation',
      );
    });
  });

  test('keys are checked independently and the verdict names the failing key', () => {
    const ops = [put('a', 0, 1, { key: 'x' }), get('a', 2, 3, { key: 'y' }), get('a', 2, 3, { key: 'x' })];
    const result = checkHistory(ops);
    assert.equal(result.verdict, 'violation');
    assert.deepEqual(
      result.keys.filter((k) => k.verdict === 'violation').map((k) => k.key),
      ['y'],
    );
  });

  test('budget exhaustion gives unknown, not ok', () => {
    // Many fully concurrent writes and one impossible read force a large search.
    const ops = Array.from({ length: 10 }, (_, i) => put(`v${i}`, 0, 100, { process: i }));
    ops.push(get('never', 101, 102));
    const result = checkKey('k', ops, { maxSteps: 50 });
    assert.equal(result.verdict, 'unknown');
    assert.match(result.reason ?? '', /budget/);
    assert.equal(checkKey('k', ops).verdict, 'violation');
  });

  test('a long multi-key history with unknowns checks within budget', () => {
    // Generated from a real register per key: each op's linearization point is t
    // and its interval straddles it, so the history is linearizable by construction.
    let seed = 42;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const ops: Operation[] = [];
    const values = new Map<string, string | null>();
    let t = 0;
    for (let i = 0; i < 4000; i++) {
      t += 1;
      const key = `k${Math.floor(i / 200)}-${i % 3}`;
      const value = values.get(key) ?? null;
      const call = t - rand() * 4;
      const ret = t + rand() * 4;
      const r = rand();
      const extra = { process: i % 8, key };
      if (r < 0.5) ops.push(get(value, call, ret, extra));
      else if (r < 0.75) {
        ops.push(put(`w${i}`, call, ret, extra));
        values.set(key, `w${i}`);
      } else if (r < 0.85)
        ops.push(put(`u${i}`, call, Infinity, { ...extra, process: 100 + i, outcome: 'unknown' }));
      else if (r < 0.9) {
        ops.push(del(value !== null, call, ret, extra));
        values.set(key, null);
      } else {
        ops.push(cas(value, `c${i}`, call, ret, extra));
        values.set(key, `c${i}`);
      }
    }
    // The unknown puts never took effect in the generated truth, which is allowed.
    assert.equal(checkHistory(ops).verdict, 'ok');
    // Corrupt reads in the middle (a value from another key's past): must be caught.
    for (const at of [1510, 2222, 3333]) {
      const idx = ops.findIndex((o, i) => i > at && o.kind === 'get');
      const corrupted = ops.map((o, i) => (i === idx ? { ...o, result: 'w0' } : o));
      assert.equal(checkHistory(corrupted).verdict, 'violation', `corruption at ${idx}`);
    }
  });

  test('many concurrent timeouts do not blow up the search', () => {
    // A leader dies: dozens of writes time out; later the one unknown cas turns out to have won.
    const base = [put('a', 0, 1), get('a', 2, 3)];
    const timeouts: Operation[] = [cas('a', 'winner', 4, Infinity, { outcome: 'unknown' })];
    for (let i = 0; i < 40; i++) {
      timeouts.push(
        i % 3 === 0
          ? del(false, 5 + i, Infinity, { outcome: 'unknown' })
          : put(`lost${i}`, 5 + i, Infinity, { outcome: 'unknown' }),
      );
    }
    const good = checkKey('k', [...base, ...timeouts, get('winner', 100, 101)], { maxSteps: 200_000 });
    assert.equal(good.verdict, 'ok');
    const bad = checkKey('k', [...base, ...timeouts, get('winner', 100, 101), get('a', 102, 103)], {
      maxSteps: 200_000,
    });
    assert.equal(bad.verdict, 'violation');
  });

  test('violation report shows the stuck operation on a timeline', () => {
    const ops = [put('a', 0, 1), put('b', 2, 3), get('a', 4, 5)];
    const result = checkKey('k', ops);
    assert.equal(result.verdict, 'violation');
    const text = explainViolation(result);
    assert.match(text, /NOT linearizable/);
    assert.match(text, /\* p0 .*get k -> a/);
    assert.match(text, /\[=+\]/);
  });
});
