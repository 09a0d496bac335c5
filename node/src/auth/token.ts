// Bearer tokens: `kv1.<payload>.<mac>`, the payload a small JSON object (user, generation,
// issued-at, expires-at, in base64url) and the mac an HMAC-SHA256 over `kv1.<payload>` with a key
// held in the replicated state. Every member holds the same key, so a token from one member is
// accepted by all; changing a user's password or deleting the user bumps its generation and so
// revokes its tokens everywhere at once. Stateless: nothing is stored per token.
import { createHmac, timingSafeEqual } from 'node:crypto';

const VERSION = 'kv1';
/** A token header longer than this is refused before any parsing. */
export const MAX_TOKEN_LENGTH = 1024;
export const DEFAULT_TOKEN_TTL_MS = 10 * 60 * 1000;
/** Members' clocks may disagree by this much when checking issue and expiry times. */
export const CLOCK_SKEW_MS = 30_000;

export interface TokenClaims {
  /** User name. */
  sub: string;
  /** The user's generation when the token was issued. */
  gen: number;
  /** Issued at, ms since the epoch. */
  iat: number;
  /** Expires at, ms since the epoch. */
  exp: number;
}

function mac(key: Uint8Array, signed: string): Buffer {
  return createHmac('sha256', key).update(signed).digest();
}

export function issueToken(key: Uint8Array, claims: TokenClaims): string {
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const signed = `${VERSION}.${payload}`;
  return `${signed}.${mac(key, signed).toString('base64url')}`;
}

export type TokenCheck =
  | { ok: true; claims: TokenClaims }
  | { ok: false; reason: 'malformed' | 'bad-signature' | 'expired' | 'not-yet-valid' };

/** Verifies signature and times; the caller checks that the user still exists at that generation. */
export function verifyToken(key: Uint8Array, token: string, now: number): TokenCheck {
  if (token.length > MAX_TOKEN_LENGTH) return { ok: false, reason: 'malformed' };
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== VERSION) return { ok: false, reason: 'malformed' };
  const [, payload, sig] = parts as [string, string, string];
  const given = Buffer.from(sig, 'base64url');
  const want = mac(key, `${VERSION}.${payload}`);
  if (given.length !== want.length || !timingSafeEqual(given, want))
    return { ok: false, reason: 'bad-signature' };
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (!isClaims(claims)) return { ok: false, reason: 'malformed' };
  if (claims.exp + CLOCK_SKEW_MS <= now) return { ok: false, reason: 'expired' };
  if (claims.iat - CLOCK_SKEW_MS > now) return { ok: false, reason: 'not-yet-valid' };
  return { ok: true, claims };
}

function isClaims(v: unknown): v is TokenClaims {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Record<string, unknown>;
  return (
    typeof c.sub === 'string' &&
    c.sub.length > 0 &&
    Number.isSafeInteger(c.gen) &&
    Number.isSafeInteger(c.iat) &&
    Number.isSafeInteger(c.exp)
  );
}
