// Streaming watch (`GET /v1/kv/{key}?index=N&stream`, docs/adr/0063): one long response of
// newline-delimited JSON, one line per change past the last line's index, each line what the
// blocking GET would have answered at that point. A watcher costs one chunk per event instead of
// an answer plus a new request (the long-poll's cost per event per watcher).
//
// Linearizable: the ReadIndex round is taken (by the caller) before the stream starts, and every
// line reads this member's state at or after it, so each line shows a state that existed between
// the request and that line. Bounded: the stream is pulled (a line is read only when the previous
// one left the stream's buffer), lasts at most `totalMs`, and ends with the client or the server.
import { Readable } from 'node:stream';
import type { Gauge } from 'prom-client';
import type { KeyValue, KvService } from './service.ts';

export interface WatchStreamRequest {
  key: string;
  /** Prefix (recurse or keys), else one key. */
  listing: boolean;
  keysOnly: boolean;
  separator?: string;
  limit: number;
  /** The first line answers the first change past this index. */
  index: number;
  totalMs: number;
}

/** A watch waits at most this long per round, so a stream notices its end without a change. */
const ROUND_MS = 30_000;

export function watchStream(
  service: KvService,
  r: WatchStreamRequest,
  stop: AbortSignal,
  watchers: Gauge,
  toJson: (kv: KeyValue) => KeyValue,
): Readable {
  async function* lines(): AsyncGenerator<string> {
    watchers.inc();
    try {
      const deadline = Date.now() + r.totalMs;
      let index = r.index;
      while (!stop.aborted) {
        const left = deadline - Date.now();
        if (left <= 0) return;
        let woke: number;
        try {
          woke = await service.watch(
            r.key,
            { recurse: r.listing, index, waitMs: Math.min(left, ROUND_MS) },
            stop,
          );
        } catch (err) {
          if (stop.aborted) return;
          throw err;
        }
        if (woke <= index || stop.aborted) continue; // a round ended with nothing new
        if (r.listing) {
          const l = await service.list(r.key, {
            consistency: 'stale',
            limit: r.limit,
            keysOnly: r.keysOnly,
            ...(r.separator !== undefined ? { separator: r.separator } : {}),
          });
          const items = r.keysOnly ? l.items : (l.items as KeyValue[]).map(toJson);
          index = Math.max(index + 1, l.index);
          yield `${JSON.stringify({ index: l.index, items, more: l.more })}\n`;
        } else {
          const g = await service.get(r.key, { consistency: 'stale' });
          index = Math.max(index + 1, g.index);
          yield `${JSON.stringify({ index: g.index, kv: g.kv ? toJson(g.kv) : null })}\n`;
        }
      }
    } finally {
      watchers.dec();
    }
  }
  return Readable.from(lines(), { objectMode: false, highWaterMark: 1 });
}
