// Loopback micro-benchmark of the peer transport (both ends in this one process, so one core
// does the work of two nodes). Run: node node/src/transport/bench.ts
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { nullLogger } from '../logger.ts';
import { createMetrics } from '../metrics.ts';
import { emptyMessage, MessageType, type Message } from '../raft/types.ts';
import { PeerTransport } from './peer-transport.ts';

async function pair(onB: (m: Message[]) => void) {
  const mk = (
    id: string,
    onMessages: (m: Message[]) => void,
    onSnapshotStatus?: (p: string, ok: boolean) => void,
  ) =>
    new PeerTransport({
      selfId: id,
      clusterId: () => 'bench',
      logger: nullLogger(),
      metrics: createMetrics({ defaultMetrics: false }),
      onMessages,
      ...(onSnapshotStatus ? { onSnapshotStatus } : {}),
      pingIntervalMs: 100,
      maxQueuedMessages: 1 << 20,
    });
  const snapshotWaiters: ((ok: boolean) => void)[] = [];
  const b = mk('b', onB);
  const a = mk(
    'a',
    () => {},
    (_p, ok) => snapshotWaiters.shift()?.(ok),
  );
  const server = http.createServer((_q, r) => r.end());
  server.on('upgrade', (req, socket, head) => void b.handleUpgrade(req, socket, head));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  a.setPeer('b', `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  while (!a.isConnected('b')) await new Promise((r) => setTimeout(r, 5));
  return {
    a,
    snapshotDone: () => new Promise<boolean>((r) => snapshotWaiters.push(r)),
    async close() {
      await a.close();
      await b.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function appMessage(i: number, payload: Uint8Array): Message {
  const m = emptyMessage(MessageType.App, 'a', 'b', 1);
  m.index = i;
  m.entries = [{ term: 1, index: i + 1, type: 0, data: payload }];
  return m;
}

async function throughput(seconds: number, perTurn: number, window: number): Promise<number> {
  let received = 0;
  const p = await pair((msgs) => (received += msgs.length));
  const payload = new Uint8Array(100).fill(7);
  let sent = 0;
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  while (performance.now() < end) {
    if (sent - received < window) {
      const batch: Message[] = [];
      for (let i = 0; i < perTurn; i++) batch.push(appMessage(sent++, payload));
      p.a.send(batch);
    }
    await new Promise((r) => setImmediate(r));
  }
  const elapsed = (performance.now() - start) / 1000;
  const rate = received / elapsed;
  await p.close();
  return rate;
}

async function snapshot(mib: number): Promise<number> {
  const p = await pair(() => {});
  const m = emptyMessage(MessageType.Snap, 'a', 'b', 1);
  m.snapshot = {
    metadata: { index: 1, term: 1, confState: { voters: ['a', 'b'], learners: [] } },
    data: new Uint8Array(mib * 1024 * 1024),
  };
  const t0 = performance.now();
  const done = p.snapshotDone();
  p.a.send([m]);
  if (!(await done)) throw new Error('snapshot failed');
  const ms = performance.now() - t0;
  await p.close();
  return ms;
}

async function rtt(samples: number): Promise<number> {
  const p = await pair(() => {});
  const seen: number[] = [];
  while (seen.length < samples) {
    await new Promise((r) => setTimeout(r, 100));
    const v = p.a.rttSeconds('b');
    if (v !== undefined) seen.push(v);
  }
  await p.close();
  seen.sort((x, y) => x - y);
  return seen[Math.floor(seen.length / 2)]!;
}

const tp = await throughput(3, 64, 8192);
console.log(`append messages (1 x 100-byte entry each), 64 per turn: ${Math.round(tp)} msgs/s`);
for (const mib of [50, 50, 50]) console.log(`snapshot ${mib} MiB: ${Math.round(await snapshot(mib))} ms`);
console.log(`idle ping RTT median: ${((await rtt(20)) * 1000).toFixed(3)} ms`);
