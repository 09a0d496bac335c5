import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DurationError, parseDuration, parseDurationNs } from './duration.ts';

// Expected nanoseconds were produced by Go 1.26's time.ParseDuration.
const valid: [string, bigint][] = [
  ['300ms', 300_000_000n],
  ['5s', 5_000_000_000n],
  ['1.5h', 5_400_000_000_000n],
  ['2h45m', 9_900_000_000_000n],
  ['1us', 1_000n],
  ['1\u00b5s', 1_000n],
  ['1\u03bcs', 1_000n],
  ['10ns', 10n],
  ['0', 0n],
  ['0s', 0n],
  ['+5s', 5_000_000_000n],
  ['-0', 0n],
  ['-0s', 0n],
  ['000001s', 1_000_000_000n],
  ['.5s', 500_000_000n],
  ['5.s', 5_000_000_000n],
  ['1.000000001s', 1_000_000_001n],
  ['1.0000000009s', 1_000_000_000n], // truncated, not rounded
  ['0.1ns', 0n],
  ['1.5ns', 1n],
  ['1h1m1s1ms1us1ns', 3_661_001_001_001n],
  ['0.3333333333333333333333333h', 1_200_000_000_000n],
  ['1.1234567890123456789012345s', 1_123_456_789n],
  ['2562047h47m16.854775807s', 9_223_372_036_854_775_807n],
  ['9223372036854775807ns', 9_223_372_036_854_775_807n],
];

const invalid: [string, RegExp][] = [
  ['', /empty/],
  ['-', /empty/],
  ['-5s', /negative/],
  ['-1.5h', /negative/],
  ['5', /missing unit/],
  ['1.5', /missing unit/],
  ['s', /expected a number/],
  ['.s', /expected digits/],
  ['-.s', /expected digits/],
  ['5 s', /unknown unit/],
  [' 5s', /expected a number/],
  ['5sec', /unknown unit/],
  ['5S', /unknown unit/],
  ['5d', /unknown unit/],
  ['1.5.5s', /missing unit|expected/],
  ['5s ', /unknown unit/],
  ['1e3s', /unknown unit/],
  ['0x10s', /unknown unit/],
  ['9223372036854775808ns', /overflow/],
  ['2562047h47m16.854775808s', /overflow/],
  ['2562048h', /overflow/],
  ['18446744073709551616ns', /overflow/],
  ['100000000000000000000000.000000000000000000000001ns', /overflow/],
  ['5000000h5000000h', /overflow/],
];

void describe('parseDuration (Go time.ParseDuration semantics)', () => {
  for (const [input, ns] of valid) {
    void test(`${JSON.stringify(input)} = ${ns}ns`, () => {
      assert.equal(parseDurationNs(input), ns);
      assert.equal(parseDuration(input), Number(ns) / 1e6);
    });
  }
  for (const [input, reason] of invalid) {
    void test(`${JSON.stringify(input)} is refused`, () => {
      assert.throws(
        () => parseDuration(input),
        (err: unknown) => err instanceof DurationError && reason.test(err.message) && err.input === input,
      );
    });
  }
  void test('milliseconds keep sub-millisecond precision', () => {
    assert.equal(parseDuration('1us'), 0.001);
    assert.equal(parseDuration('1500us'), 1.5);
    assert.equal(parseDuration('2h45m'), 9_900_000);
  });
});
