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
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Client, tlsRequestOptions } from './client.ts';
import { credentialsOf, loadTls, parseSecurityOptions, type TlsFiles } from './security.ts';
import { restoreIfEmpty, type StagedOutcome } from '../backup/restore-staging.ts';
import { writeRestoreInfo, type RestoreInfo } from '../backup/restore-info.ts';

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
  cacert: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  user: { type: 'string' },
  password: { type: 'string' },
  'data-dir': { type: 'string' },
  'peer-url': { type: 'string' },
  'client-url': { type: 'string' },
  'if-empty': { type: 'boolean' },
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
--peer-url URL / --client-url URL instead of --addr: this member's URLs when they differ (https, a
separate peer port), exactly as the member will advertise them.
--cluster-token T keeps two restores of one source into one membership apart.
--if-empty: when DIR already holds data, restore nothing and exit 0 (an init step that runs on every
pod start); the restore is written beside DIR's contents and moved in at the end, so an
interrupted one is redone, never taken for data.
snapshot save over https: --cacert FILE (and --cert/--key); with auth on it needs the root role:
--user root:PASSWORD (or --password, $KVCTL_PASSWORD) or --token TOKEN ($KVCTL_TOKEN).
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
      const outcome = await restoreInto(target, p.values['if-empty'] === true, async (dataDir) => {
        const r = await restoreDataDir(
          {
            content,
            index: meta.index,
            term: meta.term,
            sourceClusterId: meta.clusterId,
            fingerprint: meta.sha256,
            pointInTime: meta.takenAt,
          },
          { ...target, dataDir },
        );
        await writeRestoreInfo(dataDir, infoOf(r, file, 'latest', meta.takenAt));
        return r;
      });
      io.out(outcomeText(outcome, output, target.dataDir, (r) => restoredText(r, target.dataDir)));
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
      const goalText =
        idx !== undefined
          ? `index ${idx}`
          : time !== undefined
            ? `time ${new Date(time).toISOString()}`
            : 'latest';
      const outcome = await restoreInto(target, p.values['if-empty'] === true, async (dataDir) => {
        const r = await restoreFromArchive(
          { url: from, ...(endpoint !== undefined ? { endpoint } : {}) },
          { ...(idx !== undefined ? { toIndex: idx } : {}), ...(time !== undefined ? { toTime: time } : {}) },
          { ...target, dataDir },
        );
        await writeRestoreInfo(dataDir, infoOf(r, from, goalText, r.pointInTime));
        return r;
      });
      io.out(
        outcomeText(
          outcome,
          output,
          target.dataDir,
          (r) =>
            restoredText(r, target.dataDir) +
            `replayed ${r.replayed} archived entries after the snapshot at ${r.snapshotIndex}\n`,
        ),
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

/** Straight into --data-dir, or with --if-empty through a staging directory (restore-staging.ts). */
async function restoreInto<R>(
  target: { dataDir: string },
  ifEmpty: boolean,
  run: (dataDir: string) => Promise<R>,
): Promise<StagedOutcome<R>> {
  if (ifEmpty) return restoreIfEmpty(target.dataDir, run);
  return { kind: 'restored', result: await run(target.dataDir) };
}

function outcomeText<R>(
  o: StagedOutcome<R>,
  output: string | undefined,
  dataDir: string,
  text: (r: R) => string,
): string {
  if (output === 'json') return json(o.kind === 'skipped' ? o : { ...o.result, outcome: o.kind });
  if (o.kind === 'skipped')
    return `${dataDir} already holds data (${o.entries.slice(0, 3).join(', ')}); nothing restored\n`;
  return (o.kind === 'finished' ? 'finished an interrupted restore: ' : '') + text(o.result);
}

function infoOf(r: RestoreResult, source: string, target: string, pointInTime: number): RestoreInfo {
  return {
    source,
    target,
    index: r.index,
    term: r.term,
    keys: r.keys,
    pointInTime: new Date(pointInTime).toISOString(),
    clusterId: r.clusterId,
    restoredAt: new Date().toISOString(),
  };
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
  const ownUrls = v['peer-url'] !== undefined || v['client-url'] !== undefined;
  if (ownUrls && (v['peer-url'] === undefined || v['client-url'] === undefined))
    throw new UsageError('--peer-url and --client-url go together');
  if (ownUrls && v.addr !== undefined)
    throw new UsageError('give --addr or --peer-url/--client-url, not both');
  if (!members.some((m) => m.id === v.id)) {
    if (ownUrls) members.push({ id: v.id, peerUrl: url(v['peer-url']!), clientUrl: url(v['client-url']!) });
    else if (v.addr === undefined)
      throw new UsageError(
        `--peers does not list ${v.id}: give its address with --addr host:port (or --peer-url and --client-url)`,
      );
    else members.push(member(v.id, v.addr, '--addr'));
  } else if (v.addr !== undefined || ownUrls) {
    throw new UsageError(`--peers already gives ${v.id}'s address; drop --addr/--peer-url/--client-url`);
  }
  return {
    dataDir: v['data-dir'],
    memberId: v.id,
    members,
    ...(v['cluster-token'] !== undefined ? { clusterToken: v['cluster-token'] } : {}),
  };
}

/** A member URL as the member advertises it: http(s)://host:port, nothing else. */
function url(text: string): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new UsageError(`"${text}" is not a URL`);
  }
  if (
    (u.protocol !== 'http:' && u.protocol !== 'https:') ||
    u.port === '' ||
    (u.pathname !== '/' && u.pathname !== '')
  )
    throw new UsageError(`"${text}" must look like http(s)://host:port`);
  return u.origin;
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
  const security = parseSecurityOptions(
    (n) => p.values[n as keyof typeof p.values] as string | undefined,
    env,
  );
  const tls = await loadTls(security);
  const credentials = credentialsOf(security);
  // Logs in (--user) through kvctl's client; the stream itself is one plain GET.
  const auth = new Client({
    endpoints,
    timeoutMs,
    requestTimeoutMs: Math.min(timeoutMs, 10_000),
    tls,
    ...(credentials !== undefined ? { credentials } : {}),
  });
  const failures: string[] = [];
  for (const endpoint of endpoints) {
    let res: SnapshotResponse;
    try {
      const token = await auth.bearer(endpoint);
      res = await getStream(`${endpoint}${SNAPSHOT_ROUTE}`, tls, token, timeoutMs);
    } catch (e) {
      if (e instanceof ServerError) throw e;
      failures.push(`${endpoint}: ${(e as Error).message}`);
      continue;
    }
    if (res.status !== 200) {
      const text = await res.text();
      const body = errorBody(text);
      const code = body?.error?.code ?? `http-${res.status}`;
      const message = body?.error?.message ?? text.slice(0, 200);
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
    const h = (name: string): string => {
      const v = res.headers[name.toLowerCase()];
      return typeof v === 'string' ? v : '';
    };
    const header = {
      index: Number(h(SNAPSHOT_HEADERS.index)),
      term: Number(h(SNAPSHOT_HEADERS.term)),
      clusterId: h(SNAPSHOT_HEADERS.clusterId),
      memberId: h(SNAPSHOT_HEADERS.memberId),
      takenAt: Number(h(SNAPSHOT_HEADERS.takenAt)),
      keys: Number(h(SNAPSHOT_HEADERS.keys)),
      members: JSON.parse(decodeURIComponent(h(SNAPSHOT_HEADERS.members) || '%5B%5D')) as Member[],
    };
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

interface SnapshotResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  text(): Promise<string>;
}

/** GET over http or https (--cacert, --cert, --key), the body left as a stream. */
function getStream(
  url: string,
  tls: TlsFiles,
  token: string | undefined,
  timeoutMs: number,
): Promise<SnapshotResponse> {
  const u = new URL(url);
  const secure = u.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const req = (secure ? httpsRequest : httpRequest)(
      u,
      {
        method: 'GET',
        agent: false,
        headers: token !== undefined ? { authorization: `Bearer ${token}` } : {},
        signal: AbortSignal.timeout(timeoutMs),
        ...tlsRequestOptions(secure, tls),
      },
      (res) =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: res,
          async text() {
            const chunks: Buffer[] = [];
            let size = 0;
            for await (const c of res as AsyncIterable<Buffer>) {
              size += c.byteLength;
              if (size > 64 * 1024) break; // an error body is small; do not buffer a stream
              chunks.push(c);
            }
            res.destroy();
            return Buffer.concat(chunks).toString('utf8');
          },
        }),
    );
    req.on('error', reject);
    req.end();
  });
}

function errorBody(text: string): { error?: { code?: string; message?: string } } | null {
  try {
    return JSON.parse(text) as { error?: { code?: string; message?: string } };
  } catch {
    return null;
  }
}
