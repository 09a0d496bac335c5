// Every mutation patch still applies to the code it mutates: a merge that moves their context
// would otherwise surface only in the CI step `npm run sim:mutations`, after the whole test run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const patchDir = join(import.meta.dirname, 'mutations');
const root = join(import.meta.dirname, '..', '..', '..', '..');

test('each mutation patch applies to the current source (git apply --check)', () => {
  const patches = readdirSync(patchDir).filter((f) => f.endsWith('.patch'));
  assert.ok(patches.length >= 5, `patches found: ${patches.length}`);
  for (const patch of patches) {
    const r = spawnSync('git', ['apply', '--check', join(patchDir, patch)], { cwd: root, encoding: 'utf8' });
    assert.equal(
      r.status,
      0,
      `${patch} no longer applies; regenerate it against the current code:\n${r.stderr}`,
    );
  }
});
