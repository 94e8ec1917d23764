import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, ConsoleMessage, Page } from 'playwright-core';
import { generateApiKey } from '../../src/plugins/authenticate/api-key/format.js';
import { baseConfig, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

/**
 * The admin dashboard end to end in headless Chromium (Debian's package, driven by playwright-core;
 * never a downloaded browser): sign in with a viewer token, see the traffic charts, blocked
 * requests by reason, top offenders, alerts, audit search; a viewer's key creation is refused
 * with the server's 403 shown; an operator creates a key (secret shown once) and revokes it. No
 * console error and no CSP violation along the way (the page runs under default-src 'self'). A
 * screenshot is kept in test/artifacts/dashboard.png.
 */

// Page functions run in the browser; the project's tsconfig has no DOM lib, so name what they use.
interface El {
  readonly textContent: string | null;
  getAttribute(name: string): string | null;
  querySelector(selector: string): El | null;
  getBoundingClientRect(): { width: number };
}
declare const document: {
  querySelector(selector: string): El | null;
  querySelectorAll(selector: string): ArrayLike<El> & Iterable<El>;
  addEventListener(
    type: string,
    listener: (e: { violatedDirective: string; blockedURI: string }) => void,
  ): void;
  readonly cookie: string;
};
declare const window: unknown;
declare const sessionStorage: { getItem(key: string): string | null; readonly length: number };
declare const localStorage: { readonly length: number };

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const VIEWER = `viewer-${'v'.repeat(40)}`;
const OPERATOR = `operator-${'o'.repeat(40)}`;
// dist/test/e2e -> <root>/test/artifacts
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const ARTIFACTS = join(ROOT, 'test', 'artifacts');
const SHOT = join(ARTIFACTS, 'dashboard.png');
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const haveChromium = existsSync(CHROMIUM);
const skip =
  !haveChromium && process.env.CI !== 'true'
    ? `Chromium not found at ${CHROMIUM} (set CHROMIUM_PATH, or install Debian's chromium package; CI=true makes this a failure)`
    : false;
if (skip) console.log(`# dashboard e2e skipped: ${skip}`);

describe('admin dashboard (headless Chromium)', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-dashboard-'));
  let upstream: TestUpstream;
  let gw: TestGateway;
  let adminUrl: string;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];
  const cspViolations: string[] = [];
  /** Refusals the test asks for: Chromium logs each as "Failed to load resource: … status of N". */
  const expectedRefusals: { url: string; status: number }[] = [];

  async function adminGet(path: string, token = VIEWER): Promise<Record<string, unknown>> {
    const res = await fetch(`${adminUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200, `${path}: ${res.status}`);
    return (await res.json()) as Record<string, unknown>;
  }

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(
      baseConfig(upstream.url, {
        routes: [
          { id: 'items', path: '/items', methods: ['GET', 'POST'], upstream: 'api' },
          { id: 'item', path: '/items/:id', methods: ['GET'], upstream: 'api' },
          {
            id: 'private',
            path: '/private',
            methods: ['GET'],
            upstream: 'api',
            plugins: { 'api-key': {}, authorization: { allow: 'authenticated' } },
          },
        ],
        stores: { keys: { path: join(dir, 'keys.db'), pepperFile: join(dir, 'pepper') } },
        admin: {
          enabled: true,
          port: 0,
          tokens: [
            { name: 'ci-viewer', role: 'viewer', token: VIEWER },
            { name: 'ci-operator', role: 'operator', token: OPERATOR },
          ],
        },
        observability: {
          audit: { path: join(dir, 'audit.db') },
          anomaly: { rules: { 'credential-stuffing': { failures: 3, distinctCredentials: 2 } } },
        },
      }),
    );
    const admin = gw.gateway.admin;
    assert.ok(admin, 'the admin listener runs');
    adminUrl = admin.url;

    // Traffic: a few 200s, 404s (no route), and 401s (unknown API keys, several ids: stuffing).
    for (let i = 0; i < 5; i++) assert.equal((await fetch(`${gw.url}/items`)).status, 200);
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${gw.url}/items/${i + 1}`)).status, 200);
    for (let i = 0; i < 2; i++) assert.equal((await fetch(`${gw.url}/nowhere/${i}`)).status, 404);
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${gw.url}/private`, { headers: { 'x-api-key': generateApiKey().key } });
      assert.equal(res.status, 401);
      await res.arrayBuffer();
    }

    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    const context = await browser.newContext({ viewport: { width: 1360, height: 1000 } });
    page = await context.newPage();
    page.on('console', (msg: ConsoleMessage) => {
      const text = msg.text();
      if (/content security policy/i.test(text)) cspViolations.push(text);
      if (msg.type() !== 'error') return;
      const status = Number(/status of (\d{3})/.exec(text)?.[1]);
      const i = expectedRefusals.findIndex((e) => e.status === status && msg.location().url.endsWith(e.url));
      if (i !== -1) {
        expectedRefusals.splice(i, 1);
        return;
      }
      consoleErrors.push(`${text} @ ${msg.location().url}`);
    });
    page.on('pageerror', (err) => consoleErrors.push(`pageerror: ${err.message}`));
    await page.exposeFunction('__cspViolation', (v: string) => cspViolations.push(v));
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        const w = window as { __cspViolation: (v: string) => void };
        w.__cspViolation(`${e.violatedDirective} ${e.blockedURI}`);
      });
    });
  });

  after(async () => {
    await browser?.close();
    await gw?.close();
    await upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the page and its assets with the CSP, offline (no external URL)', async () => {
    const res = await fetch(`${adminUrl}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    const html = await res.text();
    for (const asset of ['/assets/app.js', '/assets/app.css', '/assets/favicon.svg']) {
      assert.ok(html.includes(asset), asset);
      const a = await fetch(`${adminUrl}${asset}`);
      assert.equal(a.status, 200, asset);
      const body = await a.text();
      assert.doesNotMatch(
        body,
        /https?:\/\/(?!www\.w3\.org\/2000\/svg)/,
        `${asset} refers to nothing outside`,
      );
    }
    assert.doesNotMatch(html, /<script>|<style|style=|\son[a-z]+=/i, 'nothing inline');
    assert.equal((await fetch(`${adminUrl}/assets/..%2Fassets.js`)).status, 404);
  });

  it('signs in with a viewer token and shows live traffic, blocked requests, offenders and alerts', async () => {
    await page.goto(`${adminUrl}/`);
    await page.fill('#login-token', 'not-a-token-at-all-but-long-enough-123');
    expectedRefusals.push({ url: '/api/v1/login', status: 401 });
    await page.click('#login-submit');
    await page.waitForSelector('#login-error:not([hidden])');
    assert.match((await page.textContent('#login-error')) ?? '', /refused/);

    await page.fill('#login-token', VIEWER);
    await page.click('#login-submit');
    await page.waitForSelector('#app:not([hidden])');
    assert.match((await page.textContent('#whoami')) ?? '', /ci-viewer · viewer/);
    const stored = await page.evaluate(() => ({
      session: sessionStorage.getItem('portcullis.admin.token'),
      local: localStorage.length,
      cookie: document.cookie,
    }));
    assert.equal(stored.session, VIEWER, 'the token is in sessionStorage');
    assert.equal(stored.local, 0, 'nothing in localStorage');
    assert.equal(stored.cookie, '', 'no cookie');

    // Traffic chart: an SVG polyline with points for the requests we sent.
    await page.waitForSelector('#chart-traffic polyline[data-series="requests"]');
    const chart = await page.evaluate(() => {
      const line = document.querySelector('#chart-traffic polyline[data-series="requests"]');
      const pts = (line?.getAttribute('points') ?? '').trim().split(/\s+/).filter(Boolean);
      const ys = pts.map((p) => Number(p.split(',')[1]));
      const e4 = document.querySelector('#chart-traffic polyline[data-series="errors4xx"]');
      const ys4 = (e4?.getAttribute('points') ?? '')
        .trim()
        .split(/\s+/)
        .map((p) => Number(p.split(',')[1]));
      const lat = document.querySelector('#chart-latency polyline[data-series="p99Ms"]');
      return {
        points: pts.length,
        flat: new Set(ys).size <= 1,
        flat4xx: new Set(ys4).size <= 1,
        latencyPoints: (lat?.getAttribute('points') ?? '').trim().split(/\s+/).length,
        rect: document.querySelector('#chart-traffic')?.getBoundingClientRect().width ?? 0,
      };
    });
    assert.ok(chart.points >= 2, `points: ${chart.points}`);
    assert.equal(chart.flat, false, 'the requests line rises where the traffic was');
    assert.equal(chart.flat4xx, false, 'the 4xx line shows the 401s and 404s');
    assert.ok(chart.latencyPoints >= 2);
    assert.ok(chart.rect > 300);
    assert.notEqual(await page.textContent('#tile-requests'), '–');

    // Blocked by reason: the 401s (UNAUTHENTICATED), as an SVG bar chart.
    await page.waitForSelector('#chart-blocked g.bar-row');
    const reasons = await page.$$eval('#chart-blocked g.bar-row', (gs) =>
      gs.map((g) => [g.getAttribute('data-reason'), g.querySelector('.bar-value')?.textContent]),
    );
    const overview = await adminGet('/api/v1/overview');
    const byReason = overview.blockedByReason as Record<string, number>;
    assert.ok(Object.keys(byReason).length > 0, JSON.stringify(overview));
    for (const [code, n] of Object.entries(byReason))
      assert.ok(
        reasons.some(([r, v]) => r === code && v === String(n)),
        `${code}=${n} in ${JSON.stringify(reasons)}`,
      );
    assert.ok(
      reasons.some(([r]) => r === 'UNAUTHENTICATED'),
      JSON.stringify(reasons),
    );

    // Top offenders: the test client's address, and the unknown key ids that failed.
    const ips = await page.$$eval('#top-ips tbody td', (tds) => tds.map((t) => t.textContent));
    assert.ok(ips.includes('127.0.0.1'), JSON.stringify(ips));
    const keys = await page.$$eval('#top-keys tbody tr', (trs) => trs.length);
    const topKeys = overview.topKeys as { key: string }[];
    if (topKeys.length > 0) {
      const shown = await page.$$eval('#top-keys tbody td', (tds) => tds.map((t) => t.textContent));
      assert.ok(shown.includes(topKeys[0]?.key ?? ''), JSON.stringify(shown));
    } else assert.equal(keys, 1, 'one "no traffic" row');

    // Alerts: whatever the API holds is listed (the stuffing run above may or may not have raised one yet).
    await page.waitForSelector('#alerts tbody tr');
    const alerts = (await adminGet('/api/v1/alerts?limit=20')).alerts as { rule: string }[];
    await page.waitForFunction(
      (n) => {
        const rows = document.querySelectorAll('#alerts tbody tr');
        return n === 0 ? rows.length === 1 && rows[0]?.textContent === 'No alerts.' : rows.length >= n;
      },
      alerts.length,
      { timeout: 5000 },
    );
    if (alerts.length > 0) {
      const rules = await page.$$eval('#alerts tbody td:nth-child(3)', (tds) =>
        tds.map((t) => t.textContent),
      );
      assert.ok(rules.includes(alerts[0]?.rule ?? ''), JSON.stringify(rules));
    }

    // Config version in the header, the live indicator on.
    await page.waitForFunction(() => document.querySelector('#config-badge')?.textContent !== 'config v–');
    assert.match((await page.textContent('#config-badge')) ?? '', /^config v\d+$/);
    assert.equal(await page.getAttribute('#live', 'class'), 'live on');
  });

  it('refreshes the traffic every 2 s', async () => {
    const before = await page.textContent('#tile-requests');
    for (let i = 0; i < 7; i++) await (await fetch(`${gw.url}/items`)).arrayBuffer();
    await page.waitForFunction((b) => document.querySelector('#tile-requests')?.textContent !== b, before, {
      timeout: 6000,
    });
  });

  it('searches the audit trail', async () => {
    await page.click('#tab-audit');
    await page.waitForSelector('#view-audit:not([hidden])');
    await page.selectOption('#audit-form select[name="type"]', 'auth.failure');
    await page.click('#audit-form button[type="submit"]');
    await page.waitForFunction(() =>
      /event\(s\)|No events/.test(document.querySelector('#audit-status')?.textContent ?? ''),
    );
    const types = await page.$$eval('#audit-table tbody td:nth-child(2)', (tds) =>
      tds.map((t) => t.textContent),
    );
    assert.ok(types.length >= 4, `rows: ${JSON.stringify(types)}`);
    assert.ok(
      types.every((t) => t === 'auth.failure'),
      JSON.stringify(types),
    );
    // The sign-in itself is on record too.
    await page.selectOption('#audit-form select[name="type"]', 'admin.login');
    await page.click('#audit-form button[type="submit"]');
    await page.waitForFunction(() =>
      [...document.querySelectorAll('#audit-table tbody td:nth-child(4)')].some(
        (t) => t.textContent === 'ci-viewer',
      ),
    );
  });

  it("shows the server's 403 when a viewer creates a key", async () => {
    await page.click('#tab-keys');
    await page.waitForSelector('#view-keys:not([hidden])');
    assert.equal(await page.isVisible('#keys-role-hint'), true, 'the viewer is told the role needed');
    await page.fill('#key-form input[name="consumer"]', 'acme');
    expectedRefusals.push({ url: '/api/v1/keys', status: 403 });
    await page.click('#key-form button[type="submit"]');
    await page.waitForSelector('#keys-error:not([hidden])');
    const msg = (await page.textContent('#keys-error')) ?? '';
    assert.match(msg, /Not allowed: This call needs the operator role\. You are signed in as viewer\./);
    assert.equal(await page.isVisible('#key-secret'), false);
  });

  it('lets an operator create a key (secret shown once) and revoke it', async () => {
    await page.click('#logout');
    await page.waitForSelector('#login:not([hidden])');
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'signing out forgets the token');
    await page.fill('#login-token', OPERATOR);
    await page.click('#login-submit');
    await page.waitForSelector('#app:not([hidden])');
    // The view survives in the URL (#keys).
    await page.waitForSelector('#view-keys:not([hidden])');
    assert.equal(await page.isVisible('#keys-role-hint'), false);

    await page.fill('#key-form input[name="consumer"]', 'acme');
    await page.fill('#key-form input[name="name"]', 'dashboard <b>test</b>');
    await page.fill('#key-form input[name="scopes"]', 'orders:read, orders:write');
    await page.click('#key-form button[type="submit"]');
    await page.waitForSelector('#key-secret:not([hidden])');
    const secret = (await page.textContent('#key-secret-value')) ?? '';
    assert.match(secret, /^pcl_/);
    const id = await page.getAttribute('#key-secret', 'data-key-id');
    assert.ok(id);
    const row = `#keys-table tbody tr:has(button[data-key-id="${id}"])`;
    await page.waitForSelector(row);
    const cells = await page.$$eval(`${row} td`, (tds) => tds.map((t) => t.textContent));
    assert.equal(cells[0], id);
    assert.equal(cells[2], 'dashboard <b>test</b>', 'rendered as text, not HTML');
    assert.equal(cells[3], 'orders:read, orders:write');
    assert.equal(cells[7], 'active');
    assert.equal(await page.$$eval('#keys-table b', (bs) => bs.length), 0);
    // The key works at the gateway.
    assert.equal((await fetch(`${gw.url}/private`, { headers: { 'x-api-key': secret } })).status, 200);

    await page.click('#key-secret-done');
    assert.equal(await page.isVisible('#key-secret'), false);
    assert.equal(await page.textContent('#key-secret-value'), '', 'the secret is gone from the page');

    // Revoke: two clicks (arm, confirm).
    await page.click(`${row} button`);
    assert.equal(await page.textContent(`${row} button`), 'Confirm revoke');
    await page.click(`${row} button`);
    await page.waitForFunction(
      (keyId) =>
        [...document.querySelectorAll('#keys-table tbody tr')].some(
          (tr) => tr.querySelector('td')?.textContent === keyId && tr.textContent?.includes('revoked'),
        ),
      id,
    );
    const listed = (await adminGet('/api/v1/keys')).keys as { id: string; status: string }[];
    assert.equal(listed.find((k) => k.id === id)?.status, 'revoked');
    // Revocation reaches the gateway within a second.
    const deadline = Date.now() + 3000;
    let status = 200;
    while (Date.now() < deadline) {
      status = (await fetch(`${gw.url}/private`, { headers: { 'x-api-key': secret } })).status;
      if (status === 401) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 401);
  });

  it('shows the config version and its history', async () => {
    await page.click('#tab-config');
    await page.waitForSelector('#config-history tbody tr td');
    const history = (await adminGet('/api/v1/config/history')).versions as { version: number }[];
    const first = await page.textContent('#config-history tbody tr td');
    if (history.length > 0) assert.match(first ?? '', /^v\d+/);
    await page.click('#config-details summary');
    await page.waitForFunction(() =>
      (document.querySelector('#config-json')?.textContent ?? '').startsWith('{'),
    );
    const text = (await page.textContent('#config-json')) ?? '';
    assert.ok(!text.includes(VIEWER) && !text.includes(OPERATOR), 'tokens are redacted');
  });

  it('keeps a screenshot, with no console error and no CSP violation', async () => {
    await page.click('#tab-traffic');
    await page.waitForSelector('#chart-traffic polyline[data-series="requests"]');
    await page.waitForSelector('#chart-blocked g.bar-row');
    mkdirSync(ARTIFACTS, { recursive: true });
    rmSync(SHOT, { force: true });
    await page.screenshot({ path: SHOT, fullPage: true });
    assert.ok(existsSync(SHOT));
    const png = readFileSync(SHOT);
    assert.ok(png.length > 10_000, `screenshot size ${png.length}`);
    assert.deepEqual(png.subarray(0, 8), PNG_MAGIC, 'a PNG file');

    assert.deepEqual(cspViolations, [], 'no CSP violation');
    assert.deepEqual(consoleErrors, [], 'no console error');
    assert.deepEqual(expectedRefusals, [], 'the refusals the test asked for were seen');
  });
});
