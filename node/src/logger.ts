// The one logger of the node: JSON lines on stderr, one object per event,
// `{"time","level","msg",...fields}`. Child loggers carry bound fields (component, peer...).

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFields = Record<string, unknown>;

const SEVERITY: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
  isEnabled(level: LogLevel): boolean;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Where lines go; defaults to process.stderr. */
  write?: (line: string) => void;
  fields?: LogFields;
  now?: () => Date;
}

/** Errors do not serialise with JSON.stringify; keep what helps debugging. */
function serialise(value: unknown): unknown {
  if (value instanceof Error) {
    const out: Record<string, unknown> = { name: value.name, message: value.message };
    const code = (value as { code?: unknown }).code;
    if (code !== undefined) out.code = code;
    if (value.stack !== undefined) out.stack = value.stack;
    if (value.cause !== undefined) out.cause = serialise(value.cause);
    return out;
  }
  return value;
}

function stringify(record: LogFields): string {
  try {
    return JSON.stringify(record, (_key, v: unknown) =>
      typeof v === 'bigint' ? v.toString() : serialise(v),
    );
  } catch {
    // Circular or otherwise unserialisable fields must not lose the event.
    return JSON.stringify({
      time: record.time,
      level: record.level,
      msg: record.msg,
      logError: 'unserialisable fields',
    });
  }
}

class JsonLogger implements Logger {
  readonly #threshold: number;
  readonly #write: (line: string) => void;
  readonly #fields: LogFields;
  readonly #now: () => Date;
  readonly #options: LoggerOptions;

  constructor(options: LoggerOptions) {
    this.#options = options;
    this.#threshold = SEVERITY[options.level ?? 'info'];
    this.#write = options.write ?? ((line) => void process.stderr.write(line));
    this.#fields = options.fields ?? {};
    this.#now = options.now ?? (() => new Date());
  }

  #log(level: LogLevel, msg: string, fields?: LogFields): void {
    if (SEVERITY[level] < this.#threshold) return;
    const record: LogFields = { time: this.#now().toISOString(), level, msg, ...this.#fields, ...fields };
    this.#write(stringify(record) + '\n');
  }

  debug(msg: string, fields?: LogFields): void {
    this.#log('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.#log('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.#log('warn', msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.#log('error', msg, fields);
  }
  isEnabled(level: LogLevel): boolean {
    return SEVERITY[level] >= this.#threshold;
  }
  child(fields: LogFields): Logger {
    return new JsonLogger({ ...this.#options, fields: { ...this.#fields, ...fields } });
  }
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return new JsonLogger(options);
}

/** A logger that drops everything (tests that do not inspect logs). */
export function nullLogger(): Logger {
  return createLogger({ level: 'error', write: () => {} });
}
