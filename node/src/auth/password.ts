// Password hashing with scrypt (memory-hard, in node:crypto). The hash string records its
// parameters, so they can be raised later without invalidating stored users. Hashing runs on
// libuv's thread pool (async scrypt): a login never blocks the Raft thread.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** N = 2^15, r = 8: ~32 MiB and tens of milliseconds per hash (OWASP's scrypt floor is N = 2^17 with r = 8, p = 1; we trade some of it for login latency on 2-core members, see ADR 0068). */
export const SCRYPT_DEFAULTS = { N: 1 << 15, r: 8, p: 1 } as const;
const KEY_BYTES = 32;
const SALT_BYTES = 16;
const PREFIX = 'scrypt';
/** Refuse absurd stored parameters (a forged or corrupt record must not exhaust memory). */
const MAX_LOG2_N = 20;

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 1024;

function derive(password: string, salt: Buffer, o: { N: number; r: number; p: number }): Promise<Buffer> {
  const options: ScryptOptions = { N: o.N, r: o.r, p: o.p, maxmem: 256 * o.N * o.r + 1024 * 1024 };
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, KEY_BYTES, options, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/** `scrypt$<log2 N>$<r>$<p>$<salt b64url>$<key b64url>` */
export async function hashPassword(
  password: string,
  params: { N: number; r: number; p: number } = SCRYPT_DEFAULTS,
): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, params);
  return [
    PREFIX,
    Math.log2(params.N),
    params.r,
    params.p,
    salt.toString('base64url'),
    key.toString('base64url'),
  ].join('$');
}

interface ParsedHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

function parseHash(stored: string): ParsedHash | null {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== PREFIX) return null;
  const [, logN, r, p, salt, key] = parts as [string, string, string, string, string, string];
  const n = Number(logN);
  const rr = Number(r);
  const pp = Number(p);
  if (!Number.isInteger(n) || n < 1 || n > MAX_LOG2_N) return null;
  if (!Number.isInteger(rr) || rr < 1 || rr > 32 || !Number.isInteger(pp) || pp < 1 || pp > 16) return null;
  const saltBuf = Buffer.from(salt, 'base64url');
  const keyBuf = Buffer.from(key, 'base64url');
  if (saltBuf.length < 8 || keyBuf.length !== KEY_BYTES) return null;
  return { N: 2 ** n, r: rr, p: pp, salt: saltBuf, key: keyBuf };
}

/** True if `password` matches `stored`; false for a wrong password or a malformed record. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const h = parseHash(stored);
  if (!h) return false;
  const key = await derive(password, h.salt, h);
  return timingSafeEqual(key, h.key);
}

/** Whether a stored hash string is well formed (validated before it is replicated). */
export function isPasswordHash(stored: string): boolean {
  return parseHash(stored) !== null;
}
