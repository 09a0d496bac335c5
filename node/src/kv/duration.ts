// Go duration strings (time.ParseDuration) to milliseconds. The grammar, unit
// table and overflow rules follow Go exactly, computed in integer nanoseconds
// (BigInt) so "1.000000001s" and friends round the way Go does. Negative
// durations are refused: a TTL cannot be negative.

export class DurationError extends Error {
  readonly input: string;
  constructor(input: string, reason: string) {
    super(`invalid duration ${JSON.stringify(input)}: ${reason}`);
    this.name = 'DurationError';
    this.input = input;
  }
}

const NS_PER_UNIT: ReadonlyMap<string, bigint> = new Map([
  ['ns', 1n],
  ['us', 1_000n],
  ['\u00b5s', 1_000n], // U+00B5 micro sign
  ['\u03bcs', 1_000n], // U+03BC Greek small letter mu
  ['ms', 1_000_000n],
  ['s', 1_000_000_000n],
  ['m', 60_000_000_000n],
  ['h', 3_600_000_000_000n],
]);

const MAX_NS = (1n << 63n) - 1n; // Go's time.Duration is an int64 of nanoseconds
const LIMIT = 1n << 63n;

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

/** Parses a Go duration (e.g. "300ms", "1.5h", "2h45m") into integer nanoseconds. */
export function parseDurationNs(input: string): bigint {
  let s = input;
  let negative = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    negative = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') throw new DurationError(input, 'empty');
  let total = 0n;
  let i = 0;
  while (i < s.length) {
    if (!(s[i] === '.' || isDigit(s[i]))) throw new DurationError(input, 'expected a number');
    // Integer part.
    const intStart = i;
    let whole = 0n;
    while (isDigit(s[i])) {
      if (whole > LIMIT / 10n) throw new DurationError(input, 'overflow');
      whole = whole * 10n + BigInt(s.charCodeAt(i) - 48);
      if (whole > LIMIT) throw new DurationError(input, 'overflow');
      i++;
    }
    const hasInt = i > intStart;
    // Fraction part: digits beyond int64 precision are ignored, as Go does.
    let frac = 0n;
    let scale = 1;
    let hasFrac = false;
    if (s[i] === '.') {
      i++;
      const fracStart = i;
      let fracOverflow = false;
      while (isDigit(s[i])) {
        if (!fracOverflow) {
          if (frac > MAX_NS / 10n) {
            fracOverflow = true;
          } else {
            const next = frac * 10n + BigInt(s.charCodeAt(i) - 48);
            if (next > LIMIT) fracOverflow = true;
            else {
              frac = next;
              scale *= 10;
            }
          }
        }
        i++;
      }
      hasFrac = i > fracStart;
    }
    if (!hasInt && !hasFrac) throw new DurationError(input, 'expected digits');
    // Unit: everything up to the next digit or dot.
    const unitStart = i;
    while (i < s.length && s[i] !== '.' && !isDigit(s[i])) i++;
    if (i === unitStart) throw new DurationError(input, 'missing unit');
    const unitName = s.slice(unitStart, i);
    const unit = NS_PER_UNIT.get(unitName);
    if (unit === undefined) throw new DurationError(input, `unknown unit ${JSON.stringify(unitName)}`);
    if (whole > LIMIT / unit) throw new DurationError(input, 'overflow');
    let v = whole * unit;
    if (frac > 0n) {
      // float64 arithmetic on purpose: this is how Go scales the fraction.
      v += BigInt(Math.trunc(Number(frac) * (Number(unit) / scale)));
      if (v > LIMIT) throw new DurationError(input, 'overflow');
    }
    total += v;
    if (total > LIMIT) throw new DurationError(input, 'overflow');
  }
  if (negative) {
    if (total !== 0n) throw new DurationError(input, 'negative');
    return 0n;
  }
  if (total > MAX_NS) throw new DurationError(input, 'overflow');
  return total;
}

/** Parses a Go duration into milliseconds (fractional below 1 ms, e.g. "1us" = 0.001). */
export function parseDuration(input: string): number {
  const ns = parseDurationNs(input);
  return Number(ns / 1_000_000n) + Number(ns % 1_000_000n) / 1e6;
}
