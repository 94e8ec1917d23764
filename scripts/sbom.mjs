// `npm run sbom [-- --out FILE]`: a CycloneDX JSON SBOM of what the gateway ships (its production
// dependencies), written to sbom.cdx.json by default. Works offline (reads node_modules).
//
// Why not plain `npm sbom --omit dev`: up to npm 11 it drops every production package that a dev
// dependency also uses (npm/cli#7909) — here undici, pino, ajv and find-my-way, i.e. exactly the
// packages an advisory would hit. So: the full `npm sbom --sbom-format cyclonedx`, then every
// component package-lock.json marks `dev` (used by dev dependencies only) is removed, with its
// dependency entries. npm also names the root component after the checkout's folder; it is named
// after package.json here.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { out: { type: 'string', default: 'sbom.cdx.json' } } });
const root = process.cwd();

function fail(message) {
  process.stderr.write(`npm run sbom: ${message}\n`);
  process.exit(1);
}

const npm = process.env.PORTCULLIS_SBOM_NPM || 'npm';
const ran = spawnSync(npm, ['sbom', '--sbom-format', 'cyclonedx'], {
  encoding: 'utf8',
  maxBuffer: 256 * 1024 * 1024,
  timeout: 120_000,
});
if (ran.error) fail(`could not run ${npm}: ${ran.error.message}`);
if (ran.status !== 0) fail(`npm sbom exited ${ran.status}\n${ran.stderr}`);

let bom;
try {
  bom = JSON.parse(ran.stdout);
} catch {
  fail('npm sbom printed something that is not JSON');
}
if (bom.bomFormat !== 'CycloneDX' || !Array.isArray(bom.components))
  fail('npm sbom printed no CycloneDX BOM');

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));

/** name@version of every package the production tree uses (lockfile v2/v3 "packages"). */
const shipped = new Set();
/** …of which these must be installed (optional ones may be absent on this platform). */
const required = new Set();
for (const [path, entry] of Object.entries(lock.packages ?? {})) {
  if (path === '' || entry.dev === true || entry.link === true) continue;
  const name = entry.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
  shipped.add(`${name}@${entry.version}`);
  if (entry.optional !== true) required.add(`${name}@${entry.version}`);
}
if (shipped.size === 0) fail('package-lock.json lists no packages (lockfile v2 or later needed)');

const keep = bom.components.filter((c) =>
  shipped.has(`${c.group ? `${c.group}/` : ''}${c.name}@${c.version}`),
);
const kept = new Set(keep.map((c) => c['bom-ref']));
const rootRef = bom.metadata?.component?.['bom-ref'];
if (rootRef !== undefined) kept.add(rootRef);

bom.components = keep;
if (Array.isArray(bom.dependencies))
  bom.dependencies = bom.dependencies
    .filter((d) => kept.has(d.ref))
    .map((d) =>
      Array.isArray(d.dependsOn) ? { ...d, dependsOn: d.dependsOn.filter((r) => kept.has(r)) } : d,
    );
if (bom.metadata?.component) bom.metadata.component.name = pkg.name;

const missing = [...required].filter(
  (id) => !keep.some((c) => `${c.group ? `${c.group}/` : ''}${c.name}@${c.version}` === id),
);
if (missing.length > 0)
  fail(
    `installed tree and package-lock.json disagree (run npm ci): not installed ${missing.slice(0, 5).join(', ')}`,
  );

writeFileSync(values.out, `${JSON.stringify(bom, null, 2)}\n`);
process.stderr.write(
  `npm run sbom: ${values.out}: CycloneDX ${bom.specVersion}, ${pkg.name}@${pkg.version}, ${keep.length} production components\n`,
);
