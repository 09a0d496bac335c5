import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_ENDPOINT, helpText, parseArgs, parseEndpoints, type Command } from './args.ts';
import { UsageError } from './errors.ts';

function cmd(argv: string[], env: Record<string, string> = {}): Command {
  return parseArgs(argv, env).command;
}

function usage(argv: string[], pattern: RegExp, env: Record<string, string> = {}): UsageError {
  let caught: unknown;
  try {
    parseArgs(argv, env);
  } catch (e) {
    caught = e;
  }
  assert.ok(
    caught instanceof UsageError,
    `expected a usage error for ${JSON.stringify(argv)}, got ${String(caught)}`,
  );
  assert.match(caught.message, pattern);
  assert.equal(caught.exitCode, 2);
  return caught;
}

void describe('kvctl arguments', () => {
  void test('kv commands and their options', () => {
    assert.deepEqual(cmd(['get', 'a/b']), {
      name: 'get',
      key: 'a/b',
      prefix: false,
      keysOnly: false,
      consistency: 'linearizable',
      limit: undefined,
    });
    assert.deepEqual(cmd(['get', 'p/', '--prefix', '--keys-only', '--consistency', 'stale', '--limit=5']), {
      name: 'get',
      key: 'p/',
      prefix: true,
      keysOnly: true,
      consistency: 'stale',
      limit: 5,
    });
    assert.deepEqual(cmd(['put', 'k', 'v', '--ttl', '5s', '--cas', '0']), {
      name: 'put',
      key: 'k',
      value: 'v',
      ttl: '5s',
      cas: 0,
    });
    assert.deepEqual(cmd(['put', 'k', '']), {
      name: 'put',
      key: 'k',
      value: '',
      ttl: undefined,
      cas: undefined,
    });
    assert.deepEqual(cmd(['del', 'k', '--cas=12']), { name: 'del', key: 'k', prefix: false, cas: 12 });
    assert.deepEqual(cmd(['del', 'p/', '--prefix']), {
      name: 'del',
      key: 'p/',
      prefix: true,
      cas: undefined,
    });
    assert.deepEqual(cmd(['watch', 'k', '--prefix', '--index', '7', '--wait', '2s']), {
      name: 'watch',
      key: 'k',
      prefix: true,
      index: 7,
      wait: '2s',
      waitMs: 2000,
    });
    assert.equal((cmd(['watch', 'k']) as { waitMs: number }).waitMs, 60_000);
  });

  void test('admin commands', () => {
    assert.deepEqual(cmd(['member', 'list']), { name: 'member list' });
    assert.deepEqual(
      cmd(['member', 'add', 'n4', 'http://127.0.0.1:9004', '--client-url', 'http://127.0.0.1:8084']),
      {
        name: 'member add',
        id: 'n4',
        peerUrl: 'http://127.0.0.1:9004',
        clientUrl: 'http://127.0.0.1:8084',
      },
    );
    assert.deepEqual(cmd(['member', 'promote', 'n4']), { name: 'member promote', id: 'n4' });
    assert.deepEqual(cmd(['member', 'remove', 'n4']), { name: 'member remove', id: 'n4' });
    assert.deepEqual(cmd(['move-leader']), { name: 'move-leader', to: undefined });
    assert.deepEqual(cmd(['move-leader', '--to', 'n2']), { name: 'move-leader', to: 'n2' });
    assert.deepEqual(cmd(['status']), { name: 'status' });
  });

  void test('global options go before or after the command; -- ends options', () => {
    const a = parseArgs(['--endpoints', 'http://a:1', '-o', 'json', 'get', 'k']);
    const b = parseArgs(['get', 'k', '-o=json', '--endpoints=http://a:1']);
    assert.deepEqual(a, b);
    assert.deepEqual(a.global, {
      endpoints: ['http://a:1'],
      timeoutMs: 10_000,
      requestTimeoutMs: 5000,
      output: 'json',
      security: {},
    });
    assert.deepEqual(cmd(['put', '--', '-k', '--v']), {
      name: 'put',
      key: '-k',
      value: '--v',
      ttl: undefined,
      cas: undefined,
    });
    const t = parseArgs(['status', '--timeout', '1.5s', '--request-timeout', '300ms']).global;
    assert.equal(t.timeoutMs, 1500);
    assert.equal(t.requestTimeoutMs, 300);
  });

  void test('endpoints: flag, then KVCTL_ENDPOINTS, then the default', () => {
    assert.deepEqual(parseArgs(['status']).global.endpoints, [DEFAULT_ENDPOINT]);
    assert.deepEqual(parseArgs(['status'], { KVCTL_ENDPOINTS: 'h1:1, h2:2' }).global.endpoints, [
      'http://h1:1',
      'http://h2:2',
    ]);
    assert.deepEqual(
      parseArgs(['status', '--endpoints', 'http://x:3'], { KVCTL_ENDPOINTS: 'h1:1' }).global.endpoints,
      ['http://x:3'],
    );
    assert.deepEqual(parseEndpoints('http://a:1/,http://a:1,http://[::1]:2'), [
      'http://a:1',
      'http://[::1]:2',
    ]);
    usage(['status'], /KVCTL_ENDPOINTS.*must look like/, { KVCTL_ENDPOINTS: 'ftp://x:1' });
    assert.deepEqual(parseEndpoints('https://a:1,https://b'), ['https://a:1', 'https://b']);
    usage(['status', '--endpoints', 'ftp://a:1'], /must look like/);
    usage(['status', '--endpoints', 'http://a:1/v1'], /no path/);
    usage(['status', '--endpoints', ' , '], /no endpoint given/);
    usage(['status', '--endpoints', 'http://u:p@a:1'], /credentials/);
  });

  void test('help: kvctl, each command, member', () => {
    assert.deepEqual(cmd(['--help']), { name: 'help', topic: undefined });
    assert.deepEqual(cmd(['-h']), { name: 'help', topic: undefined });
    assert.deepEqual(cmd(['help']), { name: 'help', topic: undefined });
    assert.deepEqual(cmd(['help', 'put']), { name: 'help', topic: 'put' });
    assert.deepEqual(cmd(['get', '--help']), { name: 'help', topic: 'get' });
    assert.deepEqual(cmd(['member', 'add', '-h']), { name: 'help', topic: 'member add' });
    // --help wins over missing arguments.
    assert.deepEqual(cmd(['put', '--help']), { name: 'help', topic: 'put' });
    for (const topic of [
      undefined,
      'get',
      'put',
      'del',
      'watch',
      'member',
      'member list',
      'member add',
      'member promote',
      'member remove',
      'move-leader',
      'status',
    ]) {
      const text = helpText(topic);
      assert.match(text, /^Usage: kvctl /, String(topic));
      assert.ok(text.endsWith('\n'));
    }
    assert.match(helpText(), /Exit codes: 0 success; 1 .*\n2 usage error.*3 no endpoint/s);
    assert.match(helpText('put'), /--ttl DURATION/);
    usage(['help', 'frobnicate'], /unknown command "frobnicate"/);
  });

  void test('usage errors', () => {
    usage([], /no command given/);
    usage(['frobnicate'], /unknown command "frobnicate"/);
    usage(['member'], /needs a subcommand/);
    usage(['member', 'join'], /unknown member subcommand "join"/);
    usage(['get'], /"get" takes KEY; got 0 arguments/);
    usage(['get', 'a', 'b'], /got 2 arguments \(extra: "b"\)/);
    usage(['put', 'k'], /"put" takes KEY VALUE/);
    usage(['status', 'x'], /"status" takes no arguments/);
    usage(['put', 'k', 'v', '--prefix'], /--prefix is not an option of "put"/);
    usage(['get', 'k', '--bogus'], /unknown option "--bogus"/);
    usage(['get', 'k', '-x'], /unknown option "-x"/);
    usage(['get', 'k', '--prefix', '--prefix'], /given more than once/);
    usage(['get', 'k', '--prefix=maybe'], /takes no value/);
    usage(['get', 'k', '--consistency'], /needs a value/);
    usage(['get', 'k', '--consistency', 'eventual'], /linearizable or stale/);
    usage(['get', 'k', '--limit', '5'], /--limit needs --prefix/);
    usage(['get', 'k', '--prefix', '--limit', '0'], /--limit must be an integer >= 1/);
    usage(['put', 'k', 'v', '--ttl', 'five'], /--ttl: invalid duration/);
    usage(['put', 'k', 'v', '--ttl', '0s'], /--ttl must be positive/);
    usage(['put', 'k', 'v', '--cas', '-1'], /--cas must be an integer >= 0, got "-1"/);
    usage(['put', 'k', 'v', '--cas', '1.5'], /--cas must be an integer/);
    usage(['del', 'k', '--prefix', '--cas', '3'], /cannot be combined/);
    usage(['watch', 'k', '--index', 'x'], /--index must be an integer/);
    usage(['status', '-o', 'yaml'], /--output must be simple, table or json/);
    usage(['status', '--timeout', '0s'], /--timeout must be positive/);
    usage(['member', 'remove', 'bad id'], /invalid member id "bad id"/);
    usage(['move-leader', '--to', '-'], /needs a value|invalid target id/);
    const e = usage(['put', 'k', 'v', '--prefix'], /./);
    assert.equal(e.topic, 'put');
  });

  void test('TLS and auth options: files, user and password, token; bad combinations refused', () => {
    const g = (argv: string[], env: Record<string, string> = {}) => parseArgs(argv, env).global.security;
    assert.deepEqual(g(['get', 'k', '--cacert', 'ca.pem', '--user', 'root:pw']), {
      cacert: 'ca.pem',
      user: 'root',
      password: 'pw',
    });
    assert.deepEqual(g(['get', 'k', '--user', 'root', '--password', 'p:w']), {
      user: 'root',
      password: 'p:w',
    });
    assert.deepEqual(g(['get', 'k', '--user', 'root'], { KVCTL_PASSWORD: 'e' }), {
      user: 'root',
      password: 'e',
    });
    assert.deepEqual(g(['get', 'k'], { KVCTL_TOKEN: 'abc.def' }), { token: 'abc.def' });
    assert.deepEqual(g(['get', 'k', '--cert', 'c', '--key', 'k']), { cert: 'c', key: 'k' });
    usage(['get', 'k', '--cert', 'c'], /--cert and --key go together/);
    usage(['get', 'k', '--user', 'root'], /needs a password/);
    usage(['get', 'k', '--password', 'x'], /--password needs --user/);
    usage(['get', 'k', '--user', 'a:b', '--password', 'c'], /given twice/);
    usage(['get', 'k', '--user', 'a:b', '--token', 't'], /not both/);
    usage(['get', 'k', '--token', 'a b'], /not a token/);
  });
});
