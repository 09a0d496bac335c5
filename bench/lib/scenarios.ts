// The measurements, written once against Cluster so etcd and kv-store get the same treatment.
import http from 'node:http';
import { bulkLoad } from './bulk-load.ts';
import type { Cluster } from './cluster.ts';
import { tryHttpRequest } from './http.ts';
import { diskAllocatedBytes, diskBytes, memoryOf, sleep } from './proc.ts';
import { median } from './stats.ts';

export const VALUE_SIZE = 100;

/** Same names as bench/lua/bench.lua's key_name, so GETs find the preloaded keys. */
export function benchKey(i: number): string {
  return `bench/${String(i).padStart(6, '0')}`;
}

export function bulkKey(i: number): string {
  return `bulk/${String(i).padStart(7, '0')}`;
}

/**
 * Pseudo-random printable value, different for every seed: a repetitive value would flatter a
 * store that compresses (LevelDB's snappy) in the disk-bytes-per-key figure.
 */
export function valueOfSize(size: number, seed: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let state = (seed * 2654435761 + 1) >>> 0 || 1;
  let text = '';
  for (let i = 0; i < size; i++) {
    // xorshift32
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    text += alphabet[state % alphabet.length];
  }
  return text;
}

export interface LoadReport {
  keys: number;
  seconds: number;
  keysPerSec: number;
  failed: number;
  /** status and body of up to 5 failed attempts, to tell overload from bugs */
  failureSamples: string[];
}

/**
 * PUTs keys 1..count to the leader from `concurrency` keep-alive connections, retrying each
 * failed write a few times (a failover during load would otherwise leave holes).
 */
export async function loadKeys(
  cluster: Cluster,
  count: number,
  keyOf: (i: number) => string,
  log: (line: string) => void,
  concurrency = 64,
  from = 1,
): Promise<LoadReport> {
  const agent = cluster.newAgent(concurrency);
  let target = cluster.members[await cluster.waitForLeader()]!.clientHostPort;
  let next = from;
  const last = from + count - 1;
  let failed = 0;
  const failureSamples: string[] = [];
  let done = 0;
  const startedAt = performance.now();
  const progressStep = Math.max(1, Math.floor(count / 10));
  const worker = async (): Promise<void> => {
    while (next <= last) {
      const i = next++;
      const request = cluster.writeRequest(keyOf(i), valueOfSize(VALUE_SIZE, i));
      let ok = false;
      for (let attempt = 0; attempt < 5 && !ok; attempt++) {
        const response = await tryHttpRequest(`${cluster.scheme}://${target}${request.path}`, {
          method: request.method,
          body: request.body,
          agent,
          timeoutMs: 10_000,
        });
        ok = response.status >= 200 && response.status < 300;
        if (!ok) {
          if (failureSamples.length < 5)
            failureSamples.push(`${response.status} ${response.body.slice(0, 200)}`);
          await sleep(100);
          const leader = await cluster.leaderIndex();
          if (leader !== null) target = cluster.members[leader]!.clientHostPort;
        }
      }
      if (!ok) failed++;
      if (++done % progressStep === 0 && count >= 100_000) {
        log(
          `  ${cluster.system}: loaded ${done}/${count} keys (${Math.round(done / ((performance.now() - startedAt) / 1000))}/s)`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  const seconds = (performance.now() - startedAt) / 1000;
  return { keys: count, seconds, keysPerSec: count / seconds, failed, failureSamples };
}

export interface FailoverReport {
  runsMs: number[];
  medianMs: number;
}

/**
 * kill -9 of the leader, then a client starts a write every 5 ms, alternating between the
 * survivors, each with its own timeout; the figure is the time from the kill to the first 2xx.
 * The killed member is restarted and the cluster settles before the next repetition.
 */
export async function measureFailover(
  cluster: Cluster,
  repetitions: number,
  log: (line: string) => void,
): Promise<FailoverReport> {
  const runsMs: number[] = [];
  for (let rep = 0; rep < repetitions; rep++) {
    const leader = await cluster.waitForLeader();
    const survivors = cluster.members.filter((_, i) => i !== leader).map((m) => m.clientHostPort);
    const agent = new http.Agent({ keepAlive: true });
    const killedAt = performance.now();
    await cluster.killMember(leader);
    let acknowledgedAt: number | null = null;
    let attempt = 0;
    const inFlight: Promise<void>[] = [];
    while (acknowledgedAt === null && performance.now() - killedAt < 30_000) {
      const target = survivors[attempt % survivors.length]!;
      const request = cluster.writeRequest(`failover/${rep}/${attempt}`, valueOfSize(VALUE_SIZE, attempt));
      attempt++;
      inFlight.push(
        tryHttpRequest(`http://${target}${request.path}`, {
          method: request.method,
          body: request.body,
          agent,
          timeoutMs: 5000,
        }).then((response) => {
          if (response.status >= 200 && response.status < 300) acknowledgedAt ??= performance.now();
        }),
      );
      await sleep(5);
    }
    agent.destroy(); // abandons writes still in flight
    await Promise.allSettled(inFlight);
    if (acknowledgedAt === null)
      throw new Error(`${cluster.system}: no write acknowledged within 30 s of killing the leader`);
    const elapsed = acknowledgedAt - killedAt;
    runsMs.push(elapsed);
    log(
      `  ${cluster.system} failover #${rep + 1}: ${elapsed.toFixed(0)} ms to the next acknowledged write (${attempt} attempts)`,
    );
    await cluster.startMember(leader);
    await cluster.waitForLeader();
    await cluster.waitConverged();
    await sleep(1000);
  }
  return { runsMs, medianMs: median(runsMs) };
}

export interface MemberFootprint {
  name: string;
  rssBytes: number;
  rssAnonBytes: number;
  rssFileBytes: number;
  diskBytes: number;
  diskAllocatedBytes: number;
}

export interface GrowthStep {
  keys: number;
  /** loading the keys added since the previous step (64 HTTP connections to the leader) */
  load: LoadReport;
  members: MemberFootprint[];
  maxRssBytes: number;
  /** du -sb of one member's data dir / keys, averaged over members */
  diskBytesPerKey: number;
  /** a follower stopped (SIGTERM) and started again: ms to ready */
  restartMs: number;
}

/**
 * Grows one fresh cluster through the key counts (ascending, cumulative, 100-byte values, loaded by
 * wrk: bulk-load.ts); at each step: memory and disk per member, then the restart time of a follower
 * holding that many keys.
 */
export async function measureGrowth(
  cluster: Cluster,
  keyCounts: readonly number[],
  log: (line: string) => void,
): Promise<GrowthStep[]> {
  const steps: GrowthStep[] = [];
  let loaded = 0;
  for (const keys of keyCounts) {
    const load = await bulkLoad(cluster, keys - loaded, loaded + 1);
    loaded = keys;
    log(
      `  ${cluster.system}: ${keys} keys (${load.keysPerSec.toFixed(0)} keys/s for the last ${load.keys}, ${load.failed} failed)`,
    );
    await cluster.waitConverged(600_000);
    await sleep(2000); // let background work (snapshots, compaction of the in-memory log) settle
    const members = cluster.members.map((member, i): MemberFootprint => ({
      name: member.name,
      ...memoryOf(cluster.pid(i)),
      diskBytes: diskBytes(member.dataDir),
      diskAllocatedBytes: diskAllocatedBytes(member.dataDir),
    }));
    log(
      `  ${cluster.system}: ${keys} keys: RSS per member ${members.map((m) => (m.rssBytes / 2 ** 20).toFixed(0)).join('/')} MiB`,
    );
    const leader = await cluster.waitForLeader();
    const follower = (leader + 1) % cluster.members.length;
    await cluster.stopMember(follower);
    const restartMs = await cluster.startMember(follower, 600_000);
    log(
      `  ${cluster.system}: restart of ${cluster.members[follower]!.name} holding ${keys} keys: ${restartMs.toFixed(0)} ms to ready`,
    );
    await cluster.waitConverged(600_000);
    steps.push({
      keys,
      load,
      members,
      maxRssBytes: Math.max(...members.map((m) => m.rssBytes)),
      diskBytesPerKey: members.reduce((sum, m) => sum + m.diskBytes, 0) / members.length / keys,
      restartMs,
    });
  }
  return steps;
}
