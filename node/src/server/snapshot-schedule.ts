// When a node snapshots. Every member snapshots after about `threshold`
// applied entries, but if all of them did so at the same index (as they would,
// applying the same log), the whole cluster would spend the same second
// encoding and writing its state: on a small machine that showed up as the
// write p99. So each member's snapshots fall on its own phase of the grid:
// member r of n (in id order) snapshots when the applied index crosses
// phase + k*threshold, phase = r*threshold/n, the first such point at least
// threshold/2 entries after its previous snapshot. So snapshots come every
// threshold entries, and the log held in memory stays under 1.5 threshold.

export function snapshotPhase(selfId: string, memberIds: readonly string[], threshold: number): number {
  const sorted = [...memberIds].sort();
  const rank = Math.max(0, sorted.indexOf(selfId));
  return Math.floor((rank * threshold) / Math.max(1, sorted.length));
}

/** True when a snapshot is due at `applied`, the last one having been at `lastSnapshot`. */
export function snapshotDue(
  applied: number,
  lastSnapshot: number,
  threshold: number,
  phase: number,
): boolean {
  // The first grid point (phase + k*threshold) at least threshold/2 after the last snapshot.
  const earliest = lastSnapshot + Math.ceil(threshold / 2);
  const next = phase + threshold * Math.ceil((earliest - phase) / threshold);
  return applied >= next;
}
