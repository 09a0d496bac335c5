// Per-request context carried across awaits (AsyncLocalStorage): the caller's credentials, so an
// admin request a follower forwards to the leader is authenticated there as the same caller.
import { AsyncLocalStorage } from 'node:async_hooks';

export interface RequestContext {
  /** The Authorization header as the client sent it, if any. */
  authorization?: string;
}

export const requestContext = new AsyncLocalStorage<RequestContext>();

/** Headers to pass along when forwarding the current request to another member. */
export function forwardedCredentials(): Record<string, string> {
  const a = requestContext.getStore()?.authorization;
  return a !== undefined && a !== '' ? { authorization: a } : {};
}
