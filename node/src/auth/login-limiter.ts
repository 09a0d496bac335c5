// Failed-login rate limiting per user name: after a few failures, each further attempt must wait
// twice as long as the one before (capped). Bounded memory: a fixed number of names is tracked,
// the oldest forgotten first. Per member: an attacker spreading attempts over members gets at most
// members x the rate, still exponential.

export interface LoginLimiterOptions {
  /** Failures allowed before delays start. */
  freeFailures: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Names tracked at once. */
  maxTracked: number;
}

export const LOGIN_LIMITS: LoginLimiterOptions = {
  freeFailures: 3,
  baseDelayMs: 1000,
  maxDelayMs: 60_000,
  maxTracked: 10_000,
};

interface Entry {
  failures: number;
  /** No attempt accepted before this time. */
  blockedUntil: number;
}

export class LoginLimiter {
  readonly #o: LoginLimiterOptions;
  /** Insertion order doubles as age order (Map iterates oldest first). */
  readonly #entries = new Map<string, Entry>();

  constructor(o: LoginLimiterOptions = LOGIN_LIMITS) {
    this.#o = o;
  }

  /** 0 if `name` may try now, else the milliseconds to wait. */
  retryAfterMs(name: string, now: number): number {
    const e = this.#entries.get(name);
    return e && e.blockedUntil > now ? e.blockedUntil - now : 0;
  }

  failed(name: string, now: number): void {
    const e = this.#entries.get(name) ?? { failures: 0, blockedUntil: 0 };
    this.#entries.delete(name);
    e.failures++;
    const over = e.failures - this.#o.freeFailures;
    if (over > 0)
      e.blockedUntil = now + Math.min(this.#o.maxDelayMs, this.#o.baseDelayMs * 2 ** Math.min(over - 1, 30));
    this.#entries.set(name, e);
    while (this.#entries.size > this.#o.maxTracked) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }

  succeeded(name: string): void {
    this.#entries.delete(name);
  }

  get tracked(): number {
    return this.#entries.size;
  }
}
