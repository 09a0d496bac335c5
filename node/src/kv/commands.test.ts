import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Packr } from 'msgpackr';
import { CommandDecodeError, decodeCommand, encodeCommand } from './commands.ts';
import type { Command } from './commands.ts';

const raw = new Packr({ useRecords: false });

void describe('commands', () => {
  const samples: Command[] = [
    { op: 'put', requestId: 'r1', key: 'a/b', value: 'v' },
    {
      op: 'put',
      requestId: 'r2',
      key: 'ключ/🔑',
      value: '',
      expiresAt: 1_700_000_000_123,
      ttl: '5s',
      cas: 0,
    },
    {
      op: 'put',
      requestId: 'r3',
      key: 'k',
      value: 'x'.repeat(100_000),
      cas: 42,
      proposedAt: 1_700_000_000_000,
    },
    { op: 'delete', requestId: 'r4', key: 'k' },
    { op: 'delete', requestId: 'r5', key: 'dir/', recurse: true, cas: 7, proposedAt: 5 },
    {
      op: 'expire',
      requestId: 'r6',
      keys: [
        { key: 'a', modifyIndex: 3 },
        { key: 'b', modifyIndex: 9 },
      ],
    },
    { op: 'expire', requestId: 'r7', keys: [] },
    { op: 'noop', requestId: 'r8' },
  ];
  for (const cmd of samples) {
    void test(`${cmd.op} ${cmd.requestId} round-trips`, () => {
      assert.deepEqual(decodeCommand(encodeCommand(cmd)), cmd);
    });
  }

  void test('unknown fields are dropped and absent optionals omitted', () => {
    const bytes = raw.pack([1, { op: 'put', requestId: 'r', key: 'k', value: 'v', extra: 1, cas: null }]);
    assert.deepEqual(decodeCommand(bytes), { op: 'put', requestId: 'r', key: 'k', value: 'v' });
  });

  const garbage: [string, Uint8Array][] = [
    ['empty bytes', new Uint8Array()],
    ['random bytes', Uint8Array.from([0xc1, 0xff, 0x00, 0x13])],
    ['a bare object', raw.pack({ op: 'noop', requestId: 'r' })],
    ['an unknown format', raw.pack([2, { op: 'noop', requestId: 'r' }])],
    ['an unknown op', raw.pack([1, { op: 'rename', requestId: 'r' }])],
    ['a missing requestId', raw.pack([1, { op: 'noop' }])],
    ['a numeric key', raw.pack([1, { op: 'put', requestId: 'r', key: 1, value: 'v' }])],
    ['a missing value', raw.pack([1, { op: 'put', requestId: 'r', key: 'k' }])],
    ['a negative cas', raw.pack([1, { op: 'put', requestId: 'r', key: 'k', value: 'v', cas: -1 }])],
    ['a fractional cas', raw.pack([1, { op: 'delete', requestId: 'r', key: 'k', cas: 1.5 }])],
    [
      'a string expiresAt',
      raw.pack([1, { op: 'put', requestId: 'r', key: 'k', value: 'v', expiresAt: '1' }]),
    ],
    ['a non-boolean recurse', raw.pack([1, { op: 'delete', requestId: 'r', key: 'k', recurse: 1 }])],
    ['expire keys not an array', raw.pack([1, { op: 'expire', requestId: 'r', keys: 'a' }])],
    ['expire key without index', raw.pack([1, { op: 'expire', requestId: 'r', keys: [{ key: 'a' }] }])],
  ];
  for (const [what, bytes] of garbage) {
    void test(`${what} is rejected`, () => {
      assert.throws(() => decodeCommand(bytes), CommandDecodeError);
    });
  }

  void test('encoding is compact', () => {
    const bytes = encodeCommand({ op: 'put', requestId: 'abcd', key: 'key', value: 'value' });
    assert.ok(bytes.byteLength < 60, `${bytes.byteLength} bytes`);
  });
});
