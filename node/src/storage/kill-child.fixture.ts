// Child process for the kill-safety test: persists batches in a loop (with an
// occasional snapshot + compaction) and prints what each resolved write made
// durable, one line per acknowledgement: "ack <lastIndex> <commit> <snapshotIndex>".
// The parent SIGKILLs it at a random moment and checks the reopened directory.
import { DiskStorage } from './disk-storage.ts';
import type { Entry } from '../raft/types.ts';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: kill-child.fixture.ts <dir>');

function payloadFor(index: number, term: number): Uint8Array {
  return Buffer.from(`entry-${index}-term-${term}-`.padEnd(64 + (index % 50), 'x'));
}

const storage = await DiskStorage.open(dir, {
  memberId: 'n1',
  clusterId: 'c1',
  bootstrap: { voters: ['n1'], learners: [] },
});
let next = storage.lastIndex() + 1;
const term = storage.initialState().hardState.term + 1;
let snapshotIndex = storage.snapshot().metadata.index;
process.stdout.write('ready\n');
for (let round = 0; ; round++) {
  const batch: Entry[] = [];
  const size = 1 + (round % 7);
  for (let i = 0; i < size; i++, next++)
    batch.push({ index: next, term, type: 0, data: payloadFor(next, term) });
  const last = next - 1;
  const commit = Math.max(0, last - 3);
  // Not awaited one by one: several persists are in flight, as in the node.
  const written = storage.persist({
    entries: batch,
    hardState: { term, vote: 'n1', commit },
    snapshot: null,
  });
  const pending: Promise<void>[] = [
    written.then(() => {
      process.stdout.write(`ack ${last} ${commit} ${snapshotIndex}\n`);
    }),
  ];
  if (round % 40 === 39 && commit > snapshotIndex) {
    const at = commit;
    pending.push(
      storage
        .saveSnapshot(at, { voters: ['n1'], learners: [] }, Buffer.alloc(3000 + round, round % 251), 5)
        .then(() => {
          snapshotIndex = Math.max(snapshotIndex, at);
        }),
    );
  }
  if (round % 3 === 2) await Promise.all(pending);
}
