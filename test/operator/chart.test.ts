// The Helm chart: generated copies are current, and (when helm is available) it lints, renders,
// keeps the CRD on uninstall, and grants exactly the RBAC rules of manifests/operator/rbac.yaml.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';

const root = path.resolve(import.meta.dirname, '../..');
const chart = path.join(root, 'charts/kv-store-operator');

export function findHelm(): string | undefined {
  if (process.env.HELM !== undefined) return process.env.HELM;
  if (spawnSync('helm', ['version']).status === 0) return 'helm';
  const script = path.join(root, 'test/cluster/build-tools.sh');
  if (!existsSync(script)) return undefined;
  const dir = spawnSync('bash', [script, '--print-dir'], { encoding: 'utf8' }).stdout.trim();
  const bin = path.join(dir, 'helm');
  return existsSync(bin) ? bin : undefined;
}

interface Obj {
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
  rules?: unknown[];
}

void describe('Helm chart', () => {
  void test('generated chart files match their sources (run: node operator/src/tools/sync-chart.ts)', () => {
    const res = spawnSync(
      process.execPath,
      [path.join(root, 'operator/src/tools/sync-chart.ts'), '--check'],
      { encoding: 'utf8' },
    );
    assert.equal(res.status, 0, res.stderr);
  });

  const helm = findHelm();
  void test(
    'helm lint and template: CRD kept, RBAC equal to the manifests',
    { skip: helm === undefined ? 'helm not found' : false },
    () => {
      execFileSync(
        helm!,
        ['lint', '--strict', '--kube-version', '1.33.0', chart, '--set', 'cluster.enabled=true'],
        { stdio: 'pipe' },
      );
      const out = execFileSync(
        helm!,
        [
          'template',
          'kvs',
          chart,
          '--kube-version',
          '1.33.0',
          '-n',
          'kv-store-system',
          '--set',
          'cluster.enabled=true',
        ],
        {
          encoding: 'utf8',
        },
      );
      const docs = loadAllYaml(out) as Obj[];
      const crds = docs.filter((d) => d.kind === 'CustomResourceDefinition');
      assert.deepEqual(crds.map((c) => c.metadata.name).sort(), [
        'kvbackups.kvstore.io',
        'kvclusters.kvstore.io',
      ]);
      for (const c of crds) assert.equal(c.metadata.annotations?.['helm.sh/resource-policy'], 'keep');
      const chartRole = docs.find((d) => d.kind === 'ClusterRole');
      const manifestRole = (
        loadAllYaml(readFileSync(path.join(root, 'manifests/operator/rbac.yaml'), 'utf8')) as Obj[]
      ).find((d) => d.kind === 'ClusterRole');
      assert.deepEqual(chartRole?.rules, manifestRole?.rules);
      assert.ok(
        docs.some((d) => d.kind === 'Pod' && d.metadata.annotations?.['helm.sh/hook'] === 'test'),
        'helm test hook rendered',
      );
      // Each CRD in the chart is the manifests CRD plus the keep annotation.
      for (const crd of crds) {
        const manifestCrd = (
          loadAllYaml(
            readFileSync(path.join(root, `manifests/crd/${crd.metadata.name}.yaml`), 'utf8'),
          ) as Obj[]
        )[0]!;
        assert.deepEqual(
          { ...crd, metadata: { ...crd.metadata, annotations: undefined } },
          { ...manifestCrd, metadata: { ...manifestCrd.metadata, annotations: undefined } },
        );
      }
    },
  );

  void test(
    'the operator NetworkPolicy (opt-in): only the metrics port, from metricsFrom, selecting the operator pods',
    { skip: helm === undefined ? 'helm not found' : false },
    () => {
      const render = (...set: string[]) =>
        loadAllYaml(
          execFileSync(helm!, ['template', 'kvs', chart, '--kube-version', '1.33.0', '-n', 'ops', ...set], {
            encoding: 'utf8',
          }),
        ) as (Obj & { spec?: Record<string, unknown> })[];
      assert.ok(!render().some((d) => d.kind === 'NetworkPolicy'), 'off by default');
      const from = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }];
      const np = render(
        '--set',
        'networkPolicy.enabled=true',
        '--set-json',
        `networkPolicy.metricsFrom=${JSON.stringify(from)}`,
      ).find((d) => d.kind === 'NetworkPolicy');
      assert.deepEqual(JSON.parse(JSON.stringify(np?.spec)), {
        podSelector: {
          matchLabels: { 'app.kubernetes.io/name': 'kv-store-operator', 'app.kubernetes.io/instance': 'kvs' },
        },
        policyTypes: ['Ingress'],
        ingress: [{ ports: [{ protocol: 'TCP', port: 8081 }], _from: from }],
      });
    },
  );

  void test(
    'helm test runs in the cluster namespace and mounts the CA bundle and root Secrets (optional)',
    { skip: helm === undefined ? 'helm not found' : false },
    () => {
      const docs = loadAllYaml(
        execFileSync(
          helm!,
          [
            'template',
            'kvs',
            chart,
            '--kube-version',
            '1.33.0',
            '-n',
            'ops',
            '--set',
            'test.clusterName=demo',
            '--set',
            'test.namespace=apps',
          ],
          { encoding: 'utf8' },
        ),
      ) as (Obj & {
        metadata: { namespace?: string };
        spec?: { volumes?: { secret?: { secretName: string; optional?: boolean } }[] };
      })[];
      const pod = docs.find((d) => d.kind === 'Pod')!;
      assert.equal(pod.metadata.namespace, 'apps');
      assert.deepEqual(JSON.parse(JSON.stringify(pod.spec?.volumes?.map((v) => v.secret))), [
        { secretName: 'demo-ca-bundle', optional: true },
        { secretName: 'demo-root', optional: true },
      ]);
    },
  );

  void test(
    'values.schema.json rejects bad values',
    { skip: helm === undefined ? 'helm not found' : false },
    () => {
      const bad = spawnSync(
        helm!,
        ['template', 'kvs', chart, '--kube-version', '1.33.0', '--set', 'cluster.replicas=10'],
        { encoding: 'utf8' },
      );
      assert.notEqual(bad.status, 0);
      assert.match(bad.stderr, /replicas/);
    },
  );
});
