// Quorum arithmetic, in one place: the Raft core (elections, commit, CheckQuorum,
// ReadIndex), the membership rules (membership.ts) and, by a test that checks
// the numbers agree, the operator (operator/src/types.ts) all count the same way.
// A configuration here is its voters; learners never count.

/** The smallest number of voters that is a majority of `voters` (0 voters: 1, nothing can win). */
export function majority(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/** Whether the voters for which `yes` holds form a majority of `voters`. */
export function isQuorum(voters: Iterable<string>, yes: (id: string) => boolean): boolean {
  let n = 0;
  let count = 0;
  for (const id of voters) {
    n++;
    if (yes(id)) count++;
  }
  return count >= majority(n);
}

/** How many of `voters` satisfy `yes`. */
export function countOf(voters: Iterable<string>, yes: (id: string) => boolean): number {
  let count = 0;
  for (const id of voters) if (yes(id)) count++;
  return count;
}

export type VoteResult = 'won' | 'lost' | 'pending';

/**
 * The outcome of an election among `voters` given the answers so far (true granted, false
 * rejected, absent not yet answered): won once a majority granted, lost once a majority can no
 * longer grant.
 */
export function voteResult(
  voters: Iterable<string>,
  answer: (id: string) => boolean | undefined,
): VoteResult {
  let n = 0;
  let yes = 0;
  let no = 0;
  for (const id of voters) {
    n++;
    const a = answer(id);
    if (a === true) yes++;
    else if (a === false) no++;
  }
  const q = majority(n);
  if (yes >= q) return 'won';
  if (no > n - q) return 'lost';
  return 'pending';
}
