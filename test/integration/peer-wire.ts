// The peer wire format (node/src/transport/frames.ts and the stream upgrade), spelled out as an
// outsider would, without the node's code: the tests that forge peer traffic speak it from here,
// so a change to the node's format shows as a failing forgery rather than a silently updated one.
import { Packr } from 'msgpackr';

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });
export const encodeMsgpack = (v: unknown): Buffer => packr.pack(v);
export const PROTOCOL_VERSION = 1;
export const STREAM_PATH = '/raft/v1/stream';
export const UPGRADE_PROTOCOL = 'kvstore-raft';
export const HEADER_FROM = 'x-raft-from';
export const HEADER_TO = 'x-raft-to';
export const HEADER_CLUSTER_ID = 'x-raft-cluster-id';
export const HEADER_VERSION = 'x-raft-version';
export const HEADER_STREAM = 'x-raft-stream';
export const HEADER_PEER_URL = 'x-raft-peer-url';
export const FrameType = {
  Messages: 1,
  SnapshotHeader: 4,
  SnapshotChunk: 5,
  SnapshotEnd: 6,
  SnapshotAck: 7,
} as const;
export const MessageType = { Append: 'app', Heartbeat: 'heartbeat', Vote: 'vote', Snap: 'snap' } as const;

export function encodeFrame(type: number, payload: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(payload.byteLength, 0);
  head.writeUInt8(type, 4);
  return Buffer.concat([head, payload]);
}

export class FrameDecoder {
  #buf = Buffer.alloc(0);
  push(chunk: Buffer): { type: number; payload: Buffer }[] {
    this.#buf = Buffer.concat([this.#buf, chunk]);
    const out: { type: number; payload: Buffer }[] = [];
    while (this.#buf.byteLength >= 5) {
      const len = this.#buf.readUInt32BE(0);
      if (this.#buf.byteLength < 5 + len) break;
      out.push({ type: this.#buf.readUInt8(4), payload: this.#buf.subarray(5, 5 + len) });
      this.#buf = this.#buf.subarray(5 + len);
    }
    return out;
  }
}

export function emptyMessage(
  type: string,
  from: string,
  to: string,
  term: number,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    type,
    from,
    to,
    term,
    index: 0,
    logTerm: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    hintTerm: 0,
    snapshot: null,
    context: '',
    ...extra,
  };
}
