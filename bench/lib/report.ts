// Renders results as aligned text tables (also valid Markdown); the same numbers go to
// bench/results/<timestamp>.json.
import { ROWS, type ClusterKind, type RowName } from './args.ts';
import type { RowPoint } from './points.ts';
import type { FailoverReport, GrowthStep } from './scenarios.ts';
import { ratio } from './stats.ts';
import type { WatchReport } from './watch.ts';

export interface ClusterResults {
  version?: string;
  error?: string;
  notes: string[];
  preload?: { keys: number; seconds: number; failed: number };
  failover?: FailoverReport;
  growth?: GrowthStep[];
}

export interface Results {
  clusters: Partial<Record<ClusterKind, ClusterResults>>;
  /** the TLS twins of the clusters (--tls on|both) */
  tlsClusters?: Partial<Record<ClusterKind, ClusterResults>>;
  points: RowPoint[];
  watch: Partial<Record<RowName, WatchReport | { skipped: string }>>;
  /** by row name, `+tls` appended for a TLS twin */
  rowErrors: Partial<Record<string, string>>;
}

export interface HeadlineRow {
  point: string;
  kvRps: number | null;
  etcdRps: number | null;
  rpsRatio: number | null;
  kvP99Ms: number | null;
  etcdP99Ms: number | null;
  p99Ratio: number | null;
  kvCpu: number | null;
  etcdCpu: number | null;
  cpuRatio: number | null;
}

/** The headline: kv-store's HTTP API against etcd 3.6 native gRPC, per point (ratios kv / etcd). */
export function headline(points: readonly RowPoint[], against: RowName = 'etcd36'): HeadlineRow[] {
  const ids = [...new Set(points.map((p) => p.point.id))];
  const get = (row: RowName, id: string): RowPoint | undefined =>
    points.find((p) => p.row === row && p.point.id === id && p.skipped === undefined);
  return ids.map((id) => {
    const k = get('kvstore', id);
    const e = get(against, id);
    return {
      point: id,
      kvRps: k?.rps ?? null,
      etcdRps: e?.rps ?? null,
      rpsRatio: ratio(k?.rps, e?.rps),
      kvP99Ms: k?.p99Ms ?? null,
      etcdP99Ms: e?.p99Ms ?? null,
      p99Ratio: ratio(k?.p99Ms, e?.p99Ms),
      kvCpu: k?.cpuSecPer1kReq ?? null,
      etcdCpu: e?.cpuSecPer1kReq ?? null,
      cpuRatio: ratio(k?.cpuSecPer1kReq, e?.cpuSecPer1kReq),
    };
  });
}

/** Markdown table, padded to line up as text; columns of figures right-aligned, names left-aligned. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((row) => (row[c] ?? '').length)));
  const numeric = headers.map(
    (_, c) => c > 0 && rows.every((row) => /^(n\/a|[-0-9.,% /]*)$/.test(row[c] ?? '')),
  );
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((cell, c) => (numeric[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join(' | ')} |`;
  const rule = widths.map((w, c) => (numeric[c] ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|');
  return [line(headers), `|${rule}|`, ...rows.map(line)].join('\n');
}

export function fixed(value: number | null | undefined, digits: number): string {
  return value === null || value === undefined || Number.isNaN(value) ? '-' : value.toFixed(digits);
}

/** "put-c64-v100-m3" -> "PUT 64 clients" plus what differs from the defaults. */
export function describePoint(id: string): string {
  const match = /^(put|get|mixed)-c(\d+)-v(\d+)-m(\d+)$/.exec(id);
  if (!match) return id;
  const [, op, clients, value, members] = match;
  const name = op === 'get' ? 'lin. GET' : op === 'mixed' ? 'mixed 90/10' : 'PUT';
  const size = Number(value);
  const extra = [
    size !== 100 ? (size >= 1024 ? `${size / 1024} KiB` : `${size} B`) : '',
    members !== '3' ? `${members} members` : '',
  ].filter((s) => s !== '');
  return `${name} ${clients}${extra.length > 0 ? `, ${extra.join(', ')}` : ''}`;
}

const MIB = 1024 * 1024;

export interface TlsCostRow {
  point: string;
  row: RowName;
  plainRps: number;
  tlsRps: number;
  /** TLS req/s over plain req/s */
  rpsRatio: number | null;
  plainP99Ms: number;
  tlsP99Ms: number;
  p99Ratio: number | null;
  plainCpu: number | null;
  tlsCpu: number | null;
}

/** Each row measured both plain and over TLS on the same point (--tls both): what TLS costs it. */
export function tlsCost(points: readonly RowPoint[]): TlsCostRow[] {
  const out: TlsCostRow[] = [];
  for (const t of points) {
    if (t.tls !== true || t.skipped !== undefined) continue;
    const p = points.find(
      (q) => q.tls !== true && q.row === t.row && q.point.id === t.point.id && q.skipped === undefined,
    );
    if (p === undefined) continue;
    out.push({
      point: t.point.id,
      row: t.row,
      plainRps: p.rps,
      tlsRps: t.rps,
      rpsRatio: ratio(t.rps, p.rps),
      plainP99Ms: p.p99Ms,
      tlsP99Ms: t.p99Ms,
      p99Ratio: ratio(t.p99Ms, p.p99Ms),
      plainCpu: p.cpuSecPer1kReq,
      tlsCpu: t.cpuSecPer1kReq,
    });
  }
  return out;
}

export function renderReport(results: Results): string {
  const sections: string[] = [];
  const plainPoints = results.points.filter((p) => p.tls !== true);
  const tlsPoints = results.points.filter((p) => p.tls === true);
  // the headline compares like with like: plain with plain (TLS with TLS under --tls on)
  const head = headline(plainPoints.length > 0 ? plainPoints : tlsPoints);
  if (head.length > 0) {
    sections.push(
      `kv-store HTTP vs etcd 3.6.8 native gRPC (ratios kv-store / etcd; CPU = CPU-seconds per 1,000 requests, members + load generator)\n\n${renderTable(
        [
          'point',
          'kv req/s',
          'etcd req/s',
          'req/s ratio',
          'kv p99 ms',
          'etcd p99 ms',
          'p99 ratio',
          'kv CPU',
          'etcd CPU',
          'CPU ratio',
        ],
        head.map((h) => [
          describePoint(h.point),
          fixed(h.kvRps, 0),
          fixed(h.etcdRps, 0),
          fixed(h.rpsRatio, 2),
          fixed(h.kvP99Ms, 2),
          fixed(h.etcdP99Ms, 2),
          fixed(h.p99Ratio, 2),
          fixed(h.kvCpu, 3),
          fixed(h.etcdCpu, 3),
          fixed(h.cpuRatio, 2),
        ]),
      )}`,
    );
    sections.push(
      `Every row (medians over repetitions; errors summed)\n\n${renderTable(
        ['point', 'row', 'req/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'errors', 'CPU-s / 1k req'],
        results.points.map((p) =>
          p.skipped !== undefined
            ? [describePoint(p.point.id), `${p.row}${p.tls ? '+tls' : ''}`, 'n/a', '', '', '', '', '']
            : [
                describePoint(p.point.id),
                `${p.row}${p.tls ? '+tls' : ''}`,
                fixed(p.rps, 0),
                fixed(p.p50Ms, 2),
                fixed(p.p99Ms, 2),
                fixed(p.p999Ms, 2),
                String(p.errors),
                fixed(p.cpuSecPer1kReq, 3),
              ],
        ),
      )}`,
    );
  }
  const cost = tlsCost(results.points);
  if (cost.length > 0) {
    sections.push(
      `Cost of TLS (client HTTPS + peer mutual TLS against plain text, same run, interleaved; ratios TLS / plain)\n\n${renderTable(
        [
          'point',
          'row',
          'plain req/s',
          'TLS req/s',
          'req/s ratio',
          'plain p99 ms',
          'TLS p99 ms',
          'p99 ratio',
          'plain CPU',
          'TLS CPU',
        ],
        cost.map((c) => [
          describePoint(c.point),
          c.row,
          fixed(c.plainRps, 0),
          fixed(c.tlsRps, 0),
          fixed(c.rpsRatio, 2),
          fixed(c.plainP99Ms, 2),
          fixed(c.tlsP99Ms, 2),
          fixed(c.p99Ratio, 2),
          fixed(c.plainCpu, 3),
          fixed(c.tlsCpu, 3),
        ]),
      )}`,
    );
  }
  const watchRows = Object.entries(results.watch).map(([row, w]) =>
    'skipped' in w
      ? [row, 'n/a', '', '', '', '', '', '']
      : [
          row,
          String(w.watchers),
          String(w.writesPerSec),
          `${(w.deliveredShare * 100).toFixed(1)} %`,
          fixed(w.p50Ms, 2),
          fixed(w.p99Ms, 2),
          fixed(w.p999Ms, 2),
          fixed(w.cpuSecPer1kDeliveries, 3),
        ],
  );
  if (watchRows.length > 0) {
    sections.push(
      `Watch fan-out (latency from the write's ack to delivery, floored at 0)\n\n${renderTable(
        ['row', 'watchers', 'writes/s', 'delivered', 'p50 ms', 'p99 ms', 'p99.9 ms', 'CPU-s / 1k events'],
        watchRows,
      )}`,
    );
  }
  const growthRows: string[][] = [];
  for (const [kind, r] of Object.entries(results.clusters)) {
    for (const step of r.growth ?? []) {
      growthRows.push([
        kind,
        String(step.keys),
        fixed(step.load.keysPerSec, 0),
        step.members.map((m) => (m.rssBytes / MIB).toFixed(0)).join('/'),
        fixed(step.maxRssBytes / MIB, 0),
        fixed(step.diskBytesPerKey, 0),
        fixed(step.restartMs, 0),
      ]);
    }
  }
  if (growthRows.length > 0) {
    sections.push(
      `Growth (100-byte values; load over HTTP, 64 connections to the leader)\n\n${renderTable(
        ['system', 'keys', 'load keys/s', 'RSS per member MiB', 'max RSS MiB', 'disk B/key', 'restart ms'],
        growthRows,
      )}`,
    );
  }
  const failoverRows = Object.entries(results.clusters)
    .filter(([, r]) => r.failover !== undefined)
    .map(([kind, r]) => [
      kind,
      fixed(r.failover!.medianMs, 0),
      r.failover!.runsMs.map((m) => m.toFixed(0)).join(', '),
    ]);
  if (failoverRows.length > 0)
    sections.push(
      `Leader kill -9 to the next acknowledged write\n\n${renderTable(['system', 'median ms', 'runs ms'], failoverRows)}`,
    );
  for (const [kind, r] of Object.entries(results.clusters)) {
    if (r.error !== undefined) sections.push(`${kind}: FAILED: ${r.error.split('\n')[0]!}`);
    for (const note of r.notes) sections.push(`${kind}: note: ${note}`);
  }
  for (const [kind, r] of Object.entries(results.tlsClusters ?? {})) {
    if (r.error !== undefined) sections.push(`${kind} (TLS): FAILED: ${r.error.split('\n')[0]!}`);
    for (const note of r.notes) sections.push(`${kind} (TLS): note: ${note}`);
  }
  for (const [row, error] of Object.entries(results.rowErrors))
    sections.push(
      `${row} (${ROWS[row.replace(/\+tls$/, '') as RowName].label}): FAILED: ${(error ?? '').split('\n')[0]!}`,
    );
  for (const p of results.points)
    if (p.skipped !== undefined) sections.push(`${p.row} ${describePoint(p.point.id)}: n/a: ${p.skipped}`);
  return [...new Set(sections)].join('\n\n');
}
