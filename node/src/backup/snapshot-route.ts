// GET /v1/cluster/snapshot: the member's state at one applied index, streamed as the state
// machine's snapshot bytes while the member keeps serving. The capture (KvStateMachine.
// snapshotChunks) copies the key order and keeps pre-images of keys changed during the stream,
// so applies go on; a chunk is encoded only when the client has taken the previous one
// (backpressure), so the member holds about one chunk of output. The metadata the bytes lack
// comes in headers; kvctl adds a checksum footer (snapshot-file.ts). Under /v1/cluster/, so the
// auth gate asks for the root role once auth is enabled.
import type Router from '@koa/router';
import { Readable } from 'node:stream';
import { kvError } from '../errors.ts';
import type { Member } from '../kv/types.ts';
import { noQuery } from '../http/request.ts';

export const SNAPSHOT_ROUTE = '/v1/cluster/snapshot';
/** A client that stalls a stream this long (no chunk taken) is cut off: pre-images must not pile up. */
const STALL_TIMEOUT_MS = 60_000;
/** Streams at once per member: each holds a capture (pre-images of every key changed meanwhile). */
const MAX_CONCURRENT_STREAMS = 2;

export const SNAPSHOT_HEADERS = {
  index: 'X-KV-Snapshot-Index',
  term: 'X-KV-Snapshot-Term',
  clusterId: 'X-KV-Cluster-Id',
  memberId: 'X-KV-Member-Id',
  takenAt: 'X-KV-Snapshot-Taken-At',
  keys: 'X-KV-Snapshot-Keys',
  members: 'X-KV-Snapshot-Members',
} as const;

export interface CapturedSnapshot {
  index: number;
  term: number;
  clusterId: string;
  memberId: string;
  takenAt: number;
  keys: number;
  members: Member[];
  /** Each chunk is valid until the next is asked for. */
  chunks: Iterator<Buffer, void, undefined>;
  release(): void;
}

export interface SnapshotSource {
  /** Waits until everything committed before the call is applied (linearizable), then captures. */
  captureSnapshot(): Promise<CapturedSnapshot>;
}

export function registerSnapshotRoute(router: Router, source: SnapshotSource): void {
  let streams = 0;
  router.get(SNAPSHOT_ROUTE, async (ctx) => {
    noQuery(ctx);
    if (streams >= MAX_CONCURRENT_STREAMS)
      throw kvError(
        'too-many-requests',
        `at most ${MAX_CONCURRENT_STREAMS} snapshot streams at once per member`,
      );
    streams++;
    let snap: CapturedSnapshot;
    try {
      snap = await source.captureSnapshot();
    } catch (e) {
      streams--;
      throw e;
    }
    let released = false;
    let stall: NodeJS.Timeout | undefined;
    const release = (): void => {
      if (released) return;
      released = true;
      clearTimeout(stall);
      streams--;
      snap.release();
    };
    const body = new Readable({
      highWaterMark: 1,
      objectMode: false,
      read() {
        clearTimeout(stall);
        try {
          const r = snap.chunks.next();
          if (r.done === true) {
            release();
            this.push(null);
            return;
          }
          // The generator reuses its buffer: hand the socket a copy.
          this.push(Buffer.from(r.value));
          stall = setTimeout(() => this.destroy(new Error('snapshot stream stalled')), STALL_TIMEOUT_MS);
          stall.unref();
        } catch (e) {
          this.destroy(e as Error);
        }
      },
      destroy(err, cb) {
        release();
        cb(err);
      },
    });
    ctx.set(SNAPSHOT_HEADERS.index, String(snap.index));
    ctx.set(SNAPSHOT_HEADERS.term, String(snap.term));
    ctx.set(SNAPSHOT_HEADERS.clusterId, snap.clusterId);
    ctx.set(SNAPSHOT_HEADERS.memberId, snap.memberId);
    ctx.set(SNAPSHOT_HEADERS.takenAt, String(snap.takenAt));
    ctx.set(SNAPSHOT_HEADERS.keys, String(snap.keys));
    ctx.set(SNAPSHOT_HEADERS.members, encodeURIComponent(JSON.stringify(snap.members)));
    ctx.set('X-KV-Index', String(snap.index));
    ctx.type = 'application/octet-stream';
    ctx.body = body;
    // A client that goes away releases the capture at once.
    ctx.res.on('close', () => {
      if (!body.readableEnded) body.destroy();
    });
  });
}
