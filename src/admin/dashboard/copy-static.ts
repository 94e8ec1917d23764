import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BUILT_STATIC, SOURCE_STATIC } from './assets.js';

/**
 * Build step (`npm run build`, after tsc): copies the dashboard's static files from
 * src/admin/dashboard/static/ to dist/src/admin/dashboard/static/, since tsc copies only what it
 * compiles. Replaces the target so a deleted file does not linger. Returns the names copied.
 */
export function copyStatic(from: string = SOURCE_STATIC, to: string = BUILT_STATIC): string[] {
  const names = readdirSync(from).filter((n) => statSync(join(from, n)).isFile());
  if (!names.includes('index.html')) throw new Error(`dashboard: no index.html in ${from}`);
  rmSync(to, { recursive: true, force: true });
  mkdirSync(to, { recursive: true });
  for (const n of names) copyFileSync(join(from, n), join(to, n));
  return names.sort();
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  copyStatic();
}
