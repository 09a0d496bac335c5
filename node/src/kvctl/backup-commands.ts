// kvctl's backup commands (README "Backup and restore"):
//   kvctl [--endpoints URL,...] snapshot save FILE
//   kvctl snapshot status FILE [-o json]
//   kvctl snapshot restore FILE --data-dir DIR --id ID --peers "id=host:port,..." [--addr host:port]
//   kvctl restore --from s3://bucket/prefix [--to-index N | --to-time RFC3339] --data-dir DIR --id ID --peers ...
// Parsed here, not in args.ts: they take files and data directories, not keys.
import { parseArgs as parseCommandLine } from 'node:util';
import { isValidMemberId, parseHostPort, formatHostPort } from '../cli/flags.ts';
import { BackupError } from '../backup/errors.ts';
import { restoreDataDir, type RestoreResult } from '../backup/restore.ts';
import { readSnapshotFile, writeSnapshotFile, type SnapshotMeta } from '../backup/snapshot-file.ts';
import { SNAPSHOT_HEADERS, SNAPSHOT_ROUTE } from '../backup/snapshot-route.ts';
import type { Member } from '../kv/types.ts';
import { parseDurationOption, parseEndpoints, DEFAULT_ENDPOINT, ENDPOINTS_ENV } from './args.ts';
import { CliError, EXIT, ServerError, UnreachableError, UsageError, type ExitCode } from './errors.ts';
import { json, table } from './format.ts';
import type { Io } from './commands.ts';
import { restoreFromArchive } from './archive-restore.ts';

export const BACKUP_COMMANDS = new Set(['snapshot', 'restore']);

/** A backup failure as kvctl reports it (exit 1). */
export class BackupCliError extends CliError {
  readonly exitCode = EXIT.server;
  readonly code: string;
  constructor(e: BackupError) {
    super(e.message);
    this.code = e.code;
  }
}

const OPTIONS = {
  endpoints: { type: 'string' },
  output: { type: 'string', short: 'o' },
  timeout: { type: 'string' },
  token: { type: 'string' },
  'data-dir': { type: 'string' },
  id: { type: 'string' },
  peers: { type: 'string' },
  addr: { type: 'string' },
  'cluster-token': { type: 'string' },
  from: { type: 'string' },
  'to-index': { type: 'string' },
  'to-time': { type: 'string' },
  's3-endpoint': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const BACKUP_HELP = `Usage:
  kvctl [--endpoints URL,...] snapshot save FILE
      stream a consistent snapshot (state at one applied index) from a member into FILE
  kvctl snapshot status FILE [-o json]
      verify FILE and print its index, term, keys, bytes and sha256
  kvctl snapshot restore FILE --data-dir DIR --id ID --peers "id=host:port,..." [--addr host:port]
      build DIR for member ID of a NEW cluster holding FILE's keys (run once per member)
  kvctl restore --from s3://BUCKET/PREFIX [--to-index N | --to-time RFC3339] --data-dir DIR --id ID --peers ...
      the same from the archive, to the latest archived write or to an index or time

--peers lists the other members as kv-store's -peers does (then --addr is this member's host:port),
or every member including ID. Start each member with the same -id, -data-dir and -peers.
--cluster-token T keeps two restores of one source into one membership apart.
--token TOKEN (or $KVCTL_TOKEN): bearer token; snapshot save needs the root role when auth is on.
S3: credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, --s3-endpoint URL (or $AWS_ENDPOINT_URL) for MinIO.
`;

type Parsed = ReturnType<typeof parse>;

function parse(argv: string[]) {
  try {
    return parseCommandLine({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message, 'snapshot');
  }
}

export async function runBackupCommand(
  argv: string[],
  env: Record<string, string | undefined>,
  io: Io,
): Promise<ExitCode> {
  const p = parse(argv);
  const [group, sub, ...rest] = p.positionals;
  if (p.values.help === true) {
    io.out(BACKUP_HELP);
    return EXIT.ok;
  }
  const output = p.values.output;
  if (output !== undefined && output !== 'simple' && output !== 'table' && output !== 'json')
    throw new UsageError(`--output must be simple, table or json, got "${output}"`);
  try {
    if (group === 'snapshot' && sub === 'save') {
      const file = one(rest, 'snapshot save FILE');
      const meta = await save(p, env, file);
      io.out(output === 'json' ? json(meta) : `saved ${file}\n${metaTable(meta)}`);
      return EXIT.ok;
    }
    if (group === 'snapshot' && sub === 'status') {
      const file = one(rest, 'snapshot status FILE');
      const { meta } = await readSnapshotFile(file);
      io.out(output === 'json' ? json({ ...meta, verified: true }) : metaTable(meta));
      return EXIT.ok;
    }
    if (group === 'snapshot' && sub === 'restore') {
      const file = one(rest, 'snapshot restore FILE');
      const target = restoreTarget(p);
      const { meta, content } = await readSnapshotFile(file);
      const r = await restoreDataDir(
        {
          content,
          index: meta.index,
          term: meta.term,
          sourceClusterId: meta.clusterId,
          fingerprint: meta.sha256,
          pointInTime: meta.takenAt,
        },
        target,
      );
      io.out(output === 'json' ? json(r) : restoredText(r, target.dataDir));
      return EXIT.ok;
    }
    if (group === 'restore') {
      if (sub !== undefined) throw new UsageError(`restore takes no arguments, got "${sub}"`);
      const from = p.values.from;
      if (from === undefined) throw new UsageError('restore needs --from s3://BUCKET/PREFIX');
      const target = restoreTarget(p);
      const toIndex = p.values['to-index'];
      const toTime = p.values['to-time'];
      if (toIndex !== undefined && toTime !== undefined)
        throw new UsageError('give --to-index or --to-time, not both');
      const idx = toIndex === undefined ? undefined : Number(toIndex);
      if (idx !== undefined && !(Number.isSafeInteger(idx) && idx > 0))
        throw new UsageError(`--to-index must be a positive integer, got "${toIndex}"`);
      const time = toTime === undefined ? undefined : Date.parse(toTime);
      if (time !== undefined && !Number.isFinite(time))
        throw new UsageError(`--to-time must be an RFC 3339 time, got "${toTime}"`);
      const endpoint = p.values['s3-endpoint'] ?? env.AWS_ENDPOINT_URL;
      const r = await restoreFromArchive(
        { url: from, ...(endpoint !== undefined ? { endpoint } : {}) },
        { ...(idx !== undefined ? { toIndex: idx } : {}), ...(time !== undefined ? { toTime: time } : {}) },
        target,
      );
      io.out(
        output === 'json'
          ? json(r)
          : restoredText(r, target.dataDir) +
              `replayed ${r.replayed} archived entries after the snapshot at ${r.snapshotIndex}\n`,
      );
      return EXIT.ok;
    }
  } catch (e) {
    if (e instanceof BackupError) throw new BackupCliError(e);
    throw e;
  }
  throw new UsageError(
    `unknown command "${[group, sub].filter(Boolean).join(' ')}"; see kvctl snapshot --help`,
  );
}

function one(args: string[], usage: string): string {
  if (args.length !== 1) throw new UsageError(`usage: kvctl ${usage}`, 'snapshot');
  return args[0]!;
}

function metaTable(m: SnapshotMeta): string {
  return table(
    ['INDEX', 'TERM', 'KEYS', 'BYTES', 'TAKEN', 'CLUSTER', 'SHA256'],
    [
      [
        String(m.index),
        String(m.term),
        String(m.keys),
        String(m.bytes),
        new Date(m.takenAt).toISOString(),
        m.clusterId,
        m.sha256,
      ],
    ],
  );
}

function restoredText(r: RestoreResult, dir: string): string {
  return (
    `restored ${r.keys} keys at index ${r.index} (term ${r.term}) into ${dir}; new cluster id ${r.clusterId}` +
    (r.expiredDropped > 0 ? `; ${r.expiredDropped} keys already expired at the restore point left out` : '') +
    '\n'
  );
}

/** --data-dir, --id, --peers (and --addr) as the new cluster's membership. */
export function restoreTarget(p: Parsed): {
  dataDir: string;
  memberId: string;
  members: Member[];
  clusterToken?: string;
} {
  const v = p.values;
  if (v['data-dir'] === undefined) throw new UsageError('--data-dir DIR is required');
  if (v.id === undefined || !isValidMemberId(v.id))
    throw new UsageError('--id ID is required (letters, digits, ., _, -)');
  if (v.peers === undefined)
    throw new UsageError('--peers "id=host:port,..." is required (use "" for one member with --addr)');
  const members: Member[] = [];
  for (const part of v.peers
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')) {
    const eq = part.indexOf('=');
    const id = part.slice(0, eq);
    if (eq < 0 || !isValidMemberId(id)) throw new UsageError(`--peers entry "${part}" is not id=host:port`);
    if (members.some((m) => m.id === id)) throw new UsageError(`--peers names ${id} twice`);
    members.push(member(id, part.slice(eq + 1), '--peers'));
  }
  if (!members.some((m) => m.id === v.id)) {
    if (v.addr === undefined)
      throw new UsageError(`--peers does not list ${v.id}: give its address with --addr host:port`);
    members.push(member(v.id, v.addr, '--addr'));
  } else if (v.addr !== undefined) {
    throw new UsageError(`--peers already gives ${v.id}'s address; drop --addr`);
  }
  return {
    dataDir: v['data-dir'],
    memberId: v.id,
    members,
    ...(v['cluster-token'] !== undefined ? { clusterToken: v['cluster-token'] } : {}),
  };
}

function member(id: string, addrText: string, flag: string): Member {
  let addr;
  try {
    addr = parseHostPort(addrText.replace(/^https?:\/\//, '').replace(/\/$/, ''), flag.slice(2));
  } catch (e) {
    throw new UsageError(`${flag}: ${(e as Error).message}`);
  }
  // As kv-store does with -peers: one address serves a member's client API and peer traffic.
  const url = `http://${formatHostPort(addr)}`;
  return { id, peerUrl: url, clientUrl: url };
}

async function save(p: Parsed, env: Record<string, string | undefined>, file: string): Promise<SnapshotMeta> {
  const endpoints =
    p.values.endpoints !== undefined
      ? parseEndpoints(p.values.endpoints)
      : env[ENDPOINTS_ENV]
        ? parseEndpoints(env[ENDPOINTS_ENV], ENDPOINTS_ENV)
        : [DEFAULT_ENDPOINT];
  const timeoutMs = parseDurationOption(p.values.timeout ?? '10m', 'timeout');
  const token = p.values.token ?? env.KVCTL_TOKEN;
  const failures: string[] = [];
  for (const endpoint of endpoints) {
    let res: Response;
    try {
      res = await fetch(`${endpoint}${SNAPSHOT_ROUTE}`, {
        headers: token ? { authorization: `Bearer ${token}` } : {},
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      failures.push(`${endpoint}: ${(e as Error).message}`);
      continue;
    }
    if (res.status !== 200) {
      const body = (await res.json().catch(() => null)) as {
        error?: { code?: string; message?: string };
      } | null;
      const code = body?.error?.code ?? `http-${res.status}`;
      const message = body?.error?.message ?? res.statusText;
      // Another member may have a leader or room for a stream.
      if (
        ['no-leader', 'timeout', 'too-many-requests', 'unavailable'].includes(code) &&
        endpoint !== endpoints.at(-1)
      ) {
        failures.push(`${endpoint}: ${code}`);
        continue;
      }
      throw new ServerError(code, message, { status: res.status, endpoint });
    }
    const h = (name: string): string => res.headers.get(name) ?? '';
    const header = {
      index: Number(h(SNAPSHOT_HEADERS.index)),
      term: Number(h(SNAPSHOT_HEADERS.term)),
      clusterId: h(SNAPSHOT_HEADERS.clusterId),
      memberId: h(SNAPSHOT_HEADERS.memberId),
      takenAt: Number(h(SNAPSHOT_HEADERS.takenAt)),
      keys: Number(h(SNAPSHOT_HEADERS.keys)),
      members: JSON.parse(decodeURIComponent(h(SNAPSHOT_HEADERS.members) || '%5B%5D')) as Member[],
    };
    if (res.body === null) throw new BackupError('corrupt', `${endpoint} sent no snapshot body`);
    await writeSnapshotFile(file, header, res.body);
    // Read back and verify before declaring success: a truncated stream fails the decoder here.
    try {
      return (await readSnapshotFile(file)).meta;
    } catch (e) {
      const { unlink } = await import('node:fs/promises');
      await unlink(file).catch(() => undefined);
      throw e;
    }
  }
  throw new UnreachableError(`no endpoint served a snapshot (${failures.join('; ')})`);
}
