// The options only `kubectl kv backup` and `kubectl kv restore` take (main.ts parses the common
// ones and hands these over), checked per command. Pure.

export interface BackupCommand {
  /** The KVBackup's name; absent: CLUSTER-<UTC time>. */
  name?: string;
  wait: boolean;
  /** How long --wait waits for Completed or Failed. */
  waitTimeoutMs: number;
}

export interface RestoreCommand {
  /** A KVCluster in the namespace, or s3://bucket/prefix. */
  from: string;
  toTime?: string;
  toIndex?: number;
  endpoint?: string;
  region?: string;
  credentialsSecret?: string;
  rootSecret?: string;
  replicas?: number;
  dryRun: boolean;
}

/** Each option and whether it takes a value. */
export const BACKUP_RESTORE_OPTIONS: Record<string, boolean> = {
  '--name': true,
  '--wait': false,
  '--wait-timeout': true,
  '--to-time': true,
  '--to-index': true,
  '--endpoint': true,
  '--region': true,
  '--credentials-secret': true,
  '--root-secret': true,
  '--replicas': true,
  '--dry-run': false,
};

const BACKUP_ONLY = ['--name', '--wait', '--wait-timeout'];
const RESTORE_ONLY = [
  '--to-time',
  '--to-index',
  '--endpoint',
  '--region',
  '--credentials-secret',
  '--root-secret',
  '--replicas',
  '--dry-run',
];

/** A DNS-1123 subdomain (Kubernetes object names). */
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;
export const DEFAULT_BACKUP_WAIT_MS = 10 * 60_000;

/** Options given to a command that does not take them are refused, naming the command that does. */
export function refuseStray(
  command: string,
  given: Map<string, string | true>,
  fail: (m: string) => never,
): void {
  for (const flag of given.keys()) {
    if (BACKUP_ONLY.includes(flag) && command !== 'backup') fail(`${flag} is only for backup`);
    if (RESTORE_ONLY.includes(flag) && command !== 'restore') fail(`${flag} is only for restore`);
  }
}

export function backupCommand(
  given: Map<string, string | true>,
  parseDuration: (raw: string) => number,
  fail: (m: string) => never,
): BackupCommand {
  const name = given.get('--name');
  if (typeof name === 'string' && (name.length > 253 || !NAME.test(name)))
    fail(`--name "${name}" is not a valid object name (lower-case letters, digits, '-', '.')`);
  const timeout = given.get('--wait-timeout');
  if (timeout !== undefined && given.get('--wait') === undefined) fail('--wait-timeout needs --wait');
  return {
    ...(typeof name === 'string' ? { name } : {}),
    wait: given.has('--wait'),
    waitTimeoutMs: typeof timeout === 'string' ? parseDuration(timeout) : DEFAULT_BACKUP_WAIT_MS,
  };
}

export function restoreCommand(
  from: string | undefined,
  given: Map<string, string | true>,
  fail: (m: string) => never,
): RestoreCommand {
  if (from === undefined || from === '') fail('restore needs --from KVCLUSTER or --from s3://BUCKET/PREFIX');
  const str = (flag: string): string | undefined => {
    const v = given.get(flag);
    return typeof v === 'string' ? v : undefined;
  };
  const toTime = str('--to-time');
  const toIndexText = str('--to-index');
  if (toTime !== undefined && toIndexText !== undefined) fail('give --to-time or --to-index, not both');
  if (toTime !== undefined && (!RFC3339.test(toTime) || Number.isNaN(Date.parse(toTime))))
    fail(`--to-time "${toTime}" is not an RFC 3339 time (e.g. 2026-12-01T10:00:00Z)`);
  let toIndex: number | undefined;
  if (toIndexText !== undefined) {
    if (!/^\d{1,15}$/.test(toIndexText) || Number(toIndexText) < 1)
      fail(`--to-index "${toIndexText}" is not a positive Raft index`);
    toIndex = Number(toIndexText);
  }
  let replicas: number | undefined;
  const replicasText = str('--replicas');
  if (replicasText !== undefined) {
    if (!/^\d{1,2}$/.test(replicasText) || Number(replicasText) < 1)
      fail(`--replicas "${replicasText}" is not a member count (1 or more)`);
    replicas = Number(replicasText);
  }
  const endpoint = str('--endpoint');
  if (endpoint !== undefined && !/^https?:\/\/[^/]+\/?$/.test(endpoint))
    fail(`--endpoint "${endpoint}" is not http(s)://host[:port]`);
  for (const flag of ['--credentials-secret', '--root-secret']) {
    const v = str(flag);
    if (v !== undefined && (v.length > 253 || !NAME.test(v))) fail(`${flag} "${v}" is not a Secret name`);
  }
  const isUrl = from.startsWith('s3://');
  if (isUrl && !/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/.test(from))
    fail(`--from "${from}" is not s3://BUCKET[/PREFIX]`);
  if (!isUrl && !NAME.test(from)) fail(`--from "${from}" is neither a KVCluster name nor s3://BUCKET/PREFIX`);
  if (isUrl && str('--credentials-secret') === undefined)
    fail(
      '--from s3://... needs --credentials-secret (a Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)',
    );
  const optional: Partial<RestoreCommand> = {};
  if (toTime !== undefined) optional.toTime = toTime;
  if (toIndex !== undefined) optional.toIndex = toIndex;
  if (endpoint !== undefined) optional.endpoint = endpoint;
  if (replicas !== undefined) optional.replicas = replicas;
  for (const [flag, key] of [
    ['--region', 'region'],
    ['--credentials-secret', 'credentialsSecret'],
    ['--root-secret', 'rootSecret'],
  ] as const) {
    const v = str(flag);
    if (v !== undefined) optional[key] = v;
  }
  return { from, ...optional, dryRun: given.has('--dry-run') };
}
