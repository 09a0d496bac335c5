import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyMessage, MessageType } from '../raft/types.ts';
import { decodeEnvelope, encodeFrame, encodeMsgpack, FrameDecoder, FrameError, FrameType, PROTOCOL_VERSION } from './frames.ts';

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
    assert.deepEqual(result.map((f) => f.type), [FrameType.Ping, FrameType.SnapshotChunk, FrameType.SnapshotEnd]);
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
  m.entries = [{ term: 3, index: 9, type: 0, data: Uint8Array.of(1, 2, 3) }];
  m.commit = 8;
  const env = decodeEnvelope(encodeMsgpack({ v: PROTOCOL_VERSION, clusterId: 'c', from: 'a', to: 'b', msgs: [m] }));
  assert.equal(env.clusterId, 'c');
  assert.equal(env.msgs.length, 1);
  const got = env.msgs[0]!;
  assert.equal(got.commit, 8);
  assert.deepEqual([...got.entries[0]!.data], [1, 2, 3]);
  assert.ok(got.entries[0]!.data instanceof Uint8Array);
});

void test('envelope validation rejects malformed messages', () => {
  const good = emptyMessage(MessageType.Heartbeat, 'a', 'b', 1);
  const bad = [
    { v: 1, clusterId: 'c', from: 'a', to: 'b' },
    { v: 1, clusterId: 7, from: 'a', to: 'b', msgs: [] },
    { v: 1, clusterId: 'c', from: 'a', to: 'b', msgs: [{ ...good, type: 'hup' }] },
    { v: 1, clusterId: 'c', from: 'a', to: 'b', msgs: [{ ...good, term: '1' }] },
    { v: 1, clusterId: 'c', from: 'a', to: 'b', msgs: [{ ...good, entries: [{ term: 1, index: 1, data: 'x' }] }] },
    [1, 2, 3],
  ];
  for (const b of bad) assert.throws(() => decodeEnvelope(encodeMsgpack(b)), FrameError, JSON.stringify(b));
});
