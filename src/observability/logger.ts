import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * The gateway's logger: JSON lines, with credentials redacted wherever a stage logs headers or
 * errors. The access log is a child of it.
 */
/**
 * Writes one pre-serialized JSON line to the logger's destination, for the access log's hot path.
 * The line must be a complete JSON object without a newline.
 */
export function jsonLineWriter(logger: Logger): (line: string) => void {
  const stream = (logger as unknown as Record<symbol, { write(s: string): unknown }>)[pino.symbols.streamSym];
  if (stream === undefined) throw new Error('logger has no destination stream');
  return (line) => {
    stream.write(`${line}\n`);
  };
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
