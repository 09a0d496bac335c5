import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyMessage, MessageType } from '../raft/types.ts';
import { encodeCommand } from '../kv/commands.ts';
import {
  decodeEnvelope,
  encodeFrame,
  encodeMsgpack,
  FrameDecoder,
  FrameError,
  FrameType,
  PROTOCOL_VERSION,
} from './frames.ts';
import { PeerInputError, validateMessage } from './validate.ts';

void test('decoder reassembles frames split at every byte and joined in one chunk', () => {
  const frames = [
    encodeFrame(FrameType.Ping, Buffer.from('12345678')),
    encodeFrame(FrameType.SnapshotChunk, Buffer.alloc(70_000, 7)),
    encodeFrame(FrameType.SnapshotEnd, new Uint8Array(0)),
  ];
  const all = Buffer.concat(frames);
  const byteWise = new FrameDecoder();
  const got = [];
  for (let i = 0; i < all.byteLength; i++) got.push(...byteWise.push(all.subarray(i, i + 1)));
  const once = new FrameDecoder().push(all);
  for (const result of [got, once]) {
    assert.deepEqual(
      result.map((f) => f.type),
      [FrameType.Ping, FrameType.SnapshotChunk, FrameType.SnapshotEnd],
    );
    assert.equal(result[0]!.payload.toString(), '12345678');
    assert.equal(result[1]!.payload.byteLength, 70_000);
    assert.ok(result[1]!.payload.every((b) => b === 7));
    assert.equal(result[2]!.payload.byteLength, 0);
  }
});

void test('decoder refuses frames above the limit before buffering them', () => {
  const d = new FrameDecoder(1000);
  const header = Buffer.alloc(5);
  header.writeUInt32BE(1001, 0);
  assert.throws(() => d.push(header), FrameError);
});

void test('envelope round trip keeps entry bytes and message fields', () => {
  const m = emptyMessage(MessageType.App, 'a', 'b', 3);
  const data = encodeCommand({ op: 'put', requestId: 'r1', key: 'k', value: 'v' });
  m.entries = [{ term: 3, index: 9, type: 0, data }];
  m.index = 8;
  m.logTerm = 3;
  m.commit = 8;
  const env = decodeEnvelope(
    encodeMsgpack({ v: PROTOCOL_VERSION, clusterId: 'c', from: 'a', to: 'b', msgs: [m] }),
  );
  assert.equal(env.clusterId, 'c');
  assert.equal(env.msgs.length, 1);
  const got = validateMessage(env.msgs[0], 'a', 'b');
  assert.equal(got.commit, 8);
  assert.deepEqual([...got.entries[0]!.data], [...data]);
  assert.ok(got.entries[0]!.data instanceof Uint8Array);
});

void test('envelope decoding rejects malformed envelopes', () => {
  const bad = [
    { v: 1, clusterId: 'c', from: 'a', to: 'b' },
    { v: 1, clusterId: 7, from: 'a', to: 'b', msgs: [] },
    { clusterId: 'c', from: 'a', to: 'b', msgs: [] },
    [1, 2, 3],
  ];
  for (const b of bad)
    assert.throws(() => decodeEnvelope(encodeMsgpack(b)), PeerInputError, JSON.stringify(b));
  assert.throws(() => decodeEnvelope(Buffer.from([0xc1])), PeerInputError);
});
