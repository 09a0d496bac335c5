// The kv-store watch fan-out client, one copy for the bench (bench/lib/watch.ts) and the A/B tool
// (scripts/ab-http.ts): N watchers on one prefix spread over the members, a writer at a fixed rate
// on the leader, the arrival time of every event. Watchers use the streaming watch by default
// (GET /v1/kv/<prefix>?recurse&index=N&stream: one response, an NDJSON line per change), which is
// what etcd's watch-latency measures too (events on open streams); `stream: false` is the blocking
// long-poll, re-armed with the X-KV-Index of each answer.
import http from 'node:http';
import { httpRequest } from './http.ts';
import { sleep } from './proc.ts';
import { valueOfSize } from './scenarios.ts';

export interface Write {
  index: number;
  ackAt: number;
}

/** Nearest-rank percentile of a sorted list. */
export function nearestRank(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p * sorted.length) / 100 - 1e-9)));
  return sorted[rank - 1]!;
}

/**
 * The write that woke a watcher armed at `armIndex` is the first write with an index above it;
 * latency from that write's ack, 0 when the event came first. null if no such write is known.
 */
export function deliveryLatency(
  writes: readonly Write[],
  armIndex: number,
  receivedAt: number,
): number | null {
  let lo = 0;
  let hi = writes.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (writes[mid]!.index <= armIndex) lo = mid + 1;
    else hi = mid;
  }
  const write = writes[lo];
  if (write === undefined) return null;
  return Math.max(0, receivedAt - write.ackAt);
}

/**
 * The indexes of the complete NDJSON lines in `buffer` and the unfinished rest. A line without a
 * numeric index is an error: the stream is not what the watch API promises.
 */
export function splitStreamLines(buffer: string): { indexes: number[]; rest: string } {
  const indexes: number[] = [];
  let start = 0;
  for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n', start)) {
    const line = buffer.slice(start, nl);
    start = nl + 1;
    if (line.trim() === '') continue;
    const index = (JSON.parse(line) as { index?: unknown }).index;
    if (typeof index !== 'number' || !Number.isFinite(index))
      throw new Error(`watch stream line without an index: ${line.slice(0, 200)}`);
    indexes.push(index);
  }
  return { indexes, rest: buffer.slice(start) };
}

export interface FanOutOptions {
  /** host:port of the member that takes the writes (the leader) */
  writer: string;
  /** host:port of every member; watcher w watches on members[w % length] */
  members: readonly string[];
  watchers: number;
  writesPerSec: number;
  seconds: number;
  /** streaming watch (default) or blocking long-poll */
  stream?: boolean;
  /** called when every watcher is armed, just before the first write, and after the last delivery */
  onWindowStart?: () => void;
  onWindowEnd?: () => void;
}

export interface FanOutResult {
  writes: number;
  /** delivery latencies in ms, sorted */
  latencies: number[];
  failures: number;
}

const PREFIX = 'watchbench/';

export async function runWatchFanOut(o: FanOutOptions): Promise<FanOutResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const put = async (i: number): Promise<Write> => {
    const response = await httpRequest(`http://${o.writer}/v1/kv/${PREFIX}k`, {
      method: 'PUT',
      body: JSON.stringify({ value: valueOfSize(100, i) }),
      agent,
      timeoutMs: 10_000,
    });
    if (response.status !== 200)
      throw new Error(`watch writer: ${response.status} ${response.body.slice(0, 200)}`);
    return { index: Number(response.headers?.['x-kv-index']), ackAt: performance.now() };
  };
  const first = await put(0);
  const writes: Write[] = [];
  const received: { arm: number; at: number }[] = [];
  let stopping = false;
  let failures = 0;
  const url = (w: number, arm: number): string =>
    `http://${o.members[w % o.members.length]}/v1/kv/${PREFIX}?recurse&index=${arm}&wait=60s${o.stream === false ? '' : '&stream'}`;

  const longPoll = async (w: number): Promise<void> => {
    let arm = first.index;
    while (!stopping) {
      try {
        const response = await httpRequest(url(w, arm), { agent, timeoutMs: 70_000 });
        const at = performance.now();
        const index = Number(response.headers?.['x-kv-index']);
        if (response.status !== 200 || !Number.isFinite(index)) throw new Error(`status ${response.status}`);
        if (index > arm) received.push({ arm, at });
        arm = index;
      } catch {
        failures++;
        await sleep(100);
      }
    }
  };
  // One stream until the server ends it (after `wait`) or the run stops; then a new one from the
  // last index seen.
  const streamOnce = (w: number, arm: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const request = http.get(url(w, arm), { agent, timeout: 70_000 }, (response) => {
        if (response.statusCode !== 200) {
          response.resume();
          reject(new Error(`status ${response.statusCode}`));
          return;
        }
        let buffer = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          const at = performance.now();
          try {
            const lines = splitStreamLines(buffer + chunk);
            buffer = lines.rest;
            for (const index of lines.indexes) {
              if (index > arm) received.push({ arm, at });
              arm = Math.max(arm, index);
            }
          } catch (error) {
            request.destroy(error as Error);
          }
          if (stopping) request.destroy();
        });
        response.on('close', () => resolve(arm));
        response.on('error', () => resolve(arm));
      });
      request.on('timeout', () => request.destroy(new Error('watch stream timeout')));
      request.on('error', (error) => (stopping ? resolve(arm) : reject(error)));
    });
  const streaming = async (w: number): Promise<void> => {
    let arm = first.index;
    while (!stopping) {
      try {
        arm = await streamOnce(w, arm);
      } catch {
        failures++;
        await sleep(100);
      }
    }
  };

  const loops = Array.from({ length: o.watchers }, (_, w) =>
    o.stream === false ? longPoll(w) : streaming(w),
  );
  await sleep(2000); // every watcher armed
  o.onWindowStart?.();
  const total = o.writesPerSec * o.seconds;
  const startedAt = performance.now();
  for (let i = 1; i <= total; i++) {
    const due = startedAt + (i * 1000) / o.writesPerSec;
    if (due > performance.now()) await sleep(due - performance.now());
    writes.push(await put(i));
  }
  await sleep(1000); // last deliveries
  o.onWindowEnd?.();
  stopping = true;
  await put(total + 1); // wakes every watcher so the loops end
  await Promise.race([Promise.all(loops), sleep(10_000)]);
  agent.destroy();
  const latencies = received
    .map((r) => deliveryLatency(writes, r.arm, r.at))
    .filter((l): l is number => l !== null)
    .sort((a, b) => a - b);
  return { writes: total, latencies, failures };
}
