import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../logger.ts';
import { FenceFile, MAX_FENCE_FILE_BYTES, parseFenceFile } from './fence.ts';

test('the fence file names members one a line; comments and blank lines are ignored', () => {
  assert.deepEqual(parseFenceFile('', 'demo-1'), { ok: true, fenced: false });
  assert.deepEqual(parseFenceFile('demo-1\n', 'demo-1'), { ok: true, fenced: true });
  assert.deepEqual(parseFenceFile('# fenced\n\n demo-2 \ndemo-1', 'demo-1'), { ok: true, fenced: true });
  assert.deepEqual(parseFenceFile('demo-10\n', 'demo-1'), { ok: true, fenced: false }, 'whole lines only');
});

test('a malformed or oversized fence file is refused (the caller keeps its last state)', () => {
  assert.equal(parseFenceFile('demo-1 demo-2\n', 'demo-1').ok, false);
  assert.equal(parseFenceFile('../etc\n', 'demo-1').ok, false);
  assert.equal(parseFenceFile('a\n'.repeat(MAX_FENCE_FILE_BYTES), 'a').ok, false);
});

test('FenceFile: missing = not fenced; follows the file; keeps its state when the file turns bad', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kv-fence-'));
  try {
    const file = path.join(dir, 'members');
    const fence = new FenceFile({ path: file, id: 'demo-1', log: createLogger({ level: 'error' }) });
    await fence.poll();
    assert.equal(fence.fenced, false);
    writeFileSync(file, 'demo-1\n');
    await fence.poll();
    assert.equal(fence.fenced, true);
    writeFileSync(file, 'not a member id!\n');
    await fence.poll();
    assert.equal(fence.fenced, true, 'a bad update does not unfence');
    writeFileSync(file, 'demo-0\n');
    await fence.poll();
    assert.equal(fence.fenced, false);
    writeFileSync(file, 'demo-1\n');
    await fence.poll();
    rmSync(file);
    await fence.poll();
    assert.equal(fence.fenced, false, 'the file removed: unfenced');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
