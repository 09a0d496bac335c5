// The one metrics registry of the node (prom-client). Names follow Prometheus conventions:
// prefix `kvstore_`, base units (`_seconds`, `_bytes`), `_total` only on counters.
// `createMetrics()` builds a fresh registry so tests never share global state. The process and
// Node.js metrics keep their standard unprefixed names (`process_cpu_seconds_total`,
// `nodejs_heap_size_used_bytes`, ...) so stock dashboards and alerts find them.
import { readFileSync } from 'node:fs';
import { readdir, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const METRIC_PREFIX = 'kvstore_';

/** An apply batch slower than this is counted as slow (etcd warns at 100 ms). */
export const SLOW_APPLY_SECONDS = 0.1;

/** Who this process is, for `kvstore_member_info`: the series alerts join `up` against. */
export interface MemberIdentity {
  /** '' until the member knows its cluster (a `-join` member before it is added). */
  clusterId: string;
  member: string;
}

const VERSION = readVersion();

function readVersion(): string {
  try {
    // The node package's version; the metrics module sits in node/src.
    const pkg = JSON.parse(readFileSync(path.join(import.meta.dirname, '../package.json'), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

// Disk syncs and applies are sub-millisecond to a second; RTT on a LAN is similar.
const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096,
];
const SLOW_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const HTTP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface Metrics {
  registry: Registry;
  // Raft state.
  hasLeader: Gauge;
  isLeader: Gauge;
  isLearner: Gauge;
  leaderChangesSeenTotal: Counter;
  term: Gauge;
  commitIndex: Gauge;
  appliedIndex: Gauge;
  // Proposals.
  proposalsCommittedTotal: Counter;
  proposalsAppliedTotal: Counter;
  proposalsPending: Gauge;
  proposalsFailedTotal: Counter<'reason'>;
  readIndexTotal: Counter;
  readIndexFailedTotal: Counter;
  // Disk and state machine.
  diskSyncDurationSeconds: Histogram;
  applyDurationSeconds: Histogram;
  /** Apply batches slower than SLOW_APPLY_SECONDS. */
  slowAppliesTotal: Counter;
  snapshotDurationSeconds: Histogram;
  snapshotSizeBytes: Gauge;
  keys: Gauge;
  // Peers.
  peerRoundTripTimeSeconds: Histogram<'peer'>;
  peerSentBytesTotal: Counter<'peer'>;
  peerReceivedBytesTotal: Counter<'peer'>;
  peerSentFailuresTotal: Counter<'peer'>;
  /** The heartbeats among peerSentFailuresTotal: a leader failing these soon loses its followers. */
  heartbeatSendFailuresTotal: Counter<'peer'>;
  peerConnected: Gauge<'peer'>;
  snapshotsSentTotal: Counter<'peer' | 'outcome'>;
  snapshotsReceivedTotal: Counter<'peer'>;
  peerMessagesRejectedTotal: Counter<'reason'>;
  // HTTP.
  httpRequestDurationSeconds: Histogram<'route' | 'method' | 'code'>;
  httpRequestsInFlight: Gauge;
  watchersActive: Gauge;
  /** 1 while this member's data failed its checks and it serves nothing (docs/adr/0077). */
  dataCorrupt: Gauge;
  /** Reports `kvstore_member_info` from now on (read at every scrape). */
  setIdentity(identity: () => MemberIdentity): void;
  /** Reports `kvstore_db_size_bytes` for this data directory (summed at every scrape). */
  setDataDir(dir: string): void;
}

export interface MetricsOptions {
  /** Collect process/Node.js default metrics (CPU, memory, event loop lag). Default true. */
  defaultMetrics?: boolean;
}

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const p = METRIC_PREFIX;
  const gauge = (name: string, help: string): Gauge => new Gauge({ name: p + name, help, registers });
  const counter = (name: string, help: string): Counter => new Counter({ name: p + name, help, registers });

  let identity: (() => MemberIdentity) | null = null;
  new Gauge({
    name: p + 'member_info',
    help: 'Always 1: the cluster id, member id and version of this process (join `up` on it by instance).',
    labelNames: ['cluster_id', 'member', 'version'] as const,
    registers,
    collect() {
      if (identity === null) return;
      const id = identity();
      this.reset();
      this.set({ cluster_id: id.clusterId, member: id.member, version: VERSION }, 1);
    },
  });
  new Gauge({
    name: p + 'build_info',
    help: 'Always 1: the kv-store version and the Node.js version running it.',
    labelNames: ['version', 'nodejs_version'] as const,
    registers,
  }).set({ version: VERSION, nodejs_version: process.versions.node }, 1);
  let dataDir: string | null = null;
  new Gauge({
    name: p + 'db_size_bytes',
    help: 'Bytes on disk in the data directory (LevelDB log and state, snapshot files).',
    registers,
    async collect() {
      if (dataDir !== null) this.set(await directoryBytes(dataDir));
    },
  });

  // Free space of the filesystem holding the data directory (statfs at scrape time): the
  // disk-usage alerts work without kubelet_volume_stats_* (docs/adr/0076).
  const fsStats = async (): Promise<{ avail: number; size: number } | null> => {
    if (dataDir === null) return null;
    try {
      const s = await statfs(dataDir);
      return { avail: s.bavail * s.bsize, size: s.blocks * s.bsize };
    } catch {
      return null;
    }
  };
  new Gauge({
    name: p + 'data_dir_available_bytes',
    help: 'Bytes available to this process on the filesystem holding the data directory.',
    registers,
    async collect() {
      const s = await fsStats();
      if (s !== null) this.set(s.avail);
    },
  });
  new Gauge({
    name: p + 'data_dir_capacity_bytes',
    help: 'Size in bytes of the filesystem holding the data directory.',
    registers,
    async collect() {
      const s = await fsStats();
      if (s !== null) this.set(s.size);
    },
  });

  return {
    setIdentity(fn) {
      identity = fn;
    },
    setDataDir(dir) {
      dataDir = dir;
    },
    registry,
    hasLeader: gauge('has_leader', '1 if this member knows a leader, else 0.'),
    isLeader: gauge('is_leader', '1 if this member is the leader, else 0.'),
    isLearner: gauge('is_learner', '1 if this member is a learner, else 0.'),
    leaderChangesSeenTotal: counter('leader_changes_seen_total', 'Leader changes seen by this member.'),
    term: gauge('term', 'Current Raft term.'),
    commitIndex: gauge('commit_index', 'Highest log index known committed.'),
    appliedIndex: gauge('applied_index', 'Highest log index applied to the state machine.'),
    proposalsCommittedTotal: counter('proposals_committed_total', 'Log entries committed.'),
    proposalsAppliedTotal: counter('proposals_applied_total', 'Log entries applied.'),
    proposalsPending: gauge('proposals_pending', 'Proposals accepted by this member and not yet answered.'),
    proposalsFailedTotal: new Counter({
      name: p + 'proposals_failed_total',
      help: 'Proposals that failed, by reason.',
      labelNames: ['reason'] as const,
      registers,
    }),
    readIndexTotal: counter('read_index_total', 'Linearizable reads started (ReadIndex).'),
    readIndexFailedTotal: counter('read_index_failed_total', 'Linearizable reads that failed or timed out.'),
    diskSyncDurationSeconds: new Histogram({
      name: p + 'disk_sync_duration_seconds',
      help: 'Duration of one synced write batch (entries + hard state of one Ready).',
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    applyDurationSeconds: new Histogram({
      name: p + 'apply_duration_seconds',
      help: 'Duration of applying one batch of committed entries.',
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    slowAppliesTotal: counter(
      'slow_applies_total',
      `Apply batches that took longer than ${SLOW_APPLY_SECONDS * 1000} ms (slow disk or CPU, or huge batches).`,
    ),
    snapshotDurationSeconds: new Histogram({
      name: p + 'snapshot_duration_seconds',
      help: 'Duration of taking and persisting a snapshot.',
      buckets: SLOW_BUCKETS,
      registers,
    }),
    snapshotSizeBytes: gauge('snapshot_size_bytes', 'Size of the latest snapshot.'),
    keys: gauge('keys', 'Keys in the state machine.'),
    peerRoundTripTimeSeconds: new Histogram({
      name: p + 'peer_round_trip_time_seconds',
      help: 'Round-trip time of ping frames to a peer.',
      labelNames: ['peer'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    peerSentBytesTotal: new Counter({
      name: p + 'peer_sent_bytes_total',
      help: 'Bytes sent to a peer.',
      labelNames: ['peer'] as const,
      registers,
    }),
    peerReceivedBytesTotal: new Counter({
      name: p + 'peer_received_bytes_total',
      help: 'Bytes received from a peer.',
      labelNames: ['peer'] as const,
      registers,
    }),
    peerSentFailuresTotal: new Counter({
      name: p + 'peer_sent_failures_total',
      help: 'Messages to a peer dropped (queue full or connection lost).',
      labelNames: ['peer'] as const,
      registers,
    }),
    heartbeatSendFailuresTotal: new Counter({
      name: p + 'heartbeat_send_failures_total',
      help: 'Heartbeats to a peer dropped (peer unreachable, queue full or connection lost).',
      labelNames: ['peer'] as const,
      registers,
    }),
    peerConnected: new Gauge({
      name: p + 'peer_connected',
      help: '1 while the outbound stream to a peer is open.',
      labelNames: ['peer'] as const,
      registers,
    }),
    snapshotsSentTotal: new Counter({
      name: p + 'snapshots_sent_total',
      help: 'Snapshots streamed to a peer, by outcome.',
      labelNames: ['peer', 'outcome'] as const,
      registers,
    }),
    snapshotsReceivedTotal: new Counter({
      name: p + 'snapshots_received_total',
      help: 'Snapshots received from a peer.',
      labelNames: ['peer'] as const,
      registers,
    }),
    peerMessagesRejectedTotal: new Counter({
      name: p + 'peer_messages_rejected_total',
      help: 'Peer input dropped before reaching Raft (malformed, out of range, from a non-member, over a limit), by reason.',
      labelNames: ['reason'] as const,
      registers,
    }),
    httpRequestDurationSeconds: new Histogram({
      name: p + 'http_request_duration_seconds',
      help: 'HTTP request duration by route template, method and status code.',
      labelNames: ['route', 'method', 'code'] as const,
      buckets: HTTP_BUCKETS,
      registers,
    }),
    httpRequestsInFlight: gauge('http_requests_in_flight', 'HTTP requests being served.'),
    watchersActive: gauge('watchers_active', 'Blocking watch requests waiting.'),
    dataCorrupt: gauge(
      'data_corrupt',
      '1 while this member refuses its data (corrupt records or lost state): it serves only status and metrics.',
    ),
  };
}

/** Total size of the regular files under `dir` (0 for a missing directory: not created yet). */
async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) total += await directoryBytes(full);
    else if (e.isFile()) {
      try {
        total += (await stat(full)).size;
      } catch {
        // removed between readdir and stat (compaction): not on disk any more
      }
    }
  }
  return total;
}
