// One chaos run: network, cluster, workload + nemesis, heal, final reads, checks.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Operation } from '../checker/history.ts';
import { checkHistory, type CheckResult } from '../checker/linearizability.ts';
import { describeLostWrite, findLostWrites, type LostWrite } from '../checker/lost-writes.ts';
import { explainViolation } from '../checker/timeline.ts';
import { Cluster, sleep } from './cluster.ts';
import { closeIdleConnections, request } from './http.ts';
import { LoopbackNetwork, NetnsNetwork, type Network } from './net.ts';
import { Nemesis, type NemesisName } from './nemesis.ts';
import { SecureSetup } from './secure.ts';
import { Workload } from './workload.ts';

export interface RunOptions {
  nemesis: NemesisName;
  seconds: number;
  nodes: number;
  clients: number;
  /** Script run by nodeExe, e.g. node/bin/kv-store.js or the fake fixture. */
  script: string;
  nodeExe: string;
  net: 'netns' | 'loopback';
  basePort: number;
  bug?: 'stale-reads';
  seed: number;
  opTimeoutMs: number;
  electionTimeoutMs: number;
  opsPerKey: number;
  minAckedWrites: number;
  nodeArgs: string[];
  definiteFailureCodes: string[];
  checkTimeoutMs: number;
  keep: boolean;
  /** TLS for clients and peers (mutual) and authentication on (runner/secure.ts). */
  secure: boolean;
  log: (line: string) => void;
}

export interface RunSummary {
  verdict: 'linearizable' | 'VIOLATION' | 'UNKNOWN' | 'NO-PROGRESS' | 'ERROR';
  ok: boolean;
  ops: number;
  okOps: number;
  failedOps: number;
  unknownOps: number;
  ackedWrites: number;
  keys: number;
  faults: Map<string, number>;
  /** Faults actually injected (refused membership changes excluded). */
  faultTotal: number;
  lostWrites: LostWrite[];
  divergence: string[];
  /** Acknowledged operations per credential kind (secure mode). */
  okByCaller: Record<string, number>;
  check?: CheckResult;
  runDir: string;
  text: string;
}

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function runChaos(o: RunOptions): Promise<RunSummary> {
  const runDir = mkdtempSync(join(tmpdir(), 'kvchaos-'));
  const random = mulberry32(o.seed);
  const net: Network = o.net === 'netns' ? new NetnsNetwork() : new LoopbackNetwork(o.basePort);
  const env = {
    ...process.env,
    ...(o.bug === 'stale-reads' ? { KVSTORE_DEBUG_UNSAFE_LOCAL_READS: '1' } : {}),
  };
  const secure = o.secure ? SecureSetup.create() : undefined;
  const cluster = new Cluster({
    ...(secure ? { secure } : {}),
    command: [o.nodeExe, o.script],
    slots: o.nodes,
    net,
    runDir,
    env,
    extraArgs: o.nodeArgs,
    log: o.log,
  });
  const workload = new Workload(cluster, {
    clients: o.clients,
    activeKeys: 3,
    opsPerKey: o.opsPerKey,
    opTimeoutMs: o.opTimeoutMs,
    definiteFailureCodes: new Set(o.definiteFailureCodes),
    prefix: `chaos-${o.seed}`,
    random,
    ...(secure ? { callerFor: (i: number) => (i % 2 === 0 ? secure.byCertificate : secure.byToken) } : {}),
  });
  const nemesis = new Nemesis(cluster, {
    name: o.nemesis,
    electionTimeoutMs: o.electionTimeoutMs,
    random,
    log: o.log,
  });
  const divergence: string[] = [];
  let finalValues = new Map<string, string | null>();
  const cleanupOnSignal = (): void => {
    cluster.stopAll();
    void net.teardown().finally(() => process.exit(130));
  };
  process.once('SIGINT', cleanupOnSignal);
  process.once('SIGTERM', cleanupOnSignal);
  let error: string | undefined;
  let renewal: NodeJS.Timeout | undefined;
  try {
    await net.setup(o.nodes + 0);
    o.log(
      `run dir ${runDir}; ${o.nodes} nodes on ${net.kind}${secure ? ' (TLS + auth)' : ''}; nemesis ${o.nemesis}; ${o.seconds} s; seed ${o.seed}${o.bug ? `; BUG ${o.bug}` : ''}`,
    );
    await cluster.start();
    if (secure) {
      await secure.enableAuth(cluster.url(await cluster.waitForLeader(30_000)), `chaos-${o.seed}/`);
      o.log('auth enabled: clients authenticate by certificate (user chaos) or token (user chaos-token)');
      // Tokens live 10 minutes: renew well before, through whichever member answers.
      renewal = setInterval(() => {
        void (async () => {
          for (const slot of cluster.slots()) {
            try {
              await secure.login(cluster.url(slot));
              return;
            } catch {
              // try the next member
            }
          }
          o.log('warning: token renewal failed on every member');
        })();
      }, 240_000);
    }
    o.log(`leader elected; starting ${o.clients} clients`);
    const until = performance.now() + o.seconds * 1000;
    await Promise.all([workload.run(until), nemesis.run(until)]);
    o.log('healing');
    await nemesis.heal();
    finalValues = await finalReads(cluster, workload, o, divergence);
  } catch (err) {
    error = (err as Error).stack ?? String(err);
    o.log(`run error: ${error}`);
  } finally {
    process.removeListener('SIGINT', cleanupOnSignal);
    process.removeListener('SIGTERM', cleanupOnSignal);
    clearInterval(renewal);
    cluster.stopAll();
    closeIdleConnections();
    await net.teardown();
  }
  writeFileSync(
    join(runDir, 'history.json'),
    JSON.stringify(workload.history, (_k, v: unknown) => (v === Infinity ? 'inf' : v)),
  );
  const summary = summarize(
    workload.history,
    workload.keysUsed.length,
    nemesis.counts,
    finalValues,
    divergence,
    o,
    runDir,
    error,
  );
  summary.okByCaller = Object.fromEntries(workload.okByCaller);
  if (summary.ok && !o.keep) rmSync(runDir, { recursive: true, force: true });
  secure?.cleanup();
  return summary;
}

/** After healing: wait for convergence, read every key linearizably (recorded), compare replicas. */
async function finalReads(
  cluster: Cluster,
  workload: Workload,
  o: RunOptions,
  divergence: string[],
): Promise<Map<string, string | null>> {
  await cluster.waitForLeader(30_000);
  const slots = cluster.slots();
  const deadline = Date.now() + 30_000;
  let converged = false;
  while (Date.now() < deadline && !converged) {
    const views = await Promise.all(slots.map((s) => cluster.status(s)));
    const applied = views.map((v) => v?.appliedIndex);
    converged = applied.every((a) => a !== undefined && a === applied[0]);
    if (!converged) await sleep(300);
  }
  if (!converged) o.log('warning: replicas did not reach the same applied index within 30 s');
  const finals = new Map<string, string | null>();
  let proc = 1_000_000;
  // Thousands of keys after a long run: read them through a small pool, asking
  // for the leader again only after a failed read.
  let leader = await cluster.leaderSlot();
  await forEachLimit(workload.keysUsed, 16, async (key) => {
    for (let attempt = 0; attempt < 10; attempt++) {
      const slot = leader ?? slots[attempt % slots.length]!;
      const op = await workload.get(proc++, slot, key, 3000);
      if (op.outcome === 'ok') {
        finals.set(key, op.result ?? null);
        break;
      }
      await sleep(300);
      leader = await cluster.leaderSlot();
    }
    if (!finals.has(key)) o.log(`warning: final read of ${key} never succeeded`);
  });
  if (converged) {
    const staleRead = async (slot: number, key: string): Promise<string | null | undefined> => {
      const res = await request(
        'GET',
        `${cluster.url(slot)}/v1/kv/${encodeURIComponent(key)}?consistency=stale`,
        undefined,
        3000,
        cluster.caller,
      );
      return res.kind === 'response'
        ? res.status === 200
          ? ((res.body as { value?: string }).value ?? null)
          : res.status === 404
            ? null
            : undefined
        : undefined;
    };
    // A write whose outcome was unknown (e.g. a forwarded proposal held in a socket during a partition)
    // may still apply after the final read: keys whose replicas disagree with the cluster are re-read
    // (recorded) in rounds, all keys of a round together, and only a divergence that persists counts.
    const mismatches = new Map<string, string[]>();
    const compare = async (key: string): Promise<void> => {
      const value = finals.get(key) ?? null;
      const found: string[] = [];
      for (const slot of slots) {
        const local = await staleRead(slot, key);
        if (local !== value)
          found.push(
            `${cluster.members.get(slot)?.id}: ${key} = ${String(local)} but the cluster says ${String(value)}`,
          );
      }
      if (found.length > 0) mismatches.set(key, found);
      else mismatches.delete(key);
    };
    await forEachLimit([...finals.keys()], 16, compare);
    for (let round = 0; round < 5 && mismatches.size > 0; round++) {
      await sleep(1000);
      const slot = (await cluster.leaderSlot()) ?? slots[0]!;
      await forEachLimit([...mismatches.keys()], 16, async (key) => {
        const op = await workload.get(proc++, slot, key, 3000);
        if (op.outcome === 'ok') finals.set(key, op.result ?? null);
        await compare(key);
      });
    }
    for (const found of mismatches.values()) divergence.push(...found);
  }
  return finals;
}

async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function summarize(
  history: Operation[],
  keys: number,
  faults: Map<string, number>,
  finals: Map<string, string | null>,
  divergence: string[],
  o: RunOptions,
  runDir: string,
  error: string | undefined,
): RunSummary {
  const check = checkHistory(history, { timeoutMs: o.checkTimeoutMs });
  const lostWrites = findLostWrites(history, finals);
  const okOps = history.filter((op) => op.outcome === 'ok').length;
  const failedOps = history.filter((op) => op.outcome === 'fail').length;
  const unknownOps = history.filter((op) => op.outcome === 'unknown').length;
  const ackedWrites = history.filter((op) => op.kind !== 'get' && op.outcome === 'ok').length;
  // Keys the healed cluster could not read back: a liveness failure, and their writes went unchecked.
  const unreadable = error ? [] : [...new Set(history.map((op) => op.key))].filter((k) => !finals.has(k));
  const faultTotal = [...faults].filter(([k]) => !k.endsWith('-refused')).reduce((a, [, v]) => a + v, 0);
  const lines: string[] = [];
  const violations = check.keys
    .filter((k) => k.verdict === 'violation')
    .sort((a, b) => a.ops.length - b.ops.length);
  if (violations.length > 0) {
    lines.push(`${violations.length} key(s) not linearizable: ${violations.map((v) => v.key).join(', ')}`);
    lines.push(`smallest failing key:\n${explainViolation(violations[0]!)}`);
  }
  const undecided = check.keys.filter((k) => k.verdict === 'unknown');
  for (const k of undecided) lines.push(`key ${k.key}: checker gave up (${k.reason}); ${k.ops.length} ops`);
  for (const l of lostWrites.slice(0, 20)) lines.push(describeLostWrite(l));
  for (const d of divergence.slice(0, 20)) lines.push(`replica divergence: ${d}`);
  let verdict: RunSummary['verdict'];
  if (error) verdict = 'ERROR';
  else if (violations.length > 0 || lostWrites.length > 0 || divergence.length > 0) verdict = 'VIOLATION';
  else if (ackedWrites < o.minAckedWrites || unreadable.length > 0) verdict = 'NO-PROGRESS';
  else if (undecided.length > 0) verdict = 'UNKNOWN';
  else verdict = 'linearizable';
  lines.push(
    `${o.secure ? 'TLS + auth; ' : ''}ops ${history.length} (ok ${okOps}, failed ${failedOps}, unknown ${unknownOps}); acknowledged writes ${ackedWrites}; keys ${keys}; ` +
      `faults injected ${faultTotal}${faultTotal ? ` (${[...faults].map(([k, v]) => `${k} ${v}`).join(', ')})` : ''}; ` +
      `lost writes ${lostWrites.length}; nemesis ${o.nemesis}, ${o.nodes} nodes, ${o.seconds} s, seed ${o.seed}`,
  );
  if (ackedWrites < o.minAckedWrites)
    lines.push(`too little progress: ${ackedWrites} acknowledged writes < ${o.minAckedWrites}`);
  if (unreadable.length > 0)
    lines.push(
      `${unreadable.length} key(s) could not be read after healing: ${unreadable.slice(0, 5).join(', ')}`,
    );
  if (error) lines.push(`run failed: ${error.split('\n')[0]}`);
  if (verdict !== 'linearizable' || o.keep) lines.push(`history and node logs kept in ${runDir}`);
  lines.push(`chaos: ${verdict}`);
  return {
    verdict,
    ok: verdict === 'linearizable',
    ops: history.length,
    okOps,
    failedOps,
    unknownOps,
    ackedWrites,
    keys,
    faults,
    faultTotal,
    lostWrites,
    divergence,
    okByCaller: {},
    check,
    runDir,
    text: lines.join('\n'),
  };
}
