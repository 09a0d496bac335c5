import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_HTTP_WORKERS, helpText, MAX_HTTP_WORKERS, parseFlags, type NodeOptions } from './flags.ts';

function ok(argv: string[]): NodeOptions {
  const r = parseFlags(argv);
  if (!r.ok) assert.fail(`expected ok for ${JSON.stringify(argv)}, got ${r.error}`);
  return r.config;
}

void describe('parseFlags', () => {
  void test('the seed command line', () => {
    const c = ok(['-id', 'node1', '-addr', ':8080', '-peers', 'node2=localhost:8081,node3=localhost:8082']);
    assert.equal(c.id, 'node1');
    assert.deepEqual(c.listen, { host: '', port: 8080 });
    assert.deepEqual(c.advertise, { host: 'localhost', port: 8080 });
    assert.equal(c.clientUrl, 'http://localhost:8080');
    assert.equal(c.peerUrl, 'http://localhost:8080');
    assert.equal(c.peerListen, null);
    assert.deepEqual(
      c.peers.map((p) => [p.id, p.peerUrl]),
      [
        ['node2', 'http://localhost:8081'],
        ['node3', 'http://localhost:8082'],
      ],
    );
    assert.equal(c.dataDir, './data/node1');
    assert.equal(c.join, false);
  });

  void test('defaults', () => {
    const c = ok(['-id', 'a']);
    assert.deepEqual(
      { ...c, listen: undefined },
      {
        id: 'a',
        listen: undefined,
        peerListen: null,
        advertise: { host: 'localhost', port: 8080 },
        clientUrl: 'http://localhost:8080',
        peerUrl: 'http://localhost:8080',
        peers: [],
        dataDir: './data/a',
        join: false,
        electionTicks: 12,
        tickMs: 50,
        snapshotThreshold: 100000,
        maxSnapshotBytes: 512 * 1024 * 1024,
        logLevel: 'info',
        tls: { client: null, peer: null },
        backup: null,
      },
    );
  });

  test('backup flags', () => {
    const ok = parseFlags([
      '-id',
      'n1',
      '-backup-s3-url',
      's3://bkt/p',
      '-backup-s3-endpoint',
      'http://m:9000',
      '-backup-rpo',
      '5s',
      '-backup-keep-full',
      '3',
    ]);
    assert.ok(ok.ok);
    assert.deepEqual(ok.config.backup, {
      url: 's3://bkt/p',
      endpoint: 'http://m:9000',
      rpoMs: 5000,
      fullEveryMs: 3_600_000,
      fullSchedule: null,
      keepFull: 3,
      keepAgeMs: null,
    });
    const scheduled = parseFlags([
      '-id',
      'n1',
      '-backup-s3-url',
      's3://bkt/p',
      '-backup-full-schedule',
      '0 */6 * * *',
      '-backup-keep-age',
      '168h',
    ]);
    assert.ok(scheduled.ok);
    assert.equal(scheduled.config.backup?.fullSchedule, '0 */6 * * *');
    assert.equal(scheduled.config.backup?.keepAgeMs, 168 * 3_600_000);
    for (const [argv, msg] of [
      [['-backup-rpo', '5s'], /-backup-rpo needs -backup-s3-url/],
      [['-backup-s3-url', 'http://b/p'], /invalid -backup-s3-url/],
      [['-backup-s3-url', 's3://bkt', '-backup-rpo', 'soon'], /invalid -backup-rpo/],
      [['-backup-s3-url', 's3://bkt', '-backup-s3-endpoint', 'minio'], /invalid -backup-s3-endpoint/],
      [['-backup-full-schedule', '0 * * * *'], /-backup-full-schedule needs -backup-s3-url/],
      [
        ['-backup-s3-url', 's3://bkt', '-backup-full-schedule', '61 * * * *'],
        /invalid -backup-full-schedule "61 \* \* \* \*": minute field "61": 61 is outside 0-59/,
      ],
      [
        ['-backup-s3-url', 's3://bkt', '-backup-full-schedule', '0 * * * *', '-backup-full-interval', '1h'],
        /-backup-full-schedule and -backup-full-interval are mutually exclusive/,
      ],
      [['-backup-s3-url', 's3://bkt', '-backup-keep-age', '7d'], /invalid -backup-keep-age "7d"/],
    ] as const) {
      const r = parseFlags(['-id', 'n1', ...argv]);
      assert.ok(!r.ok);
      assert.match(r.error, msg);
    }
  });

  const peerTls = ['-peer-cert-file', 'p.crt', '-peer-key-file', 'p.key', '-peer-trusted-ca-file', 'ca.pem'];

  void test('TLS flags: client and peer TLS make https URLs, -peers dialled over https', () => {
    const c = ok([
      '-id',
      'a',
      '-addr',
      '127.0.0.1:7000',
      '-peer-addr',
      '127.0.0.1:7001',
      '-peers',
      'b=127.0.0.1:7011',
      '-cert-file',
      'c.crt',
      '-key-file',
      'c.key',
      '-trusted-ca-file',
      'clients.pem',
      '-client-cert-auth',
      ...peerTls,
    ]);
    assert.equal(c.clientUrl, 'https://127.0.0.1:7000');
    assert.equal(c.peerUrl, 'https://127.0.0.1:7001');
    assert.equal(c.peers[0]?.peerUrl, 'https://127.0.0.1:7011');
    assert.deepEqual(c.tls, {
      client: { certFile: 'c.crt', keyFile: 'c.key', trustedCaFile: 'clients.pem', clientCertAuth: true },
      peer: { certFile: 'p.crt', keyFile: 'p.key', trustedCaFile: 'ca.pem' },
    });
  });

  void test('TLS flags: client TLS alone keeps plain peer traffic on the shared port', () => {
    const c = ok(['-id', 'a', '-addr', ':7000', '-cert-file', 'c.crt', '-key-file', 'c.key']);
    assert.equal(c.clientUrl, 'https://localhost:7000');
    assert.equal(c.peerUrl, 'http://localhost:7000');
    assert.deepEqual(c.tls.client, {
      certFile: 'c.crt',
      keyFile: 'c.key',
      trustedCaFile: null,
      clientCertAuth: false,
    });
    assert.equal(c.tls.peer, null);
  });

  void test('-trusted-ca-file without -client-cert-auth: certificates verified when presented', () => {
    const c = ok(['-id', 'a', '-cert-file', 'c.crt', '-key-file', 'c.key', '-trusted-ca-file', 'ca.pem']);
    assert.equal(c.tls.client?.trustedCaFile, 'ca.pem');
    assert.equal(c.tls.client?.clientCertAuth, false);
  });

  void test('-listen-metrics-addr: its own port; absent by default', () => {
    assert.deepEqual(ok(['-id', 'a', '-listen-metrics-addr', '127.0.0.1:9090']).metricsListen, {
      host: '127.0.0.1',
      port: 9090,
    });
    assert.equal(ok(['-id', 'a']).metricsListen, undefined);
  });

  const equivalent: string[][] = [
    ['-id', 'n1', '-tick-ms', '50'],
    ['--id', 'n1', '--tick-ms', '50'],
    ['-id=n1', '-tick-ms=50'],
    ['--id=n1', '--tick-ms=50'],
  ];
  for (const argv of equivalent) {
    void test(`spelling ${argv.join(' ')}`, () => {
      const c = ok(argv);
      assert.equal(c.id, 'n1');
      assert.equal(c.tickMs, 50);
    });
  }

  const good: [string, string[], (c: NodeOptions) => void][] = [
    [
      'peers with whitespace and trailing comma',
      ['-id', 'a', '-peers', ' b = 10.0.0.2:9000 , c=host-c:9001, '],
      (c) =>
        assert.deepEqual(
          c.peers.map((p) => p.peerUrl),
          ['http://10.0.0.2:9000', 'http://host-c:9001'],
        ),
    ],
    [
      'peer with http:// prefix',
      ['-id', 'a', '-peers', 'b=http://h:1/'],
      (c) => assert.equal(c.peers[0]!.peerUrl, 'http://h:1'),
    ],
    ['empty peers = single node', ['-id', 'a', '-peers', ''], (c) => assert.deepEqual(c.peers, [])],
    [
      'explicit host keeps host',
      ['-id', 'a', '-addr', '127.0.0.1:7000'],
      (c) => assert.equal(c.clientUrl, 'http://127.0.0.1:7000'),
    ],
    [
      '0.0.0.0 advertises localhost',
      ['-id', 'a', '-addr', '0.0.0.0:7000'],
      (c) => assert.equal(c.clientUrl, 'http://localhost:7000'),
    ],
    [
      'advertise-addr overrides',
      ['-id', 'a', '-addr', ':7000', '-advertise-addr', 'kv-0.kv.ns.svc:7000'],
      (c) => {
        assert.equal(c.clientUrl, 'http://kv-0.kv.ns.svc:7000');
        assert.equal(c.peerUrl, 'http://kv-0.kv.ns.svc:7000');
      },
    ],
    [
      'ipv6 with brackets',
      ['-id', 'a', '-addr', '[::1]:7000'],
      (c) => {
        assert.deepEqual(c.listen, { host: '::1', port: 7000 });
        assert.equal(c.clientUrl, 'http://[::1]:7000');
      },
    ],
    [
      'separate peer address',
      ['-id', 'a', '-addr', ':7000', '-peer-addr', ':7001'],
      (c) => {
        assert.deepEqual(c.peerListen, { host: '', port: 7001 });
        assert.equal(c.peerUrl, 'http://localhost:7001');
        assert.equal(c.clientUrl, 'http://localhost:7000');
      },
    ],
    ['join as bare bool', ['-id', 'a', '-join'], (c) => assert.equal(c.join, true)],
    ['join=false', ['-id', 'a', '--join=false'], (c) => assert.equal(c.join, false)],
    ['data dir', ['-id', 'a', '-data-dir', '/var/lib/kv'], (c) => assert.equal(c.dataDir, '/var/lib/kv')],
    [
      'log level case-insensitive',
      ['-id', 'a', '-log-level', 'DEBUG'],
      (c) => assert.equal(c.logLevel, 'debug'),
    ],
    [
      'tuning',
      ['-id', 'a', '-election-ticks', '20', '-snapshot-threshold', '5', '-max-snapshot-mb', '64'],
      (c) => {
        assert.equal(c.electionTicks, 20);
        assert.equal(c.snapshotThreshold, 5);
        assert.equal(c.maxSnapshotBytes, 64 * 1024 * 1024);
      },
    ],
    ['last occurrence wins', ['-id', 'a', '-id', 'b'], (c) => assert.equal(c.id, 'b')],
  ];
  for (const [name, argv, check] of good) void test(`accepts: ${name}`, () => check(ok(argv)));

  const bad: [string, string[], RegExp][] = [
    ['missing id', ['-addr', ':8080'], /missing required flag -id/],
    ['unknown flag', ['-id', 'a', '-bogus', '1'], /unknown flag "-bogus"/],
    ['positional argument', ['-id', 'a', 'extra'], /unexpected argument "extra"/],
    ['flag without value', ['-id'], /-id needs a value/],
    ['bad id', ['-id', 'a b'], /invalid -id/],
    ['port out of range', ['-id', 'a', '-addr', ':70000'], /port must be 1-65535/],
    ['port zero', ['-id', 'a', '-addr', ':0'], /port must be 1-65535/],
    ['port not a number', ['-id', 'a', '-addr', ':http'], /port must be a number/],
    ['no colon', ['-id', 'a', '-addr', '8080'], /expected host:port/],
    ['bare ipv6', ['-id', 'a', '-addr', '::1:8080'], /IPv6 hosts need brackets/],
    ['peer without =', ['-id', 'a', '-peers', 'localhost:8081'], /expected id=host:port/],
    ['duplicate peer', ['-id', 'a', '-peers', 'b=h:1,b=h:2'], /appears twice/],
    ['self in peers', ['-id', 'a', '-peers', 'a=h:1'], /own id/],
    ['peer wildcard host', ['-id', 'a', '-peers', 'b=:8081'], /reachable host/],
    ['peer bad port', ['-id', 'a', '-peers', 'b=h:x'], /port must be a number/],
    ['election ticks too small', ['-id', 'a', '-election-ticks', '1'], /at least 2/],
    ['negative tick', ['-id', 'a', '-tick-ms', '-5'], /positive integer/],
    ['fractional threshold', ['-id', 'a', '-snapshot-threshold', '1.5'], /positive integer/],
    ['zero tick', ['-id', 'a', '-tick-ms', '0'], /at least 1/],
    ['bad log level', ['-id', 'a', '-log-level', 'verbose'], /invalid -log-level/],
    ['bad bool', ['-id', 'a', '-join=maybe'], /expected true or false/],
    ['peer-addr same port', ['-id', 'a', '-addr', ':8080', '-peer-addr', ':8080'], /same port/],
    ['empty data dir', ['-id', 'a', '-data-dir', ''], /empty path/],
    [
      'cert without key',
      ['-id', 'a', '-cert-file', 'c.crt'],
      /-cert-file and -key-file must be given together/,
    ],
    [
      'key without cert',
      ['-id', 'a', '-key-file', 'c.key'],
      /-cert-file and -key-file must be given together/,
    ],
    ['empty cert path', ['-id', 'a', '-cert-file', '', '-key-file', 'k'], /invalid -cert-file: empty path/],
    [
      'client-cert-auth without CA',
      ['-id', 'a', '-cert-file', 'c', '-key-file', 'k', '-client-cert-auth'],
      /-client-cert-auth needs -trusted-ca-file/,
    ],
    [
      'client-cert-auth without server cert',
      ['-id', 'a', '-trusted-ca-file', 'ca', '-client-cert-auth'],
      /-client-cert-auth needs -cert-file/,
    ],
    [
      'metrics address on the client port',
      ['-id', 'a', '-addr', ':8080', '-listen-metrics-addr', '127.0.0.1:8080'],
      /invalid -listen-metrics-addr "127.0.0.1:8080": the port of -addr or -peer-addr/,
    ],
    [
      'metrics address on the peer port',
      ['-id', 'a', '-addr', ':8080', '-peer-addr', ':8081', '-listen-metrics-addr', ':8081'],
      /the port of -addr or -peer-addr/,
    ],
    [
      'trusted CA without a server certificate',
      ['-id', 'a', '-trusted-ca-file', 'ca'],
      /-trusted-ca-file needs -cert-file/,
    ],
    [
      'peer TLS flags incomplete',
      ['-id', 'a', '-peer-addr', ':9', '-peer-cert-file', 'p', '-peer-key-file', 'k'],
      /must be given together/,
    ],
    [
      'peer CA alone',
      ['-id', 'a', '-peer-addr', ':9', '-peer-trusted-ca-file', 'ca'],
      /must be given together/,
    ],
    [
      'peer TLS on the shared port',
      ['-id', 'a', '-peer-cert-file', 'p', '-peer-key-file', 'k', '-peer-trusted-ca-file', 'ca'],
      /peer TLS needs a separate -peer-addr/,
    ],
  ];
  for (const [name, argv, pattern] of bad) {
    void test(`rejects: ${name}`, () => {
      const r = parseFlags(argv);
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.match(r.error, pattern);
      assert.doesNotMatch(r.error, /\n/, 'errors are one line');
      assert.doesNotMatch(r.error, /--help/, 'the caller adds the usage hint once');
      assert.equal(r.help, undefined);
    });
  }

  for (const argv of [['--help'], ['-h'], ['-help'], ['-id', 'a', '--help']]) {
    void test(`help: ${argv.join(' ')}`, () => {
      const r = parseFlags(argv);
      assert.deepEqual(r, { ok: false, error: '', help: true });
    });
  }

  void test('help text documents every flag', () => {
    for (const f of [
      '-id',
      '-addr',
      '-peers',
      '-data-dir',
      '-peer-addr',
      '-advertise-addr',
      '-join',
      '-election-ticks',
      '-tick-ms',
      '-snapshot-threshold',
      '-log-level',
      '-cert-file',
      '-key-file',
      '-trusted-ca-file',
      '-client-cert-auth',
      '-listen-metrics-addr',
      '-peer-cert-file',
      '-peer-key-file',
      '-peer-trusted-ca-file',
    ]) {
      assert.ok(helpText.includes(`  ${f} `), f);
    }
  });
});

void describe('-http-workers', () => {
  void test('absent: the default applies; 0 and n are taken; negative, too many and junk are refused', () => {
    assert.equal(ok(['-id', 'a']).httpWorkers, undefined);
    assert.equal(ok(['-id', 'a', '-http-workers', '0']).httpWorkers, 0);
    assert.equal(ok(['-id', 'a', '-http-workers', '3']).httpWorkers, 3);
    for (const v of ['-1', 'two', '', String(MAX_HTTP_WORKERS + 1)]) {
      const r = parseFlags(['-id', 'a', '-http-workers', v]);
      assert.equal(r.ok, false, v);
      if (!r.ok) assert.match(r.error, /-http-workers/);
    }
    assert.ok(helpText.includes('  -http-workers '));
    assert.ok(Number.isInteger(DEFAULT_HTTP_WORKERS) && DEFAULT_HTTP_WORKERS >= 0);
  });
});
