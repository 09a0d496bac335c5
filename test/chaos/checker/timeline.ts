// ASCII rendering of a key's history around the point where the search got
// stuck: one row per operation, its bar spans call..return on a shared time
// axis; unknown outcomes run off the right edge as ">>>".
import { describeOp, show, type Operation } from './history.ts';
import type { KeyResult } from './linearizability.ts';
import { step } from './model.ts';

const WIDTH = 60;

export function renderTimeline(ops: readonly Operation[], mark?: Operation): string {
  if (ops.length === 0) return '(no operations)';
  const start = Math.min(...ops.map((o) => o.call));
  const finite = ops.map((o) => o.ret).filter((t) => Number.isFinite(t));
  const end = Math.max(start + 1, ...finite, ...ops.map((o) => o.call));
  const col = (t: number): number =>
    Math.min(WIDTH - 1, Math.max(0, Math.round(((t - start) / (end - start)) * (WIDTH - 1))));
  const lines = [`time 0 = ${start.toFixed(1)} ms, full width = ${(end - start).toFixed(1)} ms`];
  for (const op of [...ops].sort((a, b) => a.call - b.call)) {
    const row = Array.from({ length: WIDTH }, () => ' ');
    const from = col(op.call);
    const to = Number.isFinite(op.ret) ? col(op.ret) : WIDTH - 1;
    for (let i = from; i <= to; i++) row[i] = Number.isFinite(op.ret) || i < to - 2 ? '=' : '>';
    row[from] = '[';
    if (Number.isFinite(op.ret)) row[to] = ']';
    const who = `p${op.process}${op.node ? `@${op.node}` : ''}`.padEnd(10);
    const times = `${(op.call - start).toFixed(1)}..${Number.isFinite(op.ret) ? (op.ret - start).toFixed(1) : 'inf'}`;
    lines.push(`${op === mark ? '*' : ' '} ${who}|${row.join('')}| ${describeOp(op)}  [${times}]`);
  }
  return lines.join('\n');
}

/** A readable account of one key's violation, limited to the neighbourhood of the failure. */
export function explainViolation(result: KeyResult, maxRows = 40): string {
  const lin = result.longestLinearization;
  const stuck = result.stuckAt;
  const lines = [
    `key ${JSON.stringify(result.key)}: NOT linearizable (${result.ops.length} ops checked, ${result.steps} search steps)`,
  ];
  let state: string | null = null;
  for (const op of lin) state = step(state, op) ?? state;
  lines.push(`longest linearizable prefix: ${lin.length} ops, ending in state ${show(state)}`);
  for (const op of lin.slice(-5)) lines.push(`  ... ${describeOp(op)}`);
  if (stuck) lines.push(`no order lets this op complete: ${describeOp(stuck)}`);
  // Window: the last few linearized ops, everything overlapping them and the
  // stuck op, and the writes of the values involved (so a stale read shows
  // which newer write it missed).
  const anchor = stuck ?? lin[lin.length - 1];
  const tail = lin.slice(-8);
  const from = Math.min(...tail.map((o) => o.call), anchor ? anchor.call : Infinity);
  const to = anchor ? (Number.isFinite(anchor.ret) ? anchor.ret : anchor.call) : Infinity;
  const involved = new Set(
    [state, stuck?.result, stuck?.expected].filter((v): v is string => typeof v === 'string'),
  );
  const writers = result.ops.filter(
    (o) => o.kind !== 'get' && o.value !== undefined && involved.has(o.value),
  );
  let window = [...new Set([...result.ops.filter((o) => o.call <= to && o.ret >= from), ...writers])];
  if (window.length > maxRows) {
    const distance = (o: Operation): number =>
      writers.includes(o) || o === stuck ? -1 : Math.abs(o.call - (anchor?.call ?? 0));
    window = window.sort((a, b) => distance(a) - distance(b)).slice(0, maxRows);
  }
  lines.push(renderTimeline(window, stuck));
  return lines.join('\n');
}
