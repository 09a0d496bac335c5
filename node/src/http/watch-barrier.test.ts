// A linearizable watch takes its ReadIndex (service.barrier) while it waits; once that round
// succeeded, the read after the wake is local. If it failed, the read does its own round.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { kvError } from '../errors.ts';
import { nullLogger } from '../logger.ts';
import { createMetrics } from '../metrics.ts';
import { createApp } from './app.ts';
import { FakeKvService } from './fake-kv-service.ts';
import { startHttpServer, type RunningServer } from './server.ts';

class BarrierService extends FakeKvService {
  barrierOutcome: 'ok' | 'fail' = 'ok';
  barriers = 0;
  barrier(): Promise<void> {
    this.barriers++;
    return this.barrierOutcome === 'ok'
      ? Promise.resolve()
      : Promise.reject(kvError('no-leader', 'no leader is known; retry shortly'));
  }
}

let service: BarrierService;
let running: RunningServer;
let base: string;

before(async () => {
  service = new BarrierService();
  const app = createApp(service, { metrics: createMetrics({ defaultMetrics: false }), logger: nullLogger() });
  running = await startHttpServer(app, '127.0.0.1:0', null);
  base = `http://127.0.0.1:${running.address.port}`;
});
after(async () => {
  await running.close(1000);
});

const readsAfterWatch = (): string[] =>
  service.calls
    .filter((c) => c.method === 'get' || c.method === 'list')
    .map((c) => (c.args[1] as { consistency: string }).consistency);

describe('linearizable watches', () => {
  test('the ReadIndex round runs during the wait; the woken read is local', async () => {
    service.calls.length = 0;
    service.barrierOutcome = 'ok';
    await service.put('w/a', '1', {});
    const waiting = fetch(`${base}/v1/kv/w/?recurse&index=${service.index}&wait=5s`);
    await new Promise((r) => setTimeout(r, 50));
    await service.put('w/a', '2', {});
    const res = await waiting;
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { items: { value: string }[] }).items[0]!.value, '2');
    assert.equal(service.barriers, 1);
    assert.deepEqual(readsAfterWatch(), ['stale']);
  });

  test('a failed round: the read after the wake is linearizable itself', async () => {
    service.calls.length = 0;
    service.barrierOutcome = 'fail';
    const res = await fetch(`${base}/v1/kv/w/a?index=0`);
    assert.equal(res.status, 200);
    assert.deepEqual(readsAfterWatch(), ['linearizable']);
  });

  test('consistency=stale takes no round at all', async () => {
    service.calls.length = 0;
    const before = service.barriers;
    const res = await fetch(`${base}/v1/kv/w/a?index=0&consistency=stale`);
    assert.equal(res.status, 200);
    assert.equal(service.barriers, before);
    assert.deepEqual(readsAfterWatch(), ['stale']);
  });
});
