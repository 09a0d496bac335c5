import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuBetween, cpuPerKiloRequest, parseProcStat, procTimes } from './cpu.ts';

// a real line's shape, with a command name that holds a space and a ')'
const STAT =
  '4242 (kv store) x) S 1 4242 4242 0 -1 4194304 1200 0 0 0 350 120 40 9 20 0 11 0 100 1000000 2000 18446744073709551615';

void test('parseProcStat counts fields after the last parenthesis', () => {
  assert.deepEqual(parseProcStat(STAT), { selfTicks: 350 + 120, childrenTicks: 40 + 9 });
  assert.throws(() => parseProcStat('garbage'));
});

void test('procTimes reads this process', () => {
  const times = procTimes('self');
  assert.ok(times.selfTicks >= 0 && times.childrenTicks >= 0);
});

void test('cpuBetween: members by their own time, a child load generator by the harness children time', () => {
  const before = {
    members: [
      { selfTicks: 100, childrenTicks: 0 },
      { selfTicks: 50, childrenTicks: 0 },
    ],
    harness: { selfTicks: 10, childrenTicks: 200 },
  };
  const after = {
    members: [
      { selfTicks: 300, childrenTicks: 0 },
      { selfTicks: 150, childrenTicks: 7 },
    ],
    harness: { selfTicks: 90, childrenTicks: 260 },
  };
  const children = cpuBetween(before, after, 'children', 100);
  assert.deepEqual(children.memberSeconds, [2, 1]);
  assert.equal(children.loadGeneratorSeconds, 0.6);
  assert.equal(children.totalSeconds, 3.6);
  const self = cpuBetween(before, after, 'self', 100);
  assert.equal(self.loadGeneratorSeconds, 0.8);
  assert.equal(cpuPerKiloRequest(children, 1800), 2);
  assert.equal(cpuPerKiloRequest(children, 0), null);
  assert.throws(() => cpuBetween(before, { ...after, members: [] }, 'self'));
});
