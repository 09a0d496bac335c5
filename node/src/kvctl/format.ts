// kvctl's output: aligned tables, JSON, and the one-line forms of keys and watch events.
// Pure functions returning text that ends with a newline (or '' for nothing).
import type { MemberInfo, NodeStatus } from '../http/service.ts';
import type { KeyValue } from '../kv/types.ts';

export interface WatchEvent {
  type: 'PUT' | 'DELETE';
  key: string;
  /** PUT only. */
  value?: string;
  modifyIndex?: number;
  version?: number;
  /** The index the answer reported the change at (X-KV-Index). */
  index: number;
}

/** One status row: the endpoint's answer, or why it has none. */
export type StatusRow =
  { endpoint: string; status: NodeStatus } | { endpoint: string; error: { code: string; message: string } };

/** Prints s as is when that is unambiguous on one line; otherwise as a JSON string. */
export function quote(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s === '' || /[\s"'\\\u0000-\u001f\u007f-\u009f\u2028\u2029]/u.test(s) ? JSON.stringify(s) : s;
}

/** A table cell: control characters (newlines, tabs) would break the row, so such cells are quoted. */
export function cell(s: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u.test(s) ? JSON.stringify(s) : s;
}

/** Columns padded to the widest cell (in code points), two spaces apart; no trailing spaces. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, c) => Math.max(width(h), ...rows.map((r) => width(r[c] ?? ''))));
  const line = (cells: string[]): string =>
    cells
      .map((v, c) => (c === cells.length - 1 ? v : v + ' '.repeat(widths[c]! - width(v))))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

function width(s: string): number {
  return [...s].length;
}

export function json(v: unknown): string {
  return JSON.stringify(v, null, 2) + '\n';
}

function expires(kv: KeyValue): string {
  return kv.expiresAt === undefined ? '' : new Date(kv.expiresAt).toISOString();
}

export function kvTable(items: KeyValue[]): string {
  return table(
    ['KEY', 'VALUE', 'CREATE-INDEX', 'MODIFY-INDEX', 'VERSION', 'TTL', 'EXPIRES'],
    items.map((kv) => [
      cell(kv.key),
      cell(kv.value),
      String(kv.createIndex),
      String(kv.modifyIndex),
      String(kv.version),
      kv.ttl ?? '',
      expires(kv),
    ]),
  );
}

export function keysTable(keys: string[]): string {
  return table(
    ['KEY'],
    keys.map((k) => [cell(k)]),
  );
}

/** `get --prefix` in simple form: each key on one line, its value on the next (as etcdctl prints). */
export function kvPairs(items: KeyValue[]): string {
  return items.map((kv) => `${kv.key}\n${kv.value}\n`).join('');
}

export function lines(values: string[]): string {
  return values.map((v) => `${v}\n`).join('');
}

export function membersTable(m: { leader: string | null; members: MemberInfo[] }): string {
  return table(
    ['ID', 'ROLE', 'LEADER', 'PEER-URL', 'CLIENT-URL', 'MATCH-INDEX', 'HEALTHY'],
    m.members.map((x) => [
      cell(x.id),
      x.role,
      x.isLeader || x.id === m.leader ? 'yes' : 'no',
      cell(x.peerUrl),
      cell(x.clientUrl),
      x.matchIndex === undefined ? '' : String(x.matchIndex),
      x.healthy === undefined ? '' : x.healthy ? 'yes' : 'no',
    ]),
  );
}

export function statusTable(rows: StatusRow[]): string {
  const anyError = rows.some((r) => 'error' in r);
  const headers = [
    'ENDPOINT',
    'ID',
    'STATE',
    'LEADER',
    'TERM',
    'COMMIT-INDEX',
    'APPLIED-INDEX',
    'MEMBERS',
    'CLUSTER-ID',
  ];
  if (anyError) headers.push('ERROR');
  return table(
    headers,
    rows.map((r) => {
      if ('error' in r)
        return [r.endpoint, '', '', '', '', '', '', '', '', cell(`${r.error.code}: ${r.error.message}`)];
      const s = r.status;
      const row = [
        r.endpoint,
        cell(s.id),
        s.state,
        s.leader === null ? '(none)' : cell(s.leader),
        String(s.term),
        String(s.commitIndex),
        String(s.appliedIndex),
        String(s.members.length),
        cell(s.clusterId),
      ];
      if (anyError) row.push('');
      return row;
    }),
  );
}

/** A watch event on one line: `PUT key value` or `DELETE key`. */
export function eventLine(e: WatchEvent): string {
  return e.type === 'PUT' ? `PUT ${quote(e.key)} ${quote(e.value ?? '')}\n` : `DELETE ${quote(e.key)}\n`;
}

/** A watch event as one compact JSON line (NDJSON). */
export function eventJson(e: WatchEvent): string {
  return JSON.stringify(e) + '\n';
}
