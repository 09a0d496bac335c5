// npm run bench:raft -- [--entries N] [--batch B] [--size BYTES] [--nodes K] [--mode both|single|batch]
// Throughput of the Raft core alone: K RawNodes over MemoryStorage, an instant
// in-process network, the leader proposing B entries per Ready round, either
// with B propose() calls ("single") or one proposeBatch() of B ("batch"). Prints
// entries committed (and applied on every node) per second, plus heap bytes
// allocated per entry, measured with v8.GCProfiler: bytes freed by each GC
// plus the growth of the live heap over the run (an approximation: it counts
// the benchmark's own bookkeeping, which is kept to a few arrays).
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import { defaultConfig, seededRandom } from '../config.ts';
import { RawNode } from '../rawnode.ts';
import { MemoryStorage } from '../storage.ts';
import type { Message, NodeId, Ready } from '../types.ts';

const { values } = parseArgs({
  options: {
    entries: { type: 'string', default: '500000' },
    batch: { type: 'string', default: '512' },
    size: { type: 'string', default: '16' },
    nodes: { type: 'string', default: '3' },
    mode: { type: 'string', default: 'both' },
  },
});
const totalEntries = Number(values.entries);
const batch = Number(values.batch);
const payloadSize = Number(values.size);
const nodeCount = Number(values.nodes);
for (const [k, v] of Object.entries({ totalEntries, batch, payloadSize, nodeCount })) {
  if (!Number.isInteger(v) || v <= 0) throw new Error(`bench: ${k} must be a positive integer`);
}
if (!['both', 'single', 'batch'].includes(values.mode))
  throw new Error('bench: --mode is both, single or batch');
type Mode = 'single' | 'batch';

interface BenchNode {
  id: NodeId;
  storage: MemoryStorage;
  rn: RawNode;
  applied: number;
}

const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');

function benchmark(mode: Mode): void {
  const ids = Array.from({ length: nodeCount }, (_, i) => `n${i + 1}`);
  const nodes = new Map<NodeId, BenchNode>();
  for (const [i, id] of ids.entries()) {
    const storage = MemoryStorage.bootstrap(ids);
    const cfg = defaultConfig(id, storage, seededRandom(i + 1));
    nodes.set(id, { id, storage, rn: new RawNode(cfg), applied: 0 });
  }
  let inbox: Message[] = [];
  let delivered = 0;

  const handle = (n: BenchNode, rd: Ready): void => {
    for (const m of rd.messagesBeforePersist) inbox.push(m);
    if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
    if (rd.entries.length > 0) n.storage.append(rd.entries);
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    for (const m of rd.messages) inbox.push(m);
    const last = rd.committedEntries[rd.committedEntries.length - 1];
    if (last) n.applied = last.index;
    n.rn.advance(rd);
  };

  /** Runs Ready cycles and delivers messages until the whole cluster is quiet. */
  const pump = (): void => {
    for (;;) {
      for (const n of nodes.values()) while (n.rn.hasReady()) handle(n, n.rn.ready());
      if (inbox.length === 0) return;
      const msgs = inbox;
      inbox = [];
      delivered += msgs.length;
      for (const m of msgs) nodes.get(m.to)!.rn.step(m);
    }
  };

  const leader = nodes.get(ids[0]!)!;
  leader.rn.campaign();
  pump();
  if (leader.rn.status().role !== 'leader') throw new Error('bench: n1 did not become leader');

  const payload = new Uint8Array(payloadSize).fill(120);
  const payloads = Array.from({ length: batch }, () => payload);

  /** Keeps memory flat on long runs, as a server would: snapshot and compact behind the applied index. */
  const compactAll = (): void => {
    for (const n of nodes.values()) {
      if (n.applied <= n.storage.snapshot().metadata.index) continue;
      n.storage.createSnapshot(n.applied, n.rn.status().confState, new Uint8Array());
      n.storage.compact(n.applied);
    }
  };

  const run = (entries: number): void => {
    let proposed = 0;
    let sinceCompact = 0;
    while (proposed < entries) {
      const k = Math.min(batch, entries - proposed);
      if (mode === 'batch') {
        const r = leader.rn.proposeBatch(k === batch ? payloads : payloads.slice(0, k));
        if (!r.ok) throw new Error(`bench: proposal refused: ${r.message}`);
      } else {
        for (let i = 0; i < k; i++) {
          const r = leader.rn.propose(payload);
          if (!r.ok) throw new Error(`bench: proposal refused: ${r.message}`);
        }
      }
      proposed += k;
      sinceCompact += k;
      pump();
      if (sinceCompact >= 50_000) {
        compactAll();
        sinceCompact = 0;
      }
    }
  };

  // Warm up the JIT, then measure.
  run(Math.min(50_000, totalEntries));
  const startIndex = leader.applied;
  const deliveredBefore = delivered;
  const profiler = new v8.GCProfiler();
  const heapBefore = v8.getHeapStatistics().used_heap_size;
  profiler.start();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  run(totalEntries);
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  // CPU time too: on a shared machine wall-clock throughput mostly measures the neighbours.
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const heapAfter = v8.getHeapStatistics().used_heap_size;
  const gc = profiler.stop();

  const committed = leader.applied - startIndex;
  for (const n of nodes.values()) {
    if (n.applied !== leader.applied)
      throw new Error(`bench: ${n.id} applied ${n.applied}, leader ${leader.applied}`);
  }
  let freed = 0;
  let gcs = 0;
  for (const s of gc?.statistics ?? []) {
    freed += s.beforeGC.heapStatistics.usedHeapSize - s.afterGC.heapStatistics.usedHeapSize;
    gcs++;
  }
  const allocated = freed + (heapAfter - heapBefore);
  const how = mode === 'batch' ? `proposeBatch() of ${batch}` : `${batch} propose() calls`;
  process.stdout.write(
    `bench:raft ${nodeCount} nodes, ${fmt(committed)} entries of ${payloadSize} B, ${how} per round\n` +
      `  committed and applied on all nodes: ${fmt(committed / elapsed)} entries/s (${elapsed.toFixed(2)} s), ${fmt(committed / cpuSeconds)} per CPU-second\n` +
      `  messages: ${((delivered - deliveredBefore) / committed).toFixed(2)} per entry\n` +
      `  heap allocated: ~${fmt(allocated / committed)} bytes/entry (${gcs} GCs, ${(allocated / 2 ** 20).toFixed(0)} MiB)\n`,
  );
}

for (const mode of ['single', 'batch'] as const) {
  if (values.mode === 'both' || values.mode === mode) benchmark(mode);
}
