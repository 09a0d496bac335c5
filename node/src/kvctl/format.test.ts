import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { NodeStatus } from '../http/service.ts';
import {
  cell,
  eventJson,
  eventLine,
  json,
  kvPairs,
  kvTable,
  membersTable,
  quote,
  statusTable,
  table,
} from './format.ts';

const status = (id: string, state: NodeStatus['state'], leader: string | null): NodeStatus => ({
  id,
  clusterId: 'c1',
  state,
  leader,
  term: 3,
  commitIndex: 40,
  appliedIndex: 39,
  lastIndex: 40,
  lastLogTerm: 3,
  dataState: 'ok',
  members: [],
});

void describe('kvctl output', () => {
  void test('quote: plain words as is, anything ambiguous as a JSON string', () => {
    assert.equal(quote('abc/def'), 'abc/def');
    assert.equal(quote('ключ'), 'ключ');
    assert.equal(quote(''), '""');
    assert.equal(quote('a b'), '"a b"');
    assert.equal(quote('a\nb'), '"a\\nb"');
    assert.equal(quote('say "hi"'), '"say \\"hi\\""');
    assert.equal(cell('a b'), 'a b');
    assert.equal(cell('a\tb'), '"a\\tb"');
  });

  void test('table: aligned columns, no trailing spaces, unicode counted by code point', () => {
    assert.equal(
      table(
        ['A', 'LONG'],
        [
          ['xyz', '1'],
          ['é', ''],
        ],
      ),
      'A    LONG\nxyz  1\né\n',
    );
    assert.equal(table(['ONLY'], []), 'ONLY\n');
  });

  void test('kv table and pairs', () => {
    const kv = {
      key: 'k',
      value: 'v',
      createIndex: 5,
      modifyIndex: 7,
      version: 2,
      ttl: '5s',
      expiresAt: Date.UTC(2030, 0, 1),
    };
    assert.equal(
      kvTable([kv, { key: 'k2', value: 'multi\nline', createIndex: 8, modifyIndex: 8, version: 1 }]),
      'KEY  VALUE          CREATE-INDEX  MODIFY-INDEX  VERSION  TTL  EXPIRES\n' +
        'k    v              5             7             2        5s   2030-01-01T00:00:00.000Z\n' +
        'k2   "multi\\nline"  8             8             1\n',
    );
    assert.equal(kvPairs([kv]), 'k\nv\n');
  });

  void test('members table marks the leader', () => {
    const text = membersTable({
      leader: 'b',
      members: [
        {
          id: 'a',
          peerUrl: 'http://h:1',
          clientUrl: 'http://h:1',
          role: 'voter',
          isLeader: false,
          matchIndex: 9,
          healthy: true,
        },
        { id: 'b', peerUrl: 'http://h:2', clientUrl: 'http://h:2', role: 'voter', isLeader: true },
        {
          id: 'c',
          peerUrl: 'http://h:3',
          clientUrl: 'http://h:3',
          role: 'learner',
          isLeader: false,
          healthy: false,
        },
      ],
    });
    assert.equal(
      text,
      'ID  ROLE     LEADER  PEER-URL    CLIENT-URL  MATCH-INDEX  HEALTHY\n' +
        'a   voter    no      http://h:1  http://h:1  9            yes\n' +
        'b   voter    yes     http://h:2  http://h:2\n' +
        'c   learner  no      http://h:3  http://h:3               no\n',
    );
  });

  void test('status table: one row per endpoint, an ERROR column only when one failed', () => {
    const ok = statusTable([{ endpoint: 'http://h:1', status: status('a', 'leader', 'a') }]);
    assert.equal(
      ok,
      'ENDPOINT    ID  STATE   LEADER  TERM  COMMIT-INDEX  APPLIED-INDEX  MEMBERS  CLUSTER-ID\n' +
        'http://h:1  a   leader  a       3     40            39             0        c1\n',
    );
    const mixed = statusTable([
      { endpoint: 'http://h:1', status: status('a', 'candidate', null) },
      { endpoint: 'http://h:2', error: { code: 'unreachable', message: 'connection refused' } },
    ]);
    const [header, first, second] = mixed.split('\n');
    assert.match(header!, /CLUSTER-ID {2}ERROR$/);
    assert.match(first!, /candidate\s+\(none\)/);
    assert.match(second!, /^http:\/\/h:2\s+unreachable: connection refused$/);
  });

  void test('watch events: one line each', () => {
    assert.equal(
      eventLine({ type: 'PUT', key: 'a b', value: 'v', modifyIndex: 3, version: 1, index: 3 }),
      'PUT "a b" v\n',
    );
    assert.equal(eventLine({ type: 'PUT', key: 'k', value: '', index: 3 }), 'PUT k ""\n');
    assert.equal(eventLine({ type: 'DELETE', key: 'k', index: 4 }), 'DELETE k\n');
    const line = eventJson({ type: 'DELETE', key: 'k\n', index: 4 });
    assert.equal(line.split('\n').length, 2);
    assert.deepEqual(JSON.parse(line), { type: 'DELETE', key: 'k\n', index: 4 });
    assert.equal(json({ a: 1 }), '{\n  "a": 1\n}\n');
  });
});
