// Wire format of the peer transport, after the HTTP Upgrade handshake:
//   frame = u32 big-endian payload length | u8 frame type | payload
// Message and snapshot-header payloads are a msgpack envelope {v, clusterId, from, to, msgs}.
import { Packr } from 'msgpackr';
import type { Message } from '../raft/types.ts';
import { PeerInputError } from './validate.ts';

export const PROTOCOL_VERSION = 1;
export const STREAM_PATH = '/raft/v1/stream';
export const UPGRADE_PROTOCOL = 'kvstore-raft';
export const HEADER_FROM = 'x-raft-from';
export const HEADER_TO = 'x-raft-to';
export const HEADER_CLUSTER_ID = 'x-raft-cluster-id';
export const HEADER_VERSION = 'x-raft-version';
export const HEADER_STREAM = 'x-raft-stream';
export const HEADER_PEER_URL = 'x-raft-peer-url';
/** The sender's client URL, so a follower can forward admin requests to its leader's client API. */
export const HEADER_CLIENT_URL = 'x-raft-client-url';

export const FrameType = {
  /** msgpack Envelope with Raft messages. */
  Messages: 1,
  /** 8 bytes: sender's monotonic clock (ms, float64); echoed back as Pong. */
  Ping: 2,
  Pong: 3,
  /** msgpack SnapshotHeader: the `snap` message without its data, and the data's size. */
  SnapshotHeader: 4,
  /** Raw snapshot bytes, in order. */
  SnapshotChunk: 5,
  /** Empty: all chunks sent. */
  SnapshotEnd: 6,
  /** 1 byte, receiver -> sender: 1 = delivered to Raft, 0 = refused. */
  SnapshotAck: 7,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const FRAME_HEADER_BYTES = 5;
/** Upper bound for any frame; a peer announcing more is broken or hostile. */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;
/** A sender starts a new Messages frame once a batch reaches this many approximate payload bytes. */
export const FRAME_BATCH_BYTES = 4 * 1024 * 1024;
/**
 * Largest Messages frame a receiver buffers (its per-stream memory bound). A frame is a batch cut
 * at FRAME_BATCH_BYTES plus the one message that crossed it: an App carries at most the core's
 * maxSizePerMsg (1 MiB) of entries, or a single larger entry, and an entry is one command of at
 * most a 1 MiB value plus a 4 KiB key. 8 MiB leaves room for msgpack overhead.
 */
export const MAX_MESSAGE_FRAME_BYTES = 8 * 1024 * 1024;
/** Frames a sender reads back (pongs, snapshot acks) are tiny. */
export const MAX_CONTROL_FRAME_BYTES = 64 * 1024;

export interface Envelope {
  v: number;
  clusterId: string;
  from: string;
  to: string;
  msgs: Message[];
}

export interface SnapshotHeader extends Envelope {
  /** Bytes of snapshot data that follow in SnapshotChunk frames. */
  size: number;
  /** crc32 of all those bytes: the receiver checks the whole stream against it before using it. */
  crc: number;
}

export interface Frame {
  type: number;
  payload: Buffer;
}

// Plain maps/arrays only: records would need structure sharing between processes.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

export function encodeFrame(type: FrameType, payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.byteLength);
  frame.writeUInt32BE(payload.byteLength, 0);
  frame.writeUInt8(type, 4);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/** Header and payload as two buffers, so a large chunk is not copied. */
export function frameHeader(type: FrameType, payloadBytes: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(payloadBytes, 0);
  header.writeUInt8(type, 4);
  return header;
}

export function encodeMsgpack(value: unknown): Buffer {
  return packr.pack(value);
}

export function decodeMsgpack(payload: Uint8Array): unknown {
  return packr.unpack(payload);
}

export class FrameError extends Error {}

/** Incremental frame parser: push socket chunks, get whole frames. Buffers at most one frame. */
export class FrameDecoder {
  #chunks: Buffer[] = [];
  #buffered = 0;
  readonly #maxFrameBytes: number;

  constructor(maxFrameBytes = MAX_FRAME_BYTES) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  push(chunk: Buffer): Frame[] {
    if (chunk.byteLength > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.byteLength;
    }
    const frames: Frame[] = [];
    while (this.#buffered >= FRAME_HEADER_BYTES) {
      const head = this.#peekHeader();
      const length = head.readUInt32BE(0);
      if (length > this.#maxFrameBytes)
        throw new FrameError(`frame of ${length} bytes exceeds ${this.#maxFrameBytes}`);
      const total = FRAME_HEADER_BYTES + length;
      if (this.#buffered < total) break;
      const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#buffered);
      frames.push({ type: all.readUInt8(4), payload: all.subarray(FRAME_HEADER_BYTES, total) });
      const rest = all.subarray(total);
      this.#chunks = rest.byteLength > 0 ? [rest] : [];
      this.#buffered = rest.byteLength;
    }
    return frames;
  }

  #peekHeader(): Buffer {
    const first = this.#chunks[0]!;
    if (first.byteLength >= FRAME_HEADER_BYTES) return first;
    const merged = Buffer.concat(this.#chunks, this.#buffered);
    this.#chunks = [merged];
    return merged;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An envelope as decoded: its messages are still unchecked (validate.ts checks each one). */
export interface RawEnvelope {
  v: number;
  clusterId: string;
  from: string;
  to: string;
  msgs: unknown[];
  /** Snapshot headers only. */
  size?: unknown;
  crc?: unknown;
}

/** Checks the envelope's own fields; throws PeerInputError('bad-envelope'). */
export function decodeEnvelope(payload: Uint8Array): RawEnvelope {
  let e: unknown;
  try {
    e = decodeMsgpack(payload);
  } catch (err) {
    throw new PeerInputError('bad-envelope', `undecodable envelope (${String(err).slice(0, 200)})`);
  }
  if (!isRecord(e)) throw new PeerInputError('bad-envelope', 'envelope is not an object');
  if (typeof e.v !== 'number') throw new PeerInputError('bad-envelope', 'envelope without version');
  if (
    typeof e.clusterId !== 'string' ||
    e.clusterId.length > 256 ||
    typeof e.from !== 'string' ||
    typeof e.to !== 'string'
  ) {
    throw new PeerInputError('bad-envelope', 'envelope without clusterId/from/to');
  }
  if (!Array.isArray(e.msgs)) throw new PeerInputError('bad-envelope', 'envelope without msgs');
  const env: RawEnvelope = {
    v: e.v,
    clusterId: e.clusterId,
    from: e.from,
    to: e.to,
    msgs: e.msgs as unknown[],
  };
  if ('size' in e) env.size = e.size;
  if ('crc' in e) env.crc = e.crc;
  return env;
}

/** Rough wire size of a message, to split huge batches into several frames. */
export function approxMessageBytes(m: Message): number {
  let n = 96 + m.context.length;
  for (const e of m.entries) n += 16 + e.data.byteLength;
  if (m.snapshot) n += m.snapshot.data.byteLength + 64;
  return n;
}
