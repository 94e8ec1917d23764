import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import pino from 'pino';
import { watchHealth } from './redis.js';

/** A logger that keeps its lines, and a fake connection fed the event sequences ioredis emits. */
function watched(): { conn: EventEmitter; msgs: () => string[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  const conn = new EventEmitter();
  watchHealth(conn, logger, 'redis://user:secret@127.0.0.1:6379');
  return { conn, msgs: () => lines.map((l) => String(l.msg).split(':')[0] as string) };
}

describe('watchHealth', () => {
  it('an outage shorter than the first reconnection attempt (no error event) is logged, and its end', () => {
    // A SIGKILLed server closes the socket cleanly: close, reconnecting, then connect and ready
    // once it is back, with no 'error' in between.
    const { conn, msgs } = watched();
    conn.emit('ready');
    conn.emit('close');
    conn.emit('reconnecting', 200);
    conn.emit('connect');
    conn.emit('ready');
    assert.deepEqual(msgs(), ['Redis unreachable', 'Redis reachable again']);
  });

  it('one line per outage however many errors and retries, and none for a quit', () => {
    const { conn, msgs } = watched();
    conn.emit('ready');
    for (let i = 0; i < 3; i++) {
      conn.emit('error', new Error('connect ECONNREFUSED 127.0.0.1:6379'));
      conn.emit('close');
      conn.emit('reconnecting', 200);
    }
    conn.emit('ready');
    conn.emit('close');
    conn.emit('end');
    assert.deepEqual(msgs(), ['Redis unreachable', 'Redis reachable again']);
  });
});
