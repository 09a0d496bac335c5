import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createLogger, type Logger } from '../logger.ts';
import { createMetrics } from '../metrics.ts';
import { emptyMessage, MessageType, type Message } from '../raft/types.ts';
import { decodeCommand, encodeCommand } from '../kv/commands.ts';
import { PeerTransport, type PeerTransportOptions } from './peer-transport.ts';

interface TestNode {
  id: string;
  transport: PeerTransport;
  server: http.Server;
  port: number;
  url: string;
  batches: Message[][];
  logs: string[];
  unreachable: string[];
  snapshotStatus: [string, boolean][];
  metricsText(): Promise<string>;
  stop(): Promise<void>;
}

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

function capturingLogger(lines: string[]): Logger {
  return createLogger({ level: 'debug', write: (l) => lines.push(l) });
}

interface StartOptions extends Partial<PeerTransportOptions> {
  /** Announce this node's own URL in handshakes. */
  announceUrl?: boolean;
  onDeliver?: (msgs: Message[]) => void;
}

async function startNode(id: string, opts: StartOptions = {}, port = 0): Promise<TestNode> {
  const batches: Message[][] = [];
  const logs: string[] = [];
  const unreachable: string[] = [];
  const snapshotStatus: [string, boolean][] = [];
  const metrics = createMetrics({ defaultMetrics: false });
  const holder: { transport?: PeerTransport } = {};
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket, head) => {
    if (!holder.transport?.handleUpgrade(req, socket, head)) socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const actualPort = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${actualPort}`;
  const { announceUrl, onDeliver, ...transportOpts } = opts;
  const t = new PeerTransport({
    selfId: id,
    clusterId: () => 'cluster-1',
    logger: capturingLogger(logs),
    metrics,
    onMessages: (msgs) => {
      batches.push(msgs);
      onDeliver?.(msgs);
    },
    onUnreachable: (p) => unreachable.push(p),
    onSnapshotStatus: (p, ok) => snapshotStatus.push([p, ok]),
    pingIntervalMs: 50,
    backoffBaseMs: 20,
    backoffMaxMs: 200,
    ...(announceUrl ? { selfPeerUrl: url } : {}),
    ...transportOpts,
  });
  holder.transport = t;
  let stopped = false;
  const node: TestNode = {
    id,
    transport: t,
    server,
    port: actualPort,
    url,
    batches,
    logs,
    unreachable,
    snapshotStatus,
    metricsText: () => metrics.registry.metrics(),
    async stop() {
      if (stopped) return;
      stopped = true;
      await t.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  cleanup.push(() => node.stop());
  return node;
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function msg(type: Message['type'], from: string, to: string, seq: number): Message {
  const m = emptyMessage(type, from, to, 1);
  m.index = seq;
  return m;
}

const received = (n: TestNode): Message[] => n.batches.flat();

void describe('PeerTransport on loopback', () => {
  void test('delivers messages both ways, with entries intact, and measures RTT', async () => {
    const a = await startNode('a');
    const b = await startNode('b');
    a.transport.setPeer('b', b.url);
    b.transport.setPeer('a', a.url);
    const app = msg(MessageType.App, 'a', 'b', 5);
    app.entries = [
      {
        term: 1,
        index: 6,
        type: 0,
        data: encodeCommand({ op: 'put', requestId: 'r', key: 'k', value: 'hello' }),
      },
    ];
    a.transport.send([app]);
    b.transport.send([msg(MessageType.AppResp, 'b', 'a', 6)]);
    await waitFor(() => received(b).length === 1 && received(a).length === 1, 'delivery');
    const got = received(b)[0]!;
    assert.equal(got.type, MessageType.App);
    assert.equal(got.from, 'a');
    assert.deepEqual(decodeCommand(got.entries[0]!.data), {
      op: 'put',
      requestId: 'r',
      key: 'k',
      value: 'hello',
    });
    assert.equal(received(a)[0]!.type, MessageType.AppResp);
    await waitFor(() => a.transport.rttSeconds('b') !== undefined, 'an RTT sample');
    assert.ok(a.transport.rttSeconds('b')! >= 0);
    const metrics = await a.metricsText();
    assert.match(metrics, /kvstore_peer_sent_bytes_total\{peer="b"\} [1-9]/);
    assert.match(metrics, /kvstore_peer_round_trip_time_seconds_count\{peer="b"\} [1-9]/);
    await a.stop();
    await b.stop();
  });

  void test('coalesces everything sent in one event-loop turn into one frame', async () => {
    const a = await startNode('a');
    const b = await startNode('b');
    a.transport.setPeer('b', b.url);
    await waitFor(() => a.transport.isConnected('b'), 'connection');
    for (let i = 0; i < 200; i++) a.transport.send([msg(MessageType.Heartbeat, 'a', 'b', i)]);
    await waitFor(() => received(b).length === 200, 'first batch');
    assert.equal(b.batches.length, 1, 'one onMessages call for one turn');
    assert.deepEqual(
      b.batches[0]!.map((m) => m.index),
      Array.from({ length: 200 }, (_, i) => i),
    );
    a.transport.send([msg(MessageType.Heartbeat, 'a', 'b', 200)]);
    await waitFor(() => received(b).length === 201, 'second batch');
    assert.equal(b.batches.length, 2);
    await a.stop();
    await b.stop();
  });

  void test('reconnects after the peer restarts on the same address', async () => {
    const a = await startNode('a');
    let b = await startNode('b');
    const port = b.port;
    a.transport.setPeer('b', b.url);
    a.transport.send([msg(MessageType.Heartbeat, 'a', 'b', 1)]);
    await waitFor(() => received(b).length === 1, 'first delivery');
    await b.stop();
    await waitFor(() => !a.transport.isConnected('b'), 'disconnect noticed');
    a.transport.send([msg(MessageType.Heartbeat, 'a', 'b', 2)]);
    await waitFor(() => a.unreachable.includes('b'), 'unreachable reported');
    b = await startNode('b', {}, port);
    // Raft retransmits; so does this test until the new stream is up.
    let seq = 3;
    const timer = setInterval(() => a.transport.send([msg(MessageType.Heartbeat, 'a', 'b', seq++)]), 20);
    try {
      await waitFor(() => received(b).length > 0, 'delivery after restart');
    } finally {
      clearInterval(timer);
    }
    assert.ok(
      received(b).every((m) => m.index >= 3),
      'nothing from before the outage is replayed as new',
    );
    await a.stop();
    await b.stop();
  });

  void test('refuses a stream from another cluster at the handshake', async () => {
    const a = await startNode('a', { clusterId: () => 'cluster-1' });
    const b = await startNode('b', { clusterId: () => 'cluster-2' });
    a.transport.setPeer('b', b.url);
    a.transport.send([msg(MessageType.Heartbeat, 'a', 'b', 1)]);
    await waitFor(
      () => b.logs.some((l) => l.includes('cluster-id-mismatch')),
      'refusal logged by the receiver',
    );
    await waitFor(
      () => a.logs.some((l) => l.includes('peer refused stream: 412')),
      'refusal seen by the sender',
    );
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(received(b).length, 0);
    assert.equal(a.transport.isConnected('b'), false);
    await a.stop();
    await b.stop();
  });

  void test('rejects and closes on an envelope of another cluster', async () => {
    let clusterOfA = '';
    const a = await startNode('a', { clusterId: () => clusterOfA });
    const b = await startNode('b', { clusterId: () => 'cluster-2' });
    a.transport.setPeer('b', b.url); // handshake passes: a does not claim a cluster yet
    await waitFor(() => a.transport.isConnected('b'), 'connection');
    clusterOfA = 'cluster-1';
    a.transport.send([msg(MessageType.Heartbeat, 'a', 'b', 1)]);
    await waitFor(() => b.logs.some((l) => l.includes('cluster id mismatch')), 'rejection logged');
    await waitFor(() => !a.transport.isConnected('b'), 'stream closed');
    assert.equal(received(b).length, 0);
    await a.stop();
    await b.stop();
  });

  void test("a joiner without a cluster id adopts the sender's and answers an unknown leader", async () => {
    const adopted: string[] = [];
    const leader = await startNode('leader', { announceUrl: true });
    // The node persists the id asynchronously: clusterId() keeps answering '' meanwhile.
    const joiner = await startNode('joiner', { clusterId: () => '', onClusterId: (id) => adopted.push(id) });
    leader.transport.setPeer('joiner', joiner.url);
    leader.transport.send([msg(MessageType.App, 'leader', 'joiner', 1)]);
    leader.transport.send([msg(MessageType.App, 'leader', 'joiner', 2)]);
    await waitFor(() => received(joiner).length === 2, 'delivery to the joiner');
    assert.deepEqual(adopted, ['cluster-1'], 'adopted once');
    // The joiner was never told the leader's URL: it learned it from the handshake.
    joiner.transport.send([msg(MessageType.AppResp, 'joiner', 'leader', 1)]);
    await waitFor(() => received(leader).length === 1, 'reply to the learned URL');
    await leader.stop();
    await joiner.stop();
  });

  void test('streams a 50 MiB snapshot on its own connection while heartbeats keep flowing', async () => {
    const a = await startNode('a');
    const snapshots: Message[] = [];
    let heartbeats = 0;
    let heartbeatsBeforeSnapshot = -1;
    const b = await startNode('b', {
      onDeliver: (msgs) => {
        for (const m of msgs) {
          if (m.type === MessageType.Snap) {
            snapshots.push(m);
            heartbeatsBeforeSnapshot = heartbeats;
          } else heartbeats++;
        }
      },
    });
    a.transport.setPeer('b', b.url);
    await waitFor(() => a.transport.isConnected('b'), 'connection');
    const data = randomBytes(50 * 1024 * 1024);
    const digest = createHash('sha256').update(data).digest('hex');
    const snap = msg(MessageType.Snap, 'a', 'b', 0);
    snap.snapshot = {
      metadata: { index: 1000, term: 1, confState: { voters: ['a', 'b'], learners: [] } },
      data,
    };
    let seq = 0;
    const beat = setInterval(() => a.transport.send([msg(MessageType.Heartbeat, 'a', 'b', seq++)]), 2);
    try {
      // Every heartbeat is sent after the snapshot started; several must overtake it.
      a.transport.send([snap]);
      await waitFor(() => a.snapshotStatus.length === 1, 'snapshot status', 60_000);
    } finally {
      clearInterval(beat);
    }
    assert.deepEqual(a.snapshotStatus, [['b', true]]);
    assert.equal(snapshots.length, 1);
    const got = snapshots[0]!.snapshot!;
    assert.equal(got.metadata.index, 1000);
    assert.deepEqual(got.metadata.confState, { voters: ['a', 'b'], learners: [] });
    assert.equal(got.data.byteLength, data.byteLength);
    assert.equal(createHash('sha256').update(got.data).digest('hex'), digest);
    assert.ok(
      heartbeatsBeforeSnapshot >= 3,
      `only ${heartbeatsBeforeSnapshot} heartbeats arrived while the snapshot was streaming`,
    );
    await a.stop();
    await b.stop();
  });

  void test('a snapshot to an unreachable peer reports failure', async () => {
    const a = await startNode('a', { connectTimeoutMs: 500 });
    const closedPort = await unusedPort();
    a.transport.setPeer('b', `http://127.0.0.1:${closedPort}`);
    const snap = msg(MessageType.Snap, 'a', 'b', 0);
    snap.snapshot = {
      metadata: { index: 1, term: 1, confState: { voters: ['a'], learners: [] } },
      data: Buffer.alloc(10),
    };
    a.transport.send([snap]);
    await waitFor(() => a.snapshotStatus.length === 1, 'snapshot status');
    assert.deepEqual(a.snapshotStatus, [['b', false]]);
    await a.stop();
  });

  void test('bounded queue drops the oldest and reports unreachable while the peer hangs', async () => {
    // A TCP server that accepts and never answers keeps the stream in "connecting".
    const sockets: net.Socket[] = [];
    const tarpit = net.createServer((s) => {
      s.on('error', () => {});
      sockets.push(s);
    });
    await new Promise<void>((r) => tarpit.listen(0, '127.0.0.1', r));
    cleanup.push(async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => tarpit.close(() => r()));
    });
    const a = await startNode('a', { maxQueuedMessages: 4, connectTimeoutMs: 5000 });
    a.transport.setPeer('b', `http://127.0.0.1:${(tarpit.address() as AddressInfo).port}`);
    for (let i = 0; i < 10; i++) a.transport.send([msg(MessageType.Heartbeat, 'a', 'b', i)]);
    assert.equal(a.unreachable.filter((p) => p === 'b').length, 6);
    // The queue holds heartbeats 6-9: four appends push them out, a fifth drops an append.
    for (let i = 10; i < 14; i++) a.transport.send([msg(MessageType.App, 'a', 'b', i)]);
    const text = await a.metricsText();
    assert.match(text, /kvstore_peer_sent_failures_total\{peer="b"\} 10\n/);
    assert.match(text, /kvstore_heartbeat_send_failures_total\{peer="b"\} 10\n/);
    a.transport.send([msg(MessageType.App, 'a', 'b', 14)]);
    const after = await a.metricsText();
    assert.match(after, /kvstore_peer_sent_failures_total\{peer="b"\} 11\n/);
    assert.match(after, /kvstore_heartbeat_send_failures_total\{peer="b"\} 10\n/);
    // The byte bound: messages a little over 1 MiB each against a 3 MiB budget: at most 2 stay queued.
    const big = await startNode('big', { maxQueuedBytes: 3 * 1024 * 1024, connectTimeoutMs: 5000 });
    big.transport.setPeer('b', `http://127.0.0.1:${(tarpit.address() as AddressInfo).port}`);
    for (let i = 0; i < 5; i++) {
      const m = msg(MessageType.App, 'big', 'b', i);
      m.entries = [{ term: 1, index: i + 1, type: 0, data: new Uint8Array(1024 * 1024) }];
      big.transport.send([m]);
    }
    assert.equal(big.unreachable.length, 3, '3 of 5 dropped to stay within the byte budget');
    await big.stop();
    a.transport.send([msg(MessageType.Heartbeat, 'a', 'nobody', 1)]);
    assert.ok(a.unreachable.includes('nobody'));
    await a.stop();
  });

  void test('handleUpgrade ignores other requests and refuses streams meant for another node', async () => {
    const b = await startNode('b');
    const res = await fetch(`${b.url}/something`);
    assert.equal(res.status, 404);
    const a = await startNode('a');
    a.transport.setPeer('c', b.url); // b is not c
    a.transport.send([msg(MessageType.Heartbeat, 'a', 'c', 1)]);
    await waitFor(() => a.logs.some((l) => l.includes('peer refused stream: 404')), 'refusal');
    assert.equal(received(b).length, 0);
    await a.stop();
    await b.stop();
  });
});

async function unusedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
