import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { KVCluster } from '../types.ts';
import type { Gathered } from './gather.ts';
import { parseArgs } from './main.ts';
import { formatStatus, imageVersion } from './status.ts';
import { tarGz } from './tar.ts';

void describe('kubectl kv arguments', () => {
  test('commands, options in any order, defaults', () => {
    const a = parseArgs(['status', 'demo', '-n', 'apps', '-o', 'json']);
    assert.equal(a.command, 'status');
    assert.equal(a.cluster, 'demo');
    assert.equal(a.namespace, 'apps');
    assert.equal(a.output, 'json');
    assert.equal(a.access, 'proxy');
    assert.equal(a.timeoutMs, 10_000);
    const m = parseArgs([
      '--namespace=apps',
      'move-leader',
      'demo',
      '--to',
      'demo-2',
      '--member-access',
      'direct',
    ]);
    assert.equal(m.to, 'demo-2');
    assert.equal(m.access, 'direct');
    assert.equal(parseArgs(['report', 'demo', '-f', 'x.tgz', '--request-timeout', '2s']).timeoutMs, 2000);
    assert.equal(parseArgs(['--help']).command, 'help');
  });
  test('day-2 commands: restart with or without a member, fence/unfence with one, hibernate/wake', () => {
    assert.equal(parseArgs(['restart', 'demo']).member, undefined);
    assert.equal(parseArgs(['restart', 'demo', 'demo-1']).member, 'demo-1');
    const f = parseArgs(['fence', 'demo', 'demo-2', '-n', 'apps']);
    assert.equal(f.command, 'fence');
    assert.equal(f.member, 'demo-2');
    assert.equal(parseArgs(['unfence', 'demo', 'demo-2']).command, 'unfence');
    assert.equal(parseArgs(['hibernate', 'demo']).command, 'hibernate');
    assert.equal(parseArgs(['wake', 'demo']).command, 'wake');
  });
  for (const [argv, message] of [
    [[], /missing COMMAND/],
    [['frobnicate', 'demo'], /unknown command/],
    [['status'], /needs the KVCluster name/],
    [['status', 'a', 'b'], /unexpected argument "b"/],
    [['status', 'a', '--to', 'x'], /only for move-leader/],
    [['move-leader', 'a', '-f', 'x'], /only for report/],
    [['status', 'a', '--member-access', 'ssh'], /proxy or direct/],
    [['status', 'a', '--request-timeout', '5'], /invalid duration/],
    [['status', 'a', '--bogus'], /unknown option "--bogus"/],
    [['status', 'a', '-n'], /-n needs a value/],
    [['fence', 'a'], /needs the member name/],
    [['unfence', 'a'], /needs the member name/],
    [['restart', 'a', 'a-1', 'a-2'], /unexpected argument "a-2"/],
    [['hibernate', 'a', 'a-1'], /unexpected argument "a-1"/],
  ] as [string[], RegExp][]) {
    test(`refuses ${JSON.stringify(argv)}`, () => assert.throws(() => parseArgs(argv), message));
  }
});

void test('the archive is a gzipped tar that tar itself lists and extracts', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kv-tar-'));
  try {
    const big = Buffer.alloc(1500, 'x');
    writeFileSync(
      path.join(dir, 'r.tar.gz'),
      tarGz([
        { path: 'r/a.json', content: '{"a":1}\n' },
        { path: 'r/logs/m-0.log', content: big },
        { path: 'r/empty.txt', content: '' },
      ]),
    );
    assert.deepEqual(
      execFileSync('tar', ['-tzf', 'r.tar.gz'], { cwd: dir, encoding: 'utf8' }).trim().split('\n'),
      ['r/a.json', 'r/logs/m-0.log', 'r/empty.txt'],
    );
    execFileSync('tar', ['-xzf', 'r.tar.gz'], { cwd: dir });
    assert.equal(readFileSync(path.join(dir, 'r/a.json'), 'utf8'), '{"a":1}\n');
    assert.deepEqual(readFileSync(path.join(dir, 'r/logs/m-0.log')), big);
    assert.throws(() => tarGz([{ path: 'x'.repeat(101), content: '' }]), /longer than 100/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

void test('status shows recorded roles and lag next to what each member says, and who is unreachable', () => {
  const cluster = {
    apiVersion: 'kvstore.io/v1alpha1',
    kind: 'KVCluster',
    metadata: { name: 'demo', namespace: 'apps', uid: 'u' },
    spec: { replicas: 3, image: 'kv-store:0.2.0' },
    status: {
      phase: 'Available',
      readyReplicas: 2,
      voters: 3,
      learners: 0,
      leader: 'demo-1',
      members: [
        { name: 'demo-0', role: 'voter', healthy: true, ready: true, lag: 0 },
        { name: 'demo-1', role: 'voter', healthy: true, ready: true, lag: 0 },
        { name: 'demo-2', role: 'voter', healthy: false, ready: false, lag: 42 },
      ],
      operation: { kind: 'Roll', member: 'demo-2', step: 'WaitReady', startedAt: '2026-12-01T10:00:00Z' },
      lastError: { step: 'roll-pod', member: 'demo-2', message: 'forbidden: no', time: 't2' },
      conditions: [
        {
          type: 'Available',
          status: 'True',
          reason: 'Quorum',
          message: '2 of 3 voters healthy',
          lastTransitionTime: 't',
        },
      ],
    },
  } as unknown as KVCluster;
  const pod = (name: string, image: string, ready: boolean) => ({
    name,
    namespace: 'apps',
    port: 8080,
    phase: 'Running',
    ready,
    restarts: 0,
    image,
    deleting: false,
  });
  const g: Gathered = {
    cluster,
    pods: [
      pod('demo-0', 'reg/kv-store:0.2.0', true),
      pod('demo-1', 'reg:5000/kv-store:0.2.0', true),
      pod('demo-2', 'kv-store:0.1.0', false),
    ],
    events: [{ type: 'Normal', reason: 'MemberRolled', message: 'demo-1 rolled', count: 1, lastTime: 't1' }],
    live: new Map([
      [
        'demo-0',
        {
          ok: true,
          id: 'demo-0',
          state: 'follower',
          leader: 'demo-1',
          term: 4,
          commitIndex: 10,
          appliedIndex: 10,
        },
      ],
      [
        'demo-1',
        {
          ok: true,
          id: 'demo-1',
          state: 'leader',
          leader: 'demo-1',
          term: 4,
          commitIndex: 10,
          appliedIndex: 10,
        },
      ],
      ['demo-2', { ok: false, error: 'connection refused' }],
    ]),
  };
  const text = formatStatus(g);
  assert.match(text, /phase Available, 2\/3 ready, 3 voters, 0 learners, leader demo-1/);
  assert.match(text, /Operation: Roll demo-2, step WaitReady/);
  assert.match(text, /Last error: roll-pod of demo-2 at t2: forbidden: no/);
  assert.match(text, /Available=True Quorum: 2 of 3 voters healthy/);
  assert.match(text, /demo-1 +voter +\* +yes +yes +0 +leader +4 +10 +0\.2\.0/);
  assert.match(text, /demo-2 +voter +no +no +42 +- +- +- +0\.1\.0/);
  assert.match(text, /live status not reachable: demo-2: connection refused/);
  assert.match(text, /MemberRolled: demo-1 rolled/);
  assert.equal(imageVersion('kv-store'), 'latest');
  assert.equal(imageVersion('reg:5000/kv-store@sha256:abc'), 'latest');
  assert.equal(imageVersion('reg:5000/kv-store:1.2@sha256:abc'), '1.2');
});
