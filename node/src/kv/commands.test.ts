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
    const loose = {
      op: 'put',
      requestId: 'r',
      key: 'k',
      value: 'v',
      extra: 1,
      cas: null,
    } as unknown as Command;
    assert.deepEqual(decodeCommand(encodeCommand(loose)), {
      op: 'put',
      requestId: 'r',
      key: 'k',
      value: 'v',
    });
    const del = { op: 'delete', requestId: 'r', key: 'k', recurse: false } as Command;
    assert.deepEqual(decodeCommand(encodeCommand(del)), { op: 'delete', requestId: 'r', key: 'k' });
  });

  void test('invalid commands are refused when encoding', () => {
    const bad = [
      { op: 'rename', requestId: 'r' },
      { op: 'noop' },
      { op: 'put', requestId: 'r', key: 1, value: 'v' },
      { op: 'put', requestId: 'r', key: 'k' },
      { op: 'put', requestId: 'r', key: 'k', value: 'v', cas: -1 },
      { op: 'delete', requestId: 'r', key: 'k', cas: 1.5 },
      { op: 'put', requestId: 'r', key: 'k', value: 'v', expiresAt: '1' },
      { op: 'delete', requestId: 'r', key: 'k', recurse: 1 },
      { op: 'expire', requestId: 'r', keys: 'a' },
      { op: 'expire', requestId: 'r', keys: [{ key: 'a' }] },
    ];
    for (const cmd of bad) assert.throws(() => encodeCommand(cmd as unknown as Command), CommandDecodeError);
  });

  const good = Buffer.from(encodeCommand({ op: 'put', requestId: 'r', key: 'k', value: 'v', cas: 3 }));
  const withByte = (at: number, v: number): Buffer => {
    const b = Buffer.from(good);
    b[at] = v;
    return b;
  };
  const garbage: [string, Uint8Array][] = [
    ['empty bytes', new Uint8Array()],
    ['random bytes', Uint8Array.from([0xc1, 0xff, 0x00, 0x13])],
    ['msgpack (the old format)', raw.pack([1, { op: 'noop', requestId: 'r' }])],
    ['an unknown format', withByte(0, 9)],
    ['an unknown op', withByte(1, 7)],
    ['an unknown flag', withByte(2, 0x40)],
    ['a flag the op does not take', withByte(2, 16)],
    ['a truncated command', good.subarray(0, good.byteLength - 1)],
    ['trailing bytes', Buffer.concat([good, Buffer.from([0])])],
    ['a string longer than the command', withByte(3, 100)],
    ['an endless varint', Buffer.from([2, 3, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])],
    [
      'a non-finite time',
      (() => {
        const b = Buffer.from(encodeCommand({ op: 'delete', requestId: 'r', key: 'k', proposedAt: 1 }));
        b.writeDoubleLE(Number.NaN, b.byteLength - 8);
        return b;
      })(),
    ],
  ];
  for (const [what, bytes] of garbage) {
    void test(`${what} is rejected`, () => {
      assert.throws(() => decodeCommand(bytes), CommandDecodeError);
    });
  }

  void test('encoding is compact', () => {
    const bytes = encodeCommand({ op: 'put', requestId: 'abcd', key: 'key', value: 'value' });
    assert.equal(bytes.byteLength, 3 + 5 + 4 + 6);
  });
});
