// Per-request context carried across awaits (AsyncLocalStorage): the caller's credentials, so an
// admin request a follower forwards to the leader is authenticated there as the same caller.
import { AsyncLocalStorage } from 'node:async_hooks';

export interface RequestContext {
  /** The Authorization header as the client sent it, if any. */
  authorization?: string;
  /** The user a verified client certificate named, when that (not a token) identified the caller. */
  certificateUser?: string;
}

/**
 * Header a member sets when it forwards a request whose caller it authenticated by client
 * certificate. The leader believes it only over a connection presenting a member's certificate
 * (auth-gate.ts `identify`); from anyone else it is refused.
 */
export const FORWARDED_USER_HEADER = 'x-kvstore-forwarded-user';

export const requestContext = new AsyncLocalStorage<RequestContext>();

/** Headers to pass along when forwarding the current request to another member. */
export function forwardedCredentials(): Record<string, string> {
  const store = requestContext.getStore();
  const a = store?.authorization;
  if (a !== undefined && a !== '') return { authorization: a };
  const u = store?.certificateUser;
  return u !== undefined ? { [FORWARDED_USER_HEADER]: u } : {};
}
