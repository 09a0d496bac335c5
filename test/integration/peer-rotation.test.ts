// Peer certificate and CA rotation on every member of a running 3-member cluster under a running
// writer (issue 14): the bundle first holds old and new CA, then every member's certificate is
// reissued from the new CA, then the old CA is dropped. No request fails, no member restarts, and
// afterwards a peer presenting an old-CA certificate is refused at the handshake while a new-CA
// member certificate is accepted. Then: forged append, heartbeat and snapshot frames from a sender
// without a valid certificate (none, another CA, plain text) are refused at the handshake and
// nothing is applied; the same append from a holder of a member certificate is applied (the
// control: the forgery itself works, so the refusals are the handshake's doing).
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { copyFileSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort, http, ProcCluster, sleep, waitFor } from './harness.ts';
import {
  emptyMessage,
  encodeFrame,
  encodeMsgpack,
  FrameType,
  HEADER_CLUSTER_ID,
  HEADER_FROM,
  HEADER_STREAM,
  HEADER_TO,
  HEADER_VERSION,
  MessageType,
  PROTOCOL_VERSION,
  STREAM_PATH,
  UPGRADE_PROTOCOL,
} from './peer-wire.ts';

import { TestPki, type IssuedFiles } from '../../node/src/security/test-certs.test-helper.ts';
import { encodeCommand } from '../../node/src/kv/commands.ts';

type Transport = { kind: 'plain' } | { kind: 'tls'; ca: string; cert?: IssuedFiles };

/**
 * Opens a connection to a peer port and writes the upgrade request and `frames` blindly, without
 * waiting for the answer (over TLS 1.3 a client may send before the server has checked its
 * certificate). Resolves with the HTTP status line's code, or the error that ended the connection.
 */
function forge(port: number, how: Transport, headers: Record<string, string>, frames: Buffer[]) {
  return new Promise<{ status: number } | { error: string }>((resolve) => {
    const head = [
      `GET ${STREAM_PATH} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      'Connection: Upgrade',
      `Upgrade: ${UPGRADE_PROTOCOL}`,
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ].join('\r\n');
    const bytes = Buffer.concat([Buffer.from(`${head}\r\n\r\n`), ...frames]);
    const socket =
      how.kind === 'plain'
        ? net.connect(port, '127.0.0.1', () => socket.write(bytes))
        : tls.connect(
            {
              host: '127.0.0.1',
              port,
              ca: readFileSync(how.ca),
              ...(how.cert ? { cert: readFileSync(how.cert.cert), key: readFileSync(how.cert.key) } : {}),
              checkServerIdentity: () => undefined,
            },
            () => socket.write(bytes),
          );
    let answer = '';
    const timer = setTimeout(() => socket.destroy(new Error('no answer within 5 s')), 5000);
    socket.on('data', (c: Buffer) => {
      answer += c.toString('latin1');
      const m = /^HTTP\/1\.1 (\d+)/.exec(answer);
      if (m) {
        clearTimeout(timer);
        // Leave an accepted stream open a little so its frames are processed, then close.
        setTimeout(() => socket.destroy(), 500);
        resolve({ status: Number(m[1]) });
      }
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ error: e.code ?? e.message });
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ error: answer === '' ? 'closed' : `closed after ${JSON.stringify(answer.slice(0, 40))}` });
    });
  });
}

describe('peer certificate and CA rotation on every member, forged peer input without a certificate', () => {
  const pki = new TestPki();
  const ca1 = pki.ca('ca1');
  const ca2 = pki.ca('ca2');
  const caOther = pki.ca('ca-other');
  const ids = ['r1', 'r2', 'r3'];
  const memberCert = (id: string, ca: IssuedFiles, tag: string): IssuedFiles =>
    pki.leaf(`${id}-${tag}`, ca, { cn: id, sans: ['IP:127.0.0.1', `URI:urn:kvstore:member:${id}`] });
  const live = (id: string, what: 'crt' | 'key' | 'ca'): string => join(pki.dir, `${id}-live.${what}`);
  /** Replaces a live file the way a Secret update does: a new file renamed over the old one. */
  const install = (from: string, to: string): void => {
    copyFileSync(from, `${to}.tmp`);
    renameSync(`${to}.tmp`, to);
  };
  const peerPorts = new Map<string, number>();
  const pids = new Map<string, number>();
  let c: ProcCluster;

  const reloads = (id: string): number =>
    readFileSync(c.node(id).logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes('TLS files reloaded') && l.includes(live(id, 'crt'))).length;

  /** Every member logged `n` more reloads of its peer files than `since`. */
  async function reloadedEverywhere(since: Map<string, number>, what: string): Promise<void> {
    for (const id of ids)
      await waitFor(
        `${id} to take the new ${what}`,
        () => Promise.resolve(reloads(id) > since.get(id)!),
        15_000,
      );
  }

  const snapshotReloads = (): Map<string, number> => new Map(ids.map((id) => [id, reloads(id)]));

  before(async () => {
    c = new ProcCluster({ KVSTORE_TLS_POLL_MS: '200' });
    for (const id of ids) peerPorts.set(id, await freePort());
    for (const id of ids) {
      const m = memberCert(id, ca1, 'ca1');
      copyFileSync(m.cert, live(id, 'crt'));
      copyFileSync(m.key, live(id, 'key'));
      copyFileSync(pki.bundle('only-ca1', [ca1]), live(id, 'ca'));
    }
    for (const id of ids) {
      const port = await freePort();
      c.define(id, port, [
        '-addr',
        `127.0.0.1:${port}`,
        '-peer-addr',
        `127.0.0.1:${peerPorts.get(id)}`,
        '-peers',
        ids
          .filter((p) => p !== id)
          .map((p) => `${p}=127.0.0.1:${peerPorts.get(p)}`)
          .join(','),
        '-peer-cert-file',
        live(id, 'crt'),
        '-peer-key-file',
        live(id, 'key'),
        '-peer-trusted-ca-file',
        live(id, 'ca'),
      ]);
    }
    for (const id of ids) c.spawn(id);
    await c.waitForLeader();
    for (const id of ids) pids.set(id, c.node(id).proc!.pid!);
  });
  after(async () => {
    await c.close();
    pki.cleanup();
  });

  test('rotation of peer certificates and CA on all members under a writer: no failure, no restart', async () => {
    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    // Writes go to every member in turn: a follower's write reaches the leader over the peer links.
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        const id = ids[i % ids.length]!;
        try {
          const r = await http('PUT', `${c.node(id).url}/v1/kv/rot/${i % 7}`, { value: String(i) });
          if (r.status === 200) ok++;
          else failures.push(`${id}: ${r.status} ${JSON.stringify(r.body)}`);
        } catch (e) {
          failures.push(`${id}: ${String(e)}`);
        }
      }
    })();
    try {
      await sleep(1000);
      let since = snapshotReloads();
      const both = pki.bundle('ca1-and-ca2', [ca1, ca2]);
      for (const id of ids) install(both, live(id, 'ca'));
      await reloadedEverywhere(since, 'bundle with both CAs');
      await sleep(500);
      since = snapshotReloads();
      for (const id of ids) {
        const next = memberCert(id, ca2, 'ca2');
        // The key first: until the certificate follows, the pair does not match and the old set stays.
        install(next.key, live(id, 'key'));
        install(next.cert, live(id, 'crt'));
      }
      await reloadedEverywhere(since, 'certificate from the new CA');
      await sleep(500);
      since = snapshotReloads();
      const only2 = pki.bundle('only-ca2', [ca2]);
      for (const id of ids) install(only2, live(id, 'ca'));
      await reloadedEverywhere(since, 'bundle without the old CA');
      await sleep(1000);
    } finally {
      stop = true;
      await writer;
    }
    assert.deepEqual(failures, []);
    assert.ok(ok > 30, `writes during the rotation: ${ok}`);
    for (const id of ids) {
      const n = c.node(id);
      assert.equal(n.proc?.pid, pids.get(id), `${id} was restarted`);
      assert.equal(n.proc?.exitCode, null, `${id} exited`);
      assert.equal(n.proc?.signalCode, null, `${id} was signalled`);
    }
    // Replication still works through every member after the rotation.
    for (const id of ids) assert.equal((await c.put(id, `after/${id}`, id)).status, 200, id);
  });

  test('after the rotation an old-CA peer certificate is refused, a new-CA one is accepted', async () => {
    const leader = await c.waitForLeader();
    const target = ids.find((id) => id !== leader)!;
    const claim = {
      [HEADER_FROM]: leader,
      [HEADER_TO]: target,
      [HEADER_VERSION]: String(PROTOCOL_VERSION),
      [HEADER_STREAM]: 'msg',
    };
    const port = peerPorts.get(target)!;
    // The server's certificate now chains to the new CA only.
    const oldTrust = await forge(
      port,
      { kind: 'tls', ca: ca1.cert, cert: memberCert(leader, ca1, 'old') },
      claim,
      [],
    );
    assert.ok(
      'error' in oldTrust,
      `a client trusting only the old CA connected: ${JSON.stringify(oldTrust)}`,
    );
    const oldCert = await forge(
      port,
      { kind: 'tls', ca: ca2.cert, cert: memberCert(leader, ca1, 'old2') },
      claim,
      [],
    );
    assert.ok('error' in oldCert, `an old-CA peer certificate was accepted: ${JSON.stringify(oldCert)}`);
    // A heartbeat stream with a new-CA certificate of the leader is upgraded (the control).
    const fresh = await forge(
      port,
      { kind: 'tls', ca: ca2.cert, cert: memberCert(leader, ca2, 'new') },
      claim,
      [],
    );
    assert.deepEqual(fresh, { status: 101 });
    // A member restarted now dials and is dialled with new-CA certificates only: it receives a write
    // made while it was down, and its own write reaches the leader.
    await c.kill9(target);
    assert.equal((await c.put(leader, 'after/while-down', 'x')).status, 200);
    c.spawn(target);
    await waitFor(`${target} caught up after its restart`, async () => {
      const r = await http(
        'GET',
        `${c.node(target).url}/v1/kv/after/while-down?consistency=stale`,
        undefined,
        {
          timeoutMs: 1000,
        },
      );
      return r.status === 200;
    });
    await waitFor(
      `a write through ${target}`,
      async () => (await c.put(target, 'after/restart', 'ok')).status === 200,
    );
    await c.waitForLeader();
  });

  test('forged append, heartbeat and snapshot without a valid certificate: refused at the handshake, nothing applied', async () => {
    const leader = await c.waitForLeader();
    const target = ids.find((id) => id !== leader)!;
    const st = await c.status(target);
    const clusterId = String(st.clusterId);
    const key = 'forged/without-certificate';
    const frames = forgedFrames(clusterId, leader, target, st.term, st.commitIndex, key);
    const port = peerPorts.get(target)!;
    const attempts: [string, Transport][] = [
      ['plain text', { kind: 'plain' }],
      ['TLS, no certificate', { kind: 'tls', ca: ca2.cert }],
      [
        'TLS, certificate of another CA',
        { kind: 'tls', ca: ca2.cert, cert: memberCert(leader, caOther, 'other') },
      ],
      [
        'TLS, certificate of the dropped CA',
        { kind: 'tls', ca: ca2.cert, cert: memberCert(leader, ca1, 'dropped') },
      ],
    ];
    for (const [what, how] of attempts) {
      for (const stream of ['msg', 'snap'] as const) {
        const headers = {
          [HEADER_FROM]: leader,
          [HEADER_TO]: target,
          [HEADER_VERSION]: String(PROTOCOL_VERSION),
          [HEADER_CLUSTER_ID]: clusterId,
          [HEADER_STREAM]: stream,
        };
        const r = await forge(port, how, headers, stream === 'msg' ? frames.messages : frames.snapshot);
        assert.ok('error' in r, `${what} (${stream}): the stream was answered ${JSON.stringify(r)}`);
      }
    }
    await sleep(1000);
    for (const id of ids) {
      const r = await http('GET', `${c.node(id).url}/v1/kv/${key}?consistency=stale`);
      assert.equal(r.status, 404, `${id} applied the forged write: ${JSON.stringify(r.body)}`);
      const now = await c.status(id);
      assert.ok(now.term < st.term + 100, `${id} took the forged term ${now.term}`);
      assert.ok(now.commitIndex < st.commitIndex + 1_000_000, `${id} took the forged snapshot`);
    }
    assert.equal(await c.waitForLeader(), leader, 'the leader was not deposed');
  });

  test('control: the same forged append from a holder of the leader certificate is applied', async () => {
    // Last in the file: a forged entry the leader never wrote makes the target diverge from it.
    for (const id of ids) assert.equal((await c.put(id, `quiet/${id}`, id)).status, 200);
    await sleep(500);
    const leader = await c.waitForLeader();
    const target = ids.find((id) => id !== leader)!;
    const st = await c.status(target);
    const key = 'forged/with-member-certificate';
    const frames = forgedFrames(String(st.clusterId), leader, target, st.term, st.commitIndex, key, false);
    const headers = {
      [HEADER_FROM]: leader,
      [HEADER_TO]: target,
      [HEADER_VERSION]: String(PROTOCOL_VERSION),
      [HEADER_CLUSTER_ID]: String(st.clusterId),
      [HEADER_STREAM]: 'msg',
    };
    const r = await forge(
      peerPorts.get(target)!,
      { kind: 'tls', ca: ca2.cert, cert: memberCert(leader, ca2, 'stolen') },
      headers,
      frames.messages,
    );
    assert.deepEqual(r, { status: 101 });
    await waitFor('the forged write to be applied by the target', async () => {
      const got = await http('GET', `${c.node(target).url}/v1/kv/${key}?consistency=stale`);
      return got.status === 200;
    });
  });
});

/**
 * A forged append of a put at the follower's next index in the current term (and, unless `quiet`,
 * a heartbeat from a far higher term), and a snapshot header claiming an index far ahead.
 */
function forgedFrames(
  clusterId: string,
  from: string,
  to: string,
  term: number,
  lastIndex: number,
  key: string,
  withHigherTerm = true,
): { messages: Buffer[]; snapshot: Buffer[] } {
  const data = encodeCommand({ op: 'put', requestId: `forged-${Date.now()}`, key, value: 'forged' });
  const append = emptyMessage(MessageType.Append, from, to, term, {
    index: lastIndex,
    logTerm: term,
    entries: [{ term, index: lastIndex + 1, type: 0, data }],
    commit: lastIndex + 1,
  });
  const heartbeat = emptyMessage(MessageType.Heartbeat, from, to, term + 1000);
  const envelope = (msgs: unknown[], extra: Record<string, unknown> = {}) =>
    encodeFrame(
      FrameType.Messages,
      encodeMsgpack({ v: PROTOCOL_VERSION, clusterId, from, to, msgs, ...extra }),
    );
  const snap = emptyMessage(MessageType.Snap, from, to, term, {
    snapshot: {
      metadata: { index: lastIndex + 1_000_000, term, confState: { voters: [from, to], learners: [] } },
      data: new Uint8Array(0),
    },
  });
  return {
    messages: [envelope([append]), ...(withHigherTerm ? [envelope([heartbeat])] : [])],
    snapshot: [
      encodeFrame(
        FrameType.SnapshotHeader,
        encodeMsgpack({ v: PROTOCOL_VERSION, clusterId, from, to, msgs: [snap], size: 16, crc: 0 }),
      ),
    ],
  };
}
