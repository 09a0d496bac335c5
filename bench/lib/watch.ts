// Watch fan-out: N watchers on one prefix, a writer at a fixed rate, delivery latency per event.
// kv-store: streaming watches over HTTP (GET /v1/kv/<prefix>?recurse&index=N&stream, an NDJSON line
// per change; the client is bench/lib/watch-fanout.ts, shared with scripts/ab-http.ts), from this
// process. etcd 3.6: its benchmark tool's watch-latency
// (gRPC watch streams on one key). Latency is counted as etcd's tool counts it: from the write's
// acknowledgment to the event's arrival, floored at 0 (an event may arrive before the ack).
import { percentileMs, runBenchTool, splitWatchLatency } from './benchtool.ts';
import type { Cluster } from './cluster.ts';
import { cpuBetween, sampleCpu, type CpuSample, type CpuUsage } from './cpu.ts';
import { nearestRank, runWatchFanOut } from './watch-fanout.ts';

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

export async function watchKvStore(
  cluster: Cluster,
  watchers: number,
  rate: number,
  seconds: number,
  stream = true,
): Promise<WatchReport> {
  const leader = cluster.members[await cluster.waitForLeader()]!.clientHostPort;
  const pids = cluster.pids();
  let before: CpuSample | undefined;
  let cpu: CpuUsage | undefined;
  const run = await runWatchFanOut({
    writer: leader,
    members: cluster.members.map((m) => m.clientHostPort),
    watchers,
    writesPerSec: rate,
    seconds,
    stream,
    onWindowStart: () => (before = sampleCpu(pids)),
    onWindowEnd: () => (cpu = cpuBetween(before!, sampleCpu(pids), 'self')),
  });
  const { latencies } = run;
  const notes = [stream ? 'streaming watch (?stream)' : 'blocking long-poll watch'];
  if (run.failures > 0) notes.push(`${run.failures} watch requests failed`);
  return {
    watchers,
    writesPerSec: rate,
    writes: run.writes,
    deliveries: latencies.length,
    deliveredShare: latencies.length / (run.writes * watchers),
    p50Ms: nearestRank(latencies, 50),
    p99Ms: nearestRank(latencies, 99),
    p999Ms: nearestRank(latencies, 99.9),
    cpu: cpu!,
    cpuSecPer1kDeliveries: latencies.length > 0 ? (cpu!.totalSeconds / latencies.length) * 1000 : null,
    note: notes.join('; '),
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
