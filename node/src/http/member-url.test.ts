import assert from 'node:assert/strict';
import { test } from 'node:test';
import { memberUrl } from './request.ts';

void test('member URLs: http or https host:port (members with TLS), normalised; nothing else', () => {
  assert.equal(memberUrl('http://a.b:8080', 'peerUrl'), 'http://a.b:8080');
  assert.equal(
    memberUrl('https://demo-1.demo-peers.ns.svc.cluster.local:8081/', 'peerUrl'),
    'https://demo-1.demo-peers.ns.svc.cluster.local:8081',
  );
  for (const bad of ['ftp://a:1', 'https://a', 'http://u:p@a:1', 'https://a:1/x', 'https://a:1?q', 'a:1'])
    assert.throws(() => memberUrl(bad, 'peerUrl'), /invalid-body|must look like|not a URL/, bad);
});
