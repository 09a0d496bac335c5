// Shapes shared by the KV state machine, its snapshot codec and the HTTP layer.

export interface KeyValue {
  key: string;
  value: string;
  /** Log index at which the key was (last) created. */
  createIndex: number;
  /** Log index of the last change to the key. */
  modifyIndex: number;
  /** 1 on create, +1 per put. */
  version: number;
  /** Expiry, ms since the epoch. */
  expiresAt?: number;
  /** The TTL as written by the client (Go duration). */
  ttl?: string;
}

export interface MemberAddress {
  peerUrl: string;
  clientUrl: string;
}

export interface Member extends MemberAddress {
  id: string;
}
