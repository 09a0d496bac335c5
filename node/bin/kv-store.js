#!/usr/bin/env node
// kv-store node entry point. Node 24 runs the TypeScript sources directly (type stripping).
//
// Runtime tuning (docs/adr/0061-snapshot-files-and-memory.md, 0062): a node keeps its whole key
// space in the V8 heap, and with Node's defaults the heap grows to two or three times its live size
// under a write load (a 32 MiB young generation, a heap growing factor of up to 4), and glibc keeps
// a malloc arena per thread. So on start the process replaces itself (process.execve: same pid,
// same stdio, so supervisors and signals see no difference) with the same command plus a smaller
// young generation, MALLOC_ARENA_MAX=2 and MALLOC_MMAP_THRESHOLD_=1048576 unless already set (a
// fixed threshold: blocks of 1 MiB or more, such as snapshot chunks, are mapped on their own and go
// back to the system when freed, where glibc's self-raising threshold kept them in its heap after a
// bulk load, ADR 0062); once running, the node limits heap
// growth when its live heap is large (node/src/runtime/heap-growth.ts). Flags given to node
// explicitly come later and win. KVSTORE_RUNTIME_TUNING=off starts without any of it.
//
// First of all: the sources are TypeScript run by Node 24's type stripping. An older Node (say the
// machine's own, first on PATH) would die with ERR_UNKNOWN_FILE_EXTENSION; say what is needed.
// Only syntax every Node since 12 parses comes before this check.
const NEEDED_MAJOR = 24;
if (Number(process.versions.node.split('.')[0]) < NEEDED_MAJOR) {
  process.stderr.write(
    `kv-store: needs Node ${NEEDED_MAJOR} or later, but was started by Node ${process.versions.node} (${process.execPath}).\n` +
      `  After npm install, run it with the Node ${NEEDED_MAJOR} that npm installs in node_modules: \`npx kv-store ...\`\n` +
      `  (npm scripts put node_modules/.bin first on PATH), or \`node_modules/.bin/node node/bin/kv-store.js ...\`.\n`,
  );
  process.exit(2);
}

const TUNED_MARK = 'KVSTORE_RUNTIME_TUNED';
const V8_FLAGS = ['--max-semi-space-size=8'];

if (
  process.env[TUNED_MARK] === undefined &&
  process.env.KVSTORE_RUNTIME_TUNING !== 'off' &&
  typeof process.execve === 'function'
) {
  const env = { ...process.env, [TUNED_MARK]: '1' };
  env.MALLOC_ARENA_MAX ??= '2';
  env.MALLOC_MMAP_THRESHOLD_ ??= '1048576';
  const script = process.argv[1] ?? new URL(import.meta.url).pathname;
  process.execve(
    process.execPath,
    [process.execPath, ...V8_FLAGS, ...process.execArgv, script, ...process.argv.slice(2)],
    env,
  );
}
// `kv-store kvctl ...` runs kvctl from the node image (the operator's init steps use it: no
// container command, so the image's entrypoint stays the same on every runtime).
if (process.argv[2] === 'kvctl') {
  process.argv.splice(2, 1);
  await import('../src/kvctl/main.ts');
} else {
  await import('../src/main.ts');
}
