// The streaming watch: a line per change, the ReadIndex round before the first byte, and a
// stream that ends with its wait, its client or the server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { kvError } from '../errors.ts';
import { nullLogger } from '../logger.ts';
import { createMetrics, type Metrics } from '../metrics.ts';
import { createApp } from './app.ts';
import { FakeKvService } from './fake-kv-service.ts';
import { startHttpServer, type RunningServer } from './server.ts';

class StreamService extends FakeKvService {
  barrierFails = false;
  barrier(): Promise<void> {
    return this.barrierFails ? Promise.reject(kvError('no-leader', 'no leader')) : Promise.resolve();
  }
}

let service: StreamService;
let metrics: Metrics;
let running: RunningServer;
let base: string;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

before(async () => {
  service = new StreamService();
  metrics = createMetrics({ defaultMetrics: false });
  running = await startHttpServer(createApp(service, { metrics, logger: nullLogger() }), '127.0.0.1:0', null);
  base = `http://127.0.0.1:${running.address.port}`;
});
after(async () => {
  await running.close(1000);
});

/** Opens a stream; `lines` fills as lines arrive; `close()` hangs up. */
function open(path: string): Promise<{ status: number; lines: any[]; ended: Promise<void>; close(): void }> {
  return new Promise((resolve, reject) => {
    const req = http.get(base + path, (res) => {
      const lines: any[] = [];
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          lines.push(JSON.parse(buf.slice(0, nl)));
          buf = buf.slice(nl + 1);
        }
      });
      const ended = new Promise<void>((r) => res.on('close', () => r()));
      resolve({ status: res.statusCode ?? 0, lines, ended, close: () => req.destroy() });
    });
    req.on('error', (e) => (String(e).includes('socket hang up') ? undefined : reject(e)));
  });
}

const watching = async (): Promise<number> => (await metrics.watchersActive.get()).values[0]?.value ?? 0;

describe('streaming watch', () => {
  test('one line per change, each the state past the previous line; hanging up frees the watcher', async () => {
    await service.put('s/a', '0', {});
    const s = await open(`/v1/kv/s/?recurse&index=${service.index}&stream`);
    assert.equal(s.status, 200);
    for (const v of ['1', '2', '3']) {
      await sleep(30);
      await service.put('s/a', v, {});
    }
    await sleep(100);
    assert.deepEqual(
      s.lines.map((l: { items: { value: string }[] }) => l.items[0]!.value),
      ['1', '2', '3'],
    );
    const indexes = s.lines.map((l: { index: number }) => l.index);
    assert.deepEqual(
      indexes,
      [...indexes].sort((a, b) => a - b),
    );
    assert.equal(await watching(), 1);
    s.close();
    await sleep(100);
    assert.equal(await watching(), 0);
  });

  test('a single key: the value, or null once deleted', async () => {
    await service.put('one', 'x', {});
    const s = await open(`/v1/kv/one?index=${service.index}&stream&wait=1s`);
    await sleep(30);
    await service.delete('one', { recurse: false });
    await s.ended; // the wait ends the stream
    assert.deepEqual(
      s.lines.map((l: { kv: unknown }) => l.kv),
      [null],
    );
  });

  test('refused before the first byte: no index, or no quorum for the ReadIndex round', async () => {
    const noIndex = await fetch(`${base}/v1/kv/s/?recurse&stream`);
    assert.equal(noIndex.status, 400);
    assert.equal(((await noIndex.json()) as { error: { code: string } }).error.code, 'invalid-parameter');
    service.barrierFails = true;
    const noLeader = await fetch(`${base}/v1/kv/s/?recurse&index=0&stream`);
    service.barrierFails = false;
    assert.equal(noLeader.status, 503);
    assert.equal(((await noLeader.json()) as { error: { code: string } }).error.code, 'no-leader');
  });
});
