// npm run sim:core -- --seeds N [--start S] [--steps K] [--verbose] [--trace T]
// Runs N seeds of the randomized Raft simulation; prints each failing seed's
// violations and recent events, then `sim: N seeds, V violations`.
// Exit status is 1 if any seed violated a property.
import { parseArgs } from 'node:util';
import { runSeed } from './simulation.ts';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '100' },
    start: { type: 'string', default: '1' },
    steps: { type: 'string', default: '2000' },
    trace: { type: 'string', default: '60' },
    verbose: { type: 'boolean', default: false },
  },
});

function positiveInt(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`sim: --${name} must be a non-negative integer, got ${v}\n`);
    process.exit(2);
  }
  return n;
}

const seeds = positiveInt('seeds', values.seeds);
const start = positiveInt('start', values.start);
const steps = positiveInt('steps', values.steps);
const traceSize = positiveInt('trace', values.trace);

let violations = 0;
let failedSeeds = 0;
const began = performance.now();
for (let seed = start; seed < start + seeds; seed++) {
  const r = runSeed({
    seed,
    steps,
    traceSize,
    ...(values.verbose ? { onEvent: (line: string) => process.stdout.write(`  ${line}\n`) } : {}),
  });
  if (values.verbose) {
    const s = r.stats;
    process.stdout.write(
      `seed ${seed}: ${s.nodes} nodes, ${s.ticks} ticks, ${s.delivered} messages, committed ${s.committed}, ${s.leaders} leaderships, ${r.violations.length} violations\n`,
    );
  }
  if (r.violations.length === 0) continue;
  violations += r.violations.length;
  failedSeeds++;
  process.stdout.write(
    `\nFAIL seed ${seed} (reproduce: npm run sim:core -- --seeds 1 --start ${seed} --steps ${steps} --verbose)\n`,
  );
  for (const v of r.violations) process.stdout.write(`  violated ${v.property}: ${v.detail}\n`);
  process.stdout.write(`  last ${r.trace.length} events:\n`);
  for (const line of r.trace) process.stdout.write(`    ${line}\n`);
}
const secs = (performance.now() - began) / 1000;
process.stdout.write(
  `sim: seeds ${start}..${start + seeds - 1}, ${failedSeeds} failing, ${secs.toFixed(1)}s\n`,
);
process.stdout.write(`sim: ${seeds} seeds, ${violations} violations\n`);
process.exitCode = violations > 0 ? 1 : 0;
