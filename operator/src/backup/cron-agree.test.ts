// The operator validates schedules with a copy of the node's cron parser; this fails when it drifts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CRON_TARGET, expectedCronCopy } from '../tools/sync-cron.ts';

void test('operator/src/backup/cron.generated.ts is node/src/backup/cron.ts (run: node operator/src/tools/sync-cron.ts)', () => {
  assert.equal(readFileSync(CRON_TARGET, 'utf8'), expectedCronCopy());
});
