// Which archived objects retention deletes (docs/adr/0070), decided purely from the bucket listing.
//
// Keep rules (an object goes only when no rule keeps it):
// - by count: the newest `keepFull` full snapshots (by index; at least 1, so never the newest);
// - by age (when `keepAgeMs` is set): every snapshot uploaded within the window [now - keepAgeMs,
//   now], AND the newest one uploaded before it: a restore to a point just inside the window starts
//   from that one. So any point in the window stays restorable, not only the snapshots in it.
// Everything from the oldest kept snapshot on is kept (keeping is by index, a suffix: a snapshot
// uploaded late by a deposed leader can only make it keep more). Segments are deleted when they end
// at or before the oldest kept snapshot: a restore from it or any later one starts after them.
// Ages come from the objects' LastModified (upload time, after the capture), so the window's base
// was captured before the window began.

export interface ListedSnapshot {
  key: string;
  index: number;
  /** The object's LastModified, ms. */
  lastModified: number;
}

export interface ListedSegment {
  key: string;
  first: number;
  last: number;
}

export interface RetentionPolicy {
  keepFull: number;
  /** null: the count alone decides. */
  keepAgeMs: number | null;
}

export interface RetentionPlan {
  deleteSnapshots: string[];
  deleteSegments: string[];
  /** Index of the oldest snapshot kept; null when the bucket holds none. */
  oldestKept: number | null;
  /** Which rule kept the oldest kept snapshot. */
  keptBy: 'count' | 'age' | null;
}

export function planRetention(
  snapshots: ListedSnapshot[],
  segments: ListedSegment[],
  policy: RetentionPolicy,
  nowMs: number,
): RetentionPlan {
  const snaps = [...snapshots].sort((a, b) => a.index - b.index);
  if (snaps.length === 0) return { deleteSnapshots: [], deleteSegments: [], oldestKept: null, keptBy: null };
  const keepFull = Math.max(1, Math.floor(policy.keepFull));
  const byCount = snaps[Math.max(0, snaps.length - keepFull)]!.index;
  let byAge = Infinity;
  if (policy.keepAgeMs !== null) {
    const windowStart = nowMs - policy.keepAgeMs;
    const before = snaps.filter((s) => s.lastModified < windowStart);
    // No snapshot from before the window: all of them are needed (the oldest point is in the window).
    byAge = before.length === 0 ? snaps[0]!.index : before.at(-1)!.index;
  }
  const oldestKept = Math.min(byCount, byAge);
  return {
    deleteSnapshots: snaps.filter((s) => s.index < oldestKept).map((s) => s.key),
    deleteSegments: segments.filter((s) => s.last <= oldestKept).map((s) => s.key),
    oldestKept,
    keptBy: byAge < byCount ? 'age' : 'count',
  };
}
