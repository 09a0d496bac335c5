// Inbound peer streams: the receiving half of the transport. Validates the Upgrade
// handshake, then decodes frames: message envelopes (answering pings) or one snapshot
// (header, chunks, end -> one `snap` message, acknowledged to the sender).
//
// Nothing a peer sends may crash or brick this member: every message is validated
// (validate.ts) and filtered by membership (peer-filter.ts) before Raft sees it; a snapshot
// is checked end to end (announced size within a bound, crc32 over the whole stream, and a
// complete decode by the state machine's decoder) before it is delivered, so nothing of a
// bad one is ever persisted; streams, buffers and idle time are all bounded.
import { crc32 } from 'node:zlib';
import type http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { isValidMemberId } from '../cli/flags.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { Message, NodeId, SnapshotMetadata } from '../raft/types.ts';
import { MessageType } from '../raft/types.ts';
import {
  decodeEnvelope,
  encodeFrame,
  FrameDecoder,
  FrameType,
  HEADER_CLIENT_URL,
  HEADER_CLUSTER_ID,
  HEADER_FROM,
  HEADER_PEER_URL,
  HEADER_STREAM,
  HEADER_TO,
  HEADER_VERSION,
  MAX_MESSAGE_FRAME_BYTES,
  PROTOCOL_VERSION,
  STREAM_PATH,
  UPGRADE_PROTOCOL,
  type Frame,
  type RawEnvelope,
} from './frames.ts';
import { acceptMessage, acceptPeerUrl, acceptStream, type PeerView } from './peer-filter.ts';
import { PeerInputError, validateMessage, type RejectReason } from './validate.ts';

export interface InboundLimits {
  /** Largest snapshot accepted (bytes of state-machine data); a larger announcement is refused. */
  maxSnapshotBytes: number;
  /** A snapshot stream with no data for this long is closed and its buffer freed. */
  snapshotIdleTimeoutMs: number;
  /** A message stream with no frame (the sender pings every second) for this long is closed. */
  messageIdleTimeoutMs: number;
  /** Largest frame buffered on a message stream. */
  maxMessageFrameBytes: number;
  /** Message streams per sender; a newer one closes the oldest (a reconnect replaces a dead stream). */
  maxStreamsPerPeer: number;
  /** Message streams in total; more are refused. */
  maxStreams: number;
  /** Snapshot transfers at once (each holds up to maxSnapshotBytes); more are refused; one per sender. */
  maxSnapshotStreams: number;
}

export const DEFAULT_INBOUND_LIMITS: InboundLimits = {
  maxSnapshotBytes: 512 * 1024 * 1024,
  snapshotIdleTimeoutMs: 30_000,
  messageIdleTimeoutMs: 15_000,
  maxMessageFrameBytes: MAX_MESSAGE_FRAME_BYTES,
  maxStreamsPerPeer: 2,
  maxStreams: 64,
  maxSnapshotStreams: 2,
};

export interface InboundOptions extends InboundLimits {
  selfId: NodeId;
  clusterId: () => string;
  onClusterId?: (id: string) => void;
  logger: Logger;
  metrics: Metrics;
  onMessages: (msgs: Message[]) => void;
  /** A sender announced the URL it can be reached at (already filtered by membership). */
  onPeerUrl: (from: NodeId, url: string) => void;
  /** A sender announced its client URL (same filter as its peer URL). */
  onClientUrl?: (from: NodeId, url: string) => void;
  /** The current configuration and leader; without it every peer counts as a member. */
  membership?: () => PeerView;
  /** Throws (or rejects) if received snapshot data would not restore; runs before delivery. */
  verifySnapshot?: (data: Uint8Array, metadata: SnapshotMetadata) => Promise<void>;
  snapshotChunkBytes: number;
  /**
   * With peer TLS: null if the connection's certificate names the member `from` claims to be, else
   * why not. Checked before anything else of the stream is looked at.
   */
  peerIdentity?: (from: NodeId, socket: Duplex) => string | null;
}

const REJECT_REASONS = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  429: 'Too Many Requests',
} as const;

interface SnapshotAssembly {
  msg: Message | null;
  size: number;
  crc: number;
  data: Buffer | null;
  received: number;
  runningCrc: number;
  verifying: boolean;
}

/** A well-formed http(s)://host:port URL, nothing else: what a member announces. */
function peerUrlOk(raw: string): boolean {
  if (raw.length > 512 || !URL.canParse(raw)) return false;
  const u = new URL(raw);
  return (
    (u.protocol === 'http:' || u.protocol === 'https:') &&
    u.hostname !== '' &&
    u.username === '' &&
    u.password === '' &&
    (u.pathname === '/' || u.pathname === '') &&
    u.search === '' &&
    u.hash === ''
  );
}

export class InboundStreams {
  readonly #o: InboundOptions;
  readonly #log: Logger;
  readonly #sockets = new Set<Duplex>();
  /** Open message streams per sender, oldest first. */
  readonly #msgStreams = new Map<NodeId, Duplex[]>();
  readonly #snapStreams = new Map<NodeId, Duplex>();
  readonly #lastWarn = new Map<string, number>();
  #closed = false;

  constructor(opts: InboundOptions) {
    this.#o = opts;
    this.#log = opts.logger;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const closing = [...this.#sockets].map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.destroyed) return resolve();
          s.once('close', () => resolve());
          s.destroy();
        }),
    );
    this.#sockets.clear();
    await Promise.all(closing);
  }

  #view(): PeerView | null {
    return this.#o.membership?.() ?? null;
  }

  /** Counts a rejection; warns at most once per second per reason (a flood must not flood the log). */
  #reject(reason: RejectReason, from: string, message: string): void {
    this.#o.metrics.peerMessagesRejectedTotal.inc({ reason });
    const now = Date.now();
    if (now - (this.#lastWarn.get(reason) ?? 0) < 1000) return;
    this.#lastWarn.set(reason, now);
    this.#log.warn('rejected peer input', {
      from: from.slice(0, 64),
      reason,
      message: message.slice(0, 300),
    });
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
      this.#log.warn('refusing peer stream', { from: from.slice(0, 64), code, message });
      const body = JSON.stringify({ error: { code, message } });
      socket.end(
        `HTTP/1.1 ${status} ${REJECT_REASONS[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
      setTimeout(() => socket.destroy(), 1000).unref();
      return true;
    };
    if (this.#closed) return refuse(409, 'unavailable', 'transport closed');
    if (version !== String(PROTOCOL_VERSION))
      return refuse(400, 'invalid-parameter', `unsupported protocol version "${version.slice(0, 16)}"`);
    // `from` becomes a metric label and a map key: only well-formed member ids.
    if (!isValidMemberId(from) || from === this.#o.selfId)
      return refuse(400, 'invalid-parameter', `bad sender id "${from.slice(0, 64)}"`);
    if (this.#o.peerIdentity) {
      const wrong = this.#o.peerIdentity(from, socket);
      if (wrong !== null) {
        this.#reject('peer-identity', from, wrong);
        return refuse(403, 'permission-denied', wrong);
      }
    }
    if (to !== this.#o.selfId)
      return refuse(404, 'member-not-found', `this node is "${this.#o.selfId}", not "${to.slice(0, 64)}"`);
    if (stream !== 'msg' && stream !== 'snap')
      return refuse(400, 'invalid-parameter', `unknown stream kind "${stream.slice(0, 16)}"`);
    if (remoteCluster !== '' && ownCluster !== '' && remoteCluster !== ownCluster) {
      return refuse(
        412,
        'cluster-id-mismatch',
        `this node belongs to cluster "${ownCluster}", not "${remoteCluster.slice(0, 64)}"`,
      );
    }
    const view = this.#view();
    if (view && !acceptStream(view, from)) {
      this.#reject('not-member', from, 'stream from an id outside the configuration');
      return refuse(403, 'not-member', `"${from}" is not a member of this node's configuration`);
    }
    if (stream === 'snap') {
      if (this.#snapStreams.has(from) || this.#snapStreams.size >= this.#o.maxSnapshotStreams) {
        this.#reject('stream-limit', from, 'snapshot stream over the limit');
        return refuse(429, 'too-many-requests', 'a snapshot transfer is already in progress');
      }
    } else {
      let total = 0;
      for (const l of this.#msgStreams.values()) total += l.length;
      const mine = this.#msgStreams.get(from) ?? [];
      if (total >= this.#o.maxStreams && mine.length === 0) {
        this.#reject('stream-limit', from, 'message stream over the total limit');
        return refuse(429, 'too-many-requests', 'too many peer streams');
      }
      // A sender keeps one stream per peer: a new one means the old ones are dead or half-open.
      while (mine.length >= this.#o.maxStreamsPerPeer) {
        this.#reject('stream-limit', from, 'message streams per peer over the limit; closing the oldest');
        mine.shift()!.destroy();
      }
    }
    const peerUrl = header(HEADER_PEER_URL);
    if (peerUrl !== '' && peerUrlOk(peerUrl) && (!view || acceptPeerUrl(view, from)))
      this.#o.onPeerUrl(from, peerUrl);
    const clientUrl = header(HEADER_CLIENT_URL);
    if (clientUrl !== '' && peerUrlOk(clientUrl) && (!view || acceptPeerUrl(view, from)))
      this.#o.onClientUrl?.(from, clientUrl);

    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${UPGRADE_PROTOCOL}\r\nConnection: Upgrade\r\n\r\n`,
    );
    (socket as Socket).setNoDelay?.(true);
    this.#sockets.add(socket);
    if (stream === 'snap') {
      this.#snapStreams.set(from, socket);
    } else {
      const list = this.#msgStreams.get(from) ?? [];
      list.push(socket);
      this.#msgStreams.set(from, list);
    }
    // The HTTP server's sockets allow half-open connections: a sender that closed its side is gone,
    // and the stream (and its limit slot) must go with it, not linger until the idle timeout.
    socket.once('end', () => {
      if (!snap.verifying) socket.destroy();
    });
    socket.once('close', () => {
      this.#sockets.delete(socket);
      if (this.#snapStreams.get(from) === socket) this.#snapStreams.delete(from);
      const list = this.#msgStreams.get(from);
      if (list) {
        const rest = list.filter((s) => s !== socket);
        if (rest.length > 0) this.#msgStreams.set(from, rest);
        else this.#msgStreams.delete(from);
      }
    });
    const log = this.#log.child({ from, stream });
    const snap: SnapshotAssembly = {
      msg: null,
      size: 0,
      crc: 0,
      data: null,
      received: 0,
      runningCrc: 0,
      verifying: false,
    };
    // A sender that died (or never speaks) must not pin a socket and its buffer forever.
    const idleMs = stream === 'snap' ? this.#o.snapshotIdleTimeoutMs : this.#o.messageIdleTimeoutMs;
    (socket as Socket).setTimeout?.(idleMs, () => {
      if (snap.verifying) return; // our own work, not the sender's silence
      log.warn('peer stream idle, closing', { idleMs });
      socket.destroy();
    });
    const maxFrame =
      stream === 'snap' ? this.#o.snapshotChunkBytes + 64 * 1024 : this.#o.maxMessageFrameBytes;
    const decoder = new FrameDecoder(maxFrame);
    const onData = (chunk: Buffer): void => {
      this.#o.metrics.peerReceivedBytesTotal.inc({ peer: from }, chunk.byteLength);
      try {
        for (const f of decoder.push(chunk)) {
          if (stream === 'msg') this.#onInboundMessageFrame(from, socket, f);
          else this.#onInboundSnapshotFrame(from, socket, f, snap, log);
          if (socket.destroyed) return;
        }
      } catch (err) {
        if (err instanceof PeerInputError) this.#reject(err.reason, from, err.message);
        else this.#reject('malformed', from, String(err));
        log.warn('bad frame from peer, closing stream', { err: String(err).slice(0, 300) });
        snap.data = null;
        socket.destroy();
      }
    };
    socket.on('data', onData);
    if (head.byteLength > 0) onData(head);
    return true;
  }

  /** Checks the envelope's version, addressing and cluster; throws PeerInputError otherwise. */
  #checkEnvelope(from: NodeId, env: RawEnvelope): void {
    if (env.v !== PROTOCOL_VERSION)
      throw new PeerInputError('bad-envelope', `unsupported envelope version ${env.v}`);
    if (env.from !== from || env.to !== this.#o.selfId) {
      throw new PeerInputError(
        'misaddressed',
        `envelope ${env.from.slice(0, 64)}->${env.to.slice(0, 64)} on stream from ${from}`,
      );
    }
    const own = this.#o.clusterId();
    if (own === '' && env.clusterId !== '') {
      this.#log.info('adopting cluster id from peer', { from, clusterId: env.clusterId });
      this.#o.onClusterId?.(env.clusterId);
    } else if (env.clusterId !== own) {
      throw new PeerInputError(
        'bad-envelope',
        `cluster id mismatch: ours "${own}", theirs "${env.clusterId.slice(0, 64)}"`,
      );
    }
  }

  /** Validated, membership-filtered messages of an envelope; bad ones are dropped and counted. */
  #checkMessages(from: NodeId, msgs: unknown[]): Message[] {
    const view = this.#view();
    const ok: Message[] = [];
    for (const raw of msgs) {
      let m: Message;
      try {
        m = validateMessage(raw, from, this.#o.selfId);
      } catch (err) {
        if (!(err instanceof PeerInputError)) throw err;
        this.#reject(err.reason, from, err.message);
        continue;
      }
      if (view && !acceptMessage(view, from, m.type)) {
        this.#reject('not-member', from, `${m.type} from an id outside the configuration`);
        continue;
      }
      ok.push(m);
    }
    return ok;
  }

  #onInboundMessageFrame(from: NodeId, socket: Duplex, f: Frame): void {
    if (f.type === FrameType.Ping) {
      if (f.payload.byteLength !== 8) throw new PeerInputError('malformed', 'ping payload is not 8 bytes');
      const frame = encodeFrame(FrameType.Pong, f.payload);
      this.#o.metrics.peerSentBytesTotal.inc({ peer: from }, frame.byteLength);
      socket.write(frame);
      return;
    }
    if (f.type !== FrameType.Messages)
      throw new PeerInputError('malformed', `unexpected frame type ${f.type} on message stream`);
    const env = decodeEnvelope(f.payload);
    this.#checkEnvelope(from, env);
    const msgs = this.#checkMessages(from, env.msgs);
    if (msgs.length > 0) this.#deliver(msgs, from);
  }

  #onInboundSnapshotFrame(from: NodeId, socket: Duplex, f: Frame, snap: SnapshotAssembly, log: Logger): void {
    if (f.type === FrameType.SnapshotHeader) {
      if (snap.msg) throw new PeerInputError('bad-snapshot', 'second snapshot header on one stream');
      const env = decodeEnvelope(f.payload);
      this.#checkEnvelope(from, env);
      if (env.msgs.length !== 1)
        throw new PeerInputError('bad-snapshot', 'snapshot header without exactly one message');
      const [msg] = this.#checkMessages(from, env.msgs);
      if (!msg) {
        socket.destroy();
        return;
      }
      if (msg.type !== MessageType.Snap || !msg.snapshot)
        throw new PeerInputError('bad-snapshot', 'snapshot header without a snap message');
      if (typeof env.size !== 'number' || !Number.isSafeInteger(env.size) || env.size <= 0) {
        throw new PeerInputError(
          'bad-snapshot',
          `snapshot size ${String(env.size).slice(0, 32)} is not a positive integer`,
        );
      }
      if (env.size > this.#o.maxSnapshotBytes) {
        throw new PeerInputError(
          'snapshot-too-large',
          `snapshot of ${env.size} bytes exceeds the limit of ${this.#o.maxSnapshotBytes}`,
        );
      }
      if (typeof env.crc !== 'number' || !Number.isInteger(env.crc) || env.crc < 0 || env.crc > 0xffffffff) {
        throw new PeerInputError('bad-snapshot', 'snapshot header without a crc32');
      }
      snap.msg = msg;
      snap.size = env.size;
      snap.crc = env.crc;
      // Grown as data arrives (never the announced size up front: a claim costs nothing to make).
      snap.data = Buffer.allocUnsafe(Math.min(env.size, 4 * 1024 * 1024));
      return;
    }
    if (!snap.msg || !snap.data) throw new PeerInputError('bad-snapshot', 'snapshot data before its header');
    if (f.type === FrameType.SnapshotChunk) {
      const end = snap.received + f.payload.byteLength;
      if (end > snap.size) throw new PeerInputError('bad-snapshot', 'snapshot larger than announced');
      if (end > snap.data.byteLength) {
        const grown = Buffer.allocUnsafe(Math.min(snap.size, Math.max(end, 2 * snap.data.byteLength)));
        snap.data.copy(grown, 0, 0, snap.received);
        snap.data = grown;
      }
      f.payload.copy(snap.data, snap.received);
      snap.runningCrc = crc32(f.payload, snap.runningCrc);
      snap.received = end;
      return;
    }
    if (f.type === FrameType.SnapshotEnd) {
      if (snap.verifying) throw new PeerInputError('bad-snapshot', 'second snapshot end');
      if (snap.received !== snap.size)
        throw new PeerInputError('bad-snapshot', `snapshot truncated: ${snap.received}/${snap.size}`);
      if (snap.runningCrc !== snap.crc)
        throw new PeerInputError('snapshot-corrupt', 'snapshot checksum mismatch');
      const m = snap.msg;
      const data = snap.data;
      snap.verifying = true;
      const verify = this.#o.verifySnapshot
        ? this.#o.verifySnapshot(data, m.snapshot!.metadata)
        : Promise.resolve();
      void verify
        .then(
          () => {
            const msg: Message = { ...m, snapshot: { ...m.snapshot!, data } };
            this.#o.metrics.snapshotsReceivedTotal.inc({ peer: from });
            log.info('snapshot received', { bytes: data.byteLength, index: m.snapshot?.metadata.index });
            let ok = true;
            try {
              this.#o.onMessages([msg]);
            } catch (err) {
              ok = false;
              log.error('delivering snapshot failed', { err });
            }
            this.#ack(from, socket, ok);
          },
          (err: unknown) => {
            this.#reject('snapshot-corrupt', from, `received snapshot does not decode: ${String(err)}`);
            this.#ack(from, socket, false);
          },
        )
        .finally(() => {
          snap.msg = null;
          snap.data = null;
          snap.verifying = false;
        });
      return;
    }
    throw new PeerInputError('malformed', `unexpected frame type ${f.type} on snapshot stream`);
  }

  #ack(from: NodeId, socket: Duplex, ok: boolean): void {
    // The transfer is over: its slot is free now, whether or not the sender closes its side.
    if (this.#snapStreams.get(from) === socket) this.#snapStreams.delete(from);
    if (socket.destroyed) return;
    const ack = encodeFrame(FrameType.SnapshotAck, Uint8Array.of(ok ? 1 : 0));
    this.#o.metrics.peerSentBytesTotal.inc({ peer: from }, ack.byteLength);
    socket.end(ack);
    setTimeout(() => socket.destroy(), 1000).unref();
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
