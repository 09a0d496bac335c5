// PLACEHOLDER written by the node-net helper so the HTTP layer compiles; the KV helper owns
// this file and its version (same signature) replaces this one at merge.
// Go duration strings: "300ms", "5s", "1.5h", "2h45m", "-1s", "0".

export class DurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DurationError';
  }
}

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Parses a Go duration into milliseconds (may be negative or fractional); throws DurationError. */
export function parseDuration(s: string): number {
  if (typeof s !== 'string') throw new DurationError('duration must be a string');
  let rest = s;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest.startsWith('-')) sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw new DurationError(`invalid duration "${s}"`);
  let total = 0;
  const part = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (rest !== '') {
    const m = part.exec(rest);
    if (!m) throw new DurationError(`invalid duration "${s}"`);
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? NaN);
    rest = rest.slice(m[0].length);
  }
  if (!Number.isFinite(total)) throw new DurationError(`invalid duration "${s}"`);
  return sign * total;
}
