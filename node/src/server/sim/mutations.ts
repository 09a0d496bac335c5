// npm run sim:mutations [-- --seeds N] [--only NAME]
// Mutation checks of the node-loop simulation (issue 13 §2): for every patch in
// mutations/, a temporary git worktree of HEAD (under the OS temp dir) gets the
// patch applied to the real code, and the simulation runs seeds until the
// first failure. Prints each mutation's seeds-to-failure; exits 1 if one was
// not caught within N seeds. Uncommitted changes are not part of the run.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, symlinkSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '300' },
    only: { type: 'string' },
  },
});
const seeds = Number(values.seeds);
const here = dirname(fileURLToPath(import.meta.url));
const root = execFileSync('git', ['rev-parse', '--show-toplevel'], { cwd: here, encoding: 'utf8' }).trim();
const patchDir = join(here, 'mutations');
const patches = readdirSync(patchDir)
  .filter((f) => f.endsWith('.patch'))
  .filter((f) => values.only === undefined || f.includes(values.only))
  .sort();

if (
  execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
    cwd: root,
    encoding: 'utf8',
  }).trim()
) {
  process.stdout.write(
    'sim:mutations: note: uncommitted changes are not part of the runs (worktrees of HEAD)\n',
  );
}

let uncaught = 0;
for (const patch of patches) {
  const dir = mkdtempSync(join(tmpdir(), 'kv-store-mutation-'));
  try {
    execFileSync('git', ['worktree', 'add', '--detach', '--quiet', dir, 'HEAD'], {
      cwd: root,
      stdio: 'pipe',
    });
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
    if (existsSync(join(root, 'node', 'node_modules')))
      symlinkSync(join(root, 'node', 'node_modules'), join(dir, 'node', 'node_modules'));
    execFileSync('git', ['apply', join(patchDir, patch)], { cwd: dir, stdio: 'pipe' });
    const began = performance.now();
    // core-*.patch break the Raft core's own rules: the core simulation (membership changes, wiped
    // members) explores them; the others run the node-loop simulation.
    const simArgs = patch.startsWith('core-')
      ? [join(dir, 'node/src/raft/sim/cli.ts'), '--seeds', String(seeds), '--trace', '1']
      : [join(dir, 'node/src/server/sim/cli.ts'), '--seeds', String(seeds), '--stop-on-fail', '--trace', '0'];
    const r = spawnSync(process.execPath, simArgs, {
      cwd: dir,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    const secs = ((performance.now() - began) / 1000).toFixed(1);
    const failed = /FAIL seed (\d+)/.exec(r.stdout);
    const violated = /violated ([^:]+): (.*)/.exec(r.stdout);
    if (failed) {
      const detail = violated ? `${violated[1]}: ${violated[2]!.slice(0, 160)}` : 'failed';
      process.stdout.write(
        `${patch}: caught at seed ${failed[1]} (${failed[1]} seeds to failure, ${secs}s): ${detail}\n`,
      );
    } else {
      uncaught++;
      const tail = (r.stdout + r.stderr).trim().split('\n').slice(-3).join(' | ');
      process.stdout.write(`${patch}: NOT caught in ${seeds} seeds (${secs}s) ${tail}\n`);
    }
  } finally {
    spawnSync('git', ['worktree', 'remove', '--force', dir], { cwd: root, stdio: 'pipe' });
    rmSync(dir, { recursive: true, force: true });
    spawnSync('git', ['worktree', 'prune'], { cwd: root, stdio: 'pipe' });
  }
}
process.stdout.write(
  `sim:mutations: ${patches.length - uncaught} of ${patches.length} caught within ${seeds} seeds\n`,
);
process.exitCode = uncaught > 0 ? 1 : 0;
