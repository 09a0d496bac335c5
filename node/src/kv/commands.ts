// Commands replicated through the Raft log, in a small binary format:
//   u8 COMMAND_FORMAT | u8 op | u8 flags | str requestId | op fields
//   put:    str key, str value, [f64 expiresAt], [str ttl], [varint cas], [f64 proposedAt], [str caller]
//   delete: str key, [varint cas], [f64 proposedAt], [str caller]   (recurse is a flag)
//   expire: varint n, n x (str key, varint modifyIndex)
//   auth:   str JSON of an AuthChange, [str caller] (rare, small: users, roles, enable/disable; see auth/auth-store.ts)
//   str = varint UTF-8 byte length, bytes; varint = unsigned LEB128
// Not msgpack: its decoder returns strings sliced out of one string holding
// every string of the message, so each stored key and value kept its whole
// command alive (with a DataView cached on the entry's buffer): over three
// times the memory per key. Decoding here makes each string on its own.
// The format byte lets a later format be told apart and refused instead of
// misread. Decoding validates the full shape: the log is trusted, but a bug or
// a foreign payload must fail loudly, not apply.

import { authChangeProblem, type AuthChange } from '../auth/auth-store.ts';
import { writeVarint } from './varint.ts';

export const COMMAND_FORMAT = 2;

export interface PutCommand {
  op: 'put';
  requestId: string;
  key: string;
  value: string;
  /** Absolute expiry, ms since the epoch, computed by the proposer from `ttl`. */
  expiresAt?: number;
  /** The TTL as the client wrote it (Go duration), echoed back on reads. */
  ttl?: string;
  /** 0 = create only; otherwise the key's current modifyIndex must equal it. */
  cas?: number;
  /**
   * The proposer's clock when proposing (ms epoch). Optional: when present, a
   * key whose expiresAt <= proposedAt counts as absent for this command (CAS,
   * version), so an expired key that the leader has not deleted yet cannot
   * block a create-only write. Deterministic, since the value is in the log.
   */
  proposedAt?: number;
  caller?: Caller;
}

export interface DeleteCommand {
  op: 'delete';
  requestId: string;
  key: string;
  /** Compared with the exact key's modifyIndex (0 = succeed only if absent). */
  cas?: number;
  /** Delete every key starting with `key`. */
  recurse?: boolean;
  /** See PutCommand.proposedAt. */
  proposedAt?: number;
  caller?: Caller;
}

export interface ExpireCommand {
  op: 'expire';
  requestId: string;
  /** Keys whose TTL elapsed on the leader; each is deleted only if still at `modifyIndex`. */
  keys: { key: string; modifyIndex: number }[];
}

export interface NoopCommand {
  op: 'noop';
  requestId: string;
}

/** A change to users, roles or whether auth is on; never carries a password, only its hash. */
export interface AuthCommand {
  op: 'auth';
  requestId: string;
  change: AuthChange;
  caller?: Caller;
}

/**
 * Who proposed a put, delete or auth change: a user name, or null for a caller without credentials.
 * The state machine authorizes the command again when it applies it, against the auth state at its
 * place in the log (a member whose auth state lagged may have accepted it; docs/adr/0068). Absent
 * only in commands logged before the check existed, which apply unchecked as they always did.
 */
export type Caller = string | null;

export type Command = PutCommand | DeleteCommand | ExpireCommand | NoopCommand | AuthCommand;

export class CommandDecodeError extends Error {
  constructor(reason: string) {
    super(`invalid command: ${reason}`);
    this.name = 'CommandDecodeError';
  }
}

// The position is the op's code in the log: append, never reorder.
const OPS = ['put', 'delete', 'expire', 'noop', 'auth'] as const;
const FLAG_EXPIRES_AT = 1;
const FLAG_TTL = 2;
const FLAG_CAS = 4;
const FLAG_PROPOSED_AT = 8;
const FLAG_RECURSE = 16;
/** `caller` is present (authorized again at apply). */
const FLAG_CHECKED = 32;
/** ... and is a user name (else null, no credentials); the name follows the op's fields. */
const FLAG_USER = 64;

const callerFlags = (c: Caller | undefined): number =>
  c === undefined ? 0 : c === null ? FLAG_CHECKED : FLAG_CHECKED | FLAG_USER;

class Writer {
  buf: Buffer;
  pos = 0;
  constructor(size: number) {
    // Large enough for any command; the result is copied out at its exact size.
    if (scratch.byteLength < size) scratch = Buffer.allocUnsafeSlow(Math.max(size, 2 * scratch.byteLength));
    this.buf = scratch;
  }
  u8(v: number): void {
    this.buf[this.pos++] = v;
  }
  varint(v: number): void {
    this.pos = writeVarint(this.buf, this.pos, v);
  }
  f64(v: number): void {
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }
  str(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    this.varint(n);
    this.buf.write(s, this.pos, n, 'utf8');
    this.pos += n;
  }
}

let scratch = Buffer.allocUnsafeSlow(64 * 1024);

/** Upper bound of a string's encoded size: varint length + at most 3 UTF-8 bytes per UTF-16 unit. */
const strBound = (s: string): number => 9 + 3 * s.length;

export function encodeCommand(command: Command): Uint8Array {
  const cmd = normalise(command);
  let size = 3 + strBound(cmd.requestId);
  let flags = 0;
  const caller = 'caller' in cmd ? cmd.caller : undefined;
  if (typeof caller === 'string') size += strBound(caller);
  let authJson = '';
  switch (cmd.op) {
    case 'put':
      size += strBound(cmd.key) + strBound(cmd.value) + 8 + 9 + 8;
      if (cmd.ttl !== undefined) size += strBound(cmd.ttl);
      flags =
        (cmd.expiresAt !== undefined ? FLAG_EXPIRES_AT : 0) |
        (cmd.ttl !== undefined ? FLAG_TTL : 0) |
        (cmd.cas !== undefined ? FLAG_CAS : 0) |
        (cmd.proposedAt !== undefined ? FLAG_PROPOSED_AT : 0) |
        callerFlags(cmd.caller);
      break;
    case 'delete':
      size += strBound(cmd.key) + 9 + 8;
      flags =
        (cmd.cas !== undefined ? FLAG_CAS : 0) |
        (cmd.proposedAt !== undefined ? FLAG_PROPOSED_AT : 0) |
        (cmd.recurse === true ? FLAG_RECURSE : 0) |
        callerFlags(cmd.caller);
      break;
    case 'expire':
      size += 9;
      for (const k of cmd.keys) size += strBound(k.key) + 9;
      break;
    case 'noop':
      break;
    case 'auth':
      authJson = JSON.stringify(cmd.change);
      size += strBound(authJson);
      flags = callerFlags(cmd.caller);
      break;
  }
  const w = new Writer(size);
  w.u8(COMMAND_FORMAT);
  w.u8(OPS.indexOf(cmd.op));
  w.u8(flags);
  w.str(cmd.requestId);
  switch (cmd.op) {
    case 'put':
      w.str(cmd.key);
      w.str(cmd.value);
      if (cmd.expiresAt !== undefined) w.f64(cmd.expiresAt);
      if (cmd.ttl !== undefined) w.str(cmd.ttl);
      if (cmd.cas !== undefined) w.varint(cmd.cas);
      if (cmd.proposedAt !== undefined) w.f64(cmd.proposedAt);
      break;
    case 'delete':
      w.str(cmd.key);
      if (cmd.cas !== undefined) w.varint(cmd.cas);
      if (cmd.proposedAt !== undefined) w.f64(cmd.proposedAt);
      break;
    case 'expire':
      w.varint(cmd.keys.length);
      for (const k of cmd.keys) {
        w.str(k.key);
        w.varint(k.modifyIndex);
      }
      break;
    case 'noop':
      break;
    case 'auth':
      w.str(authJson);
      break;
  }
  if (typeof caller === 'string') w.str(caller);
  // Copied: log entries stay in memory until a snapshot, so their buffers should hold nothing else.
  return Buffer.from(w.buf.subarray(0, w.pos));
}

class Reader {
  private readonly buf: Buffer;
  pos = 0;
  constructor(bytes: Uint8Array) {
    this.buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get done(): boolean {
    return this.pos === this.buf.byteLength;
  }
  private need(n: number): void {
    if (this.pos + n > this.buf.byteLength) throw new CommandDecodeError('truncated');
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  varint(): number {
    let v = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      const b = this.u8();
      v += (b & 0x7f) * scale;
      if (b < 0x80) break;
      scale *= 0x80;
      if (i >= 7) throw new CommandDecodeError('varint too long');
    }
    if (!Number.isSafeInteger(v)) throw new CommandDecodeError('integer out of range');
    return v;
  }
  f64(): number {
    this.need(8);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    if (!Number.isFinite(v)) throw new CommandDecodeError('time must be a finite number');
    return v;
  }
  str(): string {
    const n = this.varint();
    this.need(n);
    // A new string of its own (not a slice of a larger one).
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
}

export function decodeCommand(bytes: Uint8Array): Command {
  const r = new Reader(bytes);
  const format = r.u8();
  if (format !== COMMAND_FORMAT) throw new CommandDecodeError(`unknown command format ${format}`);
  const opCode = r.u8();
  const op = OPS[opCode];
  if (op === undefined) throw new CommandDecodeError(`unknown op ${opCode}`);
  const flags = r.u8();
  const allowed: Record<Command['op'], number> = {
    put: FLAG_EXPIRES_AT | FLAG_TTL | FLAG_CAS | FLAG_PROPOSED_AT | FLAG_CHECKED | FLAG_USER,
    delete: FLAG_CAS | FLAG_PROPOSED_AT | FLAG_RECURSE | FLAG_CHECKED | FLAG_USER,
    expire: 0,
    noop: 0,
    auth: FLAG_CHECKED | FLAG_USER,
  };
  if ((flags & ~allowed[op]) !== 0) throw new CommandDecodeError(`unknown flags ${flags} for ${op}`);
  if ((flags & FLAG_USER) !== 0 && (flags & FLAG_CHECKED) === 0)
    throw new CommandDecodeError('a caller name without the checked flag');
  const requestId = r.str();
  let cmd: Command;
  switch (op) {
    case 'put': {
      const put: PutCommand = { op, requestId, key: r.str(), value: r.str() };
      if ((flags & FLAG_EXPIRES_AT) !== 0) put.expiresAt = r.f64();
      if ((flags & FLAG_TTL) !== 0) put.ttl = r.str();
      if ((flags & FLAG_CAS) !== 0) put.cas = r.varint();
      if ((flags & FLAG_PROPOSED_AT) !== 0) put.proposedAt = r.f64();
      cmd = put;
      break;
    }
    case 'delete': {
      const del: DeleteCommand = { op, requestId, key: r.str() };
      if ((flags & FLAG_CAS) !== 0) del.cas = r.varint();
      if ((flags & FLAG_RECURSE) !== 0) del.recurse = true;
      if ((flags & FLAG_PROPOSED_AT) !== 0) del.proposedAt = r.f64();
      cmd = del;
      break;
    }
    case 'expire': {
      const n = r.varint();
      const keys: { key: string; modifyIndex: number }[] = [];
      for (let i = 0; i < n; i++) keys.push({ key: r.str(), modifyIndex: r.varint() });
      cmd = { op, requestId, keys };
      break;
    }
    case 'noop':
      cmd = { op, requestId };
      break;
    case 'auth':
      cmd = { op, requestId, change: parseAuthChange(r.str()) };
      break;
  }
  if ((flags & FLAG_CHECKED) !== 0 && (cmd.op === 'put' || cmd.op === 'delete' || cmd.op === 'auth')) {
    cmd.caller = (flags & FLAG_USER) !== 0 ? r.str() : null;
  }
  if (!r.done) throw new CommandDecodeError('trailing bytes');
  return cmd;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function str(o: Record<string, unknown>, field: string): string {
  const v = o[field];
  if (typeof v !== 'string') throw new CommandDecodeError(`${field} must be a string`);
  return v;
}

function optional<T>(
  o: Record<string, unknown>,
  field: string,
  check: (v: unknown) => v is T,
  what: string,
): T | undefined {
  const v = o[field];
  if (v === undefined || v === null) return undefined;
  if (!check(v)) throw new CommandDecodeError(`${field} must be ${what}`);
  return v;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * Validates a command and returns a clean copy holding only known fields
 * (absent optionals are omitted, so encodings are canonical).
 */
export function normalise(v: unknown): Command {
  if (!isObject(v)) throw new CommandDecodeError('command must be an object');
  const requestId = str(v, 'requestId');
  switch (v.op) {
    case 'put': {
      const cmd: PutCommand = { op: 'put', requestId, key: str(v, 'key'), value: str(v, 'value') };
      const expiresAt = optional(v, 'expiresAt', isTime, 'a finite number');
      const ttl = optional(v, 'ttl', isString, 'a string');
      const cas = optional(v, 'cas', isIndex, 'a non-negative integer');
      const proposedAt = optional(v, 'proposedAt', isTime, 'a finite number');
      if (expiresAt !== undefined) cmd.expiresAt = expiresAt;
      if (ttl !== undefined) cmd.ttl = ttl;
      if (cas !== undefined) cmd.cas = cas;
      if (proposedAt !== undefined) cmd.proposedAt = proposedAt;
      setCaller(cmd, v);
      return cmd;
    }
    case 'delete': {
      const cmd: DeleteCommand = { op: 'delete', requestId, key: str(v, 'key') };
      const cas = optional(v, 'cas', isIndex, 'a non-negative integer');
      const recurse = optional(v, 'recurse', isBoolean, 'a boolean');
      const proposedAt = optional(v, 'proposedAt', isTime, 'a finite number');
      if (cas !== undefined) cmd.cas = cas;
      if (recurse === true) cmd.recurse = true;
      if (proposedAt !== undefined) cmd.proposedAt = proposedAt;
      setCaller(cmd, v);
      return cmd;
    }
    case 'expire': {
      const keys = v.keys;
      if (!Array.isArray(keys)) throw new CommandDecodeError('keys must be an array');
      return {
        op: 'expire',
        requestId,
        keys: keys.map((k: unknown, i) => {
          if (!isObject(k) || typeof k.key !== 'string' || !isIndex(k.modifyIndex)) {
            throw new CommandDecodeError(`keys[${i}] must be {key: string, modifyIndex: integer}`);
          }
          return { key: k.key, modifyIndex: k.modifyIndex };
        }),
      };
    }
    case 'noop':
      return { op: 'noop', requestId };
    case 'auth': {
      const problem = authChangeProblem(v.change);
      if (problem) throw new CommandDecodeError(`auth change: ${problem}`);
      const cmd: AuthCommand = { op: 'auth', requestId, change: v.change as AuthChange };
      setCaller(cmd, v);
      return cmd;
    }
    default:
      throw new CommandDecodeError(`unknown op ${JSON.stringify(v.op)}`);
  }
}

/** Copies `caller` (absent, null or a string; anything else is refused). */
function setCaller(cmd: PutCommand | DeleteCommand | AuthCommand, v: Record<string, unknown>): void {
  if (!('caller' in v) || v.caller === undefined) return;
  if (v.caller !== null && typeof v.caller !== 'string')
    throw new CommandDecodeError('caller must be a string or null');
  cmd.caller = v.caller;
}

function parseAuthChange(json: string): AuthChange {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    throw new CommandDecodeError('auth change is not JSON');
  }
  const problem = authChangeProblem(v);
  if (problem) throw new CommandDecodeError(`auth change: ${problem}`);
  return v as AuthChange;
}
