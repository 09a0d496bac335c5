// Measures the KV state machine at scale. Run from the repo root:
//   node --expose-gc node/src/kv/state-machine.bench.ts [keys=1000000] [valueBytes=100]
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { KvStateMachine } from './state-machine.ts';

const keys = Number(process.argv[2] ?? 1_000_000);
const valueBytes = Number(process.argv[3] ?? 100);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
const ms = (t0: number) => `${(performance.now() - t0).toFixed(0)} ms`;

function keyName(i: number): string {
  // Scattered insertion order across 1000 "directories", as real workloads are.
  const h = (i * 2654435761) >>> 0;
  return `app/${(h % 1000).toString().padStart(3, '0')}/item-${i}`;
}

gc();
const heap0 = process.memoryUsage().heapUsed;
const sm = new KvStateMachine();
const value = 'v'.repeat(valueBytes);
let t0 = performance.now();
for (let i = 0; i < keys; i++) {
  sm.apply(i + 1, {
    op: 'put',
    requestId: '',
    key: keyName(i),
    value: value.slice(0, valueBytes - 8) + String(i).padStart(8, '0'),
  });
}
console.log(`apply ${keys} puts: ${ms(t0)}`);
gc();
console.log(
  `heap for ${sm.count()} keys: ${mib(process.memoryUsage().heapUsed - heap0)} (estimate ${mib(sm.memoryBytes())})`,
);

t0 = performance.now();
let listed = 0;
for (let r = 0; r < 1000; r++) {
  // Interleave writes and listings: no per-request sort may hide here.
  sm.apply(keys + r + 1, {
    op: 'put',
    requestId: '',
    key: `app/${String(r % 1000).padStart(3, '0')}/new-${r}`,
    value,
  });
  listed += sm.list(`app/${String((r * 7) % 1000).padStart(3, '0')}/`, 100, 0).items.length;
}
console.log(`1000 x (put + list prefix limit 100): ${ms(t0)} (${listed} items)`);

t0 = performance.now();
const rolled = sm.keys('app/', '/', Infinity, 0);
console.log(`keys('app/', '/') over ${sm.count()} keys: ${rolled.items.length} names in ${ms(t0)}`);

t0 = performance.now();
for (let r = 0; r < 100_000; r++) sm.expiredKeys(Date.now(), 100);
console.log(`100000 x expiredKeys with nothing due: ${ms(t0)}`);

gc();
const rss0 = process.memoryUsage().rss;
t0 = performance.now();
const snap = sm.snapshot();
console.log(
  `snapshot: ${ms(t0)}, ${mib(snap.byteLength)} (${(snap.byteLength / sm.count()).toFixed(0)} B/key), rss +${mib(process.memoryUsage().rss - rss0)}`,
);

const copy = new KvStateMachine();
t0 = performance.now();
copy.restore(snap);
console.log(`restore: ${ms(t0)}, ${copy.count()} keys, applied ${copy.appliedIndex}`);

// The async variants: what matters is the longest event-loop stall (heartbeats).
const stalls = monitorEventLoopDelay({ resolution: 5 });
stalls.enable();
t0 = performance.now();
const asyncSnap = { parts: [] as Buffer[], bytes: 0 };
const streamed = sm.snapshotChunks();
for (const chunk of streamed.chunks) {
  asyncSnap.parts.push(Buffer.from(chunk));
  asyncSnap.bytes += chunk.byteLength;
  await new Promise<void>((resolve) => setImmediate(resolve));
}
streamed.release();
stalls.disable();
console.log(
  `snapshotChunks: ${ms(t0)}, ${mib(asyncSnap.bytes)}, longest event-loop stall ${(stalls.max / 1e6).toFixed(0)} ms`,
);
stalls.reset();
stalls.enable();
const copy2 = new KvStateMachine();
t0 = performance.now();
await copy2.restoreAsync(Buffer.concat(asyncSnap.parts));
stalls.disable();
console.log(`restoreAsync: ${ms(t0)}, longest event-loop stall ${(stalls.max / 1e6).toFixed(0)} ms`);
console.log(`peak rss: ${mib(process.resourceUsage().maxRSS * 1024)}`);
