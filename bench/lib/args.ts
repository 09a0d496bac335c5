// Command line of `npm run bench -- [flags]`.

export type SystemName = 'etcd' | 'kvstore';
export const ALL_SYSTEMS: readonly SystemName[] = ['etcd', 'kvstore'];

export interface BenchOptions {
  quick: boolean;
  systems: SystemName[];
  skip1m: boolean;
  /** seconds per wrk measurement */
  durationSec: number;
  repetitions: number;
  connections: number[];
  /** keyspace of the PUT/GET load */
  keyspace: number;
  /** keys loaded for the memory / restart / disk measurements */
  bulkKeys: number;
  failoverRepetitions: number;
  keepData: boolean;
}

export const USAGE = `usage: npm run bench -- [--quick] [--only etcd|kvstore] [--skip-1m]
  [--duration <s>] [--reps <n>] [--connections 1,16,64] [--bulk-keys <n>] [--failovers <n>] [--keep-data] [--help]
  --quick       smoke run: one repetition, fewer points, smaller keyspace, short runs
  --only        benchmark one system only
  --skip-1m     skip the 1M-key memory / restart / disk measurements
  --failovers   leader kill -9 repetitions for the failover median (default 5)`;

function positiveInt(flag: string, text: string | undefined): number {
  const value = Number(text);
  if (text === undefined || !Number.isInteger(value) || value <= 0) {
    throw new Error(`${flag} needs a positive integer, got ${String(text)}`);
  }
  return value;
}

export function parseArgs(argv: readonly string[]): BenchOptions {
  const quick = argv.includes('--quick');
  const options: BenchOptions = {
    quick,
    systems: [...ALL_SYSTEMS],
    skip1m: false,
    durationSec: quick ? 3 : 10,
    repetitions: quick ? 1 : 3,
    connections: quick ? [1, 64] : [1, 16, 64],
    keyspace: quick ? 10_000 : 100_000,
    bulkKeys: quick ? 100_000 : 1_000_000,
    failoverRepetitions: quick ? 1 : 5,
    keepData: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? arg.split('=', 2) : [arg, undefined];
    const next = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case '--quick':
        break;
      case '--only': {
        const system = next();
        if (system !== 'etcd' && system !== 'kvstore')
          throw new Error(`--only takes etcd or kvstore, got ${String(system)}`);
        options.systems = [system];
        break;
      }
      case '--skip-1m':
        options.skip1m = true;
        break;
      case '--duration':
        options.durationSec = positiveInt('--duration', next());
        break;
      case '--reps':
        options.repetitions = positiveInt('--reps', next());
        break;
      case '--connections':
        options.connections = (next() ?? '').split(',').map((c) => positiveInt('--connections', c));
        break;
      case '--bulk-keys':
        options.bulkKeys = positiveInt('--bulk-keys', next());
        break;
      case '--failovers':
        options.failoverRepetitions = positiveInt('--failovers', next());
        break;
      case '--keep-data':
        options.keepData = true;
        break;
      default:
        throw new Error(`unknown flag ${arg}\n${USAGE}`);
    }
  }
  return options;
}
