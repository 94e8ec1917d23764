import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What GET /api/v1/version answers: this package, Node, and the installed dependency versions. */
export interface VersionInfo {
  readonly name: string;
  readonly version: string;
  readonly node: string;
  readonly dependencies: Readonly<Record<string, string>>;
}

interface PackageJson {
  name?: string;
  version?: string;
  dependencies?: Record<string, string>;
}

function readJson(file: string): PackageJson | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as PackageJson;
  } catch {
    return undefined;
  }
}

/** The package root: the first directory upwards from this module with a package.json naming us. */
function packageRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const file = join(dir, 'package.json');
    if (existsSync(file) && readJson(file)?.name === 'portcullis') return dir;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

/** The version a dependency resolves to: node_modules/<dep>/package.json, here or further up. */
function installedVersion(root: string, dep: string): string | undefined {
  let dir = root;
  for (let i = 0; i < 8; i++) {
    const v = readJson(join(dir, 'node_modules', dep, 'package.json'))?.version;
    if (v !== undefined) return v;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

let cached: VersionInfo | undefined;

/** Read once (the files do not change under a running process). */
export function versionInfo(): VersionInfo {
  if (cached !== undefined) return cached;
  const root = packageRoot();
  const pkg = root === undefined ? undefined : readJson(join(root, 'package.json'));
  const dependencies: Record<string, string> = {};
  if (root !== undefined)
    for (const dep of Object.keys(pkg?.dependencies ?? {}).sort())
      dependencies[dep] = installedVersion(root, dep) ?? 'missing';
  cached = Object.freeze({
    name: pkg?.name ?? 'portcullis',
    version: pkg?.version ?? '0.0.0',
    node: process.version,
    dependencies: Object.freeze(dependencies),
  });
  return cached;
}
