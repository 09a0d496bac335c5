import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KVCluster } from '../types.ts';
import { withDefaults } from '../types.ts';
import {
  FENCED_ANNOTATION,
  RESTART_ANNOTATION,
  fenceFileMembers,
  fencedMembers,
  restartDue,
  restartRequests,
} from './day2.ts';

const kv = (annotations: Record<string, string>): KVCluster => ({
  apiVersion: 'kvstore.io/v1alpha1',
  kind: 'KVCluster',
  metadata: { name: 'demo', namespace: 'ns', uid: 'u', annotations },
  spec: withDefaults({}),
});

test("fenced members: a JSON array of this cluster's member names; anything else is ignored with a reason", () => {
  assert.deepEqual(fencedMembers(kv({})).value, []);
  assert.deepEqual(fencedMembers(kv({ [FENCED_ANNOTATION]: '["demo-2","demo-0","demo-2"]' })).value, [
    'demo-0',
    'demo-2',
  ]);
  for (const bad of ['demo-1', '{"a":1}', '[1]', '["other-1"]', '["demo-x"]']) {
    const r = fencedMembers(kv({ [FENCED_ANNOTATION]: bad }));
    assert.deepEqual(r.value, [], bad);
    assert.match(r.problem ?? '', /ignored/, bad);
  }
});

test('restart requests: per member or "*", RFC 3339 times; a pod created before the time is due', () => {
  const r = restartRequests(
    kv({ [RESTART_ANNOTATION]: '{"*":"2026-12-01T10:00:00Z","demo-1":"2026-12-01T11:00:00Z"}' }),
  );
  assert.equal(r.problem, undefined);
  const t = (s: string) => Date.parse(s);
  assert.equal(restartDue(r.value, 'demo-0', t('2026-12-01T09:59:59Z')), true);
  assert.equal(
    restartDue(r.value, 'demo-0', t('2026-12-01T10:00:00Z')),
    false,
    'created in the second asked: fresh',
  );
  assert.equal(
    restartDue(r.value, 'demo-1', t('2026-12-01T10:30:00Z')),
    true,
    'its own later request counts',
  );
  assert.equal(restartDue(r.value, 'demo-1', undefined), false);
  assert.equal(restartDue(new Map(), 'demo-0', 0), false);
  for (const bad of ['[]', '{"demo-0":"yesterday"}', '{"other-0":"2026-12-01T10:00:00Z"}', 'x']) {
    const p = restartRequests(kv({ [RESTART_ANNOTATION]: bad }));
    assert.equal(p.value.size, 0, bad);
    assert.match(p.problem ?? '', /ignored/, bad);
  }
});

test('the fence file names fenced members only once they stopped voting', () => {
  assert.deepEqual(fenceFileMembers(['demo-1', 'demo-2'], new Set(['demo-0', 'demo-1'])), ['demo-2']);
  assert.deepEqual(fenceFileMembers([], new Set(['demo-0'])), []);
});
