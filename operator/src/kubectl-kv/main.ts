// kubectl-kv: the `kubectl kv` plugin for KVClusters. kubectl runs any `kubectl-kv` on PATH.
// Exit codes: 0 done, 1 the API or a member refused (message on stderr), 2 usage, 3 nothing
// reachable (no member answered).
import { existsSync, writeFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { configSource } from '../kube/config-source.ts';
import { Api, ApiError, memberRequest, type MemberAccess } from './api.ts';
import { gather, readCluster, readMemberCredentials, readPods } from './gather.ts';
import { buildReport } from './report.ts';
import { recover } from './recover.ts';
import { formatStatus, statusJson } from './status.ts';
import { requestRestart, setFenced, setHibernate } from './day2.ts';
import {
  BACKUP_RESTORE_OPTIONS,
  backupCommand,
  refuseStray,
  restoreCommand,
  type BackupCommand,
  type RestoreCommand,
} from './backup-args.ts';
import { runBackup } from './backup.ts';
import { runRestore } from './restore.ts';

export const USAGE = `Usage: kubectl kv COMMAND CLUSTER [options]

Day-2 commands for kv-store clusters (KVCluster, kvstore.io/v1alpha1).

Commands:
  status CLUSTER                  members, roles, leader, lag, versions, conditions, operation, events
  move-leader CLUSTER [--to M]    hand Raft leadership to member M (default: the most up-to-date voter)
  report CLUSTER [-f FILE]        write a .tar.gz with the KVCluster, events, pods, member statuses,
                                  metrics and logs for a bug report (default kv-report-CLUSTER-<time>.tar.gz)
  recover CLUSTER --from M        after a permanent loss of quorum (condition QuorumLost): approve
          [--accept-data-loss]    rebuilding the cluster from surviving member M; lists the survivors
                                  by log and refuses one behind another unless --accept-data-loss
  restart CLUSTER [MEMBER]        rolling restart through the operator, quorum-aware: followers first,
                                  the leader last after moving leadership (annotation kvstore.io/restart-requests)
  fence CLUSTER MEMBER            stop MEMBER serving clients and voting, keeping its data: leadership
                                  moved off it, demoted to learner, NotReady (annotation kvstore.io/fenced-members)
  unfence CLUSTER MEMBER          serve clients again; promoted back to voter once caught up
  hibernate CLUSTER               stop every member (spec.hibernate: true); volumes and identity are kept
  wake CLUSTER                    bring a hibernated cluster back (spec.hibernate: false)
  backup CLUSTER [--name N]       a full snapshot now to the cluster's bucket: creates a KVBackup
         [--wait]                 (default name CLUSTER-<UTC time>); --wait follows it to Completed
                                  or Failed (--wait-timeout DUR, default 10m) and prints index, size, object
  restore NEW --from SOURCE       create the KVCluster NEW from an archive (spec.bootstrap.recovery).
          [--to-time T | --to-index N]
                                  SOURCE: a KVCluster (its bucket, credentials, TLS, auth, image,
                                  storage and root Secret are used) or s3://BUCKET/PREFIX (then
                                  --credentials-secret S, and --root-secret S if it had auth on);
                                  --endpoint URL, --region R, --replicas N override; latest state
                                  unless --to-time (RFC 3339) or --to-index; --dry-run prints the
                                  object (-o yaml|json) and creates nothing

Options:
  -n, --namespace NS        namespace of the KVCluster (default: the kubeconfig context's, else "default")
  --kubeconfig FILE         kubeconfig to use (default: $KUBECONFIG, ~/.kube/config)
  --context NAME            kubeconfig context
  --member-access MODE      how members are reached: "proxy" (the API server's pod proxy; needs
                            get/create on pods/proxy) or "direct" (pod IPs, from inside the cluster
                            network) (default proxy). With TLS on, members are spoken to over
                            HTTPS with the CA bundle and, directly, as root: needs get on the
                            Secrets the KVCluster's status names
  -o, --output FORMAT       status, backup --wait: text or json; restore --dry-run: yaml or json
                            (default text; yaml for restore --dry-run)
  --request-timeout DUR     per request, e.g. 10s (default 10s)
  -h, --help                this help
`;

class UsageError extends Error {}

const COMMANDS = [
  'status',
  'move-leader',
  'report',
  'restart',
  'fence',
  'unfence',
  'hibernate',
  'wake',
  'recover',
  'backup',
  'restore',
] as const;
type Command = (typeof COMMANDS)[number];
const isCommand = (c: string): c is Command => (COMMANDS as readonly string[]).includes(c);

export interface Args {
  command: Command | 'help';
  cluster: string;
  /** restart, fence, unfence: the member. */
  member?: string;
  namespace?: string;
  kubeconfig?: string;
  context?: string;
  access: MemberAccess;
  output: 'text' | 'json' | 'yaml';
  to?: string;
  file?: string;
  from?: string;
  acceptDataLoss?: boolean;
  timeoutMs: number;
  backup?: BackupCommand;
  restore?: RestoreCommand;
}

function duration(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(raw);
  if (!m) throw new UsageError(`invalid duration "${raw}" (e.g. 500ms, 10s, 1m)`);
  const n = Number(m[1]);
  return Math.round(m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000);
}

export function parseArgs(argv: string[]): Args {
  const positional: string[] = [];
  const opts: Partial<Args> = {};
  let access: MemberAccess = 'proxy';
  let output: 'text' | 'json' | 'yaml' | undefined;
  const given = new Map<string, string | true>();
  let timeoutMs = 10_000;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (eq > 0) return arg.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '-h':
      case '--help':
        return { command: 'help', cluster: '', access, output: 'text', timeoutMs };
      case '-n':
      case '--namespace':
        opts.namespace = value();
        break;
      case '--kubeconfig':
        opts.kubeconfig = value();
        break;
      case '--context':
        opts.context = value();
        break;
      case '--member-access': {
        const v = value();
        if (v !== 'proxy' && v !== 'direct')
          throw new UsageError(`--member-access must be proxy or direct, not "${v}"`);
        access = v;
        break;
      }
      case '-o':
      case '--output': {
        const v = value();
        if (v !== 'text' && v !== 'json' && v !== 'yaml')
          throw new UsageError(`--output must be text, json or yaml, not "${v}"`);
        output = v;
        break;
      }
      case '--to':
        opts.to = value();
        break;
      case '-f':
      case '--file':
        opts.file = value();
        break;
      case '--from':
        opts.from = value();
        break;
      case '--accept-data-loss':
        opts.acceptDataLoss = true;
        break;
      case '--request-timeout':
        timeoutMs = duration(value());
        break;
      default:
        if (BACKUP_RESTORE_OPTIONS[flag] !== undefined) {
          given.set(flag, BACKUP_RESTORE_OPTIONS[flag] ? value() : true);
          break;
        }
        if (arg.startsWith('-')) throw new UsageError(`unknown option "${flag}"`);
        positional.push(arg);
    }
  }
  const [command, cluster, ...extra] = positional;
  if (command === undefined) throw new UsageError('missing COMMAND');
  if (!isCommand(command)) throw new UsageError(`unknown command "${command}"`);
  if (cluster === undefined) throw new UsageError(`${command} needs the KVCluster name`);
  const takesMember = command === 'restart' || command === 'fence' || command === 'unfence';
  const [member, ...rest] = takesMember ? extra : [undefined, ...extra];
  if ((command === 'fence' || command === 'unfence') && member === undefined)
    throw new UsageError(`${command} needs the member name (e.g. ${cluster}-1)`);
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  if (member !== undefined) opts.member = member;
  if (opts.to !== undefined && command !== 'move-leader')
    throw new UsageError('--to is only for move-leader');
  if (opts.file !== undefined && command !== 'report') throw new UsageError('-f is only for report');
  if (
    (opts.acceptDataLoss === true && command !== 'recover') ||
    (opts.from !== undefined && command !== 'recover' && command !== 'restore') ||
    (command === 'recover' && !opts.from)
  )
    throw new UsageError(
      'recover needs --from MEMBER; --accept-data-loss is only for recover, --from for recover and restore',
    );
  const fail = (m: string): never => {
    throw new UsageError(m);
  };
  refuseStray(command, given, fail);
  if (command === 'backup') opts.backup = backupCommand(given, duration, fail);
  if (command === 'restore') opts.restore = restoreCommand(opts.from, given, fail);
  const yamlOk = command === 'restore' && opts.restore?.dryRun === true;
  if (output === 'yaml' && !yamlOk) throw new UsageError('-o yaml is only for restore --dry-run');
  if (output === 'text' && yamlOk) throw new UsageError('restore --dry-run prints yaml or json');
  return { ...opts, command, cluster, access, output: output ?? (yamlOk ? 'yaml' : 'text'), timeoutMs };
}

function kubeConfig(args: Args): KubeConfig {
  const kc = new KubeConfig();
  if (args.kubeconfig !== undefined) {
    if (!existsSync(args.kubeconfig)) throw new ApiError(0, `--kubeconfig ${args.kubeconfig} does not exist`);
    kc.loadFromFile(args.kubeconfig);
  } else {
    const source = configSource(process.env, existsSync);
    if (source.kind === 'none') throw new ApiError(0, source.message.replace('run the operator', 'run it'));
    kc.loadFromDefault();
  }
  if (args.context !== undefined) kc.setCurrentContext(args.context);
  return kc;
}

function namespaceOf(kc: KubeConfig, args: Args): string {
  if (args.namespace !== undefined) return args.namespace;
  const ctx = kc.getContextObject(kc.getCurrentContext());
  return ctx?.namespace ?? 'default';
}

class Unreachable extends Error {}

async function moveLeader(api: Api, args: Args, namespace: string): Promise<string> {
  const cluster = await readCluster(api, namespace, args.cluster);
  const pods = await readPods(api, namespace, args.cluster);
  if (args.to !== undefined) {
    const known = new Set([
      ...(cluster.status?.members ?? []).map((m) => m.name),
      ...pods.map((p) => p.name),
    ]);
    if (!known.has(args.to))
      throw new ApiError(404, `${args.to} is not a member of ${namespace}/${args.cluster}`);
  }
  // Any member forwards to the leader; try the recorded leader first, then the others.
  const leader = cluster.status?.leader;
  const order = [...pods.filter((p) => p.name === leader), ...pods.filter((p) => p.name !== leader)].filter(
    (p) => !p.deleting,
  );
  const failures: string[] = [];
  for (const pod of order) {
    let res;
    try {
      res = await memberRequest(
        api,
        args.access,
        pod,
        'POST',
        '/v1/cluster/leader',
        args.to ? { to: args.to } : {},
      );
    } catch (e) {
      failures.push(`${pod.name}: ${e instanceof Error ? e.message : String(e)}`);
      continue;
    }
    if (res.status === 200) return (JSON.parse(res.body) as { leader: string }).leader;
    const err = (JSON.parse(res.body || '{}') as { error?: { code?: string; message?: string } }).error;
    // 503: this member cannot act now (no leader, shutting down); another may.
    if (res.status === 503) {
      failures.push(`${pod.name}: ${err?.message ?? res.body}`);
      continue;
    }
    throw new ApiError(res.status, `${err?.code ?? res.status}: ${err?.message ?? res.body.slice(0, 200)}`);
  }
  throw new Unreachable(`no member could transfer leadership (${failures.join('; ') || 'no member pods'})`);
}

export async function main(argv: string[]): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`kubectl kv: ${e.message} (see kubectl kv --help)\n`);
      return 2;
    }
    throw e;
  }
  if (args.command === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    const kc = kubeConfig(args);
    const api = new Api(kc, args.timeoutMs);
    const namespace = namespaceOf(kc, args);
    // TLS and auth are on by default: members are then spoken to over HTTPS as root.
    if (
      args.command === 'status' ||
      args.command === 'move-leader' ||
      args.command === 'report' ||
      args.command === 'recover'
    )
      api.members = await readMemberCredentials(api, namespace, args.cluster);
    switch (args.command) {
      case 'status': {
        const g = await gather(api, args.access, namespace, args.cluster);
        process.stdout.write(
          args.output === 'json' ? `${JSON.stringify(statusJson(g), null, 2)}\n` : formatStatus(g),
        );
        return 0;
      }
      case 'move-leader': {
        const leader = await moveLeader(api, args, namespace);
        process.stdout.write(`leader: ${leader}\n`);
        return 0;
      }
      case 'recover':
        await recover(
          api,
          args.access,
          namespace,
          args.cluster,
          args.from!,
          args.acceptDataLoss === true,
          (l) => process.stdout.write(`${l}\n`),
        );
        return 0;
      case 'hibernate':
      case 'wake':
        process.stdout.write(
          `${await setHibernate(api, namespace, args.cluster, args.command === 'hibernate')}\n`,
        );
        return 0;
      case 'fence':
      case 'unfence':
        process.stdout.write(
          `${await setFenced(api, namespace, args.cluster, args.member ?? '', args.command === 'fence')}\n`,
        );
        return 0;
      case 'restart':
        process.stdout.write(`${await requestRestart(api, namespace, args.cluster, args.member)}\n`);
        return 0;
      case 'backup':
        await runBackup(api, namespace, args.cluster, args.backup!, args.output === 'json', (l) =>
          process.stdout.write(`${l}\n`),
        );
        return 0;
      case 'restore':
        await runRestore(
          api,
          namespace,
          args.cluster,
          args.restore!,
          args.output,
          (t) => process.stdout.write(t),
          (l) => process.stderr.write(`kubectl kv: ${l}\n`),
        );
        return 0;
      case 'report': {
        const now = new Date();
        const file =
          args.file ?? `kv-report-${args.cluster}-${now.toISOString().replace(/[:.]/g, '-')}.tar.gz`;
        const r = await buildReport(api, args.access, namespace, args.cluster, now);
        writeFileSync(file, r.archive);
        process.stdout.write(
          `wrote ${file} (${r.files.length} files${r.errors.length > 0 ? `, ${r.errors.length} not gathered: see errors.txt` : ''})\n`,
        );
        return 0;
      }
    }
  } catch (e) {
    if (e instanceof Unreachable) {
      process.stderr.write(`kubectl kv: ${e.message}\n`);
      return 3;
    }
    process.stderr.write(`kubectl kv: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}
