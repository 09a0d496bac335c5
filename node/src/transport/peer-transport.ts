// Raft peer transport over the node's HTTP server. A sender opens
// `GET /raft/v1/stream` with `Upgrade: kvstore-raft`; after `101` both sides speak frames
// (frames.ts). One persistent outbound stream per peer carries batched messages and
// pings; each `snap` message gets its own short-lived stream, so heartbeats never
// wait behind a snapshot. Inbound streams only receive (and answer pings/acks).
import { X509Certificate } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { certificateMaySpeakFor } from '../security/peer-identity.ts';
import type { TlsMaterial } from '../security/tls-material.ts';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { Message, NodeId, SnapshotMetadata } from '../raft/types.ts';
import { MessageType } from '../raft/types.ts';
import { crc32 } from 'node:zlib';
import { DEFAULT_INBOUND_LIMITS, InboundStreams, type InboundLimits } from './inbound.ts';
import { mayDialLearned, type PeerView } from './peer-filter.ts';
import {
  approxMessageBytes,
  encodeFrame,
  encodeMsgpack,
  FRAME_BATCH_BYTES,
  frameHeader,
  FrameDecoder,
  FrameType,
  MAX_CONTROL_FRAME_BYTES,
  HEADER_CLIENT_URL,
  HEADER_CLUSTER_ID,
  HEADER_FROM,
  HEADER_PEER_URL,
  HEADER_STREAM,
  HEADER_TO,
  HEADER_VERSION,
  PROTOCOL_VERSION,
  STREAM_PATH,
  UPGRADE_PROTOCOL,
  type Envelope,
  type Frame,
  type SnapshotHeader,
} from './frames.ts';

export interface PeerTransportOptions extends Partial<InboundLimits> {
  selfId: NodeId;
  /** Current cluster id; '' while a joiner does not know it yet. */
  clusterId: () => string;
  /** A joiner ('' cluster id) adopts the id of the first cluster that talks to it. */
  onClusterId?: (id: string) => void;
  logger: Logger;
  metrics: Metrics;
  onMessages: (msgs: Message[]) => void;
  onSnapshotStatus?: (peer: NodeId, ok: boolean) => void;
  onUnreachable?: (peer: NodeId) => void;
  /** This node's own peer URL, announced in the handshake so a joiner can answer an unknown leader. */
  selfPeerUrl?: string;
  /** This node's client URL, announced in the handshake (followers forward admin requests there). */
  selfClientUrl?: string;
  pingIntervalMs?: number;
  /** An outbound stream with no pong for this long is considered dead and reopened. */
  deadAfterMs?: number;
  maxQueuedMessages?: number;
  /** Approximate payload bytes queued per peer before the oldest messages are dropped. */
  maxQueuedBytes?: number;
  /** Bytes of message payload per frame before a batch is split. */
  maxFrameMessageBytes?: number;
  snapshotChunkBytes?: number;
  /**
   * The current configuration and leader (RawNode.peerView): messages, streams and learned URLs
   * from ids outside it are filtered (peer-filter.ts). Without it every peer counts as a member.
   */
  membership?: () => PeerView;
  /** Checks received snapshot data decodes completely before it is delivered (and so persisted). */
  verifySnapshot?: (data: Uint8Array, metadata: SnapshotMetadata) => Promise<void>;
  /**
   * The data of the snapshot at `index`, for snapshot messages that carry only metadata (storage
   * keeps snapshot data in files); rejecting fails the send, which the core retries.
   */
  snapshotData?: (index: number) => Promise<Uint8Array>;
  connectTimeoutMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  random?: () => number;
  /**
   * Peer mutual TLS: the current material (certificate, key, CA bundle; re-read on change). Streams
   * are dialled over https presenting it, the server's certificate must name the member dialled, and
   * an inbound stream's certificate must name the member its handshake claims to be.
   */
  tls?: () => TlsMaterial;
}

type ConnState = 'idle' | 'connecting' | 'open' | 'backoff';

interface Peer {
  id: NodeId;
  url: URL;
  state: ConnState;
  socket: Socket | null;
  request: http.ClientRequest | null;
  queue: Message[];
  queuedBytes: number;
  flushScheduled: boolean;
  attempts: number;
  reconnectTimer: NodeJS.Timeout | null;
  pingTimer: NodeJS.Timeout | null;
  lastPongAt: number;
  rttSeconds: number | undefined;
  /** Set when removed or closed: nothing may reconnect. */
  stopped: boolean;
  snapshotSockets: Set<Duplex>;
}

export class PeerTransport {
  readonly #o: Required<
    Omit<
      PeerTransportOptions,
      | 'onClusterId'
      | 'onSnapshotStatus'
      | 'onUnreachable'
      | 'selfPeerUrl'
      | 'selfClientUrl'
      | 'snapshotData'
      | 'membership'
      | 'verifySnapshot'
      | 'tls'
    >
  > &
    PeerTransportOptions;
  readonly #log: Logger;
  readonly #peers = new Map<NodeId, Peer>();
  /** Peer URLs announced by inbound handshakes, used when no URL was set explicitly. */
  readonly #learnedUrls = new Map<NodeId, string>();
  /** Client URLs announced by inbound handshakes. */
  readonly #clientUrls = new Map<NodeId, string>();
  readonly #inbound: InboundStreams;
  #closed = false;
  #adoptedClusterId = '';

  constructor(opts: PeerTransportOptions) {
    this.#o = {
      pingIntervalMs: 1000,
      deadAfterMs: Math.max(5000, 5 * (opts.pingIntervalMs ?? 1000)),
      maxQueuedMessages: 4096,
      maxQueuedBytes: 64 * 1024 * 1024,
      maxFrameMessageBytes: FRAME_BATCH_BYTES,
      snapshotChunkBytes: 1024 * 1024,
      ...DEFAULT_INBOUND_LIMITS,
      connectTimeoutMs: 3000,
      backoffBaseMs: 100,
      backoffMaxMs: 5000,
      random: Math.random,
      ...opts,
    };
    this.#log = opts.logger.child({ component: 'transport' });
    this.#inbound = new InboundStreams({
      ...this.#o,
      clusterId: () => this.#clusterId(),
      onClusterId: (id) => {
        // Adopt once, and use it at once (outbound too), even before the node reports it back.
        this.#adoptedClusterId = id;
        opts.onClusterId?.(id);
      },
      logger: this.#log,
      onPeerUrl: (from, url) => this.#learnedUrls.set(from, url),
      onClientUrl: (from, url) => this.#clientUrls.set(from, url),
      ...(opts.tls
        ? { peerIdentity: (from: NodeId, socket: Duplex) => this.#checkInbound(from, socket) }
        : {}),
    });
  }

  /**
   * Whether an inbound stream's TLS certificate names the member it claims to be: by the host of
   * that member's known peer URL or, for a member whose URL is not known yet (a joining node's new
   * leader), by its member URI. Null if it does, else why not.
   */
  #checkInbound(from: NodeId, socket: Duplex): string | null {
    const x509 = (socket as TLSSocket).getPeerX509Certificate?.();
    if (!x509) return 'no client certificate';
    const known = this.#peers.get(from)?.url.hostname.replace(/^\[|\]$/g, '');
    // An unknown member's host is unknown: only its member URI can name it (host '' matches nothing).
    if (certificateMaySpeakFor(x509, { id: from, host: known ?? '' })) return null;
    return `the certificate (subject "${x509.subject.replace(/\n/g, ', ')}") does not name member "${from}"`;
  }

  #clusterId(): string {
    return this.#o.clusterId() || this.#adoptedClusterId;
  }

  setPeer(id: NodeId, peerUrl: string): void {
    if (id === this.#o.selfId || this.#closed) return;
    const url = new URL(peerUrl);
    const existing = this.#peers.get(id);
    if (existing && existing.url.href === url.href) return;
    if (existing) this.#stopPeer(existing);
    const peer: Peer = {
      id,
      url,
      state: 'idle',
      socket: null,
      request: null,
      queue: [],
      queuedBytes: 0,
      flushScheduled: false,
      attempts: 0,
      reconnectTimer: null,
      pingTimer: null,
      lastPongAt: 0,
      rttSeconds: undefined,
      stopped: false,
      snapshotSockets: new Set(),
    };
    this.#peers.set(id, peer);
    this.#connect(peer);
  }

  removePeer(id: NodeId): void {
    const peer = this.#peers.get(id);
    if (!peer) return;
    this.#stopPeer(peer);
    this.#peers.delete(id);
    this.#learnedUrls.delete(id);
    this.#clientUrls.delete(id);
    this.#o.metrics.peerConnected.remove({ peer: id });
  }

  /** Queues messages per peer; never blocks. Messages queued in one event-loop turn leave as one frame. */
  send(msgs: Message[]): void {
    if (this.#closed) return;
    for (const m of msgs) {
      if (m.to === this.#o.selfId) continue; // local messages never hit the wire
      let peer = this.#peers.get(m.to);
      if (!peer) {
        const learned = this.#learnedUrls.get(m.to);
        const view = this.#o.membership?.();
        // A learned URL is dialled only for a member (or the leader a joining node follows).
        if (learned !== undefined && (!view || mayDialLearned(view, m.to))) {
          this.setPeer(m.to, learned);
          peer = this.#peers.get(m.to);
        }
      }
      if (!peer) {
        this.#log.debug('dropping message to unknown peer', { to: m.to, type: m.type });
        this.#o.onUnreachable?.(m.to);
        continue;
      }
      if (m.type === MessageType.Snap) {
        void this.#sendSnapshot(peer, m); // reports its outcome through onSnapshotStatus
        continue;
      }
      if (peer.state === 'backoff') {
        // Known unreachable: Raft retransmits, so queueing stale traffic only delays recovery.
        this.#countDropped(peer, [m]);
        this.#o.onUnreachable?.(peer.id);
        continue;
      }
      peer.queue.push(m);
      peer.queuedBytes += approxMessageBytes(m);
      // Bounded by count and bytes: a stalled peer must not grow the leader's heap.
      while (
        peer.queue.length > 1 &&
        (peer.queue.length > this.#o.maxQueuedMessages || peer.queuedBytes > this.#o.maxQueuedBytes)
      ) {
        const dropped = peer.queue.shift()!;
        peer.queuedBytes -= approxMessageBytes(dropped);
        this.#countDropped(peer, [dropped]);
        this.#o.onUnreachable?.(peer.id);
      }
      this.#scheduleFlush(peer);
    }
  }

  /** The client URL `peer` announced on its latest inbound stream, if any. */
  announcedClientUrl(peer: NodeId): string | undefined {
    return this.#clientUrls.get(peer);
  }

  rttSeconds(peer: NodeId): number | undefined {
    return this.#peers.get(peer)?.rttSeconds;
  }

  /** True once the outbound stream to `peer` is open (for status/health reporting). */
  isConnected(peer: NodeId): boolean {
    return this.#peers.get(peer)?.state === 'open';
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const peer of this.#peers.values()) this.#stopPeer(peer);
    this.#peers.clear();
    await this.#inbound.close();
  }

  // ---------------------------------------------------------------- outbound stream

  #handshakeHeaders(peerId: NodeId, stream: 'msg' | 'snap'): http.OutgoingHttpHeaders {
    const headers: http.OutgoingHttpHeaders = {
      Connection: 'Upgrade',
      Upgrade: UPGRADE_PROTOCOL,
      [HEADER_FROM]: this.#o.selfId,
      [HEADER_TO]: peerId,
      [HEADER_CLUSTER_ID]: this.#clusterId(),
      [HEADER_VERSION]: String(PROTOCOL_VERSION),
      [HEADER_STREAM]: stream,
    };
    if (this.#o.selfPeerUrl !== undefined) headers[HEADER_PEER_URL] = this.#o.selfPeerUrl;
    if (this.#o.selfClientUrl !== undefined) headers[HEADER_CLIENT_URL] = this.#o.selfClientUrl;
    return headers;
  }

  /** Opens an upgraded stream to a peer; resolves with the raw socket and any bytes read past the 101. */
  #openStream(
    peer: Peer,
    stream: 'msg' | 'snap',
    onRequest?: (r: http.ClientRequest) => void,
  ): Promise<{ socket: Socket; head: Buffer }> {
    return new Promise((resolve, reject) => {
      const hostname = peer.url.hostname.replace(/^\[|\]$/g, '');
      const common: http.RequestOptions = {
        hostname,
        path: STREAM_PATH,
        method: 'GET',
        headers: this.#handshakeHeaders(peer.id, stream),
        agent: false,
        timeout: this.#o.connectTimeoutMs,
      };
      let req: http.ClientRequest;
      if (this.#o.tls) {
        // Mutual TLS with the current material: a rotated certificate or CA applies from the next dial.
        const m = this.#o.tls();
        req = https.request({
          ...common,
          protocol: 'https:',
          port: peer.url.port === '' ? 443 : Number(peer.url.port),
          cert: m.cert,
          key: m.key,
          ...(m.ca !== undefined ? { ca: m.ca } : {}),
          rejectUnauthorized: true,
          checkServerIdentity: (_host: string, cert: PeerCertificate) =>
            certificateMaySpeakFor(new X509Certificate(cert.raw), { id: peer.id, host: hostname })
              ? undefined
              : new Error(`the certificate of ${peer.url.host} does not name member "${peer.id}"`),
        });
      } else {
        req = http.request({
          ...common,
          protocol: peer.url.protocol,
          port: peer.url.port === '' ? 80 : Number(peer.url.port),
        });
      }
      onRequest?.(req);
      req.once('upgrade', (_res, socket, head) => {
        req.setTimeout(0);
        resolve({ socket: socket, head });
      });
      req.once('response', (res) => {
        // Not upgraded: the peer refused (wrong cluster, wrong id) or is not a kv-store.
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (body.length < 1024) body += c;
        });
        res.once('end', () =>
          reject(new Error(`peer refused stream: ${res.statusCode} ${body.slice(0, 300)}`)),
        );
        res.on('error', reject);
      });
      req.once('timeout', () => req.destroy(new Error('connect timeout')));
      // `on`, not `once`: a late second error must not go unhandled.
      req.on('error', reject);
      req.end();
    });
  }

  #connect(peer: Peer): void {
    if (peer.stopped || this.#closed) return;
    peer.state = 'connecting';
    peer.reconnectTimer = null;
    this.#openStream(peer, 'msg', (r) => {
      peer.request = r;
    }).then(
      ({ socket, head }) => this.#onOpen(peer, socket, head),
      (err: unknown) => {
        peer.request = null;
        if (peer.stopped) return;
        const level = peer.attempts === 0 ? 'info' : 'debug';
        this.#log[level]('peer connect failed', { peer: peer.id, url: peer.url.href, err: String(err) });
        this.#onDown(peer);
      },
    );
  }

  #onOpen(peer: Peer, socket: Socket, head: Buffer): void {
    peer.request = null;
    if (peer.stopped) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 5000);
    peer.socket = socket;
    peer.state = 'open';
    if (peer.attempts > 0 || this.#log.isEnabled('debug'))
      this.#log.info('peer stream open', { peer: peer.id });
    peer.attempts = 0;
    peer.lastPongAt = performance.now();
    this.#o.metrics.peerConnected.set({ peer: peer.id }, 1);
    const decoder = new FrameDecoder(MAX_CONTROL_FRAME_BYTES);
    const onData = (chunk: Buffer): void => {
      this.#o.metrics.peerReceivedBytesTotal.inc({ peer: peer.id }, chunk.byteLength);
      try {
        for (const f of decoder.push(chunk)) this.#onOutboundFrame(peer, f);
      } catch (err) {
        this.#log.warn('bad frame from peer, closing stream', { peer: peer.id, err: String(err) });
        socket.destroy();
      }
    };
    socket.on('data', onData);
    socket.on('drain', () => this.#flush(peer));
    socket.on('error', (err) => this.#log.debug('peer stream error', { peer: peer.id, err: String(err) }));
    socket.once('close', () => {
      if (peer.socket !== socket) return;
      peer.socket = null;
      this.#o.metrics.peerConnected.set({ peer: peer.id }, 0);
      if (!peer.stopped) this.#log.info('peer stream closed', { peer: peer.id });
      this.#onDown(peer);
    });
    if (head.byteLength > 0) onData(head);
    peer.pingTimer = setInterval(() => this.#ping(peer), this.#o.pingIntervalMs);
    peer.pingTimer.unref();
    this.#ping(peer);
    this.#flush(peer);
  }

  #onOutboundFrame(peer: Peer, f: Frame): void {
    if (f.type === FrameType.Pong && f.payload.byteLength === 8) {
      const now = performance.now();
      const rtt = Math.max(0, now - f.payload.readDoubleBE(0)) / 1000;
      peer.rttSeconds = rtt;
      peer.lastPongAt = now;
      this.#o.metrics.peerRoundTripTimeSeconds.observe({ peer: peer.id }, rtt);
    }
  }

  #ping(peer: Peer): void {
    const socket = peer.socket;
    if (!socket || peer.state !== 'open') return;
    const now = performance.now();
    if (now - peer.lastPongAt > this.#o.deadAfterMs) {
      this.#log.warn('peer stream silent, reconnecting', {
        peer: peer.id,
        silentMs: Math.round(now - peer.lastPongAt),
      });
      socket.destroy();
      return;
    }
    const payload = Buffer.allocUnsafe(8);
    payload.writeDoubleBE(now, 0);
    this.#write(peer, socket, encodeFrame(FrameType.Ping, payload));
  }

  /** Counts messages to `peer` that will never be sent, and the heartbeats among them. */
  #countDropped(peer: Peer, msgs: readonly Message[]): void {
    this.#o.metrics.peerSentFailuresTotal.inc({ peer: peer.id }, msgs.length);
    const heartbeats = msgs.filter((m) => m.type === MessageType.Heartbeat).length;
    if (heartbeats > 0) this.#o.metrics.heartbeatSendFailuresTotal.inc({ peer: peer.id }, heartbeats);
  }

  #onDown(peer: Peer): void {
    if (peer.pingTimer) clearInterval(peer.pingTimer);
    peer.pingTimer = null;
    peer.socket = null;
    if (peer.queue.length > 0) {
      this.#countDropped(peer, peer.queue);
      peer.queue = [];
      peer.queuedBytes = 0;
    }
    if (peer.stopped || this.#closed) {
      peer.state = 'idle';
      return;
    }
    peer.state = 'backoff';
    this.#o.onUnreachable?.(peer.id);
    // Exponential backoff, capped, with jitter in [50%, 100%] so peers do not reconnect in lockstep.
    const ceiling = Math.min(this.#o.backoffMaxMs, this.#o.backoffBaseMs * 2 ** Math.min(peer.attempts, 20));
    const delay = ceiling * (0.5 + 0.5 * this.#o.random());
    peer.attempts++;
    peer.reconnectTimer = setTimeout(() => this.#connect(peer), delay);
    peer.reconnectTimer.unref();
  }

  #stopPeer(peer: Peer): void {
    peer.stopped = true;
    if (peer.reconnectTimer) clearTimeout(peer.reconnectTimer);
    if (peer.pingTimer) clearInterval(peer.pingTimer);
    peer.reconnectTimer = null;
    peer.pingTimer = null;
    peer.request?.destroy();
    peer.socket?.destroy();
    for (const s of peer.snapshotSockets) s.destroy();
    peer.queue = [];
    peer.queuedBytes = 0;
    peer.state = 'idle';
  }

  #scheduleFlush(peer: Peer): void {
    if (peer.flushScheduled) return;
    peer.flushScheduled = true;
    // setImmediate runs after this turn's I/O callbacks: everything Raft emits in the turn shares a frame.
    setImmediate(() => {
      peer.flushScheduled = false;
      this.#flush(peer);
    });
  }

  #flush(peer: Peer): void {
    const socket = peer.socket;
    if (peer.state !== 'open' || !socket || peer.queue.length === 0) return;
    // Under backpressure, keep queueing (bounded) and send the lot on 'drain'.
    while (peer.queue.length > 0 && !socket.writableNeedDrain) {
      let bytes = 0;
      let n = 0;
      while (n < peer.queue.length && (n === 0 || bytes < this.#o.maxFrameMessageBytes)) {
        bytes += approxMessageBytes(peer.queue[n]!);
        n++;
      }
      const msgs = peer.queue.splice(0, n);
      peer.queuedBytes = Math.max(0, peer.queuedBytes - bytes);
      const envelope: Envelope = {
        v: PROTOCOL_VERSION,
        clusterId: this.#clusterId(),
        from: this.#o.selfId,
        to: peer.id,
        msgs,
      };
      this.#write(peer, socket, encodeFrame(FrameType.Messages, encodeMsgpack(envelope)));
    }
  }

  #write(peer: Peer, socket: Duplex, data: Buffer): boolean {
    this.#o.metrics.peerSentBytesTotal.inc({ peer: peer.id }, data.byteLength);
    return socket.write(data);
  }

  // ---------------------------------------------------------------- snapshots (sender)

  async #sendSnapshot(peer: Peer, msg: Message): Promise<void> {
    let data = msg.snapshot?.data ?? new Uint8Array(0);
    const started = performance.now();
    let ok = false;
    let socket: Socket | null = null;
    try {
      if (msg.snapshot && data.byteLength === 0 && this.#o.snapshotData) {
        data = await this.#o.snapshotData(msg.snapshot.metadata.index);
      }
      const opened = await this.#openStream(peer, 'snap');
      socket = opened.socket;
      if (peer.stopped) throw new Error('peer removed');
      peer.snapshotSockets.add(socket);
      ok = await this.#streamSnapshot(peer, socket, opened.head, msg, data);
    } catch (err) {
      this.#log.warn('snapshot send failed', { peer: peer.id, bytes: data.byteLength, err: String(err) });
    } finally {
      if (socket) {
        peer.snapshotSockets.delete(socket);
        socket.destroy();
      }
    }
    this.#o.metrics.snapshotsSentTotal.inc({ peer: peer.id, outcome: ok ? 'ok' : 'failed' });
    if (ok)
      this.#log.info('snapshot sent', {
        peer: peer.id,
        bytes: data.byteLength,
        ms: Math.round(performance.now() - started),
      });
    if (!this.#closed) this.#o.onSnapshotStatus?.(peer.id, ok);
  }

  #streamSnapshot(
    peer: Peer,
    socket: Socket,
    head: Buffer,
    msg: Message,
    data: Uint8Array,
  ): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      let settled = false;
      const finish = (err: Error | null, ok = false): void => {
        if (settled) return;
        settled = true;
        socket.setTimeout(0);
        if (err) reject(err);
        else resolve(ok);
      };
      const decoder = new FrameDecoder(MAX_CONTROL_FRAME_BYTES);
      const onData = (chunk: Buffer): void => {
        this.#o.metrics.peerReceivedBytesTotal.inc({ peer: peer.id }, chunk.byteLength);
        try {
          for (const f of decoder.push(chunk)) {
            if (f.type === FrameType.SnapshotAck) finish(null, f.payload[0] === 1);
          }
        } catch (err) {
          finish(err as Error);
        }
      };
      socket.on('data', onData);
      socket.once('close', () => finish(new Error('stream closed before the snapshot was acknowledged')));
      socket.on('error', (err) => finish(err));
      socket.setTimeout(this.#o.snapshotIdleTimeoutMs, () => finish(new Error('snapshot stream idle')));
      if (head.byteLength > 0) onData(head);

      const withoutData: Message = {
        ...msg,
        snapshot: msg.snapshot ? { ...msg.snapshot, data: new Uint8Array(0) } : null,
      };
      const header: SnapshotHeader = {
        v: PROTOCOL_VERSION,
        clusterId: this.#clusterId(),
        from: this.#o.selfId,
        to: peer.id,
        msgs: [withoutData],
        size: data.byteLength,
        crc: crc32(data),
      };
      this.#write(peer, socket, encodeFrame(FrameType.SnapshotHeader, encodeMsgpack(header)));
      const chunkBytes = this.#o.snapshotChunkBytes;
      let offset = 0;
      // Write chunks as the socket drains, so a huge snapshot never sits in memory twice.
      const pump = (): void => {
        while (!settled && offset < data.byteLength) {
          const chunk = data.subarray(offset, Math.min(offset + chunkBytes, data.byteLength));
          offset += chunk.byteLength;
          this.#write(peer, socket, frameHeader(FrameType.SnapshotChunk, chunk.byteLength));
          const more = this.#write(
            peer,
            socket,
            Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength),
          );
          if (!more) {
            socket.once('drain', pump);
            return;
          }
        }
        if (!settled && offset >= data.byteLength) {
          offset = Infinity; // END once
          this.#write(peer, socket, encodeFrame(FrameType.SnapshotEnd, new Uint8Array(0)));
        }
      };
      pump();
    });
  }

  /** For the HTTP server's 'upgrade' event. Returns false if the request is not a peer stream. */
  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): boolean {
    return this.#inbound.handleUpgrade(req, socket, head);
  }
}
