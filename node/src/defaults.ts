// The one table of kv-store's tunable defaults. The node's flag parser and `--help` read it; the
// operator reads it through operator/src/node-defaults.generated.ts (written from this file by
// operator/src/tools/sync-defaults.ts, because the operator image holds only operator/); the CRD's
// `default:` values and the README are checked against it by tests.
//
// No imports: the generator loads this file on its own.

/** What `kv-store` uses when a flag is not given (a hand-started member, `npm run dev:cluster`). */
export const NODE_DEFAULTS = {
  /** -tick-ms: the leader heartbeats every tick. */
  tickMs: 50,
  /** -election-ticks: ticks without a leader before a campaign (randomised up to 2x). */
  electionTicks: 12,
  /** -snapshot-threshold: applied entries between snapshots. */
  snapshotThreshold: 100_000,
  /** -max-snapshot-mb: largest snapshot accepted from a peer. */
  maxSnapshotMb: 512,
  /** -log-level */
  logLevel: 'info',
} as const;

/** The smallest values the node accepts (the CRD may be stricter, never looser). */
export const NODE_MINIMUMS = {
  tickMs: 1,
  electionTicks: 2,
  snapshotThreshold: 1,
  maxSnapshotMb: 1,
} as const;

export type KubernetesTuningKey = 'tickMs' | 'electionTicks' | 'snapshotThreshold' | 'logLevel';

/**
 * What the operator sets for a KVCluster whose spec.tuning leaves a field out (the CRD's
 * `default:`), with the reason when it differs from the node's own default.
 */
export const KUBERNETES_DEFAULTS: Record<KubernetesTuningKey, { value: number | string; why: string }> = {
  tickMs: {
    value: 100,
    why:
      'pods share nodes and run under CPU limits: CFS throttling stalls a container for tens of ' +
      'milliseconds per 100 ms period, which at a 50 ms heartbeat reads as a dead leader',
  },
  electionTicks: {
    value: 10,
    why:
      'with 100 ms ticks, 10 ticks is a 1-2 s election timeout: above pod-network and throttling ' +
      'hiccups, still well below the probes that restart a pod',
  },
  snapshotThreshold: {
    value: 10_000,
    why:
      'member volumes default to 1Gi and a restarted or rolled pod replays the log since the last ' +
      'snapshot: a shorter log keeps both disk use and restart time small',
  },
  logLevel: { value: NODE_DEFAULTS.logLevel, why: 'same as the node' },
};
