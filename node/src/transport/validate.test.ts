import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeCommand } from '../kv/commands.ts';
import { encodeConfChange } from '../raft/conf-change.ts';
import { ConfChangeType, emptyMessage, EntryType, MessageType, type Message } from '../raft/types.ts';
import { decodeMsgpack, encodeMsgpack } from './frames.ts';
import { MAX_WIRE_NUMBER, PeerInputError, validateMessage, type RejectReason } from './validate.ts';

const put = encodeCommand({ op: 'put', requestId: 'r', key: 'k', value: 'v' });

/** Through msgpack, as the wire delivers it. */
const wire = (m: unknown): unknown => decodeMsgpack(encodeMsgpack(m));

function app(): Message {
  const m = emptyMessage(MessageType.App, 'a', 'b', 5);
  m.index = 10;
  m.logTerm = 4;
  m.commit = 9;
  m.entries = [
    { index: 11, term: 4, type: EntryType.Normal, data: put },
    { index: 12, term: 5, type: EntryType.Normal, data: new Uint8Array(0) },
  ];
  return m;
}

function rejects(m: unknown, reason: RejectReason, what: string): void {
  assert.throws(
    () => validateMessage(wire(m), 'a', 'b'),
    (e: unknown) => {
      assert.ok(e instanceof PeerInputError, `${what}: ${String(e)}`);
      assert.equal(e.reason, reason, `${what}: ${e.message}`);
      return true;
    },
  );
}

void test('well-formed messages pass unchanged', () => {
  const a = app();
  assert.deepEqual(validateMessage(wire(a), 'a', 'b'), {
    ...a,
    entries: a.entries.map((e) => ({ ...e, data: Buffer.from(e.data) })),
  });
  const hb = emptyMessage(MessageType.Heartbeat, 'a', 'b', MAX_WIRE_NUMBER);
  assert.equal(validateMessage(wire(hb), 'a', 'b').term, MAX_WIRE_NUMBER);
  const prop = emptyMessage(MessageType.Prop, 'a', 'b', 0);
  prop.entries = [{ index: 0, term: 0, type: EntryType.Normal, data: put }];
  assert.equal(validateMessage(wire(prop), 'a', 'b').entries.length, 1);
  const snap = emptyMessage(MessageType.Snap, 'a', 'b', 5);
  snap.snapshot = {
    metadata: { index: 100, term: 5, confState: { voters: ['a', 'b', 'c'], learners: ['d'] } },
    data: new Uint8Array(0),
  };
  assert.equal(validateMessage(wire(snap), 'a', 'b').snapshot?.metadata.index, 100);
  const cc = app();
  cc.entries = [
    {
      index: 11,
      term: 5,
      type: EntryType.ConfChange,
      data: encodeConfChange({
        type: ConfChangeType.AddLearner,
        nodeId: 'd',
        after: { voters: ['a', 'b'], learners: ['d'] },
      }),
    },
  ];
  assert.equal(validateMessage(wire(cc), 'a', 'b').entries[0]!.type, EntryType.ConfChange);
});

void test('terms and indexes the storage cannot hold, or that are not integers, are refused', () => {
  // 2^48 crashed the node when written (u48 entry terms); 1e300 was written and bricked startup.
  for (const v of [2 ** 47, 2 ** 48, 1e300, -1, NaN, Infinity, 1.5, '7', null, undefined]) {
    for (const f of ['term', 'index', 'logTerm', 'commit', 'rejectHint', 'hintTerm'] as const) {
      rejects(
        { ...emptyMessage(MessageType.Heartbeat, 'a', 'b', 3), [f]: v },
        'out-of-range',
        `${f}=${String(v)}`,
      );
    }
  }
  rejects(emptyMessage(MessageType.Heartbeat, 'a', 'b', 0), 'out-of-range', 'heartbeat with term 0');
  const e = app();
  e.entries[0]!.term = 2 ** 48;
  rejects(e, 'out-of-range', 'entry term 2^48');
});

void test('shape, type and addressing', () => {
  rejects([1, 2], 'malformed', 'array');
  rejects({ ...emptyMessage(MessageType.Heartbeat, 'a', 'b', 3), type: 'hup' }, 'unknown-type', 'local type');
  rejects(
    { ...emptyMessage(MessageType.Heartbeat, 'a', 'b', 3), type: 'bogus' },
    'unknown-type',
    'unknown type',
  );
  rejects(emptyMessage(MessageType.Heartbeat, 'x', 'b', 3), 'misaddressed', 'from another sender');
  rejects(emptyMessage(MessageType.Heartbeat, 'a', 'c', 3), 'misaddressed', 'for another node');
  rejects(
    { ...emptyMessage(MessageType.Heartbeat, 'a', 'b', 3), reject: 1 },
    'malformed',
    'reject not boolean',
  );
  rejects(
    { ...emptyMessage(MessageType.Heartbeat, 'a', 'b', 3), context: 'x'.repeat(5000) },
    'malformed',
    'huge context',
  );
});

void test('entries must be contiguous, plausible and decodable', () => {
  const gap = app();
  gap.entries[1]!.index = 14;
  rejects(gap, 'bad-entry', 'index gap');
  const newer = app();
  newer.entries[1]!.term = 6;
  rejects(newer, 'bad-entry', 'entry term above the message term');
  const older = app();
  older.entries[1]!.term = 3;
  rejects(older, 'bad-entry', 'decreasing terms');
  const type = app();
  (type.entries[0] as { type: number }).type = 7;
  rejects(type, 'bad-entry', 'unknown entry type');
  const garbage = app();
  garbage.entries[0]!.data = Uint8Array.of(0xff, 1, 2);
  rejects(garbage, 'bad-entry', 'command that does not decode');
  const badCc = app();
  badCc.entries[0] = { index: 11, term: 4, type: EntryType.ConfChange, data: Buffer.from('{"nope":1}') };
  rejects(badCc, 'bad-entry', 'conf change that does not decode');
  const badAfter = app();
  badAfter.entries[0] = {
    index: 11,
    term: 4,
    type: EntryType.ConfChange,
    data: encodeConfChange({ type: 0, nodeId: 'd', after: { voters: [], learners: ['d'] } }),
  };
  rejects(badAfter, 'bad-conf-state', 'conf change leaving no voters');
  const hb = emptyMessage(MessageType.Heartbeat, 'a', 'b', 3);
  hb.entries = [{ index: 1, term: 1, type: 0, data: put }];
  rejects(hb, 'bad-entry', 'heartbeat with entries');
  const prop = emptyMessage(MessageType.Prop, 'a', 'b', 0);
  prop.entries = [
    { index: 0, term: 0, type: EntryType.ConfChange, data: encodeConfChange({ type: 0, nodeId: 'x' }) },
  ];
  rejects(prop, 'bad-entry', 'forwarded conf change');
});

void test('snapshot metadata and configuration contents', () => {
  const snap = (md: unknown): unknown => ({
    ...emptyMessage(MessageType.Snap, 'a', 'b', 5),
    snapshot: { metadata: md, data: new Uint8Array(0) },
  });
  const cs = { voters: ['a', 'b'], learners: [] };
  rejects(snap({ index: 2 ** 48, term: 5, confState: cs }), 'out-of-range', 'index 2^48');
  rejects(snap({ index: 0, term: 5, confState: cs }), 'bad-snapshot', 'index 0');
  rejects(snap({ index: 9, term: 6, confState: cs }), 'bad-snapshot', 'term above the message term');
  rejects(
    snap({ index: 9, term: 5, confState: { voters: [], learners: [] } }),
    'bad-conf-state',
    'no voters',
  );
  rejects(
    snap({ index: 9, term: 5, confState: { voters: ['a', 'a'], learners: [] } }),
    'bad-conf-state',
    'duplicate',
  );
  rejects(
    snap({ index: 9, term: 5, confState: { voters: ['a'], learners: ['a'] } }),
    'bad-conf-state',
    'voter and learner',
  );
  rejects(
    snap({ index: 9, term: 5, confState: { voters: ['a/../x'], learners: [] } }),
    'bad-conf-state',
    'bad id',
  );
  rejects(
    snap({
      index: 9,
      term: 5,
      confState: { voters: Array.from({ length: 2000 }, (_, i) => `n${i}`), learners: [] },
    }),
    'bad-conf-state',
    'too many',
  );
  rejects(
    { ...emptyMessage(MessageType.Snap, 'a', 'b', 5), snapshot: null },
    'bad-snapshot',
    'snap without snapshot',
  );
  rejects(
    {
      ...emptyMessage(MessageType.Heartbeat, 'a', 'b', 5),
      snapshot: { metadata: { index: 1, term: 1, confState: cs }, data: new Uint8Array(0) },
    },
    'bad-snapshot',
    'heartbeat with a snapshot',
  );
});
