// Every metric a dashboard or alert names must exist: in the node's metrics module (or, until
// it is merged, the documented contract) or the operator's registry. And the alert rules pass
// `promtool check rules` and their `promtool test rules` unit tests when promtool is installed.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
const monitoring = path.join(root, 'manifests/monitoring');

// The node metric contract (docs: helper API brief, issue 3).
const NODE_CONTRACT = [
  'kvstore_has_leader',
  'kvstore_is_leader',
  'kvstore_leader_changes_seen_total',
  'kvstore_term',
  'kvstore_commit_index',
  'kvstore_applied_index',
  'kvstore_proposals_committed_total',
  'kvstore_proposals_applied_total',
  'kvstore_proposals_pending',
  'kvstore_proposals_failed_total',
  'kvstore_disk_sync_duration_seconds',
  'kvstore_apply_duration_seconds',
  'kvstore_snapshot_duration_seconds',
  'kvstore_snapshot_size_bytes',
  'kvstore_peer_round_trip_time_seconds',
  'kvstore_peer_sent_bytes_total',
  'kvstore_peer_received_bytes_total',
  'kvstore_http_request_duration_seconds',
  'kvstore_keys',
];

function nodeMetrics(): string[] {
  const file = path.join(root, 'node/src/metrics.ts');
  if (!existsSync(file)) return NODE_CONTRACT;
  const src = readFileSync(file, 'utf8');
  const names = [...src.matchAll(/\(\s*'([a-z_]+)'\s*,/g), ...src.matchAll(/p \+ '([a-z_]+)'/g)].map(
    (m) => `kvstore_${m[1]}`,
  );
  // The archiver registers its own metrics in the node's registry (node/src/backup/archiver-metrics.ts).
  const archiver = readFileSync(path.join(root, 'node/src/backup/archiver-metrics.ts'), 'utf8');
  names.push(...[...archiver.matchAll(/name: '(kvstore_backup_[a-z_]+)'/g)].map((m) => m[1]!));
  return names;
}

function operatorMetrics(): string[] {
  const src = readFileSync(path.join(root, 'operator/src/observability/metrics.ts'), 'utf8');
  return [...src.matchAll(/name: '(kvstore_operator_[a-z_]+)'/g)].map((m) => m[1]!);
}

function referenced(text: string): string[] {
  return [...new Set([...text.matchAll(/\bkvstore_[a-z_]+/g)].map((m) => m[0]))];
}

function exists(name: string, known: Set<string>): boolean {
  if (known.has(name)) return true;
  for (const suffix of ['_bucket', '_count', '_sum'])
    if (name.endsWith(suffix) && known.has(name.slice(0, -suffix.length))) return true;
  return false;
}

void describe('monitoring artefacts', () => {
  const known = new Set([...nodeMetrics(), ...operatorMetrics()]);
  const files = [
    'kv-store-alerts.rules.yaml',
    'dashboards/kv-store-cluster.json',
    'dashboards/kv-store-operator.json',
  ];

  void test('the node contract metrics are all exported by the node', () => {
    if (!existsSync(path.join(root, 'node/src/metrics.ts'))) return;
    const exported = new Set(nodeMetrics());
    assert.deepEqual(
      NODE_CONTRACT.filter((n) => !exported.has(n)),
      [],
    );
  });

  for (const f of files) {
    void test(`${f} names only exported metrics`, () => {
      const names = referenced(readFileSync(path.join(monitoring, f), 'utf8'));
      assert.ok(names.length > 3, 'parsed some metric names');
      assert.deepEqual(
        names.filter((n) => !exists(n, known)),
        [],
      );
    });
  }

  void test('dashboards are valid Grafana JSON with a panel per query', () => {
    for (const f of files.filter((x) => x.endsWith('.json'))) {
      const d = JSON.parse(readFileSync(path.join(monitoring, f), 'utf8')) as {
        uid: string;
        panels: { targets: { expr: string }[] }[];
      };
      assert.ok(d.uid.length > 0);
      assert.ok(d.panels.length >= 5);
      for (const p of d.panels) assert.ok(p.targets.length > 0 && p.targets.every((t) => t.expr.length > 0));
    }
  });

  const promtool = spawnSync('promtool', ['--version']).status === 0;
  void test(
    'promtool check rules and promtool test rules',
    { skip: promtool ? false : 'promtool not installed (apt-get install prometheus)' },
    () => {
      execFileSync('promtool', ['check', 'rules', 'kv-store-alerts.rules.yaml'], {
        cwd: monitoring,
        stdio: 'pipe',
      });
      execFileSync('promtool', ['test', 'rules', 'kv-store-alerts.test.yaml'], {
        cwd: monitoring,
        stdio: 'pipe',
      });
    },
  );
});
