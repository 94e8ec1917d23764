// Portcullis admin dashboard. Vanilla JS, no dependencies, nothing inline (the admin listener sends
// a Content-Security-Policy of default-src 'self'). Everything that comes from the API is rendered
// with textContent or as SVG attributes, never as HTML. The admin token lives in sessionStorage
// (this tab only) and travels as a bearer token.

const TOKEN_KEY = 'portcullis.admin.token';
const WHO_KEY = 'portcullis.admin.who';
const REFRESH_MS = 2000;
const WINDOW_S = 300;
const SVG_NS = 'http://www.w3.org/2000/svg';
const ROLE_RANK = { viewer: 1, operator: 2, admin: 3 };
const VIEWS = ['traffic', 'audit', 'keys', 'config'];
const SEVERITIES = ['info', 'warning', 'critical'];

const state = {
  token: '',
  who: { name: '', role: '' },
  view: 'traffic',
  timer: 0,
  lastTraffic: [],
  lastBlocked: [],
  emptyText: 'No traffic yet',
  configVersion: undefined,
  historyVersion: undefined,
};

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------------
// API

class ApiError extends Error {
  constructor(status, problem) {
    super(problemText(status, problem));
    this.status = status;
    this.problem = problem;
  }
}

function problemText(status, problem) {
  const p = problem !== null && typeof problem === 'object' ? problem : {};
  const detail = typeof p.detail === 'string' ? p.detail : '';
  const title = typeof p.title === 'string' ? p.title : '';
  const server = detail || title;
  if (status === 0) return 'The admin API cannot be reached.';
  if (status === 401) return 'The token was refused.';
  if (status === 403) {
    const role = state.who.role ? ` You are signed in as ${state.who.role}.` : '';
    return `Not allowed: ${server || 'this token may not do that.'}${role}`;
  }
  if (status === 404) return server || 'Not found.';
  return server || `The admin API answered ${status}.`;
}

/** A 503 for a part turned off in the config (metrics, audit, anomaly): shown as such, not as an outage. */
function isDisabled(err) {
  return err instanceof ApiError && err.status === 503 && err.problem?.code === 'ADMIN_FEATURE_DISABLED';
}

async function api(path, options = {}) {
  const headers = { accept: 'application/json', authorization: `Bearer ${state.token}` };
  const init = { method: options.method ?? 'GET', headers, cache: 'no-store', credentials: 'omit' };
  if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(options.body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, null);
  }
  const text = await res.text();
  let data = null;
  if (text !== '') {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (res.status === 401 && options.login !== true) {
    signOut('Your token is no longer accepted. Sign in again.');
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data ?? {};
}

// ---------------------------------------------------------------------------------------------
// Small DOM helpers

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function svgEl(tag, attrs, text) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const k in attrs) e.setAttribute(k, String(attrs[k]));
  if (text !== undefined) e.textContent = String(text);
  return e;
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

/** Fills a table body; each row is an array of cells: a string/number, a Node, or {text, cls, title}. */
function fillTable(table, rows, emptyText) {
  const body = table.tBodies[0];
  clear(body);
  const columns = table.tHead ? table.tHead.rows[0].cells.length : 1;
  if (rows.length === 0) {
    const tr = el('tr');
    const td = el('td', emptyText, 'empty');
    td.colSpan = columns;
    tr.append(td);
    body.append(tr);
    return;
  }
  for (const row of rows) {
    const tr = el('tr');
    if (row.cls) tr.className = row.cls;
    for (const cell of row.cells) {
      const td = el('td');
      if (cell instanceof Node) td.append(cell);
      else if (cell !== null && typeof cell === 'object') {
        td.textContent = cell.text === undefined || cell.text === null ? '' : String(cell.text);
        if (cell.cls) td.className = cell.cls;
        if (cell.title) td.title = cell.title;
        if (cell.node) td.append(cell.node);
      } else td.textContent = cell === undefined || cell === null ? '' : String(cell);
      tr.append(td);
    }
    body.append(tr);
  }
}

function show(node, visible) {
  node.hidden = !visible;
}

function arr(v) {
  return Array.isArray(v) ? v : [];
}

function num(v) {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function str(v) {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : String(v);
}

// ---------------------------------------------------------------------------------------------
// Formatting

function toMs(v) {
  if (typeof v === 'number' && Number.isFinite(v)) return v < 1e11 ? v * 1000 : v;
  if (typeof v === 'string' && v !== '') {
    const n = Number(v);
    if (Number.isFinite(n)) return toMs(n);
    const d = Date.parse(v);
    return Number.isNaN(d) ? undefined : d;
  }
  return undefined;
}

const pad = (n) => String(n).padStart(2, '0');

function fmtTime(v) {
  const ms = toMs(v);
  if (ms === undefined) return '';
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function fmtDateTime(v) {
  const ms = toMs(v);
  if (ms === undefined) return str(v);
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${fmtTime(ms)}`;
}

function fmtInt(v) {
  return Math.round(num(v)).toLocaleString('en-US');
}

function fmtRate(v) {
  const n = num(v);
  if (n === 0) return '0';
  if (n < 10) return n.toFixed(1);
  return Math.round(n).toLocaleString('en-US');
}

function fmtMs(v) {
  const n = num(v);
  if (n === 0) return '0';
  if (n < 10) return n.toFixed(1);
  return Math.round(n).toLocaleString('en-US');
}

function fmtPct(v) {
  const n = num(v) * 100;
  if (n === 0) return '0%';
  return n < 10 ? `${n.toFixed(1)}%` : `${Math.round(n)}%`;
}

function fmtDuration(seconds) {
  let s = Math.max(0, Math.floor(num(seconds)));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s}s`;
  return `${s}s`;
}

/** A round step for `ticks` gridlines covering v (1, 2, 2.5, 5 × 10^n). */
function niceStep(v, ticks) {
  const raw = v / ticks;
  if (!(raw > 0)) return 0.25;
  const exp = 10 ** Math.floor(Math.log10(raw));
  for (const f of [1, 2, 2.5, 5]) if (f * exp >= raw) return f * exp;
  return 10 * exp;
}

function severityClass(sev) {
  return SEVERITIES.includes(sev) ? `sev sev-${sev}` : 'sev sev-info';
}

// ---------------------------------------------------------------------------------------------
// Charts (SVG, drawn in pixel coordinates of the element's current width)

const chartData = new WeakMap();

function chartWidth(svg) {
  const w = Math.round(svg.getBoundingClientRect().width);
  return w > 100 ? w : 600;
}

/**
 * A line chart over the last WINDOW_S seconds: points [{t, ...}], series [{key, label, cls, area}].
 * X is time (the newest point at the right edge), Y starts at 0.
 */
function lineChart(svg, points, series, format, emptyText) {
  const w = chartWidth(svg);
  const h = 200;
  const m = { l: 48, r: 12, t: 10, b: 22 };
  const pw = w - m.l - m.r;
  const ph = h - m.t - m.b;
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  clear(svg);

  const pts = points.filter((p) => toMs(p.t) !== undefined);
  const end = pts.length > 0 ? toMs(pts[pts.length - 1].t) : Date.now();
  const start = end - WINDOW_S * 1000;
  const x = (t) => m.l + (pw * (toMs(t) - start)) / (WINDOW_S * 1000);
  let max = 0;
  for (const p of pts) for (const s of series) max = Math.max(max, num(p[s.key]));
  const step = niceStep(max, 4);
  const top = step * 4;
  const y = (v) => m.t + ph - (ph * num(v)) / top;

  for (let i = 0; i <= 4; i++) {
    const v = step * i;
    const yy = m.t + ph - (ph * i) / 4;
    svg.append(svgEl('line', { x1: m.l, x2: w - m.r, y1: yy, y2: yy, class: i === 0 ? 'axis' : 'gridline' }));
    svg.append(svgEl('text', { x: m.l - 6, y: yy + 4, 'text-anchor': 'end' }, format(v)));
  }
  for (let mins = WINDOW_S / 60; mins >= 0; mins--) {
    const xx = m.l + pw - (pw * mins * 60) / WINDOW_S;
    const anchor = mins === WINDOW_S / 60 ? 'start' : mins === 0 ? 'end' : 'middle';
    svg.append(svgEl('text', { x: xx, y: h - 6, 'text-anchor': anchor }, mins === 0 ? 'now' : `−${mins}m`));
  }

  if (pts.length === 0) {
    svg.append(
      svgEl(
        'text',
        { x: m.l + pw / 2, y: m.t + ph / 2, 'text-anchor': 'middle', class: 'empty' },
        emptyText ?? 'No traffic yet',
      ),
    );
    chartData.set(svg, undefined);
    return;
  }

  for (const s of series) {
    const coords = pts.map((p) => `${x(p.t).toFixed(1)},${y(p[s.key]).toFixed(1)}`);
    if (s.area) {
      const base = (m.t + ph).toFixed(1);
      const d = `M${x(pts[0].t).toFixed(1)},${base}L${coords.join('L')}L${x(pts[pts.length - 1].t).toFixed(1)},${base}Z`;
      svg.append(svgEl('path', { d, class: `area ${s.cls}` }));
    }
    svg.append(
      svgEl('polyline', { points: coords.join(' '), class: `series ${s.cls}`, 'data-series': s.key }),
    );
  }

  const cursor = svgEl('g', { class: 'hover', visibility: 'hidden' });
  svg.append(cursor);
  const overlay = svgEl('rect', { x: m.l, y: m.t, width: pw, height: ph, fill: 'transparent' });
  svg.append(overlay);
  chartData.set(svg, { pts, series, format, x, m, ph, w, cursor });
  if (!svg.dataset.hover) {
    svg.dataset.hover = '1';
    svg.addEventListener('mousemove', (ev) => hover(svg, ev));
    svg.addEventListener('mouseleave', () => {
      const c = chartData.get(svg);
      if (c) c.cursor.setAttribute('visibility', 'hidden');
    });
  }
}

function hover(svg, ev) {
  const c = chartData.get(svg);
  if (!c) return;
  const rect = svg.getBoundingClientRect();
  const px = ((ev.clientX - rect.left) * c.w) / rect.width;
  let best = c.pts[0];
  let bestD = Number.POSITIVE_INFINITY;
  for (const p of c.pts) {
    const d = Math.abs(c.x(p.t) - px);
    if (d < bestD) {
      bestD = d;
      best = p;
    }
  }
  const g = c.cursor;
  clear(g);
  const cx = c.x(best.t);
  g.append(svgEl('line', { x1: cx, x2: cx, y1: c.m.t, y2: c.m.t + c.ph, class: 'cursor' }));
  const lines = [fmtTime(best.t), ...c.series.map((s) => `${s.label}: ${c.format(num(best[s.key]))}`)];
  const boxW = 12 + 6.6 * Math.max(...lines.map((l) => l.length));
  const boxH = 8 + 15 * lines.length;
  const bx = cx + 10 + boxW > c.w - c.m.r ? cx - 10 - boxW : cx + 10;
  g.append(svgEl('rect', { x: bx, y: c.m.t + 4, width: boxW, height: boxH, rx: 4, class: 'tip-box' }));
  lines.forEach((l, i) => {
    g.append(svgEl('text', { x: bx + 6, y: c.m.t + 18 + 15 * i, class: 'tip-text' }, l));
  });
  g.setAttribute('visibility', 'visible');
}

/** Horizontal bars: entries [[label, value]], largest first. */
function barChart(svg, entries) {
  clear(svg);
  if (entries.length === 0) {
    svg.setAttribute('height', '0');
    return;
  }
  const w = chartWidth(svg);
  const row = 26;
  const h = entries.length * row + 4;
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  svg.setAttribute('height', String(h));
  const longest = Math.max(...entries.map(([l]) => l.length));
  const labelW = Math.min(Math.round(w * 0.45), 12 + longest * 6.8);
  const valueW = 56;
  const barW = Math.max(20, w - labelW - valueW);
  const max = Math.max(...entries.map(([, v]) => v), 1);
  entries.forEach(([label, value], i) => {
    const y = i * row + 4;
    const g = svgEl('g', { class: 'bar-row', 'data-reason': label });
    g.append(svgEl('title', {}, `${label}: ${fmtInt(value)}`));
    g.append(svgEl('text', { x: 0, y: y + 14, class: 'bar-label' }, label));
    g.append(svgEl('rect', { x: labelW, y: y + 3, width: barW, height: 14, rx: 3, class: 'bar-track' }));
    g.append(
      svgEl('rect', {
        x: labelW,
        y: y + 3,
        width: Math.max(2, (barW * value) / max).toFixed(1),
        height: 14,
        rx: 3,
        class: 'bar',
      }),
    );
    g.append(svgEl('text', { x: w - 4, y: y + 14, 'text-anchor': 'end', class: 'bar-value' }, fmtInt(value)));
    svg.append(g);
  });
}

// ---------------------------------------------------------------------------------------------
// Live views: overview, traffic, alerts

function renderOverview(ov) {
  state.configVersion = ov.configVersion;
  $('config-badge').textContent = `config v${str(ov.configVersion) || '–'}`;
  $('config-version').textContent = str(ov.configVersion) || '–';
  const totals = ov.totals ?? {};
  $('tile-requests').textContent = fmtInt(totals.requests);
  $('tile-blocked').textContent = fmtInt(totals.blocked);
  $('tile-inflight').textContent = fmtInt(ov.inFlight);
  $('tile-uptime').textContent = fmtDuration(ov.uptimeSeconds);
  $('version').textContent = ov.version ? `Portcullis ${str(ov.version)}` : '';

  const reasons =
    ov.blockedByReason !== null && typeof ov.blockedByReason === 'object' ? ov.blockedByReason : {};
  state.lastBlocked = Object.entries(reasons)
    .map(([k, v]) => [str(k), num(v)])
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, 12);
  barChart($('chart-blocked'), state.lastBlocked);
  show($('blocked-empty'), state.lastBlocked.length === 0);

  const ips = arr(ov.topIps).slice(0, 10);
  fillTable(
    $('top-ips'),
    ips.map((r) => ({
      cells: [
        { text: r.ip, cls: 'mono' },
        { text: fmtInt(r.count), cls: 'num' },
      ],
    })),
    'Nothing refused yet.',
  );
  const keys = arr(ov.topKeys).slice(0, 10);
  fillTable(
    $('top-keys'),
    keys.map((r) => ({
      cells: [
        { text: r.key, cls: 'mono' },
        { text: fmtInt(r.count), cls: 'num' },
      ],
    })),
    'No key refused yet.',
  );
}

function renderTraffic(points) {
  state.lastTraffic = points;
  state.emptyText = 'No traffic yet';
  drawTraffic();
  // Tiles: the last complete seconds (the newest point is the second in progress).
  const done = points.length > 1 ? points.slice(0, -1) : points;
  const recent = done.slice(-5);
  const rps = recent.length > 0 ? recent.reduce((a, p) => a + num(p.requests), 0) / recent.length : 0;
  $('tile-rps').textContent = fmtRate(rps);
  let req = 0;
  let err = 0;
  for (const p of points) {
    req += num(p.requests);
    err += num(p.errors4xx) + num(p.errors5xx);
  }
  $('tile-errors').textContent = req > 0 ? fmtPct(err / req) : '–';
  let last;
  for (let i = points.length - 1; i >= 0 && i >= points.length - 30; i--) {
    if (num(points[i].requests) > 0) {
      last = points[i];
      break;
    }
  }
  $('tile-latency').textContent = last ? `${fmtMs(last.p50Ms)} / ${fmtMs(last.p99Ms)} ms` : '–';
}

function drawTraffic() {
  const points = state.lastTraffic;
  lineChart(
    $('chart-traffic'),
    points,
    [
      { key: 'requests', label: 'requests/s', cls: 's-requests', area: true },
      { key: 'errors4xx', label: '4xx/s', cls: 's-4xx' },
      { key: 'errors5xx', label: '5xx/s', cls: 's-5xx' },
      { key: 'blocked', label: 'blocked/s', cls: 's-blocked' },
    ],
    fmtRate,
    state.emptyText,
  );
  lineChart(
    $('chart-latency'),
    points,
    [
      { key: 'p50Ms', label: 'p50 ms', cls: 's-p50' },
      { key: 'p99Ms', label: 'p99 ms', cls: 's-p99' },
    ],
    fmtMs,
    state.emptyText,
  );
}

function renderAlerts(alerts) {
  fillTable(
    $('alerts'),
    alerts.map((a) => {
      const subject = a.subject !== null && typeof a.subject === 'object' ? a.subject : {};
      const sev = el('span', str(a.severity) || 'info', severityClass(a.severity));
      return {
        cells: [
          { text: fmtTime(a.at), title: fmtDateTime(a.at) },
          sev,
          { text: a.rule, cls: 'mono' },
          { text: `${str(subject.kind)}${subject.kind ? ': ' : ''}${str(subject.id)}`, cls: 'mono' },
          a.summary,
        ],
      };
    }),
    'No alerts.',
  );
}

async function tick() {
  state.timer = 0;
  if (state.token === '') return;
  if (document.hidden) {
    schedule();
    return;
  }
  const onTraffic = state.view === 'traffic';
  const [ov, tr, al] = await Promise.allSettled([
    api('/api/v1/overview'),
    onTraffic ? api(`/api/v1/traffic?seconds=${WINDOW_S}`) : Promise.resolve(undefined),
    onTraffic ? api('/api/v1/alerts?limit=20') : Promise.resolve(undefined),
  ]);
  if (state.token === '') return;
  const failures = [ov, tr, al]
    .filter((r) => r.status === 'rejected' && !isDisabled(r.reason))
    .map((r) => r.reason);
  if (ov.status === 'fulfilled') renderOverview(ov.value);
  else if (isDisabled(ov.reason)) $('config-badge').textContent = 'metrics off';
  if (tr.status === 'fulfilled' && tr.value) renderTraffic(arr(tr.value.points));
  else if (tr.status === 'rejected' && isDisabled(tr.reason)) {
    state.lastTraffic = [];
    state.emptyText = 'Metrics are not enabled (observability.metrics).';
    drawTraffic();
  }
  if (al.status === 'fulfilled' && al.value) renderAlerts(arr(al.value.alerts));
  else if (al.status === 'rejected' && isDisabled(al.reason))
    fillTable($('alerts'), [], 'Anomaly detection is not enabled (observability.anomaly).');
  else if (onTraffic && ov.status === 'fulfilled') renderAlerts(arr(ov.value.recentAlerts));
  if (state.view === 'config' && state.configVersion !== state.historyVersion) void loadHistory();
  setLive(failures.length === 0, failures[0]);
  schedule();
}

function schedule() {
  if (state.timer !== 0 || state.token === '') return;
  state.timer = window.setTimeout(tick, REFRESH_MS);
}

function setLive(ok, error) {
  const live = $('live');
  live.className = ok ? 'live on' : 'live off';
  live.textContent = ok ? 'live' : 'stale';
  if (ok) $('updated').textContent = `· updated ${fmtTime(Date.now())}`;
  const banner = $('banner');
  if (ok || error === undefined) show(banner, false);
  else if (error.status !== 401) {
    banner.textContent = `${error.message} Retrying every ${REFRESH_MS / 1000} s.`;
    show(banner, true);
  }
}

// ---------------------------------------------------------------------------------------------
// Audit search

async function searchAudit(ev) {
  if (ev) ev.preventDefault();
  const form = $('audit-form');
  const data = new FormData(form);
  const q = new URLSearchParams();
  for (const name of ['type', 'actor', 'ip', 'route']) {
    const v = str(data.get(name)).trim();
    if (v !== '') q.set(name, v);
  }
  for (const name of ['since', 'until']) {
    const v = str(data.get(name));
    if (v !== '') {
      const ms = new Date(v).getTime();
      if (Number.isFinite(ms)) q.set(name, String(ms));
    }
  }
  const limit = str(data.get('limit')).trim();
  if (limit !== '') q.set('limit', limit);
  const status = $('audit-status');
  status.textContent = 'Searching…';
  try {
    const res = await api(`/api/v1/audit?${q.toString()}`);
    const events = arr(res.events);
    status.textContent = events.length === 0 ? 'No events match.' : `${events.length} event(s).`;
    fillTable(
      $('audit-table'),
      events.map((e) => {
        const detail = e.detail === undefined || e.detail === null ? '' : JSON.stringify(e.detail);
        return {
          cells: [
            { text: fmtDateTime(e.at) },
            { text: e.type, cls: 'mono' },
            el('span', str(e.severity), severityClass(e.severity)),
            { text: e.actor, cls: 'mono' },
            { text: e.ip, cls: 'mono' },
            { text: e.route, cls: 'mono' },
            { text: e.code, cls: 'mono' },
            { text: detail.length > 240 ? `${detail.slice(0, 240)}…` : detail, cls: 'detail', title: detail },
          ],
        };
      }),
      'No events match.',
    );
  } catch (err) {
    status.textContent = err.message;
  }
}

// ---------------------------------------------------------------------------------------------
// Keys

function keyState(k) {
  if (k.status === 'active' || k.status === 'revoked' || k.status === 'expired') return k.status;
  if (k.revokedAt !== null && k.revokedAt !== undefined) return 'revoked';
  const exp = toMs(k.expiresAt);
  if (exp !== undefined && exp <= Date.now()) return 'expired';
  return 'active';
}

function list(v) {
  return arr(v).map(str).join(', ');
}

function showKeysError(err) {
  const box = $('keys-error');
  box.textContent = err ? err.message : '';
  show(box, Boolean(err));
}

async function loadKeys() {
  try {
    const res = await api('/api/v1/keys');
    const keys = arr(res.keys);
    fillTable(
      $('keys-table'),
      keys.map((k) => {
        const st = keyState(k);
        const action = el('span');
        if (st === 'active') {
          const b = el('button', 'Revoke', 'danger');
          b.type = 'button';
          b.dataset.keyId = str(k.id);
          b.addEventListener('click', () => revokeClicked(b, str(k.id)));
          action.append(b);
        }
        return {
          cls: st === 'active' ? '' : 'revoked',
          cells: [
            { text: k.id, cls: 'mono' },
            k.consumer,
            k.name,
            { text: list(k.scopes), cls: 'mono' },
            { text: list(k.roles), cls: 'mono' },
            { text: fmtDateTime(k.createdAt) },
            { text: k.lastUsedAt ? fmtDateTime(k.lastUsedAt) : '–' },
            el('span', st, `state-${st}`),
            action,
          ],
        };
      }),
      'No API keys.',
    );
  } catch (err) {
    showKeysError(err);
  }
}

function revokeClicked(button, id) {
  if (!button.classList.contains('armed')) {
    button.classList.add('armed');
    button.textContent = 'Confirm revoke';
    window.setTimeout(() => {
      if (button.isConnected && button.classList.contains('armed')) {
        button.classList.remove('armed');
        button.textContent = 'Revoke';
      }
    }, 5000);
    return;
  }
  button.disabled = true;
  void revokeKey(id).finally(() => {
    if (button.isConnected) {
      button.disabled = false;
      button.classList.remove('armed');
      button.textContent = 'Revoke';
    }
  });
}

async function revokeKey(id) {
  showKeysError(undefined);
  try {
    await api(`/api/v1/keys/${encodeURIComponent(id)}/revoke`, { method: 'POST' });
    await loadKeys();
  } catch (err) {
    showKeysError(err);
  }
}

function splitList(v) {
  return str(v)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

async function createKey(ev) {
  ev.preventDefault();
  showKeysError(undefined);
  hideSecret();
  const form = $('key-form');
  const data = new FormData(form);
  const body = { consumer: str(data.get('consumer')).trim() };
  const name = str(data.get('name')).trim();
  if (name !== '') body.name = name;
  const scopes = splitList(data.get('scopes'));
  if (scopes.length > 0) body.scopes = scopes;
  const roles = splitList(data.get('roles'));
  if (roles.length > 0) body.roles = roles;
  try {
    const res = await api('/api/v1/keys', { method: 'POST', body });
    $('key-secret-owner').textContent = name !== '' ? `${body.consumer} (${name})` : body.consumer;
    $('key-secret-value').textContent = str(res.key);
    $('key-secret').dataset.keyId = str(res.id);
    show($('key-secret'), true);
    form.reset();
    await loadKeys();
  } catch (err) {
    showKeysError(err);
  }
}

function hideSecret() {
  $('key-secret-value').textContent = '';
  $('key-secret-copy').textContent = 'Copy';
  show($('key-secret'), false);
}

async function copySecret() {
  const value = $('key-secret-value').textContent ?? '';
  try {
    await navigator.clipboard.writeText(value);
    $('key-secret-copy').textContent = 'Copied';
  } catch {
    const range = document.createRange();
    range.selectNodeContents($('key-secret-value'));
    const sel = window.getSelection();
    sel?.removeAllRanges();
    sel?.addRange(range);
    $('key-secret-copy').textContent = 'Selected: copy it';
  }
}

// ---------------------------------------------------------------------------------------------
// Config

async function loadHistory() {
  try {
    const res = await api('/api/v1/config/history');
    state.historyVersion = state.configVersion;
    const versions = arr(res.versions)
      .slice()
      .sort((a, b) => num(b.version) - num(a.version));
    fillTable(
      $('config-history'),
      versions.map((v) => {
        const running = v.running === true || (v.running === undefined && v.version === state.configVersion);
        return {
          cls: running ? 'current' : '',
          cells: [
            { text: running ? `v${str(v.version)} (running)` : `v${str(v.version)}` },
            { text: fmtDateTime(v.appliedAt) },
            { text: v.by, cls: 'mono' },
          ],
        };
      }),
      'No history.',
    );
  } catch (err) {
    fillTable($('config-history'), [], err.message);
  }
}

async function loadConfig() {
  const pre = $('config-json');
  try {
    const res = await api('/api/v1/config');
    pre.textContent = JSON.stringify(res.config ?? res, null, 2);
  } catch (err) {
    pre.textContent = err.message;
  }
}

// ---------------------------------------------------------------------------------------------
// Views, sign-in, sign-out

function showView(view) {
  state.view = VIEWS.includes(view) ? view : 'traffic';
  for (const v of VIEWS) {
    show($(`view-${v}`), v === state.view);
    const tab = $(`tab-${v}`);
    tab.classList.toggle('active', v === state.view);
    if (v === state.view) tab.setAttribute('aria-current', 'page');
    else tab.removeAttribute('aria-current');
  }
  if (state.token === '') return;
  if (state.view === 'traffic') {
    if (state.timer !== 0) window.clearTimeout(state.timer);
    state.timer = 0;
    void tick();
  } else if (state.view === 'audit') {
    if ($('audit-table').tBodies[0].rows.length === 0) void searchAudit();
  } else if (state.view === 'keys') {
    void loadKeys();
  } else if (state.view === 'config') {
    void loadHistory();
    void loadConfig();
  }
}

function route() {
  showView(location.hash.slice(1));
}

function enterApp() {
  show($('login'), false);
  show($('app'), true);
  const role = str(state.who.role);
  $('whoami').textContent = state.who.name ? `${str(state.who.name)} · ${role}` : role;
  show($('keys-role-hint'), (ROLE_RANK[role] ?? 0) < ROLE_RANK.operator);
  route();
  schedule();
}

async function signIn(ev) {
  ev.preventDefault();
  const input = $('login-token');
  const token = input.value.trim();
  const error = $('login-error');
  show(error, false);
  if (token === '') return;
  $('login-submit').disabled = true;
  state.token = token;
  try {
    const who = await api('/api/v1/login', { method: 'POST', login: true });
    state.who = { name: str(who.name), role: str(who.role) };
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(WHO_KEY, JSON.stringify(state.who));
    input.value = '';
    enterApp();
  } catch (err) {
    state.token = '';
    error.textContent =
      err.status === 401
        ? 'This token was refused. Check it against admin.tokens.'
        : err.status === 403
          ? `Refused: ${err.problem?.detail ?? err.problem?.title ?? 'this client may not use the admin API'}.`
          : err.message;
    show(error, true);
  } finally {
    $('login-submit').disabled = false;
  }
}

function resetViews() {
  hideSecret();
  showKeysError(undefined);
  for (const id of ['top-ips', 'top-keys', 'alerts', 'audit-table', 'keys-table', 'config-history'])
    clear($(id).tBodies[0]);
  for (const id of ['chart-traffic', 'chart-latency', 'chart-blocked']) clear($(id));
  $('config-json').textContent = '';
  $('audit-status').textContent = '';
  state.lastTraffic = [];
  state.lastBlocked = [];
  state.configVersion = undefined;
  state.historyVersion = undefined;
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(WHO_KEY);
  state.token = '';
  state.who = { name: '', role: '' };
  if (state.timer !== 0) window.clearTimeout(state.timer);
  state.timer = 0;
  resetViews();
  show($('app'), false);
  show($('banner'), false);
  show($('login'), true);
  const error = $('login-error');
  error.textContent = message ?? '';
  show(error, Boolean(message));
  $('login-token').focus();
}

let resizeTimer = 0;
function onResize() {
  window.clearTimeout(resizeTimer);
  resizeTimer = window.setTimeout(() => {
    if (state.token === '') return;
    drawTraffic();
    barChart($('chart-blocked'), state.lastBlocked);
  }, 150);
}

function start() {
  $('login-form').addEventListener('submit', signIn);
  $('logout').addEventListener('click', () => signOut());
  $('audit-form').addEventListener('submit', searchAudit);
  $('key-form').addEventListener('submit', createKey);
  $('keys-refresh').addEventListener('click', () => void loadKeys());
  $('key-secret-copy').addEventListener('click', () => void copySecret());
  $('key-secret-done').addEventListener('click', hideSecret);
  window.addEventListener('hashchange', route);
  window.addEventListener('resize', onResize);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && state.token !== '' && state.timer === 0) void tick();
  });

  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) {
    state.token = token;
    try {
      const who = JSON.parse(sessionStorage.getItem(WHO_KEY) ?? '{}');
      state.who = { name: str(who.name), role: str(who.role) };
    } catch {
      state.who = { name: '', role: '' };
    }
    enterApp();
  } else {
    show($('login'), true);
    $('login-token').focus();
  }
}

start();
