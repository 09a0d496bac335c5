// Grafana's dashboard linter (github.com/grafana/dashboard-linter, strict: warnings fail) on every
// dashboard we ship: templated datasource, job and instance; $__rate_interval; a description and
// a unit on every panel; counters only through rate/increase; valid PromQL.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { findDashboardLinter, skipUnless } from './tools.ts';

const dashboards = path.resolve(import.meta.dirname, '../../manifests/monitoring/dashboards');
const linter = findDashboardLinter();

void describe('Grafana dashboard linter', () => {
  const files = readdirSync(dashboards).filter((f) => f.endsWith('.json'));
  void test('there are dashboards to lint', () => assert.ok(files.length >= 2));
  for (const file of files) {
    void test(
      `${file} passes dashboard-linter --strict`,
      { skip: skipUnless(linter, 'dashboard-linter', 'bash test/monitoring/build-tools.sh') },
      () => {
        assert.ok(linter, 'dashboard-linter is required (KVSTORE_REQUIRE_MONITORING_TOOLS=1)');
        const res = spawnSync(linter, ['lint', '--strict', path.join(dashboards, file)], {
          encoding: 'utf8',
        });
        const problems = `${res.stdout}${res.stderr}`
          .split('\n')
          .filter((l) => l.includes('❌') || l.includes('⚠'));
        assert.equal(res.status, 0, problems.join('\n') || res.stderr);
        assert.deepEqual(problems, []);
      },
    );
  }
});
