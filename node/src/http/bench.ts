// Overhead of the HTTP layer alone (koa app + validation + metrics) over the in-memory fake,
// with the load generator in the same process. Run: node node/src/http/bench.ts
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { nullLogger } from '../logger.ts';
import { createMetrics } from '../metrics.ts';
import { createApp } from './app.ts';
import { FakeKvService } from './fake-kv-service.ts';
import { startHttpServer } from './server.ts';

const running = await startHttpServer(
  createApp(new FakeKvService(), { metrics: createMetrics(), logger: nullLogger() }),
  '127.0.0.1:0',
  null,
);
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const value = JSON.stringify({ value: 'x'.repeat(100) });

function request(method: string, path: string, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port: running.address.port, method, path, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    r.on('error', reject);
    r.end(body);
  });
}

async function run(
  name: string,
  make: (i: number) => Promise<number>,
  seconds = 3,
  concurrency = 64,
): Promise<void> {
  let done = 0;
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  const worker = async (w: number): Promise<void> => {
    for (let i = w; performance.now() < end; i += concurrency) {
      const t = performance.now();
      const status = await make(i);
      if (status !== 200) throw new Error(`${name}: status ${status}`);
      latencies.push(performance.now() - t);
      done++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  latencies.sort((a, b) => a - b);
  const p = (q: number): string => latencies[Math.floor(q * (latencies.length - 1))]!.toFixed(2);
  console.log(
    `${name}: ${Math.round(done / ((performance.now() - t0) / 1000))} req/s, p50 ${p(0.5)} ms, p99 ${p(0.99)} ms (c=${concurrency})`,
  );
}

await run('PUT /v1/kv/bench/<i>', (i) => request('PUT', `/v1/kv/bench/${i % 1000}`, value));
await run('GET /v1/kv/bench/<i>', (i) => request('GET', `/v1/kv/bench/${i % 1000}`));
agent.destroy();
await running.close(1000);
