// Finds the monitoring suite's external tools. A missing tool skips its test, unless
// KVSTORE_REQUIRE_MONITORING_TOOLS=1 (as .ci/run sets after installing them): then it fails.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const here = import.meta.dirname;
export const REQUIRED = process.env.KVSTORE_REQUIRE_MONITORING_TOOLS === '1';

/** The `skip` option of a test that needs `tool`: false when it is there, else why not. */
export function skipUnless(found: string | undefined, tool: string, install: string): false | string {
  if (found !== undefined || REQUIRED) return false;
  return `${tool} not found (${install})`;
}

function onPath(cmd: string): string | undefined {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0 ? cmd : undefined;
}

export function findPrometheus(): string | undefined {
  return process.env.PROMETHEUS ?? onPath('prometheus');
}

export function findPromtool(): string | undefined {
  return process.env.PROMTOOL ?? onPath('promtool');
}

/** The dashboard linter built by build-tools.sh (never built from a test: CI builds it first). */
export function findDashboardLinter(): string | undefined {
  if (process.env.DASHBOARD_LINTER !== undefined) return process.env.DASHBOARD_LINTER;
  const dir = spawnSync('bash', [path.join(here, 'build-tools.sh'), '--print-dir'], {
    encoding: 'utf8',
  }).stdout.trim();
  const bin = path.join(dir, 'dashboard-linter');
  return dir !== '' && existsSync(bin) ? bin : undefined;
}
