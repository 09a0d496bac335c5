import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeSegment,
  encodeSegment,
  parseS3Url,
  parseSegmentKey,
  parseSnapshotKey,
  segmentKey,
  snapshotKey,
} from './archive-layout.ts';
import { chainSegments } from './archive-reader.ts';
import { BackupError } from './errors.ts';

const entry = (index: number, time = 1000 + index) => ({
  index,
  term: 2,
  type: 0,
  data: Buffer.from(`cmd-${index}`),
  time,
});

test('segment keys name their range and parse back; other keys are not segments', () => {
  const k = segmentKey('p/', 10, 42);
  assert.equal(k, 'p/segments/000000000000000a-000000000000002a.seg');
  assert.deepEqual(parseSegmentKey('p/', k), { first: 10, last: 42 });
  assert.equal(parseSegmentKey('q/', k), null);
  assert.equal(parseSegmentKey('p/', 'p/segments/000000000000002a-000000000000000a.seg'), null);
  assert.equal(parseSnapshotKey('p/', snapshotKey('p/', 77)), 77);
  assert.equal(parseSnapshotKey('p/', 'p/snapshots/x.snap'), null);
});

test('a segment round-trips; a flipped byte, a wrong range or a short body is refused', () => {
  const body = encodeSegment('c1', [entry(5), entry(6), entry(7)]);
  const got = decodeSegment(body, 's', { first: 5, last: 7 });
  assert.equal(got.clusterId, 'c1');
  assert.deepEqual(
    got.entries.map((e) => [e.index, e.time, Buffer.from(e.data).toString()]),
    [
      [5, 1005, 'cmd-5'],
      [6, 1006, 'cmd-6'],
      [7, 1007, 'cmd-7'],
    ],
  );
  assert.throws(() => decodeSegment(body, 's', { first: 5, last: 8 }), /its name says 5\.\.8/);
  for (let at = 20; at < body.length; at += 7) {
    const bad = Buffer.from(body);
    bad[at] = bad[at]! ^ 0x01;
    assert.throws(() => decodeSegment(bad, 's', { first: 5, last: 7 }), BackupError, `flip at ${at}`);
  }
  assert.throws(
    () => decodeSegment(body.subarray(0, body.length - 3), 's', { first: 5, last: 7 }),
    BackupError,
  );
});

test('the chain: overlaps are fine, a gap is named, the latest point stops at the end', () => {
  const seg = (first: number, last: number) => ({ key: `${first}-${last}`, first, last });
  const segs = [seg(11, 20), seg(15, 30), seg(21, 25), seg(31, 40)];
  assert.deepEqual(
    chainSegments(segs, 10, 40).map((s) => s.key),
    ['11-20', '15-30', '31-40'],
  );
  assert.deepEqual(
    chainSegments(segs, 10, undefined).map((s) => s.key),
    ['11-20', '15-30', '31-40'],
  );
  assert.deepEqual(
    chainSegments(segs, 10, 12).map((s) => s.key),
    ['11-20'],
  );
  assert.deepEqual(chainSegments(segs, 40, undefined), []);
  assert.throws(() => chainSegments([seg(11, 20), seg(26, 30)], 10, 30), /no segment with entries 21\.\.25/);
  assert.throws(
    () => chainSegments([seg(11, 20), seg(26, 30)], 10, undefined),
    /no segment with entries 21\.\.25/,
  );
  assert.throws(() => chainSegments([seg(11, 20)], 10, 25), /no segment with entries 21\.\.25/);
  assert.throws(() => chainSegments([seg(12, 20)], 10, 15), /no segment with entries 11\.\.11/);
});

test('s3 URLs', () => {
  assert.deepEqual(parseS3Url('s3://my-bucket/a/b'), { bucket: 'my-bucket', prefix: 'a/b/' });
  assert.deepEqual(parseS3Url('s3://my-bucket'), { bucket: 'my-bucket', prefix: '' });
  assert.throws(() => parseS3Url('http://x/y'), BackupError);
});
