// Renders results as aligned text tables; the same numbers go to bench/results/<timestamp>.json.
import type { SystemName } from './args.ts';
import type { BulkReport, FailoverReport, ThroughputPoint } from './scenarios.ts';
import { ratio } from './stats.ts';

export interface SystemResults {
  version?: string;
  error?: string;
  notes: string[];
  preload?: { keys: number; seconds: number; failed: number };
  throughput?: ThroughputPoint[];
  failover?: FailoverReport;
  bulk?: BulkReport;
}

export type ResultsBySystem = Partial<Record<SystemName, SystemResults>>;

export interface ThroughputComparison {
  op: string;
  connections: number;
  rpsRatio: number | null;
  p50Ratio: number | null;
  p99Ratio: number | null;
}

export interface Comparison {
  /** every ratio is kv-store / etcd */
  throughput: ThroughputComparison[];
  failoverRatio: number | null;
  maxRssRatio: number | null;
  restartRatio: number | null;
  diskBytesPerKeyRatio: number | null;
}

export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((row) => (row[c] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function fixed(value: number | null | undefined, digits: number): string {
  return value === null || value === undefined ? '-' : value.toFixed(digits);
}

function findPoint(
  points: ThroughputPoint[] | undefined,
  op: string,
  connections: number,
): ThroughputPoint | undefined {
  return points?.find((p) => p.op === op && p.connections === connections);
}

export function compare(results: ResultsBySystem): Comparison {
  const etcd = results.etcd;
  const kv = results.kvstore;
  const keys = new Map<string, { op: string; connections: number }>();
  for (const point of [...(etcd?.throughput ?? []), ...(kv?.throughput ?? [])]) {
    keys.set(`${point.op}/${point.connections}`, { op: point.op, connections: point.connections });
  }
  return {
    throughput: [...keys.values()].map(({ op, connections }) => {
      const e = findPoint(etcd?.throughput, op, connections);
      const k = findPoint(kv?.throughput, op, connections);
      return {
        op,
        connections,
        rpsRatio: ratio(k?.rps, e?.rps),
        p50Ratio: ratio(k?.p50Ms, e?.p50Ms),
        p99Ratio: ratio(k?.p99Ms, e?.p99Ms),
      };
    }),
    failoverRatio: ratio(kv?.failover?.medianMs, etcd?.failover?.medianMs),
    maxRssRatio: ratio(kv?.bulk?.maxRssBytes, etcd?.bulk?.maxRssBytes),
    restartRatio: ratio(kv?.bulk?.restartMedianMs, etcd?.bulk?.restartMedianMs),
    diskBytesPerKeyRatio: ratio(kv?.bulk?.diskBytesPerKey, etcd?.bulk?.diskBytesPerKey),
  };
}

const MIB = 1024 * 1024;

export function renderReport(results: ResultsBySystem, comparison: Comparison): string {
  const etcd = results.etcd;
  const kv = results.kvstore;
  const sections: string[] = [];
  const cells = (point: ThroughputPoint | undefined): string[] =>
    point === undefined
      ? ['-', '-', '-', '-']
      : [fixed(point.rps, 0), fixed(point.p50Ms, 2), fixed(point.p99Ms, 2), String(point.errors)];
  const throughputRows = comparison.throughput.map((c) => [
    c.op.toUpperCase(),
    String(c.connections),
    ...cells(findPoint(etcd?.throughput, c.op, c.connections)),
    ...cells(findPoint(kv?.throughput, c.op, c.connections)),
    fixed(c.rpsRatio, 2),
    fixed(c.p99Ratio, 2),
  ]);
  if (throughputRows.length > 0) {
    sections.push(
      renderTable(
        [
          'op',
          'conns',
          'etcd req/s',
          'p50 ms',
          'p99 ms',
          'errors',
          'kv req/s',
          'p50 ms',
          'p99 ms',
          'errors',
          'req/s kv/etcd',
          'p99 kv/etcd',
        ],
        throughputRows,
      ),
    );
  }
  const bulkKeys = etcd?.bulk?.load.keys ?? kv?.bulk?.load.keys;
  const rssList = (bulk: BulkReport | undefined): string =>
    bulk === undefined ? '-' : bulk.members.map((m) => (m.rssBytes / MIB).toFixed(0)).join('/');
  const other: string[][] = [
    [
      'leader kill -9 -> next acked write, median ms',
      fixed(etcd?.failover?.medianMs, 0),
      fixed(kv?.failover?.medianMs, 0),
      fixed(comparison.failoverRatio, 2),
    ],
  ];
  if (bulkKeys !== undefined) {
    other.push(
      [
        `max RSS per member with ${bulkKeys} keys, MiB`,
        fixed(etcd?.bulk && etcd.bulk.maxRssBytes / MIB, 0),
        fixed(kv?.bulk && kv.bulk.maxRssBytes / MIB, 0),
        fixed(comparison.maxRssRatio, 2),
      ],
      ['RSS per member n1/n2/n3, MiB', rssList(etcd?.bulk), rssList(kv?.bulk), ''],
      [
        `restart with ${bulkKeys} keys -> ready, median ms`,
        fixed(etcd?.bulk?.restartMedianMs, 0),
        fixed(kv?.bulk?.restartMedianMs, 0),
        fixed(comparison.restartRatio, 2),
      ],
      [
        'disk bytes per key (du -sb per member)',
        fixed(etcd?.bulk?.diskBytesPerKey, 0),
        fixed(kv?.bulk?.diskBytesPerKey, 0),
        fixed(comparison.diskBytesPerKeyRatio, 2),
      ],
      [
        'bulk load rate (64 conns), keys/s',
        fixed(etcd?.bulk?.load.keysPerSec, 0),
        fixed(kv?.bulk?.load.keysPerSec, 0),
        fixed(ratio(kv?.bulk?.load.keysPerSec, etcd?.bulk?.load.keysPerSec), 2),
      ],
    );
  }
  sections.push(renderTable(['measure', 'etcd', 'kv-store', 'kv/etcd'], other));
  for (const [system, r] of Object.entries(results)) {
    if (r.error !== undefined) sections.push(`${system}: FAILED: ${r.error.split('\n')[0]!}`);
    for (const note of r.notes) sections.push(`${system}: note: ${note}`);
  }
  return sections.join('\n\n');
}
