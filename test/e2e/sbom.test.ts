import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { ROOT } from './process.js';

/**
 * `npm run sbom` writes a CycloneDX SBOM of the production dependencies: checked against
 * package.json and package-lock.json, the way a scanner (Dependency-Track, grype…) would read it.
 * Offline: npm reads node_modules.
 */

interface LockEntry {
  version: string;
  name?: string;
  dev?: boolean;
  optional?: boolean;
  link?: boolean;
}
interface Component {
  'bom-ref': string;
  name: string;
  version: string;
  purl?: string;
  scope?: string;
}
interface Bom {
  bomFormat: string;
  specVersion: string;
  serialNumber: string;
  metadata: { component: { name: string; version: string; purl: string; 'bom-ref': string } };
  components: Component[];
  dependencies: { ref: string; dependsOn?: string[] }[];
}

const dir = mkdtempSync(join(tmpdir(), 'portcullis-sbom-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const read = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

it('npm run sbom writes a CycloneDX SBOM with every production dependency at its locked version', () => {
  const out = join(dir, 'sbom.cdx.json');
  const ran = spawnSync('npm', ['run', 'sbom', '--silent', '--', '--out', out], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(ran.status, 0, ran.stderr);
  assert.match(ran.stderr, /CycloneDX 1\.\d+, portcullis@\d+\.\d+\.\d+, \d+ production components/);

  const pkg = read<{ name: string; version: string; dependencies: Record<string, string> }>(
    join(ROOT, 'package.json'),
  );
  const lock = read<{ packages: Record<string, LockEntry> }>(join(ROOT, 'package-lock.json'));
  const bom = read<Bom>(out);

  assert.equal(bom.bomFormat, 'CycloneDX');
  assert.match(bom.specVersion, /^1\.[4-9]$/);
  assert.match(bom.serialNumber, /^urn:uuid:[0-9a-f-]{36}$/);
  assert.equal(bom.metadata.component.name, 'portcullis', 'named after package.json, not the folder');
  assert.equal(bom.metadata.component.version, pkg.version);
  assert.equal(bom.metadata.component.purl, `pkg:npm/portcullis@${pkg.version}`);

  const has = new Set(bom.components.map((c) => `${c.name}@${c.version}`));
  // The gateway's HTTP client at the version the lockfile pins (npm sbom --omit dev alone drops
  // it, because a dev dependency uses it too: npm/cli#7909).
  const undici = lock.packages['node_modules/undici'];
  assert.ok(undici !== undefined);
  assert.ok(has.has(`undici@${undici.version}`), `undici@${undici.version} is in the SBOM`);
  for (const dep of Object.keys(pkg.dependencies)) {
    const locked = lock.packages[`node_modules/${dep}`];
    assert.ok(locked !== undefined, dep);
    assert.ok(has.has(`${dep}@${locked.version}`), `direct dependency ${dep}@${locked.version}`);
  }

  // Exactly the production tree: every installed non-dev package, and no dev-only one.
  const production = new Set<string>();
  const devOnly = new Set<string>();
  for (const [path, e] of Object.entries(lock.packages)) {
    if (path === '' || e.link === true) continue;
    const id = `${e.name ?? path.slice(path.lastIndexOf('node_modules/') + 13)}@${e.version}`;
    if (e.dev === true) devOnly.add(id);
    else if (e.optional !== true) production.add(id);
  }
  for (const id of production) assert.ok(has.has(id), `production package ${id}`);
  for (const id of has) assert.ok(!devOnly.has(id) || production.has(id), `dev-only package ${id}`);
  for (const dev of ['typescript', '@biomejs/biome', 'fastify', 'autocannon'])
    assert.ok(!bom.components.some((c) => c.name === dev), `${dev} is a dev dependency`);

  // The dependency graph refers only to components that are in the SBOM.
  const refs = new Set([bom.metadata.component['bom-ref'], ...bom.components.map((c) => c['bom-ref'])]);
  for (const d of bom.dependencies) {
    assert.ok(refs.has(d.ref), d.ref);
    for (const r of d.dependsOn ?? []) assert.ok(refs.has(r), `${d.ref} → ${r}`);
  }
});
