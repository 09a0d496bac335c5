import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CronError, longestCronGapMs, nextCronTime, parseCron } from './cron.ts';

const at = (iso: string): number => Date.parse(iso);
const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');
/** The next `n` firings after `from`. */
function firings(schedule: string, from: string, n: number): string[] {
  const s = parseCron(schedule);
  const out: string[] = [];
  let t = at(from);
  for (let i = 0; i < n; i++) out.push(iso((t = nextCronTime(s, t))));
  return out;
}

void describe('cron schedules (UTC, Vixie semantics)', () => {
  void test('every hour, strictly after the given instant', () => {
    assert.deepEqual(firings('0 * * * *', '2026-12-01T10:00:00Z', 3), [
      '2026-12-01T11:00:00Z',
      '2026-12-01T12:00:00Z',
      '2026-12-01T13:00:00Z',
    ]);
    assert.deepEqual(firings('0 * * * *', '2026-12-01T10:59:59.999Z', 1), ['2026-12-01T11:00:00Z']);
    assert.deepEqual(firings('* * * * *', '2026-12-01T10:00:30Z', 2), [
      '2026-12-01T10:01:00Z',
      '2026-12-01T10:02:00Z',
    ]);
  });

  void test('lists, ranges and steps', () => {
    assert.deepEqual(firings('*/20 9-10 * * *', '2026-12-01T00:00:00Z', 7), [
      '2026-12-01T09:00:00Z',
      '2026-12-01T09:20:00Z',
      '2026-12-01T09:40:00Z',
      '2026-12-01T10:00:00Z',
      '2026-12-01T10:20:00Z',
      '2026-12-01T10:40:00Z',
      '2026-12-02T09:00:00Z',
    ]);
    assert.deepEqual(firings('5,35 1-5/2 * * *', '2026-12-01T00:00:00Z', 4), [
      '2026-12-01T01:05:00Z',
      '2026-12-01T01:35:00Z',
      '2026-12-01T03:05:00Z',
      '2026-12-01T03:35:00Z',
    ]);
  });

  void test('month ends, leap days and the year boundary', () => {
    assert.deepEqual(firings('0 0 31 * *', '2026-01-31T00:00:00Z', 3), [
      '2026-03-31T00:00:00Z',
      '2026-05-31T00:00:00Z',
      '2026-07-31T00:00:00Z',
    ]);
    assert.deepEqual(firings('0 12 29 2 *', '2026-01-01T00:00:00Z', 2), [
      '2028-02-29T12:00:00Z',
      '2032-02-29T12:00:00Z',
    ]);
    assert.deepEqual(firings('@yearly', '2026-06-01T00:00:00Z', 1), ['2027-01-01T00:00:00Z']);
  });

  void test('day of week: names, 7 is Sunday; both day fields restricted means either', () => {
    // 2026-12-01 is a Tuesday.
    assert.deepEqual(firings('0 8 * * MON-FRI', '2026-12-04T09:00:00Z', 2), [
      '2026-12-07T08:00:00Z',
      '2026-12-08T08:00:00Z',
    ]);
    assert.deepEqual(firings('0 0 * * 7', '2026-12-01T00:00:00Z', 1), ['2026-12-06T00:00:00Z']);
    assert.deepEqual(firings('0 0 * * sun', '2026-12-01T00:00:00Z', 1), ['2026-12-06T00:00:00Z']);
    // The 15th OR a Sunday (Vixie), not the 15th when it is a Sunday.
    assert.deepEqual(firings('0 0 15 * 0', '2026-12-01T00:00:00Z', 3), [
      '2026-12-06T00:00:00Z',
      '2026-12-13T00:00:00Z',
      '2026-12-15T00:00:00Z',
    ]);
    // A `*` day-of-month (even with a step) makes it AND: odd days that are Sundays.
    assert.deepEqual(firings('0 0 */2 * 0', '2026-12-01T00:00:00Z', 2), [
      '2026-12-13T00:00:00Z',
      '2026-12-27T00:00:00Z',
    ]);
    assert.deepEqual(firings('0 0 1 JAN,jul *', '2026-02-01T00:00:00Z', 2), [
      '2026-07-01T00:00:00Z',
      '2027-01-01T00:00:00Z',
    ]);
  });

  void test('bad schedules are refused with the field and the reason', () => {
    for (const [text, why] of [
      ['0 * * *', /has 4 fields; a schedule has 5/],
      ['', /has 0 fields/],
      ['0 0 * * * *', /has 6 fields/],
      ['60 * * * *', /minute field "60": 60 is outside 0-59/],
      ['0 24 * * *', /hour field "24": 24 is outside 0-23/],
      ['0 0 0 * *', /day-of-month field "0": 0 is outside 1-31/],
      ['0 0 * 13 *', /month field "13"/],
      ['0 0 * * 8', /day-of-week field "8"/],
      ['10-5 * * * *', /runs backwards/],
      ['*/0 * * * *', /step "0" is not a positive number/],
      ['5/15 * * * *', /write "5-59\/15" or "\*\/15"/],
      ['1,,2 * * * *', /empty list item/],
      ['x * * * *', /"x" is not a number/],
      ['0 0 * * FOO', /"FOO" is not a number/],
      ['0 0 30 2 *', /never fires/],
      ['@every 5m', /unknown macro/],
    ] as const) {
      assert.throws(
        () => parseCron(text),
        (e: unknown) => e instanceof CronError && why.test(e.message),
        text,
      );
    }
  });

  void test('the longest gap between firings', () => {
    const from = at('2026-12-01T00:00:00Z');
    assert.equal(longestCronGapMs(parseCron('0 * * * *'), from), 3_600_000);
    assert.equal(longestCronGapMs(parseCron('*/15 * * * *'), from), 900_000);
    assert.equal(longestCronGapMs(parseCron('0 2,20 * * *'), from), 18 * 3_600_000);
    // Weekdays at 08:00: Friday to Monday.
    assert.equal(longestCronGapMs(parseCron('0 8 * * 1-5'), from), 3 * 86_400_000);
    assert.equal(longestCronGapMs(parseCron('* * * * 1'), from), 6 * 86_400_000 + 60_000);
  });
});
