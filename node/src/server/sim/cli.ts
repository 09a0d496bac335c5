// npm run sim -- --seeds N [--start S] [--steps MS] [--verbose] [--trace T] [--stop-on-fail]
// Runs N seeds of the deterministic simulation of the node loop (node-sim.ts);
// prints each failing seed's violations and recent events, then
// `sim: seeds A..B, F failing, X.Xs`. Exit status 1 if any seed failed.
// (The Raft-core-only simulation is `npm run sim:core`.)
import { parseArgs } from 'node:util';
import { runNodeSeed } from './node-sim.ts';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '100' },
    start: { type: 'string', default: '1' },
    steps: { type: 'string', default: '5000' },
    trace: { type: 'string', default: '60' },
    verbose: { type: 'boolean', default: false },
    'stop-on-fail': { type: 'boolean', default: false },
  },
});

function nonNegativeInt(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`sim: --${name} must be a non-negative integer, got ${v}\n`);
    process.exit(2);
  }
  return n;
}

const seeds = nonNegativeInt('seeds', values.seeds);
const start = nonNegativeInt('start', values.start);
const steps = nonNegativeInt('steps', values.steps);
const traceSize = nonNegativeInt('trace', values.trace);

let violations = 0;
let failedSeeds = 0;
let ran = 0;
const began = performance.now();
for (let seed = start; seed < start + seeds; seed++) {
  ran++;
  const r = await runNodeSeed({
    seed,
    steps,
    traceSize,
    stopOnViolation: values['stop-on-fail'],
    ...(values.verbose ? { onEvent: (line: string) => process.stdout.write(`  ${line}\n`) } : {}),
  });
  if (values.verbose) {
    const s = r.stats;
    process.stdout.write(
      `seed ${seed}: ${s.nodes} nodes, ${s.events} events, ${s.delivered} messages, ${s.acked} writes acknowledged, ${s.reads} reads, ${s.crashes} crashes, ${s.snapshots} snapshots sent, ${s.earlyLeader} early-leader msgs, ${r.violations.length} violations\n`,
    );
  }
  if (r.violations.length === 0) continue;
  violations += r.violations.length;
  failedSeeds++;
  process.stdout.write(
    `\nFAIL seed ${seed} (reproduce: npm run sim -- --seeds 1 --start ${seed} --steps ${steps} --verbose)\n`,
  );
  for (const v of r.violations.slice(0, 10)) process.stdout.write(`  violated ${v.property}: ${v.detail}\n`);
  process.stdout.write(`  last ${r.trace.length} events:\n`);
  for (const line of r.trace) process.stdout.write(`    ${line}\n`);
  if (values['stop-on-fail']) break;
}
const secs = (performance.now() - began) / 1000;
process.stdout.write(
  `sim: seeds ${start}..${start + ran - 1}, ${failedSeeds} failing, ${secs.toFixed(1)}s\n`,
);
process.stdout.write(`sim: ${ran} seeds, ${violations} violations\n`);
process.exitCode = violations > 0 ? 1 : 0;
