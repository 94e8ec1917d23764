import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';

/** Shortest pepper accepted (characters of `stores.keys.pepper`, bytes of the pepper file). */
export const MIN_PEPPER_LENGTH = 32;

export interface PepperSource {
  readonly pepper: string;
  readonly pepperFile: string;
}

/**
 * The server-side pepper for API key hashes: `stores.keys.pepper` when set (at least 32
 * characters), else the whole content of `pepperFile`, which is created with 32 random bytes
 * (mode 0600, parent directories 0700) when missing. Errors never contain the pepper.
 */
export function loadPepper(source: PepperSource, logger?: Logger): Buffer {
  if (source.pepper !== '') {
    if (source.pepper.length < MIN_PEPPER_LENGTH)
      throw new Error(
        `stores.keys.pepper is too short (${source.pepper.length} characters; at least ${MIN_PEPPER_LENGTH} are required): use a long random value, e.g. \${env:PORTCULLIS_PEPPER} set from \`openssl rand -base64 48\``,
      );
    return Buffer.from(source.pepper, 'utf8');
  }
  const file = source.pepperFile;
  let pepper = readIfExists(file, logger);
  if (pepper === undefined) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    try {
      // "wx": never overwrite a pepper another process created meanwhile (that would orphan every key).
      const fd = openSync(file, 'wx', 0o600);
      try {
        writeSync(fd, randomBytes(MIN_PEPPER_LENGTH));
      } finally {
        closeSync(fd);
      }
      logger?.info(
        { file },
        'created a new API key pepper file (keep it secret and back it up with the key store)',
      );
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw pepperFileError(file, err);
    }
    pepper = readIfExists(file);
    if (pepper === undefined) throw new Error(`stores.keys.pepperFile ${file} could not be created`);
  }
  if (pepper.length < MIN_PEPPER_LENGTH)
    throw new Error(
      `stores.keys.pepperFile ${file} holds ${pepper.length} bytes; at least ${MIN_PEPPER_LENGTH} are required (delete it only if no key was ever created with it)`,
    );
  return pepper;
}

function readIfExists(file: string, logger?: Logger): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw pepperFileError(file, err);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new Error(`stores.keys.pepperFile ${file} is not a regular file`);
    if (stat.size > 4096) throw new Error(`stores.keys.pepperFile ${file} is larger than 4096 bytes`);
    if ((stat.mode & 0o077) !== 0)
      logger?.warn({ file }, 'the API key pepper file is readable by other users; chmod 600 it');
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

function pepperFileError(file: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === undefined && err instanceof Error) return err;
  return new Error(`stores.keys.pepperFile ${file}: cannot read or create it (${code ?? 'error'})`);
}
