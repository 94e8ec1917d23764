// `npm run audit`: the gateway's production dependencies against the registry's advisories.
//
// Runs `npm audit --omit=dev --audit-level=high --json` and reads its JSON, not its exit code alone:
//   0  no high or critical advisory (lower ones are listed, and pass)
//   1  high or critical advisories: each is printed with its advisory link and whether a fix exists
//   2  the audit did not run (no lockfile, output that is not an audit report, …): never a pass
//   3  the registry offers no advisories (HTTP error from the audit endpoint, ENOAUDIT, network):
//      nothing was checked, so this is not a pass either. PORTCULLIS_AUDIT_OFFLINE=warn turns it
//      into 0 with the same loud notice (for a mirror that cannot audit, where a second job audits
//      against a registry that can).
// No build needed: plain Node, so CI can run it first. The npm binary is taken from PATH
// (PORTCULLIS_AUDIT_NPM overrides it, e.g. a wrapper or an npm of another version).
import { spawnSync } from 'node:child_process';

const EXIT = Object.freeze({ ok: 0, vulnerable: 1, failed: 2, unavailable: 3 });

const FAILING = new Set(['high', 'critical']);
const SEVERITIES = ['critical', 'high', 'moderate', 'low', 'info'];
/** Error codes that mean "could not reach an audit service", not "the project is broken". */
const UNREACHABLE = new Set([
  'ENOAUDIT',
  'ENOTFOUND',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'FETCH_ERROR',
]);

/** user:password@ in a registry URL never reaches the output. */
function withoutCredentials(text) {
  return text.replace(/\/\/[^/@\s]+@/g, '//***@');
}

/** The first JSON value in npm's output (npm may print warnings around it on some versions). */
function parseJson(text) {
  const start = text.indexOf('{');
  if (start < 0) return undefined;
  try {
    return JSON.parse(text.slice(start));
  } catch {
    return undefined;
  }
}

/** One advisory of `via` (objects are advisories; strings name another vulnerable package). */
function advisoriesOf(entry) {
  return (Array.isArray(entry.via) ? entry.via : [])
    .filter((v) => v !== null && typeof v === 'object')
    .map((v) => ({
      title: String(v.title ?? 'untitled advisory'),
      url: typeof v.url === 'string' ? v.url : undefined,
      severity: String(v.severity ?? entry.severity ?? 'unknown'),
      range: typeof v.range === 'string' ? v.range : undefined,
    }));
}

function fixOf(entry) {
  const fix = entry.fixAvailable;
  if (fix === true) return 'fix: npm audit fix';
  if (fix && typeof fix === 'object' && typeof fix.name === 'string')
    return `fix: ${fix.name}@${fix.version}${fix.isSemVerMajor ? ' (semver major)' : ''}`;
  return 'no fix available yet';
}

/**
 * What npm's JSON says, as a verdict: { kind: 'report', failing, counts, failingCount } |
 * { kind: 'unavailable', reason } | { kind: 'failed', reason }.
 */
function interpret(stdout) {
  const json = parseJson(stdout);
  if (json === undefined || typeof json !== 'object' || json === null)
    return { kind: 'failed', reason: 'npm audit printed no JSON report' };
  const counts = json.metadata?.vulnerabilities;
  if (json.vulnerabilities && typeof json.vulnerabilities === 'object' && counts) {
    const failing = Object.values(json.vulnerabilities)
      .filter((v) => v && FAILING.has(v.severity))
      .map((v) => ({
        name: String(v.name),
        severity: v.severity,
        direct: v.isDirect === true,
        range: typeof v.range === 'string' ? v.range : undefined,
        via: (Array.isArray(v.via) ? v.via : []).filter((x) => typeof x === 'string'),
        advisories: advisoriesOf(v),
        fix: fixOf(v),
      }))
      .sort(
        (a, b) =>
          SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity) || (a.name < b.name ? -1 : 1),
      );
    const tally = Object.fromEntries(SEVERITIES.map((s) => [s, Number(counts[s] ?? 0)]));
    // The counts are the ground truth: a failing count with no entry listed still fails.
    const failingCount = tally.high + tally.critical;
    return { kind: 'report', failing, counts: tally, failingCount };
  }
  // npm's error shapes: an ENO* error { error: { code, summary, detail } } (ENOLOCK…), or what the
  // audit endpoint did { message, statusCode?, uri?, … } (HTTP errors, refused connections, DNS).
  const code = typeof json.error?.code === 'string' ? json.error.code : undefined;
  const message = withoutCredentials(
    String(json.message || json.error?.summary || json.error?.detail || '').split('\n')[0] ?? '',
  );
  if (typeof json.statusCode === 'number')
    return {
      kind: 'unavailable',
      reason: `the registry's audit endpoint answered HTTP ${json.statusCode}${message ? ` (${message})` : ''}`,
    };
  if (code !== undefined && !UNREACHABLE.has(code))
    return { kind: 'failed', reason: `npm audit failed with ${code}${message ? `: ${message}` : ''}` };
  if (code !== undefined || message !== '')
    return { kind: 'unavailable', reason: `${code ? `${code}: ` : ''}${message || 'no answer'}` };
  return { kind: 'failed', reason: 'npm audit printed JSON that is neither a report nor an error' };
}

/** The lines to print and the exit code for a verdict. */
function render(verdict, env = process.env) {
  const lines = [];
  if (verdict.kind === 'report') {
    const { counts } = verdict;
    const summary = SEVERITIES.map((s) => `${counts[s]} ${s}`).join(', ');
    if (verdict.failingCount === 0) {
      lines.push(`npm audit (production dependencies): no high or critical advisory (${summary}).`);
      return { lines, code: EXIT.ok };
    }
    lines.push(
      `npm audit (production dependencies): ${verdict.failingCount} high or critical advisory(ies) (${summary}).`,
      '',
    );
    for (const v of verdict.failing) {
      lines.push(
        `${v.severity.toUpperCase()}  ${v.name}${v.range ? ` ${v.range}` : ''}${v.direct ? ' (direct dependency)' : ''} — ${v.fix}`,
      );
      for (const a of v.advisories)
        lines.push(
          `    ${a.severity}: ${a.title}${a.url ? ` ${a.url}` : ''}${a.range ? ` (affects ${a.range})` : ''}`,
        );
      if (v.via.length > 0) lines.push(`    through: ${v.via.join(', ')}`);
    }
    lines.push(
      '',
      'Upgrade (npm audit fix, or the named version), or cover the hole with a virtual patch until a fix exists:',
      'see docs/operations.md, "Upgrading and patching".',
    );
    return { lines, code: EXIT.vulnerable };
  }
  if (verdict.kind === 'unavailable') {
    const warnOnly = env.PORTCULLIS_AUDIT_OFFLINE === 'warn';
    const bar = '!'.repeat(78);
    lines.push(
      bar,
      '!! DEPENDENCY AUDIT NOT DONE: no advisories could be fetched, nothing was checked.',
      `!! Reason: ${verdict.reason}`,
      '!! Run `npm run audit` where the registry serves advisories (the public npm registry does;',
      '!! many mirrors and proxies do not), or point npm_config_registry at one that does.',
      warnOnly
        ? '!! PORTCULLIS_AUDIT_OFFLINE=warn: exiting 0 anyway.'
        : `!! Exit ${EXIT.unavailable}. Set PORTCULLIS_AUDIT_OFFLINE=warn to accept an unaudited run.`,
      bar,
    );
    return { lines, code: warnOnly ? EXIT.ok : EXIT.unavailable };
  }
  lines.push(
    `npm audit did not run: ${verdict.reason}`,
    'This is not a pass; fix the cause and run it again.',
  );
  return { lines, code: EXIT.failed };
}

function main() {
  const npm = process.env.PORTCULLIS_AUDIT_NPM || 'npm';
  const ran = spawnSync(npm, ['audit', '--omit=dev', '--audit-level=high', '--json'], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: 120_000,
  });
  let verdict;
  if (ran.error) verdict = { kind: 'failed', reason: `could not run ${npm}: ${ran.error.message}` };
  else verdict = interpret(ran.stdout ?? '');
  // npm exits non-zero at or above the audit level; a report that says "clean" with a non-zero
  // exit would be a contradiction worth failing on rather than guessing.
  if (verdict.kind === 'report' && verdict.failingCount === 0 && ran.status !== 0)
    verdict = { kind: 'failed', reason: `npm audit exited ${ran.status} with a clean report` };
  const { lines, code } = render(verdict);
  const out = code === EXIT.ok && verdict.kind === 'report' ? process.stdout : process.stderr;
  out.write(`${lines.join('\n')}\n`);
  process.exitCode = code;
}

main();
