import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Cluster, StartupError, memberSpecs, type LaunchCommand, type WriteRequest } from './cluster.ts';

/** A "system" whose members exit at once: start() must fail loudly, not hang or pass. */
class CrashingCluster extends Cluster {
  readonly system = 'kvstore' as const;
  readonly protocol = 'kvstore' as const;
  protected launchCommand(): LaunchCommand {
    return {
      command: process.execPath,
      args: ['-e', 'console.error("boom: cannot start"); process.exit(3)'],
    };
  }
  protected isReady(): Promise<boolean> {
    return Promise.resolve(false);
  }
  leaderIndex(): Promise<number | null> {
    return Promise.resolve(null);
  }
  appliedPositions(): Promise<(number | null)[]> {
    return Promise.resolve([]);
  }
  writeRequest(): WriteRequest {
    return { method: 'PUT', path: '/', body: '' };
  }
  version(): string {
    return 'crashing';
  }
}

void test('a member that exits during start-up makes start() reject with its log tail', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kv-bench-test-'));
  try {
    const cluster = new CrashingCluster(dir, memberSpecs(dir, [1, 2, 3]));
    await assert.rejects(cluster.start(5000), (error: unknown) => {
      assert.ok(error instanceof StartupError);
      assert.match(error.message, /exited with 3/);
      assert.match(error.message, /boom: cannot start/);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
