// After the cluster has healed, every acknowledged write must still be visible
// unless another write or delete to the same key could have come after it
// (acknowledged, or unknown, and not finished before it started).
import { describeOp, show, type Operation } from './history.ts';

export interface LostWrite {
  op: Operation;
  finalValue: string | null;
}

export function findLostWrites(
  history: readonly Operation[],
  finalValues: ReadonlyMap<string, string | null>,
): LostWrite[] {
  const writesByKey = new Map<string, Operation[]>();
  for (const op of history) {
    if (op.kind === 'get' || op.outcome === 'fail') continue;
    let list = writesByKey.get(op.key);
    if (!list) writesByKey.set(op.key, (list = []));
    list.push(op);
  }
  const lost: LostWrite[] = [];
  for (const [key, writes] of writesByKey) {
    if (!finalValues.has(key)) continue;
    const finalValue = finalValues.get(key) ?? null;
    for (const w of writes) {
      if (w.outcome !== 'ok') continue;
      const survives = w.kind === 'delete' ? finalValue === null : finalValue === (w.value ?? null);
      if (survives) continue;
      const superseded = writes.some((o) => o !== w && o.ret >= w.call);
      if (!superseded) lost.push({ op: w, finalValue });
    }
  }
  return lost;
}

export function describeLostWrite(l: LostWrite): string {
  return `lost: ${describeOp(l.op)} acknowledged at ${l.op.ret.toFixed(1)} ms; final value ${show(l.finalValue)} and no later write to ${l.op.key}`;
}
