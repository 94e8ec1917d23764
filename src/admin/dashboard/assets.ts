import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The dashboard's static files (HTML, CSS, JS, icon), served by the admin listener at GET / and
 * GET /assets/<name>. They live in src/admin/dashboard/static/; `npm run build` copies them next to
 * the compiled module (dist/src/admin/dashboard/static/, which the package ships: `files` has
 * dist/src but not src). In a checkout the source tree is read first, so a bare `tsc` never serves
 * stale copies. Files are read once, on first use, and kept in memory; only names found in that one
 * directory are served (no paths, no traversal).
 */

export interface DashboardAsset {
  readonly body: Buffer;
  readonly type: string;
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

const here = dirname(fileURLToPath(import.meta.url));

/** The source copy (a checkout): dist/src/admin/dashboard -> <root>/src/admin/dashboard/static. */
export const SOURCE_STATIC = join(here, '..', '..', '..', '..', 'src', 'admin', 'dashboard', 'static');
/** The built copy, beside the compiled module (what an installed package has). */
export const BUILT_STATIC = join(here, 'static');

/** Where the static files are: the source tree in a checkout, else the copy made by the build. */
export function staticDir(): string | undefined {
  const candidates = [SOURCE_STATIC, BUILT_STATIC];
  for (const dir of candidates) if (existsSync(join(dir, 'index.html'))) return dir;
  return undefined;
}

let cache: Map<string, DashboardAsset> | undefined;

function load(): Map<string, DashboardAsset> {
  if (cache !== undefined) return cache;
  const files = new Map<string, DashboardAsset>();
  const dir = staticDir();
  if (dir !== undefined) {
    for (const name of readdirSync(dir)) {
      const type = TYPES[extname(name)];
      if (type === undefined || !NAME.test(name)) continue;
      const file = join(dir, name);
      if (!statSync(file).isFile()) continue;
      files.set(name, { body: readFileSync(file), type });
    }
  }
  cache = files;
  return files;
}

/**
 * The asset for a request path: "/" (or "/index.html") is the page, "/assets/<name>" a file of it.
 * Undefined for anything else (the caller answers 404).
 */
export function dashboardAsset(path: string): DashboardAsset | undefined {
  const q = path.indexOf('?');
  const p = q === -1 ? path : path.slice(0, q);
  let name: string;
  if (p === '/' || p === '' || p === '/index.html') name = 'index.html';
  else if (p.startsWith('/assets/')) name = p.slice('/assets/'.length);
  else return undefined;
  if (!NAME.test(name) || name.includes('..')) return undefined;
  return load().get(name);
}
