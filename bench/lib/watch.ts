// Watch fan-out: N watchers on one prefix, a writer at a fixed rate, delivery latency per event.
// kv-store: blocking watches over HTTP (GET /v1/kv/<prefix>?recurse&index=N&wait=60s, re-armed with
// the X-KV-Index of each answer), from this process. etcd 3.6: its benchmark tool's watch-latency
// (gRPC watch streams on one key). Latency is counted as etcd's tool counts it: from the write's
// acknowledgment to the event's arrival, floored at 0 (an event may arrive before the ack).
import http from 'node:http';
import { percentileMs, runBenchTool, splitWatchLatency } from './benchtool.ts';
import type { Cluster } from './cluster.ts';
import { cpuBetween, sampleCpu, type CpuUsage } from './cpu.ts';
import { httpRequest } from './http.ts';
import { sleep } from './proc.ts';
import { valueOfSize } from './scenarios.ts';

export interface WatchReport {
  watchers: number;
  writesPerSec: number;
  writes: number;
  /** events delivered, summed over watchers */
  deliveries: number;
  /** deliveries / (writes x watchers): below 1 when a watcher re-arms after several writes */
  deliveredShare: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  cpu: CpuUsage;
  cpuSecPer1kDeliveries: number | null;
  note?: string;
}

/** Nearest-rank percentile of a sorted list. */
export function nearestRank(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p * sorted.length) / 100 - 1e-9)));
  return sorted[rank - 1]!;
}

export interface Write {
  index: number;
  ackAt: number;
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

const PREFIX = 'watchbench/';

export async function watchKvStore(
  cluster: Cluster,
  watchers: number,
  rate: number,
  seconds: number,
): Promise<WatchReport> {
  const leader = cluster.members[await cluster.waitForLeader()]!.clientHostPort;
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const put = async (i: number): Promise<Write> => {
    const response = await httpRequest(`http://${leader}/v1/kv/${PREFIX}k`, {
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
  const watcher = async (w: number): Promise<void> => {
    const member = cluster.members[w % cluster.members.length]!.clientHostPort;
    let arm = first.index;
    while (!stopping) {
      try {
        const response = await httpRequest(`http://${member}/v1/kv/${PREFIX}?recurse&index=${arm}&wait=60s`, {
          agent,
          timeoutMs: 70_000,
        });
        const at = performance.now();
        const index = Number(response.headers?.['x-kv-index']);
        if (response.status !== 200 || !Number.isFinite(index)) {
          failures++;
          await sleep(100);
          continue;
        }
        if (index > arm) received.push({ arm, at });
        arm = index;
      } catch {
        failures++;
        await sleep(100);
      }
    }
  };
  const pids = cluster.pids();
  const loops = Array.from({ length: watchers }, (_, w) => watcher(w));
  await sleep(2000); // every watcher armed
  const before = sampleCpu(pids);
  const total = rate * seconds;
  const startedAt = performance.now();
  for (let i = 1; i <= total; i++) {
    const due = startedAt + (i * 1000) / rate;
    if (due > performance.now()) await sleep(due - performance.now());
    writes.push(await put(i));
  }
  await sleep(1000); // last deliveries
  const cpu = cpuBetween(before, sampleCpu(pids), 'self');
  stopping = true;
  // wake every watcher so the loops end
  await put(total + 1);
  await Promise.race([Promise.all(loops), sleep(10_000)]);
  agent.destroy();
  const latencies = received
    .map((r) => deliveryLatency(writes, r.arm, r.at))
    .filter((l): l is number => l !== null)
    .sort((a, b) => a - b);
  return {
    watchers,
    writesPerSec: rate,
    writes: total,
    deliveries: latencies.length,
    deliveredShare: latencies.length / (total * watchers),
    p50Ms: nearestRank(latencies, 50),
    p99Ms: nearestRank(latencies, 99),
    p999Ms: nearestRank(latencies, 99.9),
    cpu,
    cpuSecPer1kDeliveries: latencies.length > 0 ? (cpu.totalSeconds / latencies.length) * 1000 : null,
    ...(failures > 0 ? { note: `${failures} watch requests failed` } : {}),
  };
}

export async function watchEtcd(
  cluster: Cluster,
  benchBin: string,
  watchers: number,
  rate: number,
  seconds: number,
): Promise<WatchReport> {
  const streams = Math.min(10, watchers);
  const perStream = Math.ceil(watchers / streams);
  const endpoints = cluster.members.map((m) => m.clientHostPort).join(',');
  const total = rate * seconds;
  const pids = cluster.pids();
  const before = sampleCpu(pids);
  const stdout = await runBenchTool({
    bin: benchBin,
    args: [
      '--endpoints',
      endpoints,
      '--precise',
      '--clients',
      String(streams),
      '--conns',
      String(streams),
      'watch-latency',
      '--streams',
      String(streams),
      '--watchers-per-stream',
      String(perStream),
      '--put-total',
      String(total),
      '--put-rate',
      String(rate),
      '--val-size',
      '100',
    ],
    timeoutMs: seconds * 1000 + 60_000,
  });
  const cpu = cpuBetween(before, sampleCpu(pids), 'children');
  const { watch } = splitWatchLatency(stdout);
  return {
    watchers: streams * perStream,
    writesPerSec: rate,
    writes: total,
    deliveries: watch.ok,
    deliveredShare: watch.ok / (total * streams * perStream),
    p50Ms: percentileMs(watch, '50'),
    p99Ms: percentileMs(watch, '99'),
    p999Ms: percentileMs(watch, '99.9'),
    cpu,
    cpuSecPer1kDeliveries: watch.ok > 0 ? (cpu.totalSeconds / watch.ok) * 1000 : null,
    note: "CPU includes the tool's own setup of the watchers",
  };
}
