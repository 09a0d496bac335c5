// Inbound peer streams: the receiving half of the transport. Validates the Upgrade
// handshake, then decodes frames: message envelopes (answering pings) or one snapshot
// (header, chunks, end -> one `snap` message, acknowledged to the sender).
import type http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { isValidMemberId } from '../cli/flags.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { Message, NodeId } from '../raft/types.ts';
import { MessageType } from '../raft/types.ts';
import {
  decodeEnvelope, encodeFrame, FrameDecoder, FrameType,
  HEADER_CLUSTER_ID, HEADER_FROM, HEADER_PEER_URL, HEADER_STREAM, HEADER_TO, HEADER_VERSION,
  PROTOCOL_VERSION, STREAM_PATH, UPGRADE_PROTOCOL,
  type Envelope, type Frame, type SnapshotHeader,
} from './frames.ts';

export interface InboundOptions {
  selfId: NodeId;
  clusterId: () => string;
  onClusterId?: (id: string) => void;
  logger: Logger;
  metrics: Metrics;
  onMessages: (msgs: Message[]) => void;
  /** A sender announced the URL it can be reached at. */
  onPeerUrl: (from: NodeId, url: string) => void;
  snapshotChunkBytes: number;
  maxSnapshotBytes: number;
  snapshotIdleTimeoutMs: number;
}

const REJECT_REASONS = { 400: 'Bad Request', 404: 'Not Found', 409: 'Conflict', 412: 'Precondition Failed' } as const;

interface SnapshotAssembly {
  header: SnapshotHeader | null;
  data: Buffer | null;
  received: number;
}

export class InboundStreams {
  readonly #o: InboundOptions;
  readonly #log: Logger;
  readonly #sockets = new Set<Duplex>();
  #closed = false;

  constructor(opts: InboundOptions) {
    this.#o = opts;
    this.#log = opts.logger;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const closing = [...this.#sockets].map((s) => new Promise<void>((resolve) => {
      if (s.destroyed) return resolve();
      s.once('close', () => resolve());
      s.destroy();
    }));
    this.#sockets.clear();
    await Promise.all(closing);
  }

  /** For the HTTP server's 'upgrade' event. Returns false if the request is not a peer stream. */
  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const path = (req.url ?? '').split('?')[0];
    if (path !== STREAM_PATH || (req.headers.upgrade ?? '').toLowerCase() !== UPGRADE_PROTOCOL) return false;
    // Before anything else: a reset during a refusal must not become an uncaught 'error'.
    socket.on('error', (err) => this.#log.debug('inbound stream error', { err: String(err) }));
    const header = (name: string): string => {
      const v = req.headers[name];
      return Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
    };
    const from = header(HEADER_FROM);
    const to = header(HEADER_TO);
    const version = header(HEADER_VERSION);
    const remoteCluster = header(HEADER_CLUSTER_ID);
    const stream = header(HEADER_STREAM);
    const ownCluster = this.#o.clusterId();
    const refuse = (status: keyof typeof REJECT_REASONS, code: string, message: string): true => {
      this.#log.warn('refusing peer stream', { from, code, message });
      const body = JSON.stringify({ error: { code, message } });
      socket.end(
        `HTTP/1.1 ${status} ${REJECT_REASONS[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
      setTimeout(() => socket.destroy(), 1000).unref();
      return true;
    };
    if (this.#closed) return refuse(409, 'unavailable', 'transport closed');
    if (version !== String(PROTOCOL_VERSION)) return refuse(400, 'invalid-parameter', `unsupported protocol version "${version}"`);
    // `from` becomes a metric label and a map key: only well-formed member ids.
    if (!isValidMemberId(from) || from === this.#o.selfId) return refuse(400, 'invalid-parameter', `bad sender id "${from.slice(0, 64)}"`);
    if (to !== this.#o.selfId) return refuse(404, 'member-not-found', `this node is "${this.#o.selfId}", not "${to}"`);
    if (stream !== 'msg' && stream !== 'snap') return refuse(400, 'invalid-parameter', `unknown stream kind "${stream}"`);
    if (remoteCluster !== '' && ownCluster !== '' && remoteCluster !== ownCluster) {
      return refuse(412, 'cluster-id-mismatch', `this node belongs to cluster "${ownCluster}", not "${remoteCluster}"`);
    }
    const peerUrl = header(HEADER_PEER_URL);
    if (peerUrl !== '' && URL.canParse(peerUrl)) this.#o.onPeerUrl(from, peerUrl);

    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${UPGRADE_PROTOCOL}\r\nConnection: Upgrade\r\n\r\n`);
    (socket as Socket).setNoDelay?.(true);
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    const log = this.#log.child({ from, stream });
    if (stream === 'snap') {
      // A sender that died mid-transfer must not pin a large buffer forever.
      (socket as Socket).setTimeout?.(this.#o.snapshotIdleTimeoutMs, () => {
        log.warn('snapshot stream idle, closing');
        socket.destroy();
      });
    }
    const decoder = new FrameDecoder(Math.max(this.#o.snapshotChunkBytes + 1024, 64 * 1024 * 1024));
    const snap: SnapshotAssembly = { header: null, data: null, received: 0 };
    const onData = (chunk: Buffer): void => {
      this.#o.metrics.peerReceivedBytesTotal.inc({ peer: from }, chunk.byteLength);
      try {
        for (const f of decoder.push(chunk)) {
          if (stream === 'msg') this.#onInboundMessageFrame(from, socket, f);
          else this.#onInboundSnapshotFrame(from, socket, f, snap);
          if (socket.destroyed) return;
        }
      } catch (err) {
        log.warn('bad frame from peer, closing stream', { err: String(err) });
        socket.destroy();
      }
    };
    socket.on('data', onData);
    if (head.byteLength > 0) onData(head);
    return true;
  }

  /** Accepts an envelope for this node and cluster; closes the stream otherwise. */
  #accept(from: NodeId, socket: Duplex, env: Envelope): boolean {
    const reject = (why: string): false => {
      this.#log.warn('rejecting envelope, closing stream', { from, why, clusterId: env.clusterId, v: env.v });
      socket.destroy();
      return false;
    };
    if (env.v !== PROTOCOL_VERSION) return reject(`unsupported envelope version ${env.v}`);
    if (env.from !== from || env.to !== this.#o.selfId) return reject(`envelope ${env.from}->${env.to} on stream from ${from}`);
    const own = this.#o.clusterId();
    if (own === '' && env.clusterId !== '') {
      this.#log.info('adopting cluster id from peer', { from, clusterId: env.clusterId });
      this.#o.onClusterId?.(env.clusterId);
    } else if (env.clusterId !== own) {
      return reject(`cluster id mismatch: ours "${own}"`);
    }
    for (const m of env.msgs) {
      if (m.from !== from || m.to !== this.#o.selfId) return reject(`message ${m.from}->${m.to} on stream from ${from}`);
    }
    return true;
  }

  #onInboundMessageFrame(from: NodeId, socket: Duplex, f: Frame): void {
    if (f.type === FrameType.Ping) {
      const frame = encodeFrame(FrameType.Pong, f.payload);
      this.#o.metrics.peerSentBytesTotal.inc({ peer: from }, frame.byteLength);
      socket.write(frame);
      return;
    }
    if (f.type !== FrameType.Messages) throw new Error(`unexpected frame type ${f.type} on message stream`);
    const env = decodeEnvelope(f.payload);
    if (!this.#accept(from, socket, env) || env.msgs.length === 0) return;
    this.#deliver(env.msgs, from);
  }

  #onInboundSnapshotFrame(
    from: NodeId, socket: Duplex, f: Frame, snap: SnapshotAssembly,
  ): void {
    if (f.type === FrameType.SnapshotHeader) {
      if (snap.header) throw new Error('second snapshot header on one stream');
      const env = decodeEnvelope(f.payload) as SnapshotHeader;
      if (!this.#accept(from, socket, env)) return;
      const msg = env.msgs[0];
      if (env.msgs.length !== 1 || msg?.type !== MessageType.Snap || !msg.snapshot) throw new Error('snapshot header without one snap message');
      if (!Number.isSafeInteger(env.size) || env.size < 0 || env.size > this.#o.maxSnapshotBytes) {
        throw new Error(`snapshot size ${env.size} out of range`);
      }
      snap.header = env;
      snap.data = Buffer.allocUnsafe(env.size);
      return;
    }
    if (!snap.header || !snap.data) throw new Error('snapshot data before its header');
    if (f.type === FrameType.SnapshotChunk) {
      if (snap.received + f.payload.byteLength > snap.data.byteLength) throw new Error('snapshot larger than announced');
      f.payload.copy(snap.data, snap.received);
      snap.received += f.payload.byteLength;
      return;
    }
    if (f.type === FrameType.SnapshotEnd) {
      if (snap.received !== snap.data.byteLength) throw new Error(`snapshot truncated: ${snap.received}/${snap.data.byteLength}`);
      const m = snap.header.msgs[0]!;
      const msg: Message = { ...m, snapshot: { ...m.snapshot!, data: snap.data } };
      this.#o.metrics.snapshotsReceivedTotal.inc({ peer: from });
      this.#log.info('snapshot received', { from, bytes: snap.received, index: m.snapshot?.metadata.index });
      let ok = true;
      try {
        this.#o.onMessages([msg]);
      } catch (err) {
        ok = false;
        this.#log.error('delivering snapshot failed', { from, err });
      }
      snap.header = null;
      snap.data = null;
      const ack = encodeFrame(FrameType.SnapshotAck, Uint8Array.of(ok ? 1 : 0));
      this.#o.metrics.peerSentBytesTotal.inc({ peer: from }, ack.byteLength);
      socket.end(ack);
      return;
    }
    throw new Error(`unexpected frame type ${f.type} on snapshot stream`);
  }

  #deliver(msgs: Message[], from: NodeId): void {
    try {
      this.#o.onMessages(msgs);
    } catch (err) {
      // The driver's bug must not kill the stream or the process.
      this.#log.error('onMessages threw', { from, err });
    }
  }
}
