import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { restoreIfEmpty, STAGING_DIR } from './restore-staging.ts';

async function dir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'kvstore-staging-'));
}

const write = async (d: string): Promise<{ keys: number }> => {
  await mkdir(join(d, 'snap'), { recursive: true });
  await writeFile(join(d, 'CURRENT'), 'x');
  await writeFile(join(d, 'snap', '1.snap'), 'y');
  return { keys: 3 };
};

void test('an empty directory (lost+found aside) gets the restore, moved in whole', async () => {
  const d = await dir();
  await mkdir(join(d, 'lost+found'));
  const r = await restoreIfEmpty(d, write);
  assert.deepEqual(r, { kind: 'restored', result: { keys: 3 } });
  assert.deepEqual((await readdir(d)).sort(), ['CURRENT', 'lost+found', 'snap']);
  assert.equal(await readFile(join(d, 'snap', '1.snap'), 'utf8'), 'y');
  await rm(d, { recursive: true });
});

void test('a directory holding data is left alone', async () => {
  const d = await dir();
  await writeFile(join(d, 'MANIFEST-000001'), 'old');
  let ran = false;
  const r = await restoreIfEmpty(d, () => {
    ran = true;
    return Promise.resolve({});
  });
  assert.deepEqual(r, { kind: 'skipped', entries: ['MANIFEST-000001'] });
  assert.equal(ran, false);
  assert.equal(await readFile(join(d, 'MANIFEST-000001'), 'utf8'), 'old');
  await rm(d, { recursive: true });
});

void test('an interrupted restore is redone; a complete one that was not moved in is finished', async () => {
  const d = await dir();
  // Crashed while writing: no marker.
  await mkdir(join(d, STAGING_DIR));
  await writeFile(join(d, STAGING_DIR, 'half'), 'h');
  const r = await restoreIfEmpty(d, write);
  assert.equal(r.kind, 'restored');
  assert.deepEqual((await readdir(d)).sort(), ['CURRENT', 'snap']);
  await rm(d, { recursive: true });

  // Crashed while moving: marker present, one entry already moved.
  const e = await dir();
  await mkdir(join(e, STAGING_DIR, 'snap'), { recursive: true });
  await writeFile(join(e, 'CURRENT'), 'x');
  await writeFile(join(e, STAGING_DIR, 'snap', '1.snap'), 'y');
  await writeFile(join(e, STAGING_DIR, '.complete'), JSON.stringify({ keys: 7 }));
  const f = await restoreIfEmpty(e, () => Promise.reject(new Error('must not restore again')));
  assert.deepEqual(f, { kind: 'finished', result: { keys: 7 } });
  assert.deepEqual((await readdir(e)).sort(), ['CURRENT', 'snap']);
  await rm(e, { recursive: true });
});
