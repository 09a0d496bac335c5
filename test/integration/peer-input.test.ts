// Issue 13 §3: no message from the network may crash or brick a member. Real node processes;
// each test forges input on the peer port (which is also the client port) the way an outsider
// can, then checks the cluster stays up, keeps serving writes, and every acknowledged write
// is still readable, also after restarting the targeted member.
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { ProcCluster, http, sleep, waitFor } from './harness.ts';
import {
  encodeMsgpack,
  PROTOCOL_VERSION,
  STREAM_PATH,
  UPGRADE_PROTOCOL,
  HEADER_FROM,
  HEADER_TO,
  HEADER_CLUSTER_ID,
  HEADER_VERSION,
  HEADER_STREAM,
  HEADER_PEER_URL,
  FrameType,
  MessageType,
  encodeFrame,
  FrameDecoder,
  emptyMessage,
} from './peer-wire.ts';

interface Stream {
  status: number;
  body: string;
  socket: net.Socket;
  /** Frames the node sent back (pongs, snapshot acks). */
  frames: { type: number; payload: Buffer }[];
  closed: Promise<void>;
}

/** Opens a peer stream by hand: the Upgrade handshake with whatever headers, then raw frames. */
function openStream(port: number, headers: Record<string, string>): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    let buf = Buffer.alloc(0);
    let stream: Stream | null = null;
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      if (stream) {
        if (stream.status === 101) stream.frames.push(...decoder.push(chunk));
        else stream.body += chunk.toString();
        return;
      }
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString();
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0);
      const rest = buf.subarray(end + 4);
      stream = { status, body: status === 101 ? '' : rest.toString(), socket, frames: [], closed };
      if (status === 101 && rest.byteLength > 0) stream.frames.push(...decoder.push(rest));
      resolve(stream);
    });
    socket.once('close', () => {
      if (!stream) reject(new Error('closed before the handshake answer'));
    });
    const lines = [
      `GET ${STREAM_PATH} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      'Connection: Upgrade',
      `Upgrade: ${UPGRADE_PROTOCOL}`,
    ];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    socket.write(lines.join('\r\n') + '\r\n\r\n');
  });
}

const closedWithin = (s: Stream, ms: number): Promise<boolean> =>
  Promise.race([s.closed.then(() => true), sleep(ms).then(() => false)]);

describe('forged and malformed peer input against real nodes', () => {
  let c: ProcCluster;
  let clusterId = '';
  const acked = new Map<string, string>();
  let seq = 0;
  const ids = ['p1', 'p2', 'p3'];

  before(async () => {
    c = await ProcCluster.start(ids);
    clusterId = (await c.status('p1')).clusterId as string;
    assert.ok(clusterId);
  });
  after(async () => {
    await c.close();
  });

  const headersFor = (
    from: string,
    to: string,
    stream: 'msg' | 'snap',
    extra: Record<string, string> = {},
  ): Record<string, string> => ({
    [HEADER_FROM]: from,
    [HEADER_TO]: to,
    [HEADER_VERSION]: String(PROTOCOL_VERSION),
    [HEADER_CLUSTER_ID]: clusterId,
    [HEADER_STREAM]: stream,
    ...extra,
  });

  const envelope = (from: string, to: string, msgs: unknown[], extra: Record<string, unknown> = {}): Buffer =>
    encodeFrame(
      FrameType.Messages,
      encodeMsgpack({ v: PROTOCOL_VERSION, clusterId, from, to, msgs, ...extra }),
    );

  async function writeSome(n = 3): Promise<void> {
    const leader = await c.waitForLeader();
    for (let i = 0; i < n; i++) {
      const key = `acked/${seq}`;
      const value = `v${seq++}`;
      const r = await c.put(leader, key, value);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      acked.set(key, value);
    }
  }

  /** Every member alive, one leader, writes accepted, and every acknowledged write readable everywhere. */
  async function assertHealthy(): Promise<void> {
    for (const n of c.running())
      assert.equal(n.proc!.exitCode, null, `${n.id} exited; log: ${c.node(n.id).logFile}`);
    await c.waitForLeader();
    await writeSome(2);
    for (const n of c.running()) {
      for (const [key, value] of acked) {
        const got = await waitFor(
          `${n.id} reading ${key}`,
          async () => {
            const r = await c.get(n.id, key);
            return r.status === 200 ? r : undefined;
          },
          10_000,
        );
        assert.equal(got.body.value, value, `${n.id} ${key}`);
      }
    }
  }

  /** Restarts `id` (graceful stop), waits for it to rejoin, and checks everything again. */
  async function restartAndCheck(id: string): Promise<void> {
    await c.stop(id);
    c.spawn(id);
    await waitFor(
      `${id} serving again`,
      async () =>
        (await http('GET', `${c.node(id).url}/readyz`, undefined, { timeoutMs: 1000 })).status === 200,
      20_000,
      200,
    );
    await assertHealthy();
  }

  async function rejected(id: string, reason: string): Promise<number> {
    const text = (await http('GET', `${c.node(id).url}/metrics`)).body as string;
    const m = new RegExp(`kvstore_peer_messages_rejected_total\\{reason="${reason}"\\} (\\d+)`).exec(text);
    return m ? Number(m[1]) : 0;
  }

  test('forged heartbeats with impossible terms (2^48, 1e300, negative, NaN, 1.5) are dropped by every member', async () => {
    await writeSome();
    const leader = await c.waitForLeader();
    const before = new Map<string, number>();
    for (const target of ids) {
      before.set(target, await rejected(target, 'out-of-range'));
      const from = ids.find((x) => x !== target)!;
      const s = await openStream(c.node(target).port, headersFor(from, target, 'msg'));
      assert.equal(s.status, 101);
      const msgs = [2 ** 48, 2 ** 53, 1e300, -1, -(2 ** 48), NaN, Infinity, 1.5].map((term) => {
        const m = emptyMessage(MessageType.Heartbeat, from, target, 1);
        return { ...m, term, commit: term };
      });
      s.socket.write(envelope(from, target, msgs));
      await sleep(300);
      s.socket.destroy();
    }
    for (const target of ids) {
      assert.equal((await rejected(target, 'out-of-range')) - before.get(target)!, 8, target);
      const st = await c.status(target);
      assert.ok(st.term < 2 ** 47, `${target} adopted term ${st.term}`);
    }
    assert.equal(await c.waitForLeader(), leader, 'the leader was not deposed');
    await assertHealthy();
    for (const id of ids) await restartAndCheck(id);
  });

  test('a garbage snapshot (right size and crc, undecodable) is refused and the member keeps its state', async () => {
    await writeSome();
    const leader = await c.waitForLeader();
    const target = ids.find((x) => x !== leader)!;
    const st = await c.status(target);
    const before = await rejected(target, 'snapshot-corrupt');
    const data = Buffer.alloc(100_000, 0x5a);
    const s = await openStream(c.node(target).port, headersFor(leader, target, 'snap'));
    assert.equal(s.status, 101);
    const m = emptyMessage(MessageType.Snap, leader, target, st.term);
    const snap = {
      ...m,
      snapshot: {
        metadata: {
          index: st.commitIndex + 1_000_000,
          term: st.term,
          confState: { voters: ids, learners: [] },
        },
        data: new Uint8Array(0),
      },
    };
    s.socket.write(
      encodeFrame(
        FrameType.SnapshotHeader,
        encodeMsgpack({
          v: PROTOCOL_VERSION,
          clusterId,
          from: leader,
          to: target,
          msgs: [snap],
          size: data.byteLength,
          crc: crc32(data),
        }),
      ),
    );
    s.socket.write(encodeFrame(FrameType.SnapshotChunk, data));
    s.socket.write(encodeFrame(FrameType.SnapshotEnd, new Uint8Array(0)));
    await waitFor(
      'the snapshot ack',
      () => Promise.resolve(s.frames.some((f) => f.type === FrameType.SnapshotAck)),
      10_000,
    );
    const ack = s.frames.find((f) => f.type === FrameType.SnapshotAck)!;
    assert.equal(ack.payload[0], 0, 'refused');
    assert.equal((await rejected(target, 'snapshot-corrupt')) - before, 1);
    s.socket.destroy();
    // A wrong crc over the stream is refused as well (the stream is closed).
    const s2 = await openStream(c.node(target).port, headersFor(leader, target, 'snap'));
    s2.socket.write(
      encodeFrame(
        FrameType.SnapshotHeader,
        encodeMsgpack({
          v: PROTOCOL_VERSION,
          clusterId,
          from: leader,
          to: target,
          msgs: [snap],
          size: data.byteLength,
          crc: (crc32(data) + 1) >>> 0,
        }),
      ),
    );
    s2.socket.write(encodeFrame(FrameType.SnapshotChunk, data));
    s2.socket.write(encodeFrame(FrameType.SnapshotEnd, new Uint8Array(0)));
    assert.ok(await closedWithin(s2, 5000));
    assert.ok(!s2.frames.some((f) => f.type === FrameType.SnapshotAck && f.payload[0] === 1));
    assert.equal((await rejected(target, 'snapshot-corrupt')) - before, 2);
    assert.ok((await c.status(target)).commitIndex < st.commitIndex + 1_000_000);
    await assertHealthy();
    await restartAndCheck(target);
  });

  test('an oversized snapshot claim is refused before anything is buffered; snapshot streams are limited', async () => {
    const leader = await c.waitForLeader();
    const target = ids.find((x) => x !== leader)!;
    const st = await c.status(target);
    const before = await rejected(target, 'snapshot-too-large');
    const m = emptyMessage(MessageType.Snap, leader, target, st.term);
    const snap = {
      ...m,
      snapshot: {
        metadata: { index: st.commitIndex + 10, term: st.term, confState: { voters: ids, learners: [] } },
        data: new Uint8Array(0),
      },
    };
    const s = await openStream(c.node(target).port, headersFor(leader, target, 'snap'));
    s.socket.write(
      encodeFrame(
        FrameType.SnapshotHeader,
        encodeMsgpack({
          v: PROTOCOL_VERSION,
          clusterId,
          from: leader,
          to: target,
          msgs: [snap],
          size: 2 ** 31,
          crc: 0,
        }),
      ),
    );
    assert.ok(await closedWithin(s, 5000), 'the stream is closed');
    assert.equal((await rejected(target, 'snapshot-too-large')) - before, 1);
    // One snapshot stream per sender at a time, two in all: the rest are refused with 429.
    const a = await openStream(c.node(target).port, headersFor(leader, target, 'snap'));
    assert.equal(a.status, 101);
    const other = ids.find((x) => x !== leader && x !== target)!;
    const b = await openStream(c.node(target).port, headersFor(leader, target, 'snap'));
    assert.equal(b.status, 429, b.body);
    assert.equal(JSON.parse(b.body).error.code, 'too-many-requests');
    const d = await openStream(c.node(target).port, headersFor(other, target, 'snap'));
    assert.equal(d.status, 101);
    a.socket.destroy();
    d.socket.destroy();
    await assertHealthy();
  });

  test('many message streams from one sender: only the newest two stay open', async () => {
    const leader = await c.waitForLeader();
    const target = ids.find((x) => x !== leader)!;
    const from = ids.find((x) => x !== leader && x !== target)!;
    const streams: Stream[] = [];
    for (let i = 0; i < 20; i++) {
      const s = await openStream(c.node(target).port, headersFor(from, target, 'msg'));
      assert.equal(s.status, 101);
      streams.push(s);
    }
    await sleep(500);
    const open = streams.filter((s) => !s.socket.destroyed && s.socket.readyState === 'open');
    // The real sender's own stream competes for the two slots too.
    assert.ok(open.length <= 2, `${open.length} forged streams still open`);
    for (const s of streams) s.socket.destroy();
    await assertHealthy();
  });

  test('messages and streams from an id outside the configuration do not depose the leader, and its URL is never dialled', async () => {
    const leader = await c.waitForLeader();
    const term = (await c.status(leader)).term as number;
    // A listener standing in for the address the intruder announces: nobody may connect to it.
    let dialled = 0;
    const trap = net.createServer((s) => {
      dialled++;
      s.destroy();
    });
    await new Promise<void>((r) => trap.listen(0, '127.0.0.1', r));
    const trapUrl = `http://127.0.0.1:${(trap.address() as net.AddressInfo).port}`;
    try {
      const before = await rejected(leader, 'not-member');
      const s = await openStream(
        c.node(leader).port,
        headersFor('intruder', leader, 'msg', { [HEADER_PEER_URL]: trapUrl }),
      );
      assert.equal(s.status, 403, s.body);
      assert.equal(JSON.parse(s.body).error.code, 'not-member');
      assert.ok((await rejected(leader, 'not-member')) > before);
      // Smuggled inside a member's stream, the intruder's messages are misaddressed and dropped.
      const member = ids.find((x) => x !== leader)!;
      const s2 = await openStream(c.node(leader).port, headersFor(member, leader, 'msg'));
      const hb = emptyMessage(MessageType.Heartbeat, 'intruder', leader, term + 5);
      const vote = {
        ...emptyMessage(MessageType.Vote, 'intruder', leader, term + 5),
        index: 1e6,
        logTerm: term + 5,
        context: 'transfer',
      };
      s2.socket.write(envelope(member, leader, [hb, vote]));
      await sleep(1000);
      s2.socket.destroy();
      assert.equal(await c.waitForLeader(), leader, 'the leader was not deposed');
      assert.equal((await c.status(leader)).term, term, 'the term did not move');
      assert.equal(dialled, 0, "the intruder's URL was dialled");
      await assertHealthy();
      assert.equal(dialled, 0, "the intruder's URL was dialled");
    } finally {
      await new Promise<void>((r) => trap.close(() => r()));
    }
  });

  test('slow and idle input is cut off: idle peer streams, a stalled snapshot, slow HTTP headers and bodies (408 JSON)', async () => {
    const leader = await c.waitForLeader();
    const target = ids.find((x) => x !== leader)!;
    const port = c.node(target).port;
    const from = ids.find((x) => x !== leader && x !== target)!;
    // An idle message stream that announced a frame and then went silent.
    const idle = await openStream(port, headersFor(from, target, 'msg'));
    assert.equal(idle.status, 101);
    const partial = Buffer.alloc(5);
    partial.writeUInt32BE(1000, 0);
    partial.writeUInt8(FrameType.Messages, 4);
    idle.socket.write(Buffer.concat([partial, Buffer.alloc(10)]));
    // A snapshot that stops after its first chunk.
    const st = await c.status(target);
    const stalled = await openStream(port, headersFor(leader, target, 'snap'));
    const m = emptyMessage(MessageType.Snap, leader, target, st.term);
    const snap = {
      ...m,
      snapshot: {
        metadata: { index: st.commitIndex + 10, term: st.term, confState: { voters: ids, learners: [] } },
        data: new Uint8Array(0),
      },
    };
    assert.equal(stalled.status, 101, stalled.body);
    stalled.socket.write(
      encodeFrame(
        FrameType.SnapshotHeader,
        encodeMsgpack({
          v: PROTOCOL_VERSION,
          clusterId,
          from: leader,
          to: target,
          msgs: [snap],
          size: 10_000_000,
          crc: 0,
        }),
      ),
    );
    stalled.socket.write(encodeFrame(FrameType.SnapshotChunk, Buffer.alloc(1000)));
    // HTTP: a body that stops after 3 of 100 bytes, headers that never finish, and garbage.
    const raw = (text: string): { socket: net.Socket; answer: Promise<string> } => {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      let got = '';
      socket.on('data', (d) => {
        got += d.toString();
      });
      const answer = new Promise<string>((r) => socket.once('close', () => r(got)));
      socket.write(text);
      return { socket, answer };
    };
    const slowBody = raw(
      'PUT /v1/kv/slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"v',
    );
    const slowHeaders = raw('GET /v1/kv/x HTTP/1.1\r\nHost: x\r\n');
    const garbage = raw('NOT HTTP AT ALL\r\n\r\n');
    const started = Date.now();
    const [bodyAnswer, headerAnswer, garbageAnswer] = await Promise.all([
      slowBody.answer,
      slowHeaders.answer,
      garbage.answer,
    ]);
    for (const [what, answer, status, code] of [
      ['slow body', bodyAnswer, 408, 'request-timeout'],
      ['slow headers', headerAnswer, 408, 'request-timeout'],
      ['garbage', garbageAnswer, 400, 'bad-request'],
    ] as const) {
      assert.match(answer, new RegExp(`^HTTP/1\\.1 ${status} `), `${what}: ${answer}`);
      const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as {
        error: { code: string; message: string };
      };
      assert.equal(body.error.code, code, what);
      assert.equal(typeof body.error.message, 'string');
    }
    assert.ok(Date.now() - started < 25_000);
    assert.ok(await closedWithin(idle, 20_000), 'idle message stream closed');
    assert.ok(
      !stalled.socket.destroyed && Date.now() - started < 30_000,
      'the stalled snapshot stream is still open before its idle timeout',
    );
    assert.ok(await closedWithin(stalled, 35_000), 'stalled snapshot stream closed');
    await assertHealthy();
    await restartAndCheck(target);
  });

  test('a client dropping a blocking watch is neither a 500 nor an error-level log line', async () => {
    const target = ids[0]!;
    const logBefore = readFileSync(c.node(target).logFile, 'utf8').length;
    const index = (await c.status(target)).appliedIndex as number;
    for (let i = 0; i < 3; i++) {
      const ac = new AbortController();
      const pending = fetch(`${c.node(target).url}/v1/kv/watched?index=${index + 1000}&wait=30s`, {
        signal: ac.signal,
      }).catch(() => undefined);
      await sleep(300);
      ac.abort();
      await pending;
    }
    await sleep(500);
    const lines = readFileSync(c.node(target).logFile, 'utf8')
      .slice(logBefore)
      .split('\n')
      .filter((l) => l.trim() !== '');
    const bad = lines.filter((l) => /"level":"(error|fatal)"/.test(l) || /unhandled error/.test(l));
    assert.deepEqual(bad, []);
    const text = (await http('GET', `${c.node(target).url}/metrics`)).body as string;
    assert.doesNotMatch(text, /kvstore_http_request_duration_seconds_count\{[^}]*code="500"[^}]*\}/);
    await assertHealthy();
  });
});
