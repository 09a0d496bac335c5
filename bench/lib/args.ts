// Command line of `npm run bench -- [flags]`.

/** The clusters the harness starts. */
export type ClusterKind = 'kvstore' | 'etcd36' | 'etcd34';
/** A row of the tables: a cluster plus the load generator that drives it. */
export type RowName = 'kvstore' | 'etcd36' | 'etcd36-gw' | 'etcd34-gw';
export const ALL_ROWS: readonly RowName[] = ['kvstore', 'etcd36', 'etcd36-gw', 'etcd34-gw'];

export interface RowSpec {
  cluster: ClusterKind;
  driver: 'wrk' | 'benchmark';
  label: string;
}

export const ROWS: Readonly<Record<RowName, RowSpec>> = {
  kvstore: { cluster: 'kvstore', driver: 'wrk', label: 'kv-store HTTP (wrk)' },
  etcd36: { cluster: 'etcd36', driver: 'benchmark', label: 'etcd 3.6.8 native gRPC (benchmark)' },
  'etcd36-gw': { cluster: 'etcd36', driver: 'wrk', label: 'etcd 3.6.8 JSON gateway (wrk)' },
  'etcd34-gw': { cluster: 'etcd34', driver: 'wrk', label: 'etcd 3.4 Debian JSON gateway (wrk)' },
};

export type PointGroup = 'put' | 'get' | 'sizes' | 'members5' | 'mixed' | 'watch' | 'growth' | 'failover';
export const ALL_POINTS: readonly PointGroup[] = [
  'put',
  'get',
  'sizes',
  'members5',
  'mixed',
  'watch',
  'growth',
  'failover',
];

export interface BenchOptions {
  quick: boolean;
  rows: RowName[];
  points: PointGroup[];
  /** seconds per measurement */
  durationSec: number;
  repetitions: number;
  /** client counts of the PUT / GET points */
  clients: number[];
  /** value sizes of the sizes points (PUT at 64 clients) */
  valueSizes: number[];
  /** keyspace of the PUT/GET load */
  keyspace: number;
  /** key counts at which the growth points measure memory and restart (cumulative, ascending) */
  growthKeys: number[];
  watchers: number;
  /** writes per second while the watchers wait */
  watchRate: number;
  failoverRepetitions: number;
  keepData: boolean;
  /** throughput points on plain clusters, on TLS clusters, or on both side by side, interleaved */
  tls: 'off' | 'on' | 'both';
}

export const USAGE = `usage: npm run bench -- [--quick] [--only <rows>] [--points <groups>] [--skip-1m] [--growth-5m]
  [--duration <s>] [--reps <n>] [--keyspace <keys>] [--clients 1,16,64,256] [--sizes 100,1024,...] [--growth-keys 100000,1000000]
  [--watchers <n>] [--watch-rate <writes/s>] [--failovers <n>] [--tls off|on|both] [--keep-data] [--help]
  --quick        smoke run: one repetition of 3 s, PUT/GET at 64 clients, failover once, smaller keyspace
  --only         rows, comma list of ${ALL_ROWS.join(',')} (default all)
  --points       groups, comma list of ${ALL_POINTS.join(',')}
                 (default all; --quick: put,get,failover)
  --skip-1m      leave out growth (kept for the older command line)
  --growth-5m    add the 5M-key growth step (opt-in: loading 5M keys takes ~30 min per system here)
  --clients      client counts of the PUT / GET points (--connections is an alias)
  --failovers    leader kill -9 repetitions for the failover median (default 5)
  --tls          off (default): plain text; on: the throughput points on TLS clusters (client HTTPS,
                 peer mutual TLS) instead; both: plain and TLS clusters side by side, every point
                 interleaved over both, plus a TLS-cost table (watch, failover, growth stay plain)`;

function positiveInt(flag: string, text: string | undefined): number {
  const value = Number(text);
  if (text === undefined || !Number.isInteger(value) || value <= 0) {
    throw new Error(`${flag} needs a positive integer, got ${String(text)}`);
  }
  return value;
}

function intList(flag: string, text: string | undefined): number[] {
  return (text ?? '').split(',').map((c) => positiveInt(flag, c));
}

function nameList<T extends string>(flag: string, text: string | undefined, allowed: readonly T[]): T[] {
  const names = (text ?? '').split(',').filter((n) => n !== '');
  if (names.length === 0) throw new Error(`${flag} needs a comma list of ${allowed.join(',')}`);
  for (const name of names) {
    if (!(allowed as readonly string[]).includes(name))
      throw new Error(`${flag}: unknown ${name} (one of ${allowed.join(',')})`);
  }
  return [...new Set(names as T[])];
}

export function parseArgs(argv: readonly string[]): BenchOptions {
  const quick = argv.includes('--quick');
  const options: BenchOptions = {
    quick,
    rows: [...ALL_ROWS],
    points: quick ? ['put', 'get', 'failover'] : [...ALL_POINTS],
    durationSec: quick ? 3 : 10,
    repetitions: quick ? 1 : 3,
    clients: quick ? [64] : [1, 16, 64, 256],
    valueSizes: [100, 1024, 16 * 1024, 256 * 1024],
    keyspace: quick ? 10_000 : 100_000,
    growthKeys: quick ? [100_000] : [100_000, 1_000_000],
    watchers: 1000,
    watchRate: 20,
    failoverRepetitions: quick ? 1 : 5,
    keepData: false,
    tls: 'off',
  };
  let skipGrowth = false;
  let growth5m = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? arg.split('=', 2) : [arg, undefined];
    const next = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case '--quick':
        break;
      case '--only': {
        // the old names: etcd meant the Debian etcd through its gateway
        const text = next()?.replace(/\betcd\b(?![-0-9])/g, 'etcd34-gw');
        options.rows = nameList('--only', text, ALL_ROWS);
        break;
      }
      case '--points':
        options.points = nameList('--points', next(), ALL_POINTS);
        break;
      case '--skip-1m':
        skipGrowth = true;
        break;
      case '--growth-5m':
        growth5m = true;
        break;
      case '--duration':
        options.durationSec = positiveInt('--duration', next());
        break;
      case '--reps':
        options.repetitions = positiveInt('--reps', next());
        break;
      case '--clients':
      case '--connections':
        options.clients = intList(flag, next());
        break;
      case '--sizes':
        options.valueSizes = intList('--sizes', next());
        if (options.valueSizes.some((s) => s > 1024 * 1024))
          throw new Error('--sizes: kv-store values are limited to 1 MiB');
        break;
      case '--growth-keys':
      case '--bulk-keys':
        options.growthKeys = intList(flag, next());
        break;
      case '--keyspace':
        options.keyspace = positiveInt('--keyspace', next());
        break;
      case '--watchers':
        options.watchers = positiveInt('--watchers', next());
        break;
      case '--watch-rate':
        options.watchRate = positiveInt('--watch-rate', next());
        break;
      case '--failovers':
        options.failoverRepetitions = positiveInt('--failovers', next());
        break;
      case '--tls': {
        const mode = next();
        if (mode !== 'off' && mode !== 'on' && mode !== 'both')
          throw new Error(`--tls needs off, on or both, got ${String(mode)}`);
        options.tls = mode;
        break;
      }
      case '--keep-data':
        options.keepData = true;
        break;
      default:
        throw new Error(`unknown flag ${arg}\n${USAGE}`);
    }
  }
  if (growth5m && !options.growthKeys.includes(5_000_000)) options.growthKeys.push(5_000_000);
  options.growthKeys = [...new Set(options.growthKeys)].sort((a, b) => a - b);
  if (skipGrowth) options.points = options.points.filter((p) => p !== 'growth');
  return options;
}

/** The clusters the selected rows need. */
export function clustersFor(rows: readonly RowName[]): ClusterKind[] {
  return [...new Set(rows.map((r) => ROWS[r].cluster))];
}
