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
  const stream = (logger as unknown as Record<symbol, { write(s: string): unknown }>)[pino.symbols.streamSym];
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
  return Object.assign(write, { flush });
}

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
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
