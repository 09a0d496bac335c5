import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MemberVolume } from './storage.ts';
import { planStorage, quantityBytes, replicasForOrphans, storageCondition } from './storage.ts';

const vol = (name: string, requested: string, storageClass = 'fast'): MemberVolume => ({
  name,
  requested,
  storageClass,
});
const vols = (size: string) => [0, 1, 2].map((o) => vol(`data-demo-${o}`, size));

test('quantities', () => {
  assert.equal(quantityBytes('64Mi'), 64 * 2 ** 20);
  assert.equal(quantityBytes('1G'), 1e9);
  assert.equal(quantityBytes('1.5Gi'), 1.5 * 2 ** 30);
  assert.equal(quantityBytes('12'), 12);
  assert.equal(quantityBytes('1 Gi'), undefined);
  assert.equal(quantityBytes('-1Gi'), undefined);
});

test('steady when volumes and template match the spec', () => {
  const p = planStorage({ desired: '1Gi', templateSize: '1Gi', volumes: vols('1Gi'), expandable: new Map() });
  assert.equal(p.kind, 'steady');
  assert.equal(storageCondition(p, '1Gi', undefined), undefined, 'no condition until a resize was asked for');
});

test('growth: PVCs first (when the class allows it), then the StatefulSet is replaced', () => {
  const grow = planStorage({
    desired: '2Gi',
    templateSize: '1Gi',
    volumes: vols('1Gi'),
    expandable: new Map([['fast', true]]),
  });
  assert.deepEqual(grow, {
    kind: 'expand',
    templateSize: '1Gi',
    pvcs: ['data-demo-0', 'data-demo-1', 'data-demo-2'],
    message: 'growing data-demo-0, data-demo-1, data-demo-2 to 2Gi',
  });
  const unknown = planStorage({
    desired: '2Gi',
    templateSize: '1Gi',
    volumes: vols('1Gi'),
    expandable: new Map(),
  });
  assert.equal(unknown.kind, 'expand', 'a class that cannot be read is tried; the API server says why not');
  const then = planStorage({
    desired: '2Gi',
    templateSize: '1Gi',
    volumes: vols('2Gi'),
    expandable: new Map(),
  });
  assert.equal(then.kind, 'recreate-statefulset');
  assert.equal(then.templateSize, '1Gi', 'the old template stays in force until it is replaced');
  assert.equal(storageCondition(then, '2Gi', undefined)?.reason, 'Resizing');
});

test('a class without allowVolumeExpansion: nothing patched, and the condition says why', () => {
  const p = planStorage({
    desired: '2Gi',
    templateSize: '1Gi',
    volumes: vols('1Gi'),
    expandable: new Map([['fast', false]]),
  });
  assert.equal(p.kind, 'not-expandable');
  assert.match(
    p.kind === 'not-expandable' ? p.message : '',
    /StorageClass fast does not set allowVolumeExpansion/,
  );
  const c = storageCondition(p, '2Gi', undefined);
  assert.equal(c?.status, 'False');
  assert.equal(c?.reason, 'ExpansionNotAllowed');
});

test('shrinking is refused and the template keeps its size', () => {
  const p = planStorage({
    desired: '512Mi',
    templateSize: '1Gi',
    volumes: vols('1Gi'),
    expandable: new Map([['fast', true]]),
  });
  assert.equal(p.kind, 'refuse-shrink');
  assert.equal(p.templateSize, '1Gi');
  assert.equal(storageCondition(p, '512Mi', undefined)?.reason, 'ShrinkRefused');
  // Grown volumes count too, even if the template was not replaced yet.
  const q = planStorage({
    desired: '1Gi',
    templateSize: '1Gi',
    volumes: [vol('data-demo-0', '2Gi')],
    expandable: new Map(),
  });
  assert.equal(q.kind, 'refuse-shrink');
});

test('orphaned pods: the re-created StatefulSet keeps every ordinal', () => {
  assert.equal(replicasForOrphans('demo', ['demo-0', 'demo-2', 'other-7']), 3);
  assert.equal(replicasForOrphans('demo', []), 0);
});
