import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decide, nextLease } from './leader-election.ts';

const t0 = new Date('2026-11-24T18:00:00.000Z');
const later = (s: number) => new Date(t0.getTime() + s * 1000);

void describe('lease decisions', () => {
  void test('no lease or an empty holder: acquire', () => {
    assert.equal(decide(null, 'a', t0, 15), 'acquire');
    assert.equal(decide({ holderIdentity: '' }, 'a', t0, 15), 'acquire');
  });

  void test('our own lease: renew', () => {
    assert.equal(
      decide(
        { holderIdentity: 'a', renewTime: t0.toISOString(), leaseDurationSeconds: 15 },
        'a',
        later(100),
        15,
      ),
      'renew',
    );
  });

  void test('someone else holds a fresh lease: wait; an expired one: take over', () => {
    const lease = { holderIdentity: 'b', renewTime: t0.toISOString(), leaseDurationSeconds: 15 };
    assert.equal(decide(lease, 'a', later(10), 15), 'wait');
    assert.equal(decide(lease, 'a', later(15), 15), 'wait');
    assert.equal(decide(lease, 'a', later(16), 15), 'acquire');
  });

  void test('a released lease (duration 1s) is taken over quickly', () => {
    assert.equal(
      decide(
        { holderIdentity: 'b', renewTime: t0.toISOString(), leaseDurationSeconds: 1 },
        'a',
        later(2),
        15,
      ),
      'acquire',
    );
  });

  void test('two candidates never both see "acquire" on a fresh lease held by one', () => {
    const lease = nextLease(null, 'a', t0, 15, 'acquire');
    assert.equal(decide(lease, 'a', later(5), 15), 'renew');
    assert.equal(decide(lease, 'b', later(5), 15), 'wait');
  });

  void test('next lease: renew keeps acquireTime; taking over counts a transition', () => {
    const a = nextLease(null, 'a', t0, 15, 'acquire');
    assert.equal(a.leaseTransitions, 0);
    const renewed = nextLease(a, 'a', later(2), 15, 'renew');
    assert.equal(renewed.acquireTime, a.acquireTime);
    assert.equal(renewed.renewTime, later(2).toISOString());
    const b = nextLease(renewed, 'b', later(60), 15, 'acquire');
    assert.equal(b.holderIdentity, 'b');
    assert.equal(b.leaseTransitions, 1);
  });
});
