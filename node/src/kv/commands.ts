// Commands replicated through the Raft log. Encoded with msgpack inside a
// versioned envelope `[COMMAND_FORMAT, command]`, so a later format can be told
// apart and refused instead of misread. Decoding validates the full shape: the
// log is trusted, but a bug or a foreign payload must fail loudly, not apply.
import { Packr } from 'msgpackr';

export const COMMAND_FORMAT = 1;

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

export type Command = PutCommand | DeleteCommand | ExpireCommand | NoopCommand;

export class CommandDecodeError extends Error {
  constructor(reason: string) {
    super(`invalid command: ${reason}`);
    this.name = 'CommandDecodeError';
  }
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

export function encodeCommand(cmd: Command): Uint8Array {
  return packr.pack([COMMAND_FORMAT, normalise(cmd)]);
}

export function decodeCommand(bytes: Uint8Array): Command {
  let raw: unknown;
  try {
    raw = packr.unpack(bytes);
  } catch (err) {
    throw new CommandDecodeError(`not msgpack (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!Array.isArray(raw) || raw.length !== 2) throw new CommandDecodeError('not a command envelope');
  const [format, body] = raw as [unknown, unknown];
  if (format !== COMMAND_FORMAT) throw new CommandDecodeError(`unknown command format ${String(format)}`);
  return normalise(body);
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
      return cmd;
    }
    case 'delete': {
      const cmd: DeleteCommand = { op: 'delete', requestId, key: str(v, 'key') };
      const cas = optional(v, 'cas', isIndex, 'a non-negative integer');
      const recurse = optional(v, 'recurse', isBoolean, 'a boolean');
      const proposedAt = optional(v, 'proposedAt', isTime, 'a finite number');
      if (cas !== undefined) cmd.cas = cas;
      if (recurse !== undefined) cmd.recurse = recurse;
      if (proposedAt !== undefined) cmd.proposedAt = proposedAt;
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
    default:
      throw new CommandDecodeError(`unknown op ${JSON.stringify(v.op)}`);
  }
}
