// Command-line parsing for `kv-store`, seed-compatible (Go flag style):
// `-flag value`, `--flag value`, `-flag=value`, `--flag=value`; booleans may stand alone.
// Pure: no I/O, no process.exit. The binary prints `error` on one line and exits 2,
// or prints `helpText` and exits 0 when `help` is set.
import { ARCHIVE_DEFAULTS, parseS3Url } from '../backup/archive-layout.ts';
import { parseCron } from '../backup/cron.ts';
import { NODE_DEFAULTS as D, NODE_MINIMUMS as MIN } from '../defaults.ts';
import { parseDuration } from '../kv/duration.ts';
import { isLogLevel, LOG_LEVELS, type LogLevel } from '../logger.ts';

export interface HostPort {
  /** '' means all interfaces (from `:8080`). */
  host: string;
  port: number;
}

export interface PeerSpec {
  id: string;
  /** Address the peer listens on for Raft traffic (and, when it has no separate peer address, clients). */
  addr: HostPort;
  /** `http://host:port` */
  peerUrl: string;
}

export interface NodeOptions {
  id: string;
  /** Client API (and peer traffic unless `peerListen` is set). */
  listen: HostPort;
  /** Separate listener for peer traffic, or null to share `listen`. */
  peerListen: HostPort | null;
  /** How others reach this node's client API. */
  advertise: HostPort;
  clientUrl: string;
  peerUrl: string;
  /** The OTHER initial members; empty = single-node cluster (unless `join`). */
  peers: PeerSpec[];
  dataDir: string;
  join: boolean;
  electionTicks: number;
  tickMs: number;
  snapshotThreshold: number;
  /** Largest snapshot accepted from a peer, in bytes. */
  maxSnapshotBytes: number;
  logLevel: LogLevel;
  /** TLS for the client API and for peer traffic; both null = plain text (the quick start). */
  tls: TlsOptions;
  /** worker_threads serving the client API (docs/adr/0063); 0 = on the Raft thread; absent = the default. */
  httpWorkers?: number;
  /** Continuous archiving to S3 (docs/adr/0070); null = off. */
  backup: BackupOptions | null;
  /** -listen-metrics-addr: plain HTTP for /metrics, /livez and /readyz only (docs/adr/0074); absent = none. */
  metricsListen?: HostPort;
  /** Fencing (docs/adr/0076): refuse clients and report NotReady while this file names the member. */
  fenceFile?: string;
}

export interface BackupOptions {
  /** s3://bucket/prefix */
  url: string;
  /** S3-compatible endpoint (MinIO); undefined = AWS. */
  endpoint: string | undefined;
  rpoMs: number;
  fullEveryMs: number;
  /** -backup-full-schedule: a cron schedule (UTC) instead of the interval; null = the interval. */
  fullSchedule: string | null;
  keepFull: number;
  /** -backup-keep-age: also keep what restores to any point this far back need; null = keepFull only. */
  keepAgeMs: number | null;
}

/** Default of -http-workers (docs/adr/0063 has the measurements behind it). */
export const DEFAULT_HTTP_WORKERS = 0;
/** More workers than this only add threads competing for the same cores. */
export const MAX_HTTP_WORKERS = 64;

export interface ClientTlsOptions {
  certFile: string;
  keyFile: string;
  /**
   * CA bundle client certificates are verified against. Given alone, a certificate is asked for but
   * optional: a presented one must chain to it and its CN is the user; without one, a token is used.
   */
  trustedCaFile: string | null;
  /** Clients must present a certificate from `trustedCaFile` (no token-only clients, no plain probes). */
  clientCertAuth: boolean;
}

export interface PeerTlsOptions {
  certFile: string;
  keyFile: string;
  /** CA bundle both sides' certificates must chain to. */
  trustedCaFile: string;
}

export interface TlsOptions {
  client: ClientTlsOptions | null;
  peer: PeerTlsOptions | null;
}

export type ParseResult = { ok: true; config: NodeOptions } | { ok: false; error: string; help?: true };

export const helpText = `Usage: kv-store -id <id> [flags]

A Raft-replicated key-value store node.

Example (3-node local cluster, one command per node):
  kv-store -id node1 -addr :8080 -peers "node2=localhost:8081,node3=localhost:8082"

Flags (-flag value, --flag value and --flag=value are equivalent):
  -id string               member id of this node (required)
  -addr host:port          client API and peer traffic address; ":8080" = all interfaces (default ":8080")
  -peers list              other initial members, "id=host:port,id=host:port" (empty = single-node cluster)
  -data-dir path           data directory (default "./data/<id>")
  -peer-addr host:port     separate listen address for peer traffic (default: same as -addr)
  -advertise-addr host:port
                           address other nodes and clients use to reach this node
                           (default: -addr, with "localhost" for an all-interfaces host)
  -join                    start empty and wait to be added through the cluster's membership API
  -election-ticks n        ticks without a leader before an election, randomised up to 2x (default ${D.electionTicks})
  -tick-ms n               milliseconds per tick; the leader heartbeats every tick (default ${D.tickMs})
  -snapshot-threshold n    applied entries between snapshots (default ${D.snapshotThreshold})
  -max-snapshot-mb n       largest snapshot accepted from a peer, in MiB (default ${D.maxSnapshotMb})
  -log-level level         ${LOG_LEVELS.join(', ')} (default "${D.logLevel}")
  -http-workers n          threads parsing and answering client HTTP on -addr, 0 = on the Raft
                           thread (default ${DEFAULT_HTTP_WORKERS}, at most ${MAX_HTTP_WORKERS})
  -listen-metrics-addr host:port
                           also serve /metrics, /livez and /readyz (only) here, plain HTTP, no auth
                           (for probes and scrapers when the client port requires certificates)
  -fence-file path         fenced while this file (one member id a line, polled) names -id: client
                           requests get 503 "fenced" and /readyz fails; a missing file fences nobody

TLS (off unless given; with peer TLS, -peer-addr separate from -addr is required):
  -cert-file path          certificate (PEM) of the client API; the client URL becomes https://
  -key-file path           private key of -cert-file
  -trusted-ca-file path    CA bundle client certificates must chain to: a client that presents one
                           from it is the user its CN names (no token needed); a certificate from
                           elsewhere is refused at the handshake; without one, tokens apply
  -client-cert-auth        clients must present a certificate from -trusted-ca-file (mandatory)
  -peer-cert-file path     certificate of this member for peer traffic (mutual TLS); it must name
                           the member: a SAN with its advertised peer host or urn:kvstore:member:<id>
  -peer-key-file path      private key of -peer-cert-file
  -peer-trusted-ca-file path
                           CA bundle peers' certificates must chain to
  Certificate, key and CA files are re-read when they change; no restart is needed.

Continuous archiving to S3 (off unless -backup-s3-url; credentials from AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY; the leader uploads, see README "Backup and restore"):
  -backup-s3-url url       s3://bucket/prefix to archive committed entries and full snapshots to
  -backup-s3-endpoint url  S3-compatible endpoint, e.g. http://minio:9000 (default: AWS, $AWS_ENDPOINT_URL)
  -backup-rpo duration     committed writes reach the bucket within about this long (default "${ARCHIVE_DEFAULTS.rpoMs / 1000}s")
  -backup-full-interval duration
                           a full snapshot this often (default "${ARCHIVE_DEFAULTS.fullEveryMs / 60_000}m")
  -backup-full-schedule cron
                           instead of the interval: a full snapshot at each minute of this 5-field
                           cron schedule, in UTC (e.g. "0 * * * *"; Vixie cron rules)
  -backup-keep-full n      full snapshots kept, with the segments after the oldest (default ${ARCHIVE_DEFAULTS.keepFull})
  -backup-keep-age duration
                           also keep everything a restore to any point this far back needs, e.g.
                           "168h" (default: none, -backup-keep-full alone decides)
  -h, -help                print this help
`;

type FlagKind = 'string' | 'bool';
const FLAGS: Record<string, FlagKind> = {
  id: 'string',
  addr: 'string',
  peers: 'string',
  'data-dir': 'string',
  'peer-addr': 'string',
  'advertise-addr': 'string',
  join: 'bool',
  'election-ticks': 'string',
  'tick-ms': 'string',
  'snapshot-threshold': 'string',
  'max-snapshot-mb': 'string',
  'log-level': 'string',
  'http-workers': 'string',
  'listen-metrics-addr': 'string',
  'cert-file': 'string',
  'key-file': 'string',
  'trusted-ca-file': 'string',
  'client-cert-auth': 'bool',
  'peer-cert-file': 'string',
  'peer-key-file': 'string',
  'peer-trusted-ca-file': 'string',
  'backup-s3-url': 'string',
  'backup-s3-endpoint': 'string',
  'backup-rpo': 'string',
  'backup-full-interval': 'string',
  'backup-keep-full': 'string',
  'backup-full-schedule': 'string',
  'backup-keep-age': 'string',
  'fence-file': 'string',
  help: 'bool',
  h: 'bool',
};

/** DNS-label-like ids: they appear in URLs, metric labels, file names and Kubernetes pod names. */
const ID_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62})$/;

export function isValidMemberId(id: string): boolean {
  return ID_PATTERN.test(id);
}

class FlagError extends Error {}

export function parseHostPort(raw: string, flag: string): HostPort {
  const s = raw.trim();
  let host: string;
  let portText: string;
  const bracketed = /^\[([^\]]*)\]:(.*)$/.exec(s);
  if (bracketed) {
    host = bracketed[1] ?? '';
    portText = bracketed[2] ?? '';
    if (host === '') throw new FlagError(`invalid -${flag} "${raw}": empty IPv6 address`);
  } else {
    const colon = s.lastIndexOf(':');
    if (colon < 0) throw new FlagError(`invalid -${flag} "${raw}": expected host:port`);
    host = s.slice(0, colon);
    portText = s.slice(colon + 1);
    if (host.includes(':'))
      throw new FlagError(`invalid -${flag} "${raw}": IPv6 hosts need brackets, e.g. [::1]:8080`);
    if (/[\s/@?#]/.test(host)) throw new FlagError(`invalid -${flag} "${raw}": bad host`);
  }
  if (!/^\d{1,5}$/.test(portText)) throw new FlagError(`invalid -${flag} "${raw}": port must be a number`);
  const port = Number(portText);
  if (port < 1 || port > 65535) throw new FlagError(`invalid -${flag} "${raw}": port must be 1-65535`);
  return { host, port };
}

function isWildcardHost(host: string): boolean {
  return host === '' || host === '0.0.0.0' || host === '::' || host === '[::]';
}

export function formatHostPort(hp: HostPort): string {
  const host = hp.host.includes(':') ? `[${hp.host}]` : hp.host;
  return `${host}:${hp.port}`;
}

/** Where others can reach a listener: wildcard hosts become localhost (override with -advertise-addr). */
function reachable(hp: HostPort): HostPort {
  return isWildcardHost(hp.host) ? { host: 'localhost', port: hp.port } : hp;
}

function parsePositiveInt(raw: string, flag: string, min = 1): number {
  const s = raw.trim();
  if (!/^\d+$/.test(s)) throw new FlagError(`invalid -${flag} "${raw}": expected a positive integer`);
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < min)
    throw new FlagError(`invalid -${flag} "${raw}": must be at least ${min}`);
  return n;
}

function parseBool(raw: string, flag: string): boolean {
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new FlagError(`invalid -${flag} "${raw}": expected true or false`);
}

function parsePeers(raw: string, selfId: string, scheme: 'http' | 'https'): PeerSpec[] {
  const peers: PeerSpec[] = [];
  const seen = new Set<string>();
  for (const part of raw.split(',')) {
    const item = part.trim();
    if (item === '') continue; // tolerate "a=h:1, ,b=h:2" and trailing commas
    const eq = item.indexOf('=');
    if (eq < 0) throw new FlagError(`invalid -peers entry "${item}": expected id=host:port`);
    const id = item.slice(0, eq).trim();
    let addrText = item.slice(eq + 1).trim();
    if (!ID_PATTERN.test(id)) throw new FlagError(`invalid -peers entry "${item}": bad member id "${id}"`);
    if (id === selfId)
      throw new FlagError(`invalid -peers: "${id}" is this node's own id (list only the other members)`);
    if (seen.has(id)) throw new FlagError(`invalid -peers: member id "${id}" appears twice`);
    seen.add(id);
    addrText = addrText.replace(/^https?:\/\//, '').replace(/\/$/, '');
    const addr = parseHostPort(addrText, 'peers');
    if (isWildcardHost(addr.host))
      throw new FlagError(`invalid -peers entry "${item}": a peer needs a reachable host`);
    peers.push({ id, addr, peerUrl: `${scheme}://${formatHostPort(addr)}` });
  }
  return peers;
}

/** Splits argv into flag values; last occurrence wins (like Go's flag package). */
function scan(argv: string[]): Map<string, string> {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') {
      if (i + 1 < argv.length) throw new FlagError(`unexpected argument "${argv[i + 1]}"`);
      break;
    }
    const m = /^--?([A-Za-z][A-Za-z0-9-]*)(?:=(.*))?$/s.exec(arg);
    if (!m) throw new FlagError(`unexpected argument "${arg}" (flags start with - or --)`);
    const name = m[1] ?? '';
    const kind = FLAGS[name];
    if (kind === undefined) throw new FlagError(`unknown flag "${arg.split('=')[0]}"`);
    let value = m[2];
    if (value === undefined) {
      if (kind === 'bool') value = 'true';
      else {
        const next = argv[i + 1];
        if (next === undefined) throw new FlagError(`flag -${name} needs a value`);
        value = next;
        i++;
      }
    }
    values.set(name, value);
  }
  return values;
}

/** A file flag's value: absent (undefined) or a non-empty path. */
function fileFlag(v: Map<string, string>, name: string): string | undefined {
  const raw = v.get(name);
  if (raw === undefined) return undefined;
  if (raw.trim() === '') throw new FlagError(`invalid -${name}: empty path`);
  return raw;
}

/** The TLS flags and their rules (each broken rule is one line). */
function parseTls(v: Map<string, string>, separatePeerListener: boolean): TlsOptions {
  const certFile = fileFlag(v, 'cert-file');
  const keyFile = fileFlag(v, 'key-file');
  const trustedCaFile = fileFlag(v, 'trusted-ca-file');
  const clientCertAuth = parseBool(v.get('client-cert-auth') ?? 'false', 'client-cert-auth');
  if ((certFile === undefined) !== (keyFile === undefined))
    throw new FlagError('-cert-file and -key-file must be given together');
  if (clientCertAuth && trustedCaFile === undefined)
    throw new FlagError('-client-cert-auth needs -trusted-ca-file (the CA client certificates chain to)');
  if (clientCertAuth && certFile === undefined)
    throw new FlagError('-client-cert-auth needs -cert-file and -key-file (client certificates need TLS)');
  if (trustedCaFile !== undefined && certFile === undefined)
    throw new FlagError('-trusted-ca-file needs -cert-file and -key-file (client certificates need TLS)');
  const peerCert = fileFlag(v, 'peer-cert-file');
  const peerKey = fileFlag(v, 'peer-key-file');
  const peerCa = fileFlag(v, 'peer-trusted-ca-file');
  const peerGiven = [peerCert, peerKey, peerCa].filter((x) => x !== undefined).length;
  if (peerGiven !== 0 && peerGiven !== 3)
    throw new FlagError('-peer-cert-file, -peer-key-file and -peer-trusted-ca-file must be given together');
  if (peerGiven === 3 && !separatePeerListener)
    throw new FlagError('peer TLS needs a separate -peer-addr (peer and client traffic on different ports)');
  return {
    client:
      certFile !== undefined && keyFile !== undefined
        ? { certFile, keyFile, trustedCaFile: trustedCaFile ?? null, clientCertAuth }
        : null,
    peer:
      peerCert !== undefined && peerKey !== undefined && peerCa !== undefined
        ? { certFile: peerCert, keyFile: peerKey, trustedCaFile: peerCa }
        : null,
  };
}

/** -listen-metrics-addr, on a port of its own. */
function metricsListenOf(v: Map<string, string>, taken: HostPort[]): { metricsListen?: HostPort } {
  const text = v.get('listen-metrics-addr');
  if (text === undefined) return {};
  const addr = parseHostPort(text, 'listen-metrics-addr');
  const clash = taken.some(
    (t) =>
      t.port === addr.port && (t.host === addr.host || isWildcardHost(t.host) || isWildcardHost(addr.host)),
  );
  if (clash) throw new FlagError(`invalid -listen-metrics-addr "${text}": the port of -addr or -peer-addr`);
  return { metricsListen: addr };
}

export function parseFlags(argv: string[]): ParseResult {
  try {
    const v = scan(argv);
    if (v.has('help') || v.has('h')) {
      if (parseBool(v.get('help') ?? v.get('h') ?? 'true', 'help'))
        return { ok: false, error: '', help: true };
    }
    const id = (v.get('id') ?? '').trim();
    if (id === '') throw new FlagError('missing required flag -id');
    if (!ID_PATTERN.test(id)) {
      throw new FlagError(
        `invalid -id "${id}": use letters, digits, '.', '_' or '-' (at most 63, starting alphanumeric)`,
      );
    }
    const listen = parseHostPort(v.get('addr') ?? ':8080', 'addr');
    const peerAddr = v.get('peer-addr');
    const peerListen =
      peerAddr === undefined || peerAddr.trim() === '' ? null : parseHostPort(peerAddr, 'peer-addr');
    if (
      peerListen &&
      peerListen.port === listen.port &&
      (peerListen.host === listen.host || isWildcardHost(peerListen.host) || isWildcardHost(listen.host))
    ) {
      throw new FlagError(
        `invalid -peer-addr "${peerAddr}": same port as -addr (omit -peer-addr to share it)`,
      );
    }
    const advertiseText = v.get('advertise-addr');
    const advertise =
      advertiseText === undefined || advertiseText.trim() === ''
        ? reachable(listen)
        : parseHostPort(advertiseText, 'advertise-addr');
    if (isWildcardHost(advertise.host))
      throw new FlagError(`invalid -advertise-addr "${advertiseText}": needs a reachable host`);
    // With a separate peer listener, peers reach us on the advertised host at the peer port.
    const peerAdvertise =
      peerListen === null
        ? advertise
        : isWildcardHost(peerListen.host)
          ? { host: advertise.host, port: peerListen.port }
          : peerListen;
    const logLevel = (v.get('log-level') ?? D.logLevel).trim().toLowerCase();
    if (!isLogLevel(logLevel))
      throw new FlagError(`invalid -log-level "${v.get('log-level')}": one of ${LOG_LEVELS.join(', ')}`);
    const electionTicks = parsePositiveInt(
      v.get('election-ticks') ?? String(D.electionTicks),
      'election-ticks',
      MIN.electionTicks,
    );
    const tickMs = parsePositiveInt(v.get('tick-ms') ?? String(D.tickMs), 'tick-ms', MIN.tickMs);
    const snapshotThreshold = parsePositiveInt(
      v.get('snapshot-threshold') ?? String(D.snapshotThreshold),
      'snapshot-threshold',
      MIN.snapshotThreshold,
    );
    const maxSnapshotMb = parsePositiveInt(
      v.get('max-snapshot-mb') ?? String(D.maxSnapshotMb),
      'max-snapshot-mb',
      MIN.maxSnapshotMb,
    );
    if (maxSnapshotMb > 1024 * 1024)
      throw new FlagError(`invalid -max-snapshot-mb "${maxSnapshotMb}": at most 1048576`);
    const join = parseBool(v.get('join') ?? 'false', 'join');
    const httpWorkersText = v.get('http-workers');
    const httpWorkers =
      httpWorkersText === undefined ? undefined : parsePositiveInt(httpWorkersText, 'http-workers', 0);
    if (httpWorkers !== undefined && httpWorkers > MAX_HTTP_WORKERS)
      throw new FlagError(`invalid -http-workers "${httpWorkers}": at most ${MAX_HTTP_WORKERS}`);
    const tls = parseTls(v, peerListen !== null);
    const peers = parsePeers(v.get('peers') ?? '', id, tls.peer ? 'https' : 'http');
    const dataDirText = v.get('data-dir');
    if (dataDirText !== undefined && dataDirText.trim() === '')
      throw new FlagError('invalid -data-dir: empty path');
    const dataDir = dataDirText ?? `./data/${id}`;
    const fenceFile = v.get('fence-file');
    if (fenceFile !== undefined && fenceFile.trim() === '')
      throw new FlagError('invalid -fence-file: empty path');
    return {
      ok: true,
      config: {
        id,
        listen,
        peerListen,
        advertise,
        clientUrl: `${tls.client ? 'https' : 'http'}://${formatHostPort(advertise)}`,
        peerUrl: `${tls.peer ? 'https' : 'http'}://${formatHostPort(peerAdvertise)}`,
        peers,
        dataDir,
        join,
        electionTicks,
        tickMs,
        snapshotThreshold,
        maxSnapshotBytes: maxSnapshotMb * 1024 * 1024,
        logLevel,
        tls,
        backup: parseBackup(v),
        ...(httpWorkers !== undefined ? { httpWorkers } : {}),
        ...metricsListenOf(v, [listen, ...(peerListen ? [peerListen] : [])]),
        ...(fenceFile !== undefined ? { fenceFile } : {}),
      },
    };
  } catch (e) {
    if (e instanceof FlagError) return { ok: false, error: e.message };
    throw e;
  }
}

function parseBackupDuration(v: Map<string, string>, flag: string, fallbackMs: number): number {
  const raw = v.get(flag);
  if (raw === undefined) return fallbackMs;
  let ms: number;
  try {
    ms = parseDuration(raw);
  } catch (e) {
    throw new FlagError(`invalid -${flag} "${raw}": ${(e as Error).message}`);
  }
  if (!(ms >= 100)) throw new FlagError(`invalid -${flag} "${raw}": at least 100ms`);
  return ms;
}

function parseBackup(v: Map<string, string>): BackupOptions | null {
  const url = v.get('backup-s3-url');
  const others = [
    'backup-s3-endpoint',
    'backup-rpo',
    'backup-full-interval',
    'backup-keep-full',
    'backup-full-schedule',
    'backup-keep-age',
  ];
  if (url === undefined || url.trim() === '') {
    const stray = others.find((f) => v.has(f));
    if (stray !== undefined) throw new FlagError(`-${stray} needs -backup-s3-url`);
    return null;
  }
  try {
    parseS3Url(url);
  } catch (e) {
    throw new FlagError(`invalid -backup-s3-url: ${(e as Error).message}`);
  }
  const endpoint = v.get('backup-s3-endpoint') ?? process.env.AWS_ENDPOINT_URL;
  if (endpoint !== undefined && !/^https?:\/\/[^/]+\/?$/.test(endpoint))
    throw new FlagError(`invalid -backup-s3-endpoint "${endpoint}": expected http(s)://host:port`);
  const schedule = v.get('backup-full-schedule');
  if (schedule !== undefined) {
    if (v.has('backup-full-interval'))
      throw new FlagError('-backup-full-schedule and -backup-full-interval are mutually exclusive: give one');
    try {
      parseCron(schedule);
    } catch (e) {
      throw new FlagError(`invalid -backup-full-schedule "${schedule}": ${(e as Error).message}`);
    }
  }
  return {
    url,
    endpoint,
    rpoMs: parseBackupDuration(v, 'backup-rpo', ARCHIVE_DEFAULTS.rpoMs),
    fullEveryMs: parseBackupDuration(v, 'backup-full-interval', ARCHIVE_DEFAULTS.fullEveryMs),
    fullSchedule: schedule ?? null,
    keepFull: parsePositiveInt(
      v.get('backup-keep-full') ?? String(ARCHIVE_DEFAULTS.keepFull),
      'backup-keep-full',
    ),
    keepAgeMs: v.has('backup-keep-age') ? parseBackupDuration(v, 'backup-keep-age', 0) : null,
  };
}
