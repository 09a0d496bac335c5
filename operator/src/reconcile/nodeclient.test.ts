import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpNodeAdmin, NodeApiError } from './nodeclient.ts';

void describe('HttpNodeAdmin against a fake node', () => {
  let server: Server;
  let base = '';
  const seen: { method: string; url: string; body: string }[] = [];
  const read = async (req: IncomingMessage) => {
    let s = '';
    for await (const chunk of req) s += String(chunk);
    return s;
  };
  before(async () => {
    server = createServer((req, res) => {
      void read(req).then((body) => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', body });
        res.setHeader('content-type', 'application/json');
        if (req.url === '/v1/status') {
          res.end(
            JSON.stringify({
              id: 'demo-0',
              clusterId: 'c1',
              state: 'leader',
              leader: 'demo-0',
              term: 2,
              commitIndex: 9,
              appliedIndex: 9,
              members: [],
            }),
          );
        } else if (req.url === '/v1/cluster/members/demo-2/promote') {
          res.statusCode = 409;
          res.end(JSON.stringify({ error: { code: 'learner-not-caught-up', message: 'behind' } }));
        } else if (req.url === '/v1/cluster/leader') {
          res.end(JSON.stringify({ leader: 'demo-1' }));
        } else if (req.url === '/v1/cluster/members/x') {
          res.statusCode = 500;
          res.end('boom');
        } else {
          res.statusCode = req.method === 'POST' ? 201 : 200;
          res.end('{}');
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  void test('status, add, remove and transfer hit the documented paths', async () => {
    const c = new HttpNodeAdmin();
    assert.equal((await c.status(base)).clusterId, 'c1');
    await c.addMember(base, {
      id: 'demo-3',
      peerUrl: 'http://demo-3.demo-peers.ns.svc.cluster.local:8080',
      role: 'learner',
    });
    await c.removeMember(base, 'demo-3');
    assert.equal(await c.transferLeadership(base, 'demo-1'), 'demo-1');
    const add = seen.find((s) => s.method === 'POST' && s.url === '/v1/cluster/members');
    assert.deepEqual(JSON.parse(add!.body), {
      id: 'demo-3',
      peerUrl: 'http://demo-3.demo-peers.ns.svc.cluster.local:8080',
      role: 'learner',
    });
    assert.ok(seen.some((s) => s.method === 'DELETE' && s.url === '/v1/cluster/members/demo-3'));
    assert.deepEqual(JSON.parse(seen.find((s) => s.url === '/v1/cluster/leader')!.body), { to: 'demo-1' });
  });

  void test('node errors surface their code', async () => {
    const c = new HttpNodeAdmin();
    await assert.rejects(
      c.promote(base, 'demo-2'),
      (e: unknown) => e instanceof NodeApiError && e.status === 409 && e.code === 'learner-not-caught-up',
    );
    await assert.rejects(
      c.removeMember(base, 'x'),
      (e: unknown) => e instanceof NodeApiError && e.status === 500 && e.code === 'http-500',
    );
  });

  void test('an unreachable node is status 0', async () => {
    const c = new HttpNodeAdmin({ timeoutMs: 500 });
    await assert.rejects(
      c.status('http://127.0.0.1:1'),
      (e: unknown) => e instanceof NodeApiError && e.status === 0,
    );
  });
});
