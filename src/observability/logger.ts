import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * The gateway's logger: JSON lines, with credentials redacted wherever a stage logs headers or
 * errors. The access log is a child of it.
 */
export interface LineWriter {
  (line: string): void;
  /** Writes out whatever is batched (called when the plan closes: reload, shutdown). */
  flush(): void;
  /** flush() and then the destination synchronously, where it can (process exit). */
  flushSync(): void;
}

/** Batched lines leave when this many characters are waiting … */
const BATCH_CHARS = 16384;
/** … or after this long, whichever comes first. */
const BATCH_MS = 25;

/**
 * Writes pre-serialized JSON lines to the logger's destination, for the access log's hot path.
 * Lines are batched (16 KiB or 25 ms): one destination write per line — a thread-pool round trip
 * for an asynchronous file — costs more than the rest of a small request. A line waits at most
 * 25 ms; flush() empties the batch at shutdown.
 */
export function jsonLineWriter(logger: Logger): LineWriter {
  const existing = writers.get(logger);
  if (existing !== undefined) return existing;
  const stream = (logger as unknown as Record<symbol, { write(s: string): unknown; flushSync?(): void }>)[
    pino.symbols.streamSym
  ];
  if (stream === undefined) throw new Error('logger has no destination stream');
  let batch = '';
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (batch === '') return;
    const out = batch;
    batch = '';
    stream.write(out);
  };
  const write = (line: string): void => {
    batch += `${line}\n`;
    if (batch.length >= BATCH_CHARS) flush();
    else if (timer === undefined) timer = setTimeout(flush, BATCH_MS).unref();
  };
  const writer: LineWriter = Object.assign(write, {
    flush,
    flushSync(): void {
      flush();
      try {
        stream.flushSync?.();
      } catch {
        // An asynchronous destination mid-write cannot flush synchronously; nothing more to do.
      }
    },
  });
  writers.set(logger, writer);
  live.add(writer);
  return writer;
}

/** One writer per logger, so every route's access log shares one batch, in order. */
const writers = new WeakMap<Logger, LineWriter>();
const live = new Set<LineWriter>();
// A process that exits (even on a crash) writes out what is batched first.
process.once('exit', () => {
  for (const w of live) w.flushSync();
});

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      // Defence in depth: no stage logs raw headers, but if one ever does, credentials stay out.
      redact: {
        paths: [
          'headers.authorization',
          'headers["proxy-authorization"]',
          'headers.cookie',
          'headers["set-cookie"]',
        ],
        censor: '[REDACTED]',
      },
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    // maxLength bounds the memory held for a stalled stdout reader: beyond it lines are dropped.
    destination ?? pino.destination({ dest: 1, sync: false, maxLength: 32 * 1024 * 1024 }),
  );
}
