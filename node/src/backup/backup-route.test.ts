// POST /v1/cluster/backup over a real HTTP server: the answer names the object; a member without
// archiving, a follower and a failed upload answer with the catalogue's errors.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createApp } from '../http/app.ts';
import { FakeKvService } from '../http/fake-kv-service.ts';
import { startHttpServer, type RunningServer } from '../http/server.ts';
import { createLogger } from '../logger.ts';
import { createMetrics } from '../metrics.ts';
import { NotUploadingError, type FullSnapshotInfo } from './archiver.ts';
import { BACKUP_ROUTE } from './backup-route.ts';

let archiver: { requestFull(ms: number): Promise<FullSnapshotInfo>; bucketUrl: string } | null = null;
let running: RunningServer;
let base = '';

before(async () => {
  const app = createApp(new FakeKvService(), {
    metrics: createMetrics({ defaultMetrics: false }),
    logger: createLogger({ level: 'error' }),
    backup: { archiver: () => archiver },
  });
  running = await startHttpServer(app, '127.0.0.1:0', null);
  base = `http://127.0.0.1:${running.address.port}`;
});
after(() => running.close(1000));

const post = async (path = BACKUP_ROUTE) => {
  const r = await fetch(base + path, { method: 'POST' });
  return { status: r.status, body: (await r.json()) as Record<string, any> };
};

void test('the leader answers with what it uploaded', async () => {
  archiver = {
    bucketUrl: 's3://bkt/p',
    requestFull: () =>
      Promise.resolve({
        index: 42,
        takenAt: Date.parse('2026-12-01T10:00:00Z'),
        key: 'p/snapshots/000000000000002a.snap',
        bytes: 900,
        keys: 7,
      }),
  };
  const r = await post();
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, {
    index: 42,
    takenAt: '2026-12-01T10:00:00.000Z',
    keys: 7,
    bytes: 900,
    key: 'p/snapshots/000000000000002a.snap',
    object: 's3://bkt/p/snapshots/000000000000002a.snap',
  });
  assert.equal((await post(`${BACKUP_ROUTE}?x=1`)).status, 400, 'no query parameters');
});

void test('no archiving, a follower, a failed upload: catalogue errors', async () => {
  archiver = null;
  const off = await post();
  assert.equal(off.status, 409);
  assert.equal(off.body.error.code, 'backup-not-configured');
  archiver = {
    bucketUrl: 's3://b',
    requestFull: () => Promise.reject(new NotUploadingError('not the leader')),
  };
  const follower = await post();
  assert.equal(follower.status, 503);
  assert.equal(follower.body.error.code, 'not-leader');
  archiver = { bucketUrl: 's3://b', requestFull: () => Promise.reject(new Error('503 SlowDown')) };
  const failed = await post();
  assert.equal(failed.status, 503);
  assert.equal(failed.body.error.code, 'unavailable');
  assert.match(failed.body.error.message, /SlowDown/);
});
