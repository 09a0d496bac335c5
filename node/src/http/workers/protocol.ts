// The messages between the Raft thread and its HTTP workers (docs/adr/0063). A worker parses,
// validates, authenticates and serializes; every call that needs the node is a Call, sent in
// batches (one postMessage per event-loop turn) and answered in batches the same way.
import type { MessagePort } from 'node:worker_threads';
import type { AuthSnapshot } from '../../auth/auth-store.ts';
import type { LogLevel } from '../../logger.ts';
import type { HostPort } from '../../cli/flags.ts';
import type { ClientCertMode, ServerTlsFiles } from '../server.ts';

/** The service methods a worker may call on the Raft thread. */
export const CALL_METHODS = [
  'get',
  'list',
  'put',
  'delete',
  'watch',
  'status',
  'members',
  'addMember',
  'promoteMember',
  'demoteMember',
  'removeMember',
  'transferLeadership',
  'livez',
  'readyz',
  'proposeAuth',
  'barrier',
  'metrics',
] as const;
export type CallMethod = (typeof CALL_METHODS)[number];

export interface Call {
  id: number;
  m: CallMethod | 'cancel';
  a: unknown[];
  /** The caller's Authorization header: admin requests forwarded to the leader carry it. */
  authorization?: string;
}

export interface WireError {
  code: string;
  message: string;
  headers?: Record<string, string>;
}

export type Reply = { id: number; ok: true; v: unknown } | { id: number; ok: false; e: WireError };

export type ToHost =
  | { t: 'calls'; calls: Call[] }
  | { t: 'log'; line: string }
  | { t: 'listening'; port: number }
  | { t: 'metrics'; rid: number; json: unknown }
  | { t: 'closed' };

export type ToWorker =
  | { t: 'replies'; replies: Reply[] }
  | { t: 'tls'; files: ServerTlsFiles }
  | { t: 'metrics'; rid: number }
  | { t: 'close'; deadlineMs: number };

/** Sent on the auth port only, drained synchronously (receiveMessageOnPort) when the revision moved. */
export interface AuthUpdate {
  revision: number;
  snapshot: AuthSnapshot;
}

/**
 * Memory both sides see at once: the applied index (X-KV-Index of every answer) and the auth
 * revision the Raft thread has sent, so a worker never decides with an older auth state than the
 * one already applied when its request arrived.
 */
export const SHARED_BYTES = 16;
export function sharedViews(buffer: SharedArrayBuffer): { applied: Float64Array; authRevision: Int32Array } {
  return { applied: new Float64Array(buffer, 0, 1), authRevision: new Int32Array(buffer, 8, 1) };
}

export interface WorkerInit {
  index: number;
  memberId: string;
  logLevel: LogLevel;
  listen: HostPort;
  /** Client TLS: the files in use and what is asked of client certificates. */
  tls: { files: ServerTlsFiles; clientCerts: ClientCertMode } | null;
  /** Auth gate and /v1/auth routes wanted (always on the node; absent only in tests). */
  auth: boolean;
  /** Peer streams that arrive on the client port are piped to this loopback port on the Raft thread. */
  upgradePort: number | null;
  shared: SharedArrayBuffer;
  authPort: MessagePort;
  initialAuth: AuthUpdate;
}
