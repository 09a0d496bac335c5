// The node image as PID 1 (issue 17): uid 1000, no shell or npm, SIGTERM -> graceful exit 0,
// orphans reaped. Needs podman and `npm run images`; skipped without them. Run: npm run test:images
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort } from '../integration/harness.ts';

const run = promisify(execFile);
const IMAGE = process.env['KVSTORE_NODE_IMAGE'] ?? 'localhost/kv-store:dev';
const available = (() => {
  try {
    execFileSync('podman', ['image', 'exists', IMAGE]);
    return true;
  } catch {
    return false;
  }
})();
const skip = available ? false : `podman image ${IMAGE} not found (npm run images)`;
const podman = async (...args: string[]) => (await run('podman', args)).stdout.trim();

let dir = '';
let name = '';
let port = 0;

before(async () => {
  if (!available) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kv-image-'));
  fs.chownSync(dir, 1000, 1000);
  port = await freePort();
  name = `kv-image-${process.pid}`;
});
after(async () => {
  if (!available) return;
  await podman('rm', '-f', name).catch(() => '');
  fs.rmSync(dir, { recursive: true, force: true });
});

void test(
  'the node image: non-root, no shell, no npm; SIGTERM as PID 1 exits 0 after a graceful shutdown; orphans reaped',
  { skip },
  async () => {
    await podman('rm', '-f', name).catch(() => '');
    await podman(
      'run',
      '-d',
      '--name',
      name,
      '--network',
      'host',
      '--read-only',
      '-v',
      `${dir}:/var/lib/kv-store`,
      IMAGE,
      '-id',
      'solo',
      '-addr',
      `127.0.0.1:${port}`,
      '-data-dir',
      '/var/lib/kv-store/solo',
    );
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = await fetch(`http://127.0.0.1:${port}/v1/status`).then(
        (r) => r.status,
        () => 0,
      );
      if (status !== 200) await sleep(200);
    }
    assert.equal(status, 200, await podman('logs', name));
    assert.equal(await podman('inspect', '--format', '{{.Config.User}}', name), '1000:1000');
    const top = await podman('top', name, 'user', 'pid', 'args');
    assert.match(top, /^node\s+1\s+\/usr\/local\/bin\/tini/m, top);
    await assert.rejects(podman('exec', name, '/bin/sh', '-c', 'true'), 'no shell in the image');
    await assert.rejects(podman('exec', name, 'npm', '--version'), 'no npm in the image');
    // An orphan: a child that outlives its (exec'd) parent is re-parented to PID 1, which must reap it.
    await podman(
      'exec',
      name,
      'node',
      '-e',
      "require('child_process').spawn(process.execPath, ['-e', 'setTimeout(() => {}, 300)'], { detached: true, stdio: 'ignore' }).unref()",
    );
    await sleep(1500);
    const zombies = await podman(
      'exec',
      name,
      'node',
      '-e',
      "const fs = require('fs'); console.log(fs.readdirSync('/proc').filter((d) => /^[0-9]+$/.test(d)).filter((d) => { try { return fs.readFileSync('/proc/' + d + '/stat', 'utf8').split(') ')[1].startsWith('Z'); } catch { return false; } }).length)",
    );
    assert.equal(zombies, '0', 'no zombie left under PID 1');
    const t0 = Date.now();
    await podman('stop', '-t', '30', name);
    const stoppedMs = Date.now() - t0;
    assert.equal(await podman('inspect', '--format', '{{.State.ExitCode}}', name), '0');
    assert.ok(stoppedMs < 25_000, `stopped by SIGTERM, not by the SIGKILL after 30 s (${stoppedMs} ms)`);
    const logs = (await run('podman', ['logs', name])).stderr + (await podman('logs', name));
    assert.match(logs, /shut/i, 'the node logged its shutdown');
  },
);
