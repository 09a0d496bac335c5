// Command-line parsing shared by the chaos CLI and the CI sequence.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { NEMESES, type NemesisName } from './runner/nemesis.ts';
import { canUseNetns } from './runner/net.ts';
import type { RunOptions } from './runner/run.ts';

export const REPO = resolve(import.meta.dirname, '../..');
export const FAKE_SCRIPT = join(REPO, 'test/chaos/fixtures/fake-kv.ts');
export const NODE_SCRIPT = join(REPO, 'node/bin/kv-store.js');

/**
 * 5xx error codes the node documents as "not applied". A write failing with
 * one of them is recorded as failed, so if it did take effect after all, a
 * read of its value is a violation: the suite tests the node's error contract.
 */
export const DEFAULT_DEFINITE = [
  'no-leader',
  'not-leader',
  'proposal-dropped',
  'leader-transfer-in-progress',
];

export const USAGE = `usage: npm run chaos -- [options]    |    npm run chaos -- --check history.json
  --nemesis none|kill|pause|partition|member|all   (default all)
  --seconds N          workload duration (default 60)
  --nodes 3|5          cluster size (default 5)
  --clients N          concurrent clients (default 20)
  --bug stale-reads    start nodes with KVSTORE_DEBUG_UNSAFE_LOCAL_READS=1 (the suite must report a violation)
  --fake               run the in-memory fake server (test/chaos/fixtures/fake-kv.ts) instead of the node
  --script PATH        node script to run (default node/bin/kv-store.js)
  --net netns|loopback where nodes live (default netns when root; loopback cannot partition)
  --seed N             workload/nemesis random seed (default: time)
  --op-timeout MS      per-operation client timeout (default 1000)
  --election-timeout MS  upper election timeout of the nodes, for fault durations (default 2000)
  --ops-per-key N      retire a key after N operations (default 150)
  --min-acked N        fail unless at least N writes were acknowledged (default max(10, seconds/2))
  --node-arg FLAG      extra flag for every node (repeatable, e.g. --node-arg=-tick-ms=50)
  --definite-fail CODE node error code meaning "certainly not applied" (repeatable; replaces the default list
                       ${DEFAULT_DEFINITE.join(', ')}; --definite-fail= alone: every 5xx write is unknown)
  --check-timeout MS   checker budget per key (default 60000)
  --secure             peer mutual TLS, client TLS with client certificates, auth on; clients log in
                       by certificate or token (runner/secure.ts)
  --keep               keep the run directory (history.json, node logs) even on success`;

export function parseOptions(argv: string[], log: (line: string) => void): RunOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      nemesis: { type: 'string', default: 'all' },
      seconds: { type: 'string', default: '60' },
      nodes: { type: 'string', default: '5' },
      clients: { type: 'string', default: '20' },
      bug: { type: 'string' },
      fake: { type: 'boolean', default: false },
      script: { type: 'string' },
      net: { type: 'string' },
      seed: { type: 'string' },
      'op-timeout': { type: 'string', default: '1000' },
      'election-timeout': { type: 'string', default: '2000' },
      'ops-per-key': { type: 'string', default: '150' },
      'min-acked': { type: 'string' },
      'node-arg': { type: 'string', multiple: true, default: [] },
      'definite-fail': { type: 'string', multiple: true },
      'check-timeout': { type: 'string', default: '60000' },
      'base-port': { type: 'string', default: '27100' },
      keep: { type: 'boolean', default: false },
      secure: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) throw new UsageError(USAGE);
  const int = (name: string, text: string, min: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}`);
    return n;
  };
  if (!(NEMESES as readonly string[]).includes(values.nemesis))
    throw new UsageError(`--nemesis must be one of ${NEMESES.join(', ')}`);
  if (values.bug !== undefined && values.bug !== 'stale-reads')
    throw new UsageError('--bug must be stale-reads');
  const net = values.net ?? (canUseNetns() ? 'netns' : 'loopback');
  if (net !== 'netns' && net !== 'loopback') throw new UsageError('--net must be netns or loopback');
  const nemesis = values.nemesis as NemesisName;
  if (net === 'loopback' && (nemesis === 'partition' || nemesis === 'all')) {
    log(
      `note: --net loopback cannot partition; ${nemesis === 'all' ? 'the partition fault will be skipped' : 'partition runs need root'}`,
    );
    if (nemesis === 'partition') throw new UsageError('partition nemesis needs --net netns (root)');
  }
  const script = values.script ? resolve(values.script) : values.fake ? FAKE_SCRIPT : NODE_SCRIPT;
  if (!existsSync(script))
    throw new UsageError(`node script ${script} does not exist (use --fake to run the fake fixture)`);
  if (values.secure && script === FAKE_SCRIPT)
    throw new UsageError('--secure needs the real node, not --fake');
  const seconds = int('seconds', values.seconds, 1);
  const localNode = join(REPO, 'node_modules/.bin/node');
  return {
    nemesis,
    seconds,
    nodes: int('nodes', values.nodes, 1),
    clients: int('clients', values.clients, 1),
    script,
    nodeExe: existsSync(localNode) ? localNode : process.execPath,
    net,
    basePort: int('base-port', values['base-port'], 1024),
    ...(values.bug ? { bug: 'stale-reads' as const } : {}),
    seed: values.seed !== undefined ? int('seed', values.seed, 0) : Date.now() % 1_000_000,
    opTimeoutMs: int('op-timeout', values['op-timeout'], 1),
    electionTimeoutMs: int('election-timeout', values['election-timeout'], 1),
    opsPerKey: int('ops-per-key', values['ops-per-key'], 1),
    minAckedWrites:
      values['min-acked'] !== undefined
        ? int('min-acked', values['min-acked'], 0)
        : Math.max(10, Math.floor(seconds / 2)),
    nodeArgs: values['node-arg'],
    definiteFailureCodes: (values['definite-fail'] ?? DEFAULT_DEFINITE).filter(Boolean),
    checkTimeoutMs: int('check-timeout', values['check-timeout'], 1),
    keep: values.keep,
    secure: values.secure,
    log,
  };
}

export class UsageError extends Error {}

export function logLine(line: string): void {
  const t = new Date().toISOString().slice(11, 23);
  process.stderr.write(`[${t}] ${line}\n`);
}
