// The new-user path: `npm run dev:cluster` (scripts/local-cluster.ts) and `kv-store` with a bad flag,
// run as real processes on ephemeral ports.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BIN, freePort, http } from './harness.ts';

const SCRIPT = fileURLToPath(new URL('../../scripts/local-cluster.ts', import.meta.url));

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

void describe('dev:cluster', () => {
  void test('Ctrl-C stops the whole cluster without a leadership transfer to stopping members', async () => {
    const dataRoot = mkdtempSync(join(tmpdir(), 'kv-dev-cluster-'));
    const ports = [await freePort(), await freePort(), await freePort()];
    const child = spawn(process.execPath, [SCRIPT, '--ports', ports.join(','), '--data-root', dataRoot], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const leader = await until('a leader', async () => {
        const r = await http('GET', `http://127.0.0.1:${ports[0]}/v1/status`, undefined, { timeoutMs: 1000 });
        return typeof r.body?.leader === 'string' && r.body.leader !== ''
          ? (r.body.leader as string)
          : undefined;
      });
      const put = await http('PUT', `http://127.0.0.1:${ports[1]}/v1/kv/k`, { value: 'v' });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      child.kill('SIGINT');
      const code = await exited;
      assert.equal(code, 0, output);
      assert.doesNotMatch(output, /leadership transfer before shutdown failed/, output);
      assert.equal(output.match(/stopped cleanly/g)?.length, 3, output);
      // The leader went last: it had nobody to hand over to.
      const exits = [...output.matchAll(/\[(node\d)\] exited/g)].map((m) => m[1]);
      assert.equal(exits.at(-1), leader, output);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dataRoot, { recursive: true, force: true });
    }
  });
});

void describe('kv-store command line', () => {
  void test('a bad flag prints one line with one usage hint and exits 2', () => {
    const res = spawnSync(process.execPath, [BIN, '-cert-file', 'x'], { encoding: 'utf8' });
    assert.equal(res.status, 2);
    const lines = res.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, res.stderr);
    assert.equal(lines[0]?.match(/--help/g)?.length, 1, res.stderr);
  });
});
