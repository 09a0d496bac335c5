// kvctl's command line: `kvctl [options] COMMAND [args] [options]`. Options may come before or
// after the command (`--name value`, `--name=value`, `-o json`); `--` ends them, so a value
// starting with `-` can be given (`kvctl put k -- -1`). Pure: no I/O; a bad command line throws
// UsageError (exit 2) before anything is sent.
import { isValidMemberId } from '../cli/flags.ts';
import { DurationError, parseDuration } from '../kv/duration.ts';
import { UsageError } from './errors.ts';
import { parseSecurityOptions, type SecurityOptions } from './security.ts';

export type OutputFormat = 'simple' | 'table' | 'json';
export type Consistency = 'linearizable' | 'stale';

export const DEFAULT_ENDPOINT = 'http://127.0.0.1:8080';
export const ENDPOINTS_ENV = 'KVCTL_ENDPOINTS';
export const DEFAULT_TIMEOUT = '10s';
export const DEFAULT_REQUEST_TIMEOUT = '5s';
export const DEFAULT_WATCH_WAIT = '60s';

export interface GlobalOptions {
  /** Normalised `http(s)://host:port`, in the order given; tried in that order. */
  endpoints: string[];
  /** Bound on one command's requests, failover and retries included. */
  timeoutMs: number;
  /** Bound on one request to one endpoint. */
  requestTimeoutMs: number;
  /** undefined: the command's own default (a table for status and member list, plain text otherwise). */
  output: OutputFormat | undefined;
  /** --cacert, --cert, --key, --user, --password, --token (files are read when the command runs). */
  security: SecurityOptions;
}

export type Command =
  | { name: 'help'; topic: string | undefined }
  | {
      name: 'get';
      key: string;
      prefix: boolean;
      keysOnly: boolean;
      consistency: Consistency;
      limit: number | undefined;
    }
  | { name: 'put'; key: string; value: string; ttl: string | undefined; cas: number | undefined }
  | { name: 'del'; key: string; prefix: boolean; cas: number | undefined }
  | { name: 'watch'; key: string; prefix: boolean; index: number | undefined; waitMs: number; wait: string }
  | { name: 'member list' }
  | { name: 'member add'; id: string; peerUrl: string; clientUrl: string | undefined }
  | { name: 'member promote'; id: string }
  | { name: 'member remove'; id: string }
  | { name: 'move-leader'; to: string | undefined }
  | { name: 'status' };

export type CommandName = Exclude<Command['name'], 'help'>;

export interface Invocation {
  global: GlobalOptions;
  command: Command;
}

interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Placeholder shown in help. */
  value?: string;
  help: string;
}

const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  endpoints: {
    type: 'string',
    value: 'URL[,URL...]',
    help: `members to talk to, tried in order on connection errors and "no leader" answers\n(default: $${ENDPOINTS_ENV}, else ${DEFAULT_ENDPOINT})`,
  },
  output: {
    type: 'string',
    short: 'o',
    value: 'simple|table|json',
    help: 'output format (default: table for status and member list, simple otherwise)',
  },
  timeout: {
    type: 'string',
    value: 'DURATION',
    help: `bound on the whole command, failover and retries included (default ${DEFAULT_TIMEOUT})`,
  },
  'request-timeout': {
    type: 'string',
    value: 'DURATION',
    help: `bound on one request to one endpoint (default ${DEFAULT_REQUEST_TIMEOUT})`,
  },
  help: { type: 'boolean', short: 'h', help: 'show help (for a command: kvctl COMMAND --help)' },
  // TLS and authentication (security.ts), with etcdctl's names.
  cacert: {
    type: 'string',
    value: 'FILE',
    help: 'CA bundle that verifies the members (https endpoints; e.g. ca.crt of <cluster>-ca-bundle)',
  },
  cert: { type: 'string', value: 'FILE', help: 'client certificate (with --key)' },
  key: { type: 'string', value: 'FILE', help: 'private key of --cert' },
  user: {
    type: 'string',
    value: 'NAME[:PASSWORD]',
    help: 'log in as NAME for a token (password from here, --password or $KVCTL_PASSWORD)',
  },
  password: { type: 'string', value: 'PASSWORD', help: 'password of --user' },
  token: { type: 'string', value: 'TOKEN', help: 'bearer token (default $KVCTL_TOKEN)' },
};

const COMMAND_OPTIONS: Record<string, OptionSpec> = {
  prefix: { type: 'boolean', help: 'every key starting with KEY' },
  'keys-only': { type: 'boolean', help: 'print keys, not values' },
  consistency: {
    type: 'string',
    value: 'linearizable|stale',
    help: "stale: answer from the endpoint's replica, no quorum round (default linearizable)",
  },
  limit: {
    type: 'string',
    value: 'N',
    help: "with --prefix: at most N keys (default and maximum: the server's, 1000 and 10000)",
  },
  ttl: {
    type: 'string',
    value: 'DURATION',
    help: 'expire the key after a Go duration ("5s", "1.5h", "300ms")',
  },
  cas: {
    type: 'string',
    value: 'INDEX',
    help: "only if the key's modifyIndex is INDEX (0: only if it does not exist)",
  },
  index: {
    type: 'string',
    value: 'N',
    help: 'report changes after log index N (default: changes after now)',
  },
  wait: {
    type: 'string',
    value: 'DURATION',
    help: `longest wait of one blocking request (default ${DEFAULT_WATCH_WAIT}; the server caps it at 10m)`,
  },
  'client-url': {
    type: 'string',
    value: 'URL',
    help: "the new member's client API URL (default: the server's choice)",
  },
  to: {
    type: 'string',
    value: 'ID',
    help: 'the voter to hand leadership to (default: the most up-to-date voter)',
  },
};

interface CommandSpec {
  usage: string;
  summary: string;
  description: string;
  args: string[];
  options: string[];
}

const COMMANDS: Record<CommandName, CommandSpec> = {
  get: {
    usage: 'get KEY [--prefix] [--keys-only] [--consistency stale] [--limit N]',
    summary: 'read a key, or every key under a prefix',
    description:
      'Prints the value (simple), a KEY/VALUE table (-o table) or the stored objects (-o json).\n' +
      'With --prefix, simple output is each key on one line and its value on the next.\n' +
      'A missing key is an error (key-not-found, exit 1); an empty prefix listing is not.',
    args: ['KEY'],
    options: ['prefix', 'keys-only', 'consistency', 'limit'],
  },
  put: {
    usage: 'put KEY VALUE [--ttl 5s] [--cas INDEX]',
    summary: 'write a key',
    description:
      'Prints OK (simple), the written key as a table (-o table) or as JSON (-o json).\nA --cas mismatch is an error (cas-mismatch, exit 1) and changes nothing.',
    args: ['KEY', 'VALUE'],
    options: ['ttl', 'cas'],
  },
  del: {
    usage: 'del KEY [--prefix] [--cas INDEX]',
    summary: 'delete a key, or every key under a prefix',
    description: "Prints the number of keys deleted (simple) or the server's answer (-o json).",
    args: ['KEY'],
    options: ['prefix', 'cas'],
  },
  watch: {
    usage: 'watch KEY [--prefix] [--index N] [--wait 60s]',
    summary: 'print every change of a key or prefix until Ctrl-C',
    description:
      'Loops over blocking reads (GET /v1/kv/KEY?index=N&wait=...), printing each change as\n' +
      '"PUT key value" or "DELETE key" (strings quoted when they contain spaces or quotes), or one\n' +
      'JSON object per line with -o json. Each round resumes from the last index seen, on the next\n' +
      'endpoint when one fails; it ends with exit 0 on Ctrl-C, or with an error once no endpoint has\n' +
      'answered for --timeout. Changes are seen as states: a key written and deleted again between\n' +
      'two rounds may not be reported.',
    args: ['KEY'],
    options: ['prefix', 'index', 'wait'],
  },
  'member list': {
    usage: 'member list',
    summary: 'list the members',
    description:
      'Columns: ID, ROLE, LEADER, PEER URL, CLIENT URL, MATCH INDEX and HEALTHY (as the leader sees them).',
    args: [],
    options: [],
  },
  'member add': {
    usage: 'member add ID PEER_URL [--client-url URL]',
    summary: 'add a member as a learner (promote it once caught up)',
    description:
      'Start the new member with `kv-store -join ...` so that it waits to be added. It joins as a\nnon-voting learner; `kvctl member promote ID` makes it a voter once it has caught up, so a\nnew member can never take the quorum away (the server refuses new voters directly).',
    args: ['ID', 'PEER_URL'],
    options: ['client-url'],
  },
  'member promote': {
    usage: 'member promote ID',
    summary: 'make a caught-up learner a voter',
    description: 'Refused (learner-not-caught-up) until the learner has caught up with the leader.',
    args: ['ID'],
    options: [],
  },
  'member remove': {
    usage: 'member remove ID',
    summary: 'remove a member',
    description: 'Refused (would-lose-quorum) if too few live voters would remain.',
    args: ['ID'],
    options: [],
  },
  'move-leader': {
    usage: 'move-leader [--to ID]',
    summary: 'hand leadership to another voter',
    description: "Prints the new leader's id.",
    args: [],
    options: ['to'],
  },
  status: {
    usage: 'status',
    summary: 'the status of every endpoint',
    description:
      'Asks each endpoint for /v1/status and prints one row per endpoint: ENDPOINT, ID, STATE, LEADER,\n' +
      'TERM, COMMIT, APPLIED, MEMBERS, CLUSTER (or the error it gave). Exits 3 if some endpoint\n' +
      'could not be reached, 1 if some answered with an error, after printing every row.',
    args: [],
    options: [],
  },
};

function optionLines(names: string[], specs: Record<string, OptionSpec>): string {
  const rows = names.map((name) => {
    const spec = specs[name]!;
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.value ? ` ${spec.value}` : ''}`;
    return [flag, spec.help] as const;
  });
  const width = Math.max(...rows.map(([f]) => f.length)) + 2;
  return rows
    .map(([flag, help]) => {
      const [first, ...rest] = help.split('\n');
      const pad = ' '.repeat(width + 2);
      const head =
        flag.length + 2 >= width + 2 ? `  ${flag}\n${pad}${first}` : `  ${flag.padEnd(width)}${first}`;
      return [head, ...rest.map((l) => pad + l)].join('\n');
    })
    .join('\n');
}

const EXIT_CODES_TEXT =
  'Exit codes: 0 success; 1 the server answered with an error (printed as "kvctl: <code>: <message>");\n' +
  '2 usage error (nothing was sent); 3 no endpoint could be reached.';

/** Help for kvctl (topic undefined) or one command ("get", "member", "member add"). */
export function helpText(topic?: string): string {
  if (topic === undefined || topic === '') {
    const names = Object.keys(COMMANDS) as CommandName[];
    const width = Math.max(...names.map((n) => COMMANDS[n].usage.split(' [')[0]!.length)) + 2;
    const commands = names
      .map((n) => `  ${COMMANDS[n].usage.split(' [')[0]!.padEnd(width)}${COMMANDS[n].summary}`)
      .join('\n');
    return (
      'Usage: kvctl [options] COMMAND [args] [options]\n\n' +
      'A command-line client for kv-store clusters.\n\n' +
      `Commands:\n${commands}\n  ${'snapshot, restore'.padEnd(width)}backups: save, verify, restore (kvctl snapshot --help)\n` +
      `  ${'help [COMMAND]'.padEnd(width)}this text, or a command's\n\n` +
      `Global options (before or after the command):\n${optionLines(Object.keys(GLOBAL_OPTIONS), GLOBAL_OPTIONS)}\n\n` +
      `${EXIT_CODES_TEXT}\n` +
      "Run 'kvctl COMMAND --help' for a command's options.\n"
    );
  }
  if (topic === 'member') {
    const subs = (['member list', 'member add', 'member promote', 'member remove'] as const)
      .map((n) => `  kvctl ${COMMANDS[n].usage}\n      ${COMMANDS[n].summary}`)
      .join('\n');
    return `Usage: kvctl member list|add|promote|remove ...\n\n${subs}\n\nRun 'kvctl member SUBCOMMAND --help' for details.\n`;
  }
  const spec = COMMANDS[topic as CommandName] as CommandSpec | undefined;
  if (spec === undefined) throw new UsageError(`unknown command "${topic}"`);
  const options =
    spec.options.length > 0 ? `Options:\n${optionLines(spec.options, COMMAND_OPTIONS)}\n\n` : '';
  return (
    `Usage: kvctl ${spec.usage}\n\n${spec.summary[0]!.toUpperCase()}${spec.summary.slice(1)}.\n${spec.description}\n\n` +
    options +
    "Global options (--endpoints, -o, --timeout, ...): see 'kvctl --help'.\n" +
    `${EXIT_CODES_TEXT}\n`
  );
}

type RawOptions = Map<string, string | boolean>;

const SHORT = new Map<string, string>(
  Object.entries({ ...GLOBAL_OPTIONS, ...COMMAND_OPTIONS }).flatMap(([name, s]) =>
    s.short ? [[s.short, name]] : [],
  ),
);

function specOf(name: string): OptionSpec | undefined {
  return GLOBAL_OPTIONS[name] ?? COMMAND_OPTIONS[name];
}

function tokenize(argv: string[]): { positionals: string[]; options: RawOptions } {
  const positionals: string[] = [];
  const options: RawOptions = new Map();
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    let name: string;
    let inline: string | undefined;
    if (tok.startsWith('--') && tok.length > 2) {
      const eq = tok.indexOf('=');
      name = eq === -1 ? tok.slice(2) : tok.slice(2, eq);
      inline = eq === -1 ? undefined : tok.slice(eq + 1);
    } else if (tok.startsWith('-') && tok.length > 1) {
      const eq = tok.indexOf('=');
      const short = eq === -1 ? tok.slice(1) : tok.slice(1, eq);
      const long = SHORT.get(short);
      if (long === undefined) {
        throw new UsageError(`unknown option "${tok}"${specOf(short) ? ` (did you mean --${short}?)` : ''}`);
      }
      name = long;
      inline = eq === -1 ? undefined : tok.slice(eq + 1);
    } else {
      positionals.push(tok);
      continue;
    }
    const spec = specOf(name);
    if (spec === undefined) throw new UsageError(`unknown option "--${name}"`);
    if (options.has(name)) throw new UsageError(`option --${name} given more than once`);
    if (spec.type === 'boolean') {
      if (inline === undefined || inline === 'true' || inline === '1') options.set(name, true);
      else if (inline === 'false' || inline === '0') options.set(name, false);
      else throw new UsageError(`option --${name} takes no value (or true/false), got "${inline}"`);
    } else {
      let value = inline;
      if (value === undefined) {
        value = argv[i + 1];
        if (value === undefined)
          throw new UsageError(`option --${name} needs a value (${spec.value ?? 'VALUE'})`);
        i++;
      }
      options.set(name, value);
    }
  }
  return { positionals, options };
}

export function parseDurationOption(text: string, option: string): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (e) {
    if (e instanceof DurationError)
      throw new UsageError(`--${option}: ${e.message} (use a Go duration like "5s", "1.5h", "300ms")`);
    throw e;
  }
  if (!(ms > 0)) throw new UsageError(`--${option} must be positive, got "${text}"`);
  return ms;
}

function parseUint(text: string, option: string, min = 0): number {
  const n = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min)
    throw new UsageError(`--${option} must be an integer >= ${min}, got "${text}"`);
  return n;
}

/** `URL[,URL...]` to normalised `http(s)://host:port` origins, duplicates dropped. `host:port` means http. */
export function parseEndpoints(text: string, source = '--endpoints'): string[] {
  const out: string[] = [];
  for (const raw of text.split(',').map((s) => s.trim())) {
    if (raw === '') continue;
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      throw new UsageError(`${source}: "${raw}" is not a URL`);
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '')
      throw new UsageError(`${source}: "${raw}" must look like http://host:port or https://host:port`);
    if (url.username !== '' || url.password !== '')
      throw new UsageError(`${source}: "${raw}": credentials in URLs are not supported`);
    if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
      throw new UsageError(`${source}: "${raw}" must be just scheme, host and port (no path or query)`);
    }
    if (!out.includes(url.origin)) out.push(url.origin);
  }
  if (out.length === 0) throw new UsageError(`${source}: no endpoint given`);
  return out;
}

function resolveCommand(positionals: string[]): { name: CommandName | 'help'; args: string[] } | undefined {
  const [first, second, ...rest] = positionals;
  if (first === undefined) return undefined;
  if (first === 'help') return { name: 'help', args: positionals.slice(1) };
  if (first === 'member') {
    if (second === undefined)
      throw new UsageError('member needs a subcommand: list, add, promote or remove', 'member');
    const name = `member ${second}`;
    if (!(name in COMMANDS))
      throw new UsageError(`unknown member subcommand "${second}" (list, add, promote, remove)`, 'member');
    return { name: name as CommandName, args: rest };
  }
  if (!(first in COMMANDS) || first.startsWith('member ')) {
    throw new UsageError(`unknown command "${first}"`);
  }
  return { name: first as CommandName, args: positionals.slice(1) };
}

/** Parses argv (without node and script) against the environment; throws UsageError. */
export function parseArgs(argv: string[], env: Record<string, string | undefined> = {}): Invocation {
  const { positionals, options } = tokenize(argv);
  const resolved = resolveCommand(positionals.length === 0 ? [] : positionals);

  const str = (name: string): string | undefined => {
    const v = options.get(name);
    return typeof v === 'string' ? v : undefined;
  };
  const bool = (name: string): boolean => options.get(name) === true;

  const global = (): GlobalOptions => {
    const endpointsText = str('endpoints');
    const envEndpoints = env[ENDPOINTS_ENV];
    const endpoints =
      endpointsText !== undefined
        ? parseEndpoints(endpointsText)
        : envEndpoints !== undefined && envEndpoints.trim() !== ''
          ? parseEndpoints(envEndpoints, ENDPOINTS_ENV)
          : [DEFAULT_ENDPOINT];
    const output = str('output');
    if (output !== undefined && output !== 'simple' && output !== 'table' && output !== 'json') {
      throw new UsageError(`--output must be simple, table or json, got "${output}"`);
    }
    return {
      endpoints,
      timeoutMs: parseDurationOption(str('timeout') ?? DEFAULT_TIMEOUT, 'timeout'),
      requestTimeoutMs: parseDurationOption(
        str('request-timeout') ?? DEFAULT_REQUEST_TIMEOUT,
        'request-timeout',
      ),
      output,
      security: parseSecurityOptions(str, env),
    };
  };

  if (resolved === undefined) {
    if (bool('help')) return { global: global(), command: { name: 'help', topic: undefined } };
    throw new UsageError('no command given');
  }
  if (resolved.name === 'help') {
    const topic = resolved.args.join(' ');
    if (topic !== '') helpText(topic); // unknown topics are usage errors
    return { global: global(), command: { name: 'help', topic: topic === '' ? undefined : topic } };
  }
  const name = resolved.name;
  const spec = COMMANDS[name];
  if (bool('help')) return { global: global(), command: { name: 'help', topic: name } };

  for (const option of options.keys()) {
    if (!(option in GLOBAL_OPTIONS) && !spec.options.includes(option)) {
      throw new UsageError(`--${option} is not an option of "${name}"`, name);
    }
  }
  const args = resolved.args;
  if (args.length !== spec.args.length) {
    const want = spec.args.length === 0 ? 'no arguments' : spec.args.join(' ');
    const extra =
      args.length > spec.args.length
        ? ` (extra: ${args
            .slice(spec.args.length)
            .map((a) => JSON.stringify(a))
            .join(' ')})`
        : '';
    throw new UsageError(
      `"${name}" takes ${want}; got ${args.length} argument${args.length === 1 ? '' : 's'}${extra}`,
      name,
    );
  }
  const g = global();
  const memberIdArg = (raw: string, what: string): string => {
    if (!isValidMemberId(raw))
      throw new UsageError(`invalid ${what} "${raw}": letters, digits, '.', '_' or '-', at most 63`, name);
    return raw;
  };
  const cas = str('cas') === undefined ? undefined : parseUint(str('cas')!, 'cas');

  let command: Command;
  switch (name) {
    case 'get': {
      const consistency = str('consistency') ?? 'linearizable';
      if (consistency !== 'linearizable' && consistency !== 'stale') {
        throw new UsageError(`--consistency must be linearizable or stale, got "${consistency}"`, name);
      }
      const limitText = str('limit');
      if (limitText !== undefined && !bool('prefix')) throw new UsageError('--limit needs --prefix', name);
      command = {
        name,
        key: args[0]!,
        prefix: bool('prefix'),
        keysOnly: bool('keys-only'),
        consistency,
        limit: limitText === undefined ? undefined : parseUint(limitText, 'limit', 1),
      };
      break;
    }
    case 'put': {
      const ttl = str('ttl');
      if (ttl !== undefined) parseDurationOption(ttl, 'ttl');
      command = { name, key: args[0]!, value: args[1]!, ttl, cas };
      break;
    }
    case 'del':
      if (cas !== undefined && bool('prefix'))
        throw new UsageError('--cas cannot be combined with --prefix', name);
      command = { name, key: args[0]!, prefix: bool('prefix'), cas };
      break;
    case 'watch': {
      const wait = str('wait') ?? DEFAULT_WATCH_WAIT;
      const indexText = str('index');
      command = {
        name,
        key: args[0]!,
        prefix: bool('prefix'),
        index: indexText === undefined ? undefined : parseUint(indexText, 'index'),
        waitMs: parseDurationOption(wait, 'wait'),
        wait,
      };
      break;
    }
    case 'member list':
      command = { name };
      break;
    case 'member add':
      command = {
        name,
        id: memberIdArg(args[0]!, 'member id'),
        peerUrl: args[1]!,
        clientUrl: str('client-url'),
      };
      break;
    case 'member promote':
    case 'member remove':
      command = { name, id: memberIdArg(args[0]!, 'member id') };
      break;
    case 'move-leader': {
      const to = str('to');
      command = { name, to: to === undefined ? undefined : memberIdArg(to, 'target id') };
      break;
    }
    case 'status':
      command = { name };
      break;
  }
  return { global: g, command };
}
