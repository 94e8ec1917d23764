import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startUpstream, type TestUpstream } from '../../../test/helpers.js';
import { sendJson, urlOf, writeSpec } from '../../../test/scan-support.js';
import { runScan } from '../runner.js';
import type { ScanResult } from '../types.js';

/**
 * Time-based checks (inj-sql-time, inj-command-time, api4-slow-input) against APIs that are slow for
 * other reasons: an uneven API (10% of answers take 2.5 s, whatever was asked) and a tarpit that
 * holds every "sleep" payload for the same time. Neither runs the payload, so neither is a finding.
 */

const SPEC = `openapi: 3.0.3
info: { title: search, version: "1" }
paths:
  /search1:
    get:
      parameters: [{ name: q, in: query, required: true, schema: { type: string, maxLength: 50 } }]
      responses: { "200": { description: ok } }
  /search2:
    get:
      parameters: [{ name: q, in: query, required: true, schema: { type: string, maxLength: 50 } }]
      responses: { "200": { description: ok } }
`;

const TIME_RULES = new Set(['inj-sql-time', 'inj-command-time', 'api4-slow-input']);
const timeFindings = (r: ScanResult) =>
  r.findings.filter((f) => TIME_RULES.has(f.rule.id)).map((f) => `${f.rule.id} ${f.where}: ${f.message}`);

/** A safe search API whose answers take 20 ms, but 2.5 s one time in ten (seeded: the same every run). */
function jittery(seed: number) {
  let state = seed;
  const rand = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
  return startUpstream((_req, res) => {
    const delay = rand() < 0.1 ? 2500 : 20;
    setTimeout(() => sendJson(res, 200, { results: [] }), delay);
  });
}

/** Holds every request asking for a sleep for 2.2 s, whatever the number: a tarpit, not a shell. */
function tarpit() {
  return startUpstream((_req, res, call) => {
    const q = urlOf(call).query.get('q') ?? '';
    setTimeout(() => sendJson(res, 200, { results: [] }), /;sleep [1-9]/.test(q) ? 2200 : 10);
  });
}

describe('time-based checks on slow, uneven APIs', () => {
  const spec = writeSpec(SPEC);
  const upstreams: TestUpstream[] = [];
  before(async () => {
    for (const seed of [1, 2, 3]) upstreams.push(await jittery(seed));
    upstreams.push(await tarpit());
  });
  after(async () => {
    for (const u of upstreams) await u.close();
  });

  const scan = (u: TestUpstream, checks: string[]) =>
    runScan({ specFile: spec, target: u.url, checks, rate: 0, canary: false });

  it('reports no time-based finding on an API that is randomly slow (3 seeded scans)', async () => {
    const jittered = upstreams.slice(0, 3);
    const results = await Promise.all(jittered.map((u) => scan(u, ['injection', 'api4-resources'])));
    for (const [i, r] of results.entries()) assert.deepEqual(timeFindings(r), [], `scan ${i + 1}`);
    // The scans did probe: many requests, some of them slow.
    for (const u of jittered) assert.ok(u.calls.length > 50, `${u.calls.length} requests`);
  });

  it('does not take a tarpit (the same wait for sleep 2 and sleep 4) for command injection', async () => {
    const u = upstreams[3] as TestUpstream;
    const r = await scan(u, ['injection']);
    assert.deepEqual(timeFindings(r), []);
    // It was asked for 4 s too, and stopped there: the wait did not grow with the number.
    const asked = u.calls.map((c) => urlOf(c).query.get('q') ?? '').filter((q) => q.includes(';sleep'));
    assert.ok(
      asked.some((q) => q.endsWith(';sleep 4')),
      asked.join(' | '),
    );
    assert.ok(asked.filter((q) => q.endsWith(';sleep 2')).length <= 2 * 2, 'at most one probe per operation');
  });
});
