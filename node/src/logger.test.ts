import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, isLogLevel } from './logger.ts';

function capture(level: 'debug' | 'info' | 'warn' | 'error' = 'info') {
  const lines: string[] = [];
  const logger = createLogger({ level, write: (l) => lines.push(l), now: () => new Date(0) });
  return { lines, logger, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

void test('writes one JSON object per line with time, level, msg and fields', () => {
  const { lines, logger, records } = capture();
  logger.info('hello', { a: 1 });
  assert.equal(lines.length, 1);
  assert.ok(lines[0]!.endsWith('\n'));
  assert.deepEqual(records()[0], { time: '1970-01-01T00:00:00.000Z', level: 'info', msg: 'hello', a: 1 });
});

void test('levels below the threshold are dropped', () => {
  const { records, logger } = capture('warn');
  logger.debug('d');
  logger.info('i');
  logger.warn('w');
  logger.error('e');
  assert.deepEqual(
    records().map((r) => r.level),
    ['warn', 'error'],
  );
  assert.equal(logger.isEnabled('info'), false);
  assert.equal(logger.isEnabled('error'), true);
});

void test('child loggers bind fields, and call fields win', () => {
  const { records, logger } = capture();
  const child = logger.child({ component: 'transport', peer: 'n2' }).child({ conn: 3 });
  child.info('x', { peer: 'n3' });
  const r = records()[0]!;
  assert.equal(r.component, 'transport');
  assert.equal(r.conn, 3);
  assert.equal(r.peer, 'n3');
});

void test('errors and circular values serialise without throwing', () => {
  const { records, logger } = capture();
  const err = Object.assign(new Error('boom', { cause: new Error('root') }), { code: 'EFOO' });
  logger.error('failed', { err });
  const e = records()[0]!.err as Record<string, unknown>;
  assert.equal(e.message, 'boom');
  assert.equal(e.code, 'EFOO');
  assert.equal((e.cause as Record<string, unknown>).message, 'root');
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  logger.warn('circular', { circular });
  assert.equal(records()[1]!.msg, 'circular');
});

void test('isLogLevel', () => {
  assert.equal(isLogLevel('debug'), true);
  assert.equal(isLogLevel('verbose'), false);
});
