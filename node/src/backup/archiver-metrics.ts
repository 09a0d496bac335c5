// The archiver's metrics (docs/adr/0070, 0075), in the node's one registry.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export function archiverMetrics(registry: Registry) {
  const registers = [registry];
  return {
    archivedIndex: new Gauge({
      name: 'kvstore_backup_archived_index',
      help: 'Highest log index archived to the bucket (leader)',
      registers,
    }),
    lagEntries: new Gauge({
      name: 'kvstore_backup_lag_entries',
      help: 'Applied entries not yet archived (leader)',
      registers,
    }),
    lagSeconds: new Gauge({
      name: 'kvstore_backup_lag_seconds',
      help: 'Age of the oldest applied entry not yet archived (leader)',
      registers,
    }),
    uploads: new Counter({
      name: 'kvstore_backup_uploads_total',
      help: 'Objects uploaded to the archive',
      labelNames: ['kind'],
      registers,
    }),
    failures: new Counter({
      name: 'kvstore_backup_upload_failures_total',
      help: 'Failed archive uploads (retried with backoff)',
      labelNames: ['kind'],
      registers,
    }),
    lastFull: new Gauge({
      name: 'kvstore_backup_last_full_snapshot_timestamp_seconds',
      help: 'When the newest full snapshot this member uploaded or found in the bucket was taken',
      registers,
    }),
    rpo: new Gauge({
      name: 'kvstore_backup_rpo_seconds',
      help: 'The archiving target (-backup-rpo): alerts compare the lag with it',
      registers,
    }),
    fullInterval: new Gauge({
      name: 'kvstore_backup_full_interval_seconds',
      help: 'How often a full snapshot is uploaded (-backup-full-interval, or the longest gap of -backup-full-schedule)',
      registers,
    }),
    delay: new Histogram({
      name: 'kvstore_backup_archive_delay_seconds',
      help: "From an entry's proposal stamp to its segment being in the bucket (the RPO as measured)",
      buckets: [0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 60],
      registers,
    }),
  };
}
