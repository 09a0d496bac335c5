import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LogArena } from './log-arena.ts';
import { decodeEntryPayload, entryKey, openRecord, sealEntryRecord } from './records.ts';

void test('arena copies are independent of their source and of each other, across slabs', () => {
  const arena = new LogArena();
  const copies: Buffer[] = [];
  const sources: Buffer[] = [];
  for (let i = 0; i < 20_000; i++) {
    const src = Buffer.alloc(1 + (i % 300), i % 251);
    sources.push(Buffer.from(src));
    copies.push(arena.copy(src));
    src.fill(0xee); // the caller may reuse its buffer
  }
  const big = Buffer.alloc(600_000, 7);
  const bigCopy = arena.copy(big);
  big.fill(1);
  copies.forEach((c, i) => assert.ok(c.equals(sources[i]!), `copy ${i}`));
  assert.equal(bigCopy.byteLength, 600_000);
  assert.ok(bigCopy.every((b) => b === 7));
  assert.equal(arena.copy(new Uint8Array(0)).byteLength, 0);
});

void test('sealEntryRecord opens and decodes back to its term, type and data, and binds the key', () => {
  const key = entryKey(42);
  const data = Buffer.from('payload of entry 42');
  const one = sealEntryRecord(key, 7, 1, data);
  const decoded = decodeEntryPayload(key, openRecord(key, one));
  assert.equal(decoded.term, 7);
  assert.equal(decoded.type, 1);
  assert.ok(Buffer.from(decoded.data).equals(data));
  assert.throws(() => openRecord(entryKey(43), one), /checksum/);
});
