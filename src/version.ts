import { readFileSync } from 'node:fs';

/** Read once at start-up from the package that ships this file (dist/src/version.js → package.json). */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
