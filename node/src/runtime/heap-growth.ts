// How far the V8 heap may grow past its live size before the next full GC (docs/adr/0061, amended
// by 0062). V8's own factor (up to 4x) costs memory on a large key space; a fixed 1.5x
// (--heap-growing-percent=50) keeps a node with 1M keys compact but, on a small key space, runs
// full GCs so often that their marking work shows in write latency (PUT p99 at 16 connections
// ~26 vs ~20 ms with V8's own, measured alternately). So the node switches between the two on the
// live heap it sees after each full GC: compact once the key space is large, V8's own below.
import { PerformanceObserver, constants } from 'node:perf_hooks';
import v8 from 'node:v8';

/** From this live heap on, the heap may grow only COMPACT_GROWING_PERCENT past it. */
export const LARGE_HEAP_BYTES = 128 * 1024 * 1024;
export const COMPACT_GROWING_PERCENT = 50;
/** Back to V8's own growth only well below the threshold, so the setting does not flap. */
const RELEASE_FRACTION = 0.75;

/** The growing percent to use after a full GC left `liveBytes` in the heap; 0 means V8's own. */
export function growingPercentFor(liveBytes: number, current: number): number {
  if (liveBytes >= LARGE_HEAP_BYTES) return COMPACT_GROWING_PERCENT;
  if (liveBytes < LARGE_HEAP_BYTES * RELEASE_FRACTION) return 0;
  return current;
}

export interface HeapGrowthPolicy {
  stop(): void;
}

/**
 * Watches full GCs and sets V8's heap growing percent accordingly (the flag is read at each full
 * GC). `onChange` hears each switch.
 */
export function startHeapGrowthPolicy(
  onChange: (percent: number, liveBytes: number) => void,
  setFlags: (flags: string) => void = (f) => v8.setFlagsFromString(f),
): HeapGrowthPolicy {
  let current = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind;
      if (kind !== constants.NODE_PERFORMANCE_GC_MAJOR) continue;
      // Read right after a full GC, the used size is close to the live size.
      const live = v8.getHeapStatistics().used_heap_size;
      const next = growingPercentFor(live, current);
      if (next === current) continue;
      setFlags(`--heap-growing-percent=${next}`);
      current = next;
      onChange(next, live);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return { stop: () => observer.disconnect() };
}

/**
 * Whether this process should run the policy: the launcher tuned it (node/bin/kv-store.js) and the
 * user did not choose a growing percent on the node command line.
 */
export function heapGrowthPolicyWanted(env: NodeJS.ProcessEnv, execArgv: readonly string[]): boolean {
  return env.KVSTORE_RUNTIME_TUNED === '1' && !execArgv.some((a) => a.startsWith('--heap-growing-percent'));
}
