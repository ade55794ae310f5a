// Duroscope dashboard: vanilla JavaScript, no framework, no build step.
//
// Rules this file keeps:
//   - Every text that comes from the API reaches the DOM as a text node or an
//     attribute value set through the DOM (h() and svg() below); nothing is
//     ever parsed as HTML.
//   - Instance ids are percent-encoded exactly like the Go client's
//     EscapeInstanceID (client/params.go): every byte outside A-Z a-z 0-9 - . _ ~
//     becomes %XX, and the ids "." and ".." become %2E / %2E%2E.
//   - API paths are relative ("v1/..."), so the page also works when the
//     service is reached through a path prefix.
'use strict';

(() => {
  // The auto-refresh intervals the user may choose (ms); the choice is kept
  // in localStorage (REFRESH_KEY), the default is REFRESH_MS.
  const REFRESH_MS = 5000;
  const REFRESH_CHOICES = [2000, 5000, 10000, 30000, 60000];
  const REFRESH_KEY = 'duroscope.refresh_ms';
  const TOKEN_KEY = 'duroscope.token';
  const PAUSED_KEY = 'duroscope.paused';
  const STATUSES = ['Running', 'Completed', 'Failed'];
  const MAX_GANTT_ROWS = 400;
  // The history is read HISTORY_PAGE events at a time, without payloads
  // (include_payloads=false), so a history of any size opens at once.
  const HISTORY_PAGE = 200;
  const PROBLEM_LIMIT = 10;

  // ---------------------------------------------------------------- DOM --

  function appendKids(el, kids) {
    for (const k of kids) {
      if (k === null || k === undefined || k === false) continue;
      if (Array.isArray(k)) appendKids(el, k);
      else if (k instanceof Node) el.appendChild(k);
      else el.appendChild(document.createTextNode(String(k)));
    }
    return el;
  }

  // h builds an HTML element. props: class, text-valued attributes, on*
  // handlers (functions), dataset (object). Children: nodes or text.
  function h(tag, props, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'value' || k === 'checked' || k === 'selected') el[k] = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    return appendKids(el, kids);
  }

  const SVG_NS = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, ...kids) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      el.setAttribute(k, String(v));
    }
    return appendKids(el, kids);
  }

  // ------------------------------------------------------------ encoding --

  const HEX = '0123456789ABCDEF';
  // escapeInstanceID mirrors client.EscapeInstanceID byte for byte.
  function escapeInstanceID(id) {
    if (id === '.' || id === '..') return '%2E'.repeat(id.length);
    const bytes = new TextEncoder().encode(id);
    let out = '';
    for (const c of bytes) {
      const unreserved = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) ||
        c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e;
      out += unreserved ? String.fromCharCode(c) : '%' + HEX[c >> 4] + HEX[c & 15];
    }
    return out;
  }

  // decodeSegment percent-decodes once, as the service does. Malformed
  // escapes are kept as they are rather than throwing.
  function decodeSegment(seg) {
    const bytes = [];
    for (let i = 0; i < seg.length;) {
      if (seg[i] === '%' && /^[0-9A-Fa-f]{2}$/.test(seg.slice(i + 1, i + 3))) {
        bytes.push(parseInt(seg.slice(i + 1, i + 3), 16));
        i += 3;
      } else {
        for (const b of new TextEncoder().encode(seg[i])) bytes.push(b);
        i++;
      }
    }
    return new TextDecoder().decode(new Uint8Array(bytes));
  }

  function instanceHref(id) { return '#/instances/' + escapeInstanceID(id); }

  // ------------------------------------------------------------- the API --

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function queryString(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) {
      if (v === null || v === undefined || v === '') continue;
      q.set(k, String(v));
    }
    const s = q.toString();
    return s ? '?' + s : '';
  }

  let tokenPrompt = null; // the pending token dialog, shared by concurrent 401s

  // askToken shows the token dialog once for all requests that got a 401.
  // sent is the token the refused request carried.
  function askToken(sent) {
    const current = sessionStorage.getItem(TOKEN_KEY);
    if (current && current !== sent) return Promise.resolve(); // replaced meanwhile: just retry
    if (tokenPrompt) return tokenPrompt;
    if (current) sessionStorage.removeItem(TOKEN_KEY);
    const dlg = document.getElementById('token-dialog');
    const form = document.getElementById('token-form');
    const input = document.getElementById('token-input');
    const err = document.getElementById('token-error');
    err.hidden = !sent;
    err.textContent = sent ? 'The service refused that token; enter it again.' : '';
    input.value = '';
    tokenPrompt = new Promise((resolve) => {
      const submit = (ev) => {
        ev.preventDefault();
        const tok = input.value.trim();
        if (!tok) return;
        sessionStorage.setItem(TOKEN_KEY, tok);
        form.removeEventListener('submit', submit);
        dlg.removeEventListener('cancel', cancel);
        dlg.close();
        tokenPrompt = null;
        updateTokenButton();
        resolve();
      };
      // Escape would leave the page without data; keep the dialog up.
      const cancel = (ev) => ev.preventDefault();
      form.addEventListener('submit', submit);
      dlg.addEventListener('cancel', cancel);
    });
    dlg.showModal();
    input.focus();
    return tokenPrompt;
  }

  // api calls GET (or POST with body) v1/<path> and returns the parsed JSON.
  async function api(path, params, opts) {
    const { method = 'GET', body } = opts || {};
    const url = 'v1/' + path + queryString(params);
    for (let attempt = 0; ; attempt++) {
      const headers = { Accept: 'application/json' };
      const tok = sessionStorage.getItem(TOKEN_KEY);
      if (tok) headers.Authorization = 'Bearer ' + tok;
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      let resp;
      try {
        resp = await fetch(url, {
          method, headers, cache: 'no-store', credentials: 'same-origin',
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (e) {
        throw new ApiError(0, 'network', 'the query service did not answer: ' + e.message);
      }
      noteProjection(resp.headers);
      if (resp.status === 401 && attempt < 5) {
        await askToken(tok);
        continue;
      }
      const text = await resp.text();
      let data = null;
      try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
      if (!resp.ok) {
        const e = data && data.error;
        throw new ApiError(resp.status, e ? e.code : 'http', e ? e.message : 'HTTP ' + resp.status);
      }
      if (data === null) throw new ApiError(resp.status, 'bad_answer', 'GET ' + url + ': the answer is not JSON');
      return data;
    }
  }

  // --------------------------------------------------------- formatting --

  function parseTime(s) { return s ? Date.parse(s) : NaN; }

  function pad(n, w) { return String(n).padStart(w || 2, '0'); }

  // fmtTime renders epoch ms (or an API time string) in UTC.
  function fmtTime(v, withMs = true) {
    const ms = typeof v === 'number' ? v : parseTime(v);
    if (!Number.isFinite(ms)) return '—';
    const d = new Date(ms);
    const s = d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate()) + ' ' +
      pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ':' + pad(d.getUTCSeconds());
    return withMs ? s + '.' + pad(d.getUTCMilliseconds(), 3) : s;
  }

  function fmtClock(ms, spanMs) {
    const d = new Date(ms);
    const hm = pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes());
    if (spanMs > 2 * 86400e3) return pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate()) + ' ' + hm;
    if (spanMs < 10 * 60e3) return hm + ':' + pad(d.getUTCSeconds());
    return hm;
  }

  function fmtMs(ms) {
    if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
    const neg = ms < 0;
    let a = Math.abs(ms);
    let s;
    if (a < 1000) s = Math.round(a) + ' ms';
    else if (a < 60e3) s = (a / 1000).toFixed(a < 10e3 ? 2 : 1) + ' s';
    else if (a < 3600e3) s = Math.floor(a / 60e3) + 'm ' + pad(Math.floor(a % 60e3 / 1000)) + 's';
    else if (a < 86400e3) s = Math.floor(a / 3600e3) + 'h ' + pad(Math.floor(a % 3600e3 / 60e3)) + 'm';
    else s = Math.floor(a / 86400e3) + 'd ' + Math.floor(a % 86400e3 / 3600e3) + 'h';
    return neg ? '−' + s : s;
  }

  function fmtNum(n) {
    return Number.isFinite(n) ? n.toLocaleString('en-US') : '—';
  }

  function fmtAgo(ms) {
    const d = Date.now() - ms;
    if (d < 0) return 'in the future';
    return fmtMs(d) + ' ago';
  }

  function errorText(e) {
    if (!e) return '';
    const head = [e.category, e.kind].filter(Boolean).join('/');
    return (head ? head + ': ' : '') + (e.message || '') + (e.retryable ? ' (retryable)' : '');
  }

  function badge(status) {
    return h('span', { class: 'badge ' + (STATUSES.includes(status) || status === 'ContinuedAsNew' || status === 'NotFound' ? status : '') }, status || '—');
  }

  function idLink(id) {
    return h('a', { href: instanceHref(id), class: 'mono', title: id }, id === '' ? '(empty id)' : id);
  }

  // ------------------------------------------------------------ widgets --

  function panel(title, opts) {
    const note = h('span', { class: 'note' }, (opts && opts.note) || '');
    const body = h('div', { class: 'panel-body' });
    const el = h('section', { class: 'panel', id: opts && opts.id },
      h('div', { class: 'panel-head' }, h('h2', null, title), opts && opts.tools, note), body);
    return { el, body, note };
  }

  function errorBanner(err) {
    const msg = err instanceof ApiError && err.status
      ? err.message + ' (HTTP ' + err.status + (err.code ? ', ' + err.code : '') + ')'
      : (err && err.message) || String(err);
    return h('div', { class: 'banner error', role: 'alert' }, msg);
  }

  // table renders rows with columns [{label, num, cls, cell(row) -> node|text}].
  function table(columns, rows, opts) {
    if (!rows || rows.length === 0) return h('div', { class: 'empty' }, (opts && opts.empty) || 'Nothing here.');
    const head = h('tr', null, columns.map((c) =>
      h('th', { class: c.num ? 'num' : null, scope: 'col', onclick: c.onclick, title: c.title }, c.label)));
    const body = rows.map((r) => h('tr', null, columns.map((c) => {
      const v = c.cell(r);
      return h('td', { class: [c.num ? 'num' : '', c.cls || ''].join(' ').trim() || null }, v);
    })));
    return h('div', { class: 'table-wrap' },
      h('table', { class: (opts && opts.cls) || null }, h('thead', null, head), h('tbody', null, body)));
  }

  function card(label, value, opts) {
    return h('div', { class: 'card ' + ((opts && opts.tone) || ''), dataset: { key: (opts && opts.key) || label } },
      h('div', { class: 'label' }, label),
      h('div', { class: 'value' }, typeof value === 'number' ? fmtNum(value) : value),
      opts && opts.sub ? h('div', { class: 'sub' }, opts.sub) : null);
  }

  // --------------------------------------------------------- header bar --

  let lastProjection = null;
  function noteProjection(headers) {
    const lag = headers.get('X-Projection-Lag-Events');
    const through = headers.get('X-Projected-Through');
    if (lag === null && through === null) return;
    lastProjection = { lag: Number(lag), through: parseTime(through) };
  }

  function renderTopStatus() {
    const el = document.getElementById('projection');
    if (!lastProjection) { el.textContent = 'projection: nothing projected yet'; return; }
    const { lag, through } = lastProjection;
    el.textContent = 'lag ' + fmtNum(lag) + ' event' + (lag === 1 ? '' : 's') +
      (Number.isFinite(through) ? ' · projected through ' + fmtTime(through, false) + ' UTC' : '');
    el.className = lag > 0 ? 'lagging' : 'muted';
  }

  function updateTokenButton() {
    document.getElementById('forget-token').hidden = !sessionStorage.getItem(TOKEN_KEY);
  }

  // ------------------------------------------------------------- router --

  const app = { view: null, paused: sessionStorage.getItem(PAUSED_KEY) === '1', refreshMs: storedRefreshMs(), timer: null };

  function storedRefreshMs() {
    const ms = Number(localStorage.getItem(REFRESH_KEY));
    return REFRESH_CHOICES.includes(ms) ? ms : REFRESH_MS;
  }

  function parseHash() {
    const raw = location.hash.replace(/^#/, '') || '/';
    const i = raw.indexOf('?');
    const path = i < 0 ? raw : raw.slice(0, i);
    return { path: path || '/', params: new URLSearchParams(i < 0 ? '' : raw.slice(i + 1)) };
  }

  function hashFor(path, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) {
      if (v === null || v === undefined || v === '' || v === false) continue;
      q.set(k, String(v));
    }
    const s = q.toString();
    return '#' + path + (s ? '?' + s : '');
  }

  function route() {
    const { path, params } = parseHash();
    const main = document.getElementById('main');
    let make, nav;
    if (path === '/' || path === '') { make = overviewView; nav = 'overview'; }
    else if (path === '/instances') { make = instancesView; nav = 'instances'; }
    else if (path.startsWith('/instances/')) { make = instanceView; nav = 'instances'; }
    else if (path === '/activities') { make = activitiesView; nav = 'activities'; }
    else if (path === '/activities/calls') { make = activityCallsView; nav = 'activities'; }
    else if (path === '/performance') { make = performanceView; nav = 'performance'; }
    else if (path === '/performance/instances') { make = slowInstancesView; nav = 'performance'; }
    else { make = notFoundView; nav = ''; }
    for (const a of document.querySelectorAll('.top nav a')) a.classList.toggle('active', a.dataset.nav === nav);
    main.replaceChildren();
    const view = { alive: true };
    if (app.view) {
      app.view.alive = false;
      if (app.view.stopLive) app.view.stopLive();
    }
    app.view = view;
    make(main, view, path, params);
    runRefresh(view);
  }

  async function runRefresh(view) {
    if (!view.refresh || view.busy) return;
    view.busy = true;
    try {
      await view.refresh();
      if (view.alive) {
        renderTopStatus();
        document.getElementById('updated').textContent = 'updated ' + fmtTime(Date.now(), false).slice(11) + ' UTC';
      }
    } catch (e) {
      // Views show their own errors; this only keeps the timer alive.
      console.error(e);
    } finally {
      view.busy = false;
    }
  }

  function tick() {
    if (app.paused || document.hidden || tokenPrompt || !app.view || !app.view.autoRefresh) return;
    runRefresh(app.view);
  }

  function setPaused(p) {
    app.paused = p;
    sessionStorage.setItem(PAUSED_KEY, p ? '1' : '0');
    const b = document.getElementById('refresh-toggle');
    b.textContent = p ? 'Resume' : 'Pause';
    b.setAttribute('aria-pressed', p ? 'true' : 'false');
    b.title = p ? 'Auto-refresh is paused' : 'Auto-refresh every ' + app.refreshMs / 1000 + ' s';
  }

  // setRefreshMs (re)starts the auto-refresh timer at ms, one of
  // REFRESH_CHOICES, and remembers the choice.
  function setRefreshMs(ms) {
    app.refreshMs = REFRESH_CHOICES.includes(ms) ? ms : REFRESH_MS;
    localStorage.setItem(REFRESH_KEY, String(app.refreshMs));
    if (app.timer !== null) clearInterval(app.timer);
    app.timer = setInterval(tick, app.refreshMs);
    const sel = document.getElementById('refresh-interval');
    sel.replaceChildren(...REFRESH_CHOICES.map((v) => h('option', { value: String(v), selected: v === app.refreshMs }, 'every ' + v / 1000 + ' s')));
    setPaused(app.paused);
  }

  // -------------------------------------------------------- time series --

  // The time-series report (GET /v1/reports/timeseries, api.Timeseries:
  // {bucket, from, to, group_by, percentiles, percentile_max_relative_error,
  // rows:[{bucket_start, group, started, running, completed, failed,
  // cancelled, failure_rate, avg/p50/p95/p99_duration_ms}]}) is newer than
  // the rest of the API. A service without it answers 404; then the
  // dashboard derives what it can from the instance list.
  const reportSupport = {}; // group_by -> false once the service refused it

  // fetchReport returns {report} or, when there is none to be had, {why}:
  // a service without the endpoint (or this grouping) is remembered and not
  // asked again; any other failure (e.g. 503) is tried again next refresh.
  // Either way the caller falls back to what the instance list gives.
  async function fetchReport(groupBy, params) {
    if (reportSupport[groupBy] === false) return { why: 'this service has no /v1/reports/timeseries' };
    try {
      const report = await api('reports/timeseries', Object.assign({ group_by: groupBy }, params));
      reportSupport[groupBy] = true;
      return { report };
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 405 || e.status === 501 ||
        (e.status === 400 && /group_by/.test(e.message) && reportSupport[groupBy] !== true))) {
        reportSupport[groupBy] = false;
        return { why: 'this service has no /v1/reports/timeseries' };
      }
      return { why: '/v1/reports/timeseries failed: ' + e.message };
    }
  }

  // The report's bucket names and sizes (weeks start on Mondays; the
  // answer's from/to are already aligned by the service).
  const REPORT_BUCKETS = [['minute', 60e3], ['hour', 3600e3], ['day', 86400e3], ['week', 7 * 86400e3]];

  function reportBucket(spanMs) {
    for (const b of REPORT_BUCKETS) if (spanMs / b[1] <= 120) return b;
    return REPORT_BUCKETS[REPORT_BUCKETS.length - 1];
  }

  // reportRange asks for the range [from, to] of the data in the bucket
  // that keeps the chart under ~120 columns.
  function reportRange(from, to) {
    const [bucket, size] = reportBucket(Math.max(1, to - from));
    return { bucket, size, params: { bucket, from: new Date(from).toISOString(), to: new Date(to + 1).toISOString() } };
  }

  function approxNote(report) {
    return report.percentiles === 'approximate'
      ? ' · percentiles approximate (within ' + (report.percentile_max_relative_error * 100).toFixed(1) + ' %)'
      : '';
  }

  const NICE_BUCKETS = [1e3, 5e3, 10e3, 30e3, 60e3, 300e3, 600e3, 900e3, 1800e3, 3600e3, 3 * 3600e3,
    6 * 3600e3, 12 * 3600e3, 86400e3, 7 * 86400e3];

  function niceBucket(spanMs, maxBuckets) {
    for (const b of NICE_BUCKETS) if (spanMs / b <= maxBuckets) return b;
    return NICE_BUCKETS[NICE_BUCKETS.length - 1];
  }

  function fmtBucket(ms) {
    if (ms % 86400e3 === 0) return (ms / 86400e3) + 'd';
    if (ms % 3600e3 === 0) return (ms / 3600e3) + 'h';
    if (ms % 60e3 === 0) return (ms / 60e3) + 'm';
    return (ms / 1000) + 's';
  }

  // dataRange is [oldest created_at, newest updated_at] of a list page: the
  // charts follow the data (which may be historical), not the wall clock.
  function dataRange(instances) {
    let from = Infinity, to = -Infinity;
    for (const r of instances) {
      from = Math.min(from, parseTime(r.created_at));
      to = Math.max(to, parseTime(r.updated_at));
    }
    return { from, to };
  }

  // ----------------------------------------------------------- charts --

  const STATUS_COLORS = { Running: '#2f80ed', Completed: '#27ae60', Failed: '#d64545' };

  function niceMax(v) {
    if (v <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  // stackedBars draws buckets [{t, values:{key:n}}] as stacked columns.
  function stackedBars(buckets, keys, colors, opts) {
    const W = Math.max(560, opts.width || 900), H = opts.height || 220;
    const L = 48, R = 12, T = 10, B = 26;
    const plotW = W - L - R, plotH = H - T - B;
    const max = niceMax(Math.max(1, ...buckets.map((b) => keys.reduce((s, k) => s + (b.values[k] || 0), 0))));
    const n = Math.max(1, buckets.length);
    const bw = plotW / n;
    const root = svg('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': opts.label, class: 'stacked' });
    const grid = svg('g', { class: 'grid' });
    for (let i = 0; i <= 4; i++) {
      const y = T + plotH - plotH * i / 4;
      grid.appendChild(svg('line', { x1: L, x2: W - R, y1: y, y2: y }));
      grid.appendChild(svg('text', { x: L - 6, y: y + 4, 'text-anchor': 'end' }, fmtNum(Math.round(max * i / 4))));
    }
    root.appendChild(grid);
    const span = buckets.length ? buckets[buckets.length - 1].t - buckets[0].t : 0;
    buckets.forEach((b, i) => {
      const g = svg('g', { class: 'col', 'data-t': b.t, 'data-total': keys.reduce((s, k) => s + (b.values[k] || 0), 0) });
      let y = T + plotH;
      const parts = [];
      for (const k of keys) {
        const v = b.values[k] || 0;
        parts.push(k + ' ' + fmtNum(v));
        if (!v) continue;
        const hgt = plotH * v / max;
        y -= hgt;
        g.appendChild(svg('rect', { x: L + i * bw + 1, y, width: Math.max(1, bw - 2), height: hgt, fill: colors[k], class: 'seg', 'data-key': k }));
      }
      g.appendChild(svg('rect', { x: L + i * bw, y: T, width: bw, height: plotH, fill: 'transparent' }));
      g.appendChild(svg('title', null, fmtTime(b.t, false) + ' UTC' + (opts.bucketLabel ? ' (' + opts.bucketLabel + ')' : '') + '\n' + parts.join('\n')));
      root.appendChild(g);
    });
    const labels = svg('g', { class: 'axis' });
    const every = Math.max(1, Math.ceil(n / 8));
    buckets.forEach((b, i) => {
      if (i % every) return;
      labels.appendChild(svg('text', { x: L + i * bw + bw / 2, y: H - 8, 'text-anchor': 'middle' }, fmtClock(b.t, span)));
    });
    root.appendChild(labels);
    return root;
  }

  // lineChart draws duration series [{key, points:[{t, v}]}] with a shared
  // time axis and a logarithmic duration axis (latencies span decades).
  function lineChart(series, colors, opts) {
    const W = Math.max(560, opts.width || 900), H = opts.height || 220;
    const L = 60, R = 12, T = 10, B = 26;
    const plotW = W - L - R, plotH = H - T - B;
    const all = series.flatMap((s) => s.points);
    const root = svg('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': opts.label });
    if (all.length === 0) return root;
    const t0 = Math.min(...all.map((p) => p.t)), t1 = Math.max(...all.map((p) => p.t));
    const span = Math.max(1, t1 - t0);
    const decades = Math.max(1, Math.ceil(Math.log10(Math.max(10, ...all.map((p) => p.v)))));
    const x = (t) => L + plotW * (t - t0) / span;
    const y = (v) => T + plotH - plotH * Math.log10(Math.max(1, v)) / decades;
    const grid = svg('g', { class: 'grid' });
    for (let i = 0; i <= decades; i++) {
      const v = Math.pow(10, i);
      grid.appendChild(svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      grid.appendChild(svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmtMs(v)));
    }
    root.appendChild(grid);
    for (const s of series) {
      const pts = s.points.slice().sort((a, b) => a.t - b.t);
      const d = pts.map((p, i) => (i ? 'L' : 'M') + x(p.t).toFixed(1) + ' ' + y(p.v).toFixed(1)).join(' ');
      root.appendChild(svg('path', { d, fill: 'none', stroke: colors[s.key] || '#888', 'stroke-width': 2, 'data-key': s.key },
        svg('title', null, s.key)));
      for (const p of pts) {
        root.appendChild(svg('circle', { cx: x(p.t), cy: y(p.v), r: 2.5, fill: colors[s.key] || '#888' },
          svg('title', null, s.key + ' ' + fmtTime(p.t, false) + ' UTC: ' + fmtMs(p.v))));
      }
    }
    const axis = svg('g', { class: 'axis' });
    for (let i = 0; i <= 6; i++) {
      const t = t0 + span * i / 6;
      axis.appendChild(svg('text', { x: x(t), y: H - 8, 'text-anchor': i === 0 ? 'start' : i === 6 ? 'end' : 'middle' }, fmtClock(t, span)));
    }
    root.appendChild(axis);
    return root;
  }

  function legend(items) {
    return h('div', { class: 'legend' }, items.map(([cls, label]) => h('span', { class: cls }, label)));
  }

  function chartWidth(el) {
    return Math.floor((el.clientWidth || (document.getElementById('main').clientWidth - 40)) - 4);
  }

  // ----------------------------------------------------------- overview --

  function overviewView(main, view) {
    main.appendChild(h('h1', null, 'Overview'));
    const health = panel('System health', { id: 'health', note: 'long-running: created over 24h ago · recent failures: last 1h' });
    const queues = panel('Queues and pending work', { id: 'queues' });
    const proj = panel('Projection', { id: 'watermark', note: 'how far the read model is behind the history stream' });
    const chart = panel('Instances by status over time', { id: 'status-chart' });
    const problems = panel('Problems', { id: 'problems', note: 'long-running: created over 24h ago · stuck: no event for 1h · failures: last 24h · slower than usual: running longer than their orchestration\'s p99' });
    main.append(health.el, h('div', { class: 'grid2 row-gap' }, queues.el, proj.el), chart.el, problems.el);

    view.autoRefresh = true;
    view.refresh = async () => {
      const [hl, q, wm, pr] = await Promise.allSettled([api('health'), api('queues'), api('watermark'), api('problems', { limit: PROBLEM_LIMIT })]);
      if (!view.alive) return;
      health.body.replaceChildren(hl.status === 'fulfilled' ? healthCards(hl.value) : errorBanner(hl.reason));
      queues.body.replaceChildren(q.status === 'fulfilled' ? queueCards(q.value) : errorBanner(q.reason));
      proj.body.replaceChildren(wm.status === 'fulfilled' ? watermarkCards(wm.value) : errorBanner(wm.reason));
      problems.body.replaceChildren(pr.status === 'fulfilled' ? problemLists(pr.value) : errorBanner(pr.reason));
      await refreshStatusChart(view, chart);
    };
  }

  function healthCards(hl) {
    const score = hl.health_score;
    return h('div', { class: 'cards' },
      card('Health score', score, { key: 'health_score', tone: score >= 80 ? 'good' : score >= 50 ? 'warn' : 'bad', sub: '100·(completed − failed) / total' }),
      card('Total instances', hl.total_instances, { key: 'total_instances' }),
      card('Running', hl.running_instances, { key: 'running_instances', tone: 'run' }),
      card('Completed', hl.completed_instances, { key: 'completed_instances', tone: 'good' }),
      card('Failed', hl.failed_instances, { key: 'failed_instances', tone: hl.failed_instances ? 'bad' : '' }),
      card('Long-running', hl.long_running_instances, { key: 'long_running_instances', tone: hl.long_running_instances ? 'warn' : '' }),
      card('Recent failures', hl.recent_failures, { key: 'recent_failures', tone: hl.recent_failures ? 'bad' : '' }));
  }

  function queueCards(q) {
    return h('div', { class: 'cards' },
      card('Pending activities', q.pending_activities, { key: 'pending_activities' }),
      card('Pending timers', q.pending_timers, { key: 'pending_timers' }),
      card('Pending events', q.pending_events, { key: 'pending_events' }),
      card('Pending sub-orch.', q.pending_sub_orchestrations, { key: 'pending_sub_orchestrations' }),
      card('Orchestrator queue', q.orchestrator_queue_depth, { key: 'orchestrator_queue_depth', sub: 'newest queue snapshot' }),
      card('Activity queue', q.activity_queue_depth, { key: 'activity_queue_depth', sub: 'newest queue snapshot' }));
  }

  function watermarkCards(wm) {
    const through = parseTime(wm.projected_through);
    return h('div', { class: 'cards' },
      card('Lag', wm.lag_events, { key: 'lag_events', tone: wm.lag_events > 0 ? 'warn' : 'good', sub: 'stream messages not yet projected' }),
      card('Stream last seq', wm.stream_last_seq, { key: 'stream_last_seq', sub: wm.stream }),
      card('Projected through', Number.isFinite(through) ? fmtTime(through, false).slice(11) : '—',
        { key: 'projected_through', sub: Number.isFinite(through) ? fmtTime(through, false).slice(0, 10) + ' UTC · ' + fmtAgo(through) : 'nothing projected yet' }));
  }

  function summaryColumns() {
    return [
      { label: 'Instance', cls: 'id', cell: (r) => idLink(r.instance_id) },
      { label: 'Orchestration', cell: (r) => r.orchestration_name },
      { label: 'Status', cell: (r) => badge(r.status) },
      { label: 'Created (UTC)', cls: 'time', cell: (r) => fmtTime(r.created_at) },
      { label: 'Updated (UTC)', cls: 'time', cell: (r) => fmtTime(r.updated_at) },
    ];
  }

  function problemLists(p) {
    const detail = { label: 'Custom status / error', cls: 'clip', cell: (r) => {
      const t = r.error ? errorText(r.error) : r.custom_status;
      return t ? h('span', { title: t, class: r.error ? 'error' : null }, t) : '';
    } };
    const block = (title, key, rows) => h('div', { class: 'problem-list', dataset: { key } },
      h('h3', null, title + ' (' + (rows.length >= PROBLEM_LIMIT ? 'newest ' + PROBLEM_LIMIT : rows.length) + ')'),
      table(summaryColumns().concat([detail]), rows, { empty: 'None.' }));
    return h('div', null,
      block('Long-running', 'long_running', p.long_running),
      block('Potentially stuck', 'potentially_stuck', p.potentially_stuck),
      block('Recent failures', 'recent_failures', p.recent_failures),
      block('Slower than usual', 'slower_than_usual', p.slower_than_usual || []));
  }

  // refreshStatusChart draws instances by status over time: from the
  // time-series report when the service has it (instances started per
  // bucket, by their status now), else derived from the newest instances
  // of the list (the status each had at every bucket's end).
  async function refreshStatusChart(view, chart) {
    const width = chartWidth(chart.body);
    try {
      const list = await api('instances', { limit: 1000 });
      if (!view.alive) return;
      const sample = list.instances;
      if (sample.length === 0) {
        chart.body.replaceChildren(h('div', { class: 'empty' }, 'No instances yet.'));
        chart.note.textContent = '';
        return;
      }
      const { from, to } = dataRange(sample);
      const rr = reportRange(from, to);
      const { report, why } = await fetchReport('status', rr.params);
      if (!view.alive) return;
      let buckets, note, bucketLabel;
      if (report) {
        buckets = bucketsFromReport(report, rr.size);
        bucketLabel = report.bucket;
        note = 'instances started per ' + report.bucket + ', by their status now (GET /v1/reports/timeseries)';
      } else {
        const all = await newestInstances(sample, list.next_page_token, 2);
        if (!view.alive) return;
        const size = niceBucket(Math.max(1000, to - from), 48);
        buckets = bucketsFromInstances(all.rows, Math.floor(from / size) * size, Math.ceil((to + 1) / size) * size, size);
        bucketLabel = fmtBucket(size);
        note = 'instances by status at the end of each ' + bucketLabel + ', derived from the newest ' + fmtNum(all.rows.length) +
          ' instances' + (all.more ? ' (older ones left out)' : '') + ': ' + why;
      }
      chart.note.textContent = note;
      chart.body.replaceChildren(
        h('div', { class: 'chart', dataset: { source: report ? 'report' : 'instances' } },
          stackedBars(buckets, STATUSES, STATUS_COLORS, { width, label: 'instances by status over time', bucketLabel })),
        legend(STATUSES.map((s) => [s, s])));
    } catch (e) {
      if (view.alive) chart.body.replaceChildren(errorBanner(e));
    }
  }

  async function newestInstances(first, token, maxPages) {
    const rows = first.slice();
    let pages = 1;
    while (token && pages < maxPages) {
      const r = await api('instances', { limit: 1000, page_token: token });
      rows.push(...r.instances);
      token = r.next_page_token;
      pages++;
    }
    return { rows, more: !!token };
  }

  // bucketsFromInstances counts, at the end of each bucket, the instances
  // that existed and the status each had then: an instance that is
  // Completed or Failed now had that status from its last update on, and
  // was Running from its creation until then.
  function bucketsFromInstances(rows, from, to, bucket) {
    const inst = rows.map((r) => ({ c: parseTime(r.created_at), u: parseTime(r.updated_at), s: r.status }));
    const out = [];
    for (let t = from; t < to; t += bucket) {
      const end = t + bucket;
      const values = { Running: 0, Completed: 0, Failed: 0 };
      for (const i of inst) {
        if (i.c >= end) continue;
        const s = i.s === 'Running' || i.u >= end ? 'Running' : i.s;
        values[s] = (values[s] || 0) + 1;
      }
      out.push({ t, values });
    }
    return out;
  }

  // bucketsFromReport sums the report's rows per bucket: every instance
  // grouping carries running/completed/failed counts.
  function bucketsFromReport(report, size) {
    const byT = new Map();
    const from = parseTime(report.from), to = parseTime(report.to);
    if (Number.isFinite(from) && Number.isFinite(to) && (to - from) / size <= 1000) {
      for (let t = from; t < to; t += size) byT.set(t, { t, values: { Running: 0, Completed: 0, Failed: 0 } });
    }
    for (const r of report.rows) {
      const t = parseTime(r.bucket_start);
      if (!byT.has(t)) byT.set(t, { t, values: { Running: 0, Completed: 0, Failed: 0 } });
      const v = byT.get(t).values;
      v.Running += r.running;
      v.Completed += r.completed;
      v.Failed += r.failed;
    }
    return [...byT.values()].sort((a, b) => a.t - b.t);
  }

  // ---------------------------------------------------------- instances --

  // Time filters accept the API's forms (RFC 3339, epoch ms) and, for
  // typing comfort, "YYYY-MM-DD[ HH:MM[:SS[.mmm]]]" read as UTC.
  function toApiTime(s) {
    s = (s || '').trim();
    if (!s) return '';
    const m = /^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?Z?$/.exec(s);
    if (!m) return s; // the service validates and names the problem
    return m[1] + 'T' + (m[2] || '00:00') + ':' + (m[3] || '00') + '.' + (m[4] || '000').padEnd(3, '0') + 'Z';
  }

  const pageStacks = { key: '', tokens: [] }; // "Previous" for page_token paging

  function instancesView(main, view, _path, params) {
    const f = {
      status: (params.get('status') || '').split(',').filter((s) => STATUSES.includes(s)),
      orchestration: params.get('orchestration') || '',
      created_after: params.get('created_after') || '',
      created_before: params.get('created_before') || '',
      instance_prefix: params.get('instance_prefix') || '',
      parent_instance: params.get('parent_instance') || '',
      version: params.get('version') || '',
      updated_after: params.get('updated_after') || '',
      updated_before: params.get('updated_before') || '',
      custom_status_prefix: params.get('custom_status_prefix') || '',
      error_kind: params.get('error_kind') || '',
      error_category: params.get('error_category') || '',
      root_only: params.get('root_only') === 'true' ? 'true' : '',
      activity_tag: params.get('activity_tag') || '',
      limit: params.get('limit') || '50',
      page_token: params.get('page_token') || '',
    };
    // Every filter (FILTER_KEYS) is kept in the URL, so a view can be shared.
    const FILTER_KEYS = ['orchestration', 'created_after', 'created_before', 'instance_prefix', 'parent_instance', 'version',
      'updated_after', 'updated_before', 'custom_status_prefix', 'error_kind', 'error_category', 'root_only', 'activity_tag'];
    const filterKey = JSON.stringify([f.status, FILTER_KEYS.map((k) => f[k]), f.limit]);
    if (pageStacks.key !== filterKey) { pageStacks.key = filterKey; pageStacks.tokens = []; }
    if (!f.page_token) pageStacks.tokens = [];

    const input = (name, label, placeholder, value) =>
      h('label', null, label, h('input', { type: 'text', name, placeholder, value, spellcheck: 'false', autocomplete: 'off' }));
    const form = h('form', { class: 'filters', id: 'instance-filters', onsubmit: (ev) => {
      ev.preventDefault();
      const fd = new FormData(form);
      location.hash = hashFor('/instances', {
        status: fd.getAll('status').join(','),
        orchestration: fd.get('orchestration').trim(),
        created_after: toApiTime(fd.get('created_after')),
        created_before: toApiTime(fd.get('created_before')),
        instance_prefix: fd.get('instance_prefix'),
        parent_instance: fd.get('parent_instance'),
        version: fd.get('version').trim(),
        updated_after: toApiTime(fd.get('updated_after')),
        updated_before: toApiTime(fd.get('updated_before')),
        custom_status_prefix: fd.get('custom_status_prefix'),
        error_kind: fd.get('error_kind').trim(),
        error_category: fd.get('error_category').trim(),
        root_only: fd.get('root_only') ? 'true' : '',
        activity_tag: fd.get('activity_tag').trim(),
        limit: fd.get('limit') === '50' ? '' : fd.get('limit'),
      });
    } },
    h('div', { class: 'group', role: 'group', 'aria-label': 'status' }, h('span', { class: 'group-label' }, 'Status'),
      h('div', { class: 'opts' }, STATUSES.map((s) => h('label', null, h('input', { type: 'checkbox', name: 'status', value: s, checked: f.status.includes(s) }), s)))),
    input('orchestration', 'Orchestration', 'exact name', f.orchestration),
    input('instance_prefix', 'Id prefix', 'e.g. order-', f.instance_prefix),
    input('created_after', 'Created at or after (UTC)', '2026-01-31 12:00', f.created_after),
    input('created_before', 'Created before (UTC)', '2026-01-31 13:00', f.created_before),
    input('parent_instance', 'Parent instance', 'exact id', f.parent_instance),
    input('version', 'Version', 'exact version', f.version),
    input('updated_after', 'Updated at or after (UTC)', '2026-01-31 12:00', f.updated_after),
    input('updated_before', 'Updated before (UTC)', '2026-01-31 13:00', f.updated_before),
    input('custom_status_prefix', 'Custom status starts with', 'e.g. {"phase"', f.custom_status_prefix),
    input('error_kind', 'Error kind', 'e.g. ActivityFailed', f.error_kind),
    input('error_category', 'Error category', 'e.g. application', f.error_category),
    input('activity_tag', 'Activity tag', 'e.g. gpu', f.activity_tag),
    h('label', null, h('input', { type: 'checkbox', name: 'root_only', value: 'true', checked: f.root_only === 'true' }), 'Roots only (hide sub-orchestrations)'),
    h('label', null, 'Per page', h('select', { name: 'limit' },
      ['25', '50', '100', '250', '1000'].map((n) => h('option', { value: n, selected: n === f.limit }, n)))),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary' }, 'Apply'),
      h('button', { type: 'button', onclick: () => { location.hash = '#/instances'; } }, 'Clear')));

    const list = panel('Instances', { id: 'instance-list', note: 'newest first' });
    main.append(h('h1', null, 'Instances'), h('section', { class: 'panel' }, form), list.el);

    const apiParams = { status: f.status.join(','), limit: f.limit, page_token: f.page_token };
    for (const k of FILTER_KEYS) apiParams[k] = f[k];
    view.autoRefresh = true;
    const countParams = Object.assign({}, apiParams, { limit: '', page_token: '' });
    view.refresh = async () => {
      let res;
      // The count of the whole filtered list (GET /v1/instances/count), beside
      // the page; a service without it shows the page alone.
      const counted = api('instances/count', countParams).catch(() => null);
      try {
        res = await api('instances', apiParams);
      } catch (e) {
        if (view.alive) list.body.replaceChildren(errorBanner(e));
        return;
      }
      const total = await counted;
      if (!view.alive) return;
      const page = pageStacks.tokens.length + 1;
      const next = res.next_page_token;
      const pager = h('div', { class: 'pager' },
        h('button', { type: 'button', id: 'page-first', disabled: !f.page_token, onclick: () => {
          pageStacks.tokens = [];
          location.hash = hashFor('/instances', Object.assign({}, apiParams, { page_token: '', limit: f.limit === '50' ? '' : f.limit }));
        } }, 'First'),
        h('button', { type: 'button', id: 'page-prev', disabled: !f.page_token, onclick: () => {
          const prev = pageStacks.tokens.pop() || '';
          location.hash = hashFor('/instances', Object.assign({}, apiParams, { page_token: prev, limit: f.limit === '50' ? '' : f.limit }));
        } }, '← Previous'),
        h('button', { type: 'button', id: 'page-next', disabled: !next, onclick: () => {
          pageStacks.tokens.push(f.page_token);
          location.hash = hashFor('/instances', Object.assign({}, apiParams, { page_token: next, limit: f.limit === '50' ? '' : f.limit }));
        } }, 'Next →'),
        h('span', { class: 'note', id: 'page-note' }, 'page ' + page + ' · ' + res.instances.length + ' instance' + (res.instances.length === 1 ? '' : 's') +
          (total ? ' of ' + fmtNum(total.count) + ' matching' : '') + (next ? '' : ' · last page')));
      list.body.replaceChildren(
        table([
          { label: 'Instance', cls: 'id', cell: (r) => idLink(r.instance_id) },
          { label: 'Orchestration', cell: (r) => r.orchestration_name },
          { label: 'Version', cell: (r) => r.version },
          { label: 'Status', cell: (r) => badge(r.status) },
          { label: 'Created (UTC)', cls: 'time', cell: (r) => fmtTime(r.created_at) },
          { label: 'Updated (UTC)', cls: 'time', cell: (r) => fmtTime(r.updated_at) },
          { label: 'Exec.', num: true, cell: (r) => fmtNum(r.execution_count) },
          { label: 'Custom status / error', cls: 'clip', cell: (r) => {
            const t = r.error ? errorText(r.error) : r.custom_status;
            return t ? h('span', { title: t, class: r.error ? 'error' : null }, t) : '';
          } },
        ], res.instances, { cls: 'instances', empty: 'No instance matches these filters.' }),
        pager);
    };
    const liveFilters = {};
    for (const k of FILTER_KEYS) liveFilters[k] = f[k];
    liveList(main, view, list, liveFilters, f.status, !f.page_token);
  }


  // ------------------------------------------------------- live changes --
  //
  // GET v1/instances/changes (Server-Sent Events, one event per instance
  // whose answer changed, once it is queryable) keeps the instance list and
  // the instance page current without polling. It is read with fetch, not
  // EventSource, because EventSource cannot send the Authorization header;
  // reconnecting sends Last-Event-ID like EventSource would, so nothing is
  // missed (or a "reset" event says to reload). Independent of Pause, which
  // stops the periodic refresh only.

  const LIVE_RELOAD_MS = 1500; // least time between two reloads a change asks for

  // readSSE calls onEvent(type, id, data) for each event of a stream body.
  async function readSSE(body, onEvent) {
    const reader = body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += dec.decode(value, { stream: true });
      let end;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        let type = 'message', id = '', data = [];
        for (const line of block.split('\n')) {
          const i = line.indexOf(':');
          if (i === 0) continue; // a comment (keepalive)
          const field = i < 0 ? line : line.slice(0, i);
          const val = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
          if (field === 'event') type = val;
          else if (field === 'id') id = val;
          else if (field === 'data') data.push(val);
        }
        if (data.length) onEvent(type, id, data.join('\n'));
      }
    }
  }

  // watchChanges follows the change stream with params (the list's
  // filters) while view is alive; onChange(change) per change, onReset()
  // when changes were missed. Its state ("connecting", "live", "offline",
  // "off") goes to the view's live indicator. view.stopLive ends it.
  function watchChanges(view, params, onChange, onReset) {
    const ctl = new AbortController();
    const indicator = h('span', { id: 'live-status', class: 'live-status', title: 'live changes (GET /v1/instances/changes)' }, '');
    const state = (st) => { indicator.textContent = st === 'live' ? '● live' : st; indicator.className = 'live-status ' + st; };
    view.stopLive = () => ctl.abort();
    let lastId = '';
    (async () => {
      let wait = 1000;
      while (view.alive) {
        state('connecting');
        let final = false;
        try {
          const headers = { Accept: 'text/event-stream' };
          const tok = sessionStorage.getItem(TOKEN_KEY);
          if (tok) headers.Authorization = 'Bearer ' + tok;
          if (lastId) headers['Last-Event-ID'] = lastId;
          const resp = await fetch('v1/instances/changes' + queryString(params),
            { headers, cache: 'no-store', credentials: 'same-origin', signal: ctl.signal });
          if (resp.status === 401) { await askToken(tok); continue; }
          if (resp.status >= 400 && resp.status < 500) { final = true; throw new Error('HTTP ' + resp.status); }
          if (!resp.ok) throw new Error('HTTP ' + resp.status);
          state('live');
          wait = 1000;
          await readSSE(resp.body, (type, id, data) => {
            if (id) lastId = id;
            let d = null;
            try { d = JSON.parse(data); } catch (_) { return; }
            if (type === 'message' && view.alive) onChange(d);
            else if (type === 'reset' && view.alive) onReset(d.reason);
          });
        } catch (e) {
          if (!view.alive || ctl.signal.aborted) return;
          if (final) { state('off'); return; }
        }
        if (!view.alive) return;
        state('offline');
        await new Promise((r) => setTimeout(r, wait));
        wait = Math.min(wait * 2, 30000);
      }
    })();
    return indicator;
  }

  // reloader returns a function that refreshes view soon, at most once per
  // LIVE_RELOAD_MS, and never while a refresh runs (it waits for it).
  function reloader(view, before) {
    let timer = null, last = 0;
    const kick = () => {
      timer = null;
      if (!view.alive) return;
      if (view.busy) { timer = setTimeout(kick, 200); return; }
      last = Date.now();
      if (before) before();
      runRefresh(view);
    };
    return () => {
      if (timer) return;
      timer = setTimeout(kick, Math.max(0, last + LIVE_RELOAD_MS - Date.now()));
    };
  }

  // liveList keeps the instance list current: a shown row gets its new
  // status and updated time in place; an instance that enters or leaves the
  // page (or is deleted) reloads it. The stream is asked with the list's
  // filters but status, which is applied here so that instances leaving a
  // status filter are seen too.
  function liveList(main, view, list, filters, statuses, firstPage) {
    const reload = reloader(view);
    const cellOf = (tr, label) => {
      const ths = [...tr.closest('table').querySelectorAll('thead th')].map((th) => th.textContent);
      return tr.children[ths.indexOf(label)];
    };
    const onChange = (c) => {
      const a = list.body.querySelector('table.instances a[href="' + CSS.escape(instanceHref(c.instance_id)) + '"]');
      const tr = a && a.closest('tr');
      const wanted = c.status !== 'Deleted' && (!statuses.length || statuses.includes(c.status));
      if (tr) {
        cellOf(tr, 'Status').replaceChildren(badge(c.status));
        cellOf(tr, 'Updated (UTC)').textContent = fmtTime(c.updated_at);
        tr.classList.remove('live-changed');
        void tr.offsetWidth; // restart the highlight
        tr.classList.add('live-changed');
        if (!wanted) reload();
      } else if (wanted && firstPage) {
        reload();
      }
    };
    const indicator = watchChanges(view, filters, onChange, () => reload());
    main.querySelector('h1').append(' ', indicator);
  }

  // liveInstance reloads the instance page when that instance changes.
  function liveInstance(main, view, id, before) {
    const reload = reloader(view, before);
    const indicator = watchChanges(view, { instance_prefix: id }, (c) => { if (c.instance_id === id) reload(); }, () => reload());
    main.querySelector('h1').append(' ', indicator);
  }

  // ----------------------------------------------------------- instance --

  function instanceView(main, view, path) {
    const id = decodeSegment(path.slice('/instances/'.length));
    const title = h('h1', null, 'Instance ', h('span', { class: 'mono', id: 'instance-id' }, id), ' ', h('span', { id: 'instance-status' }));
    const body = h('div', { id: 'instance-body' }, h('div', { class: 'empty' }, 'Loading…'));
    main.append(h('div', null, h('a', { href: '#/instances' }, '← Instances')), title, body);
    let signature = null, lastStatus = null, ticks = 0;
    let execFilter = 'all';
    let rendered = null;
    // history holds the pages read so far of the history shown (all
    // executions, or execFilter's): {events, next} (next_page_token).
    const historyPath = 'instances/' + escapeInstanceID(id) + '/history';
    const readHistory = (token) => api(historyPath, {
      limit: String(HISTORY_PAGE), include_payloads: 'false', page_token: token || '',
      execution_id: execFilter === 'all' ? '' : execFilter,
    });

    view.autoRefresh = true;
    if (id !== '.' && id !== '..') liveInstance(main, view, id, () => { ticks = 0; });
    view.refresh = async () => {
      if (id === '.' || id === '..') { await dotIdNotice(view, body, id); return; }
      // A finished instance rarely changes (only late, out-of-order
      // events): look again every sixth tick rather than every tick.
      if (signature && lastStatus !== 'Running' && ticks++ % 6) return;
      let details, history, tree;
      try {
        [details, history, tree] = await Promise.all([
          api('instances/' + escapeInstanceID(id) + '/details'),
          readHistory(''),
          api('instances/' + escapeInstanceID(id) + '/tree'),
        ]);
      } catch (e) {
        if (!view.alive) return;
        signature = null;
        body.replaceChildren(e instanceof ApiError && e.status === 404
          ? h('div', { class: 'banner info' }, 'No instance with this id in the read model (it may not be projected yet).')
          : errorBanner(e));
        return;
      }
      if (!view.alive) return;
      const s = details.summary;
      // Re-render only when something changed, so open <details> and the
      // scroll position survive the auto-refresh.
      const sig = [s.status, s.updated_at, details.executions.map((e) => e.execution_id + ':' + e.event_count).join(','),
        tree.instances.map((t) => t.instance_id + ':' + t.status).join(',')].join('|');
      if (sig === signature) return;
      signature = sig;
      lastStatus = s.status;
      document.getElementById('instance-status').replaceChildren(badge(s.status));
      rendered = { details, history: { events: history.events, next: history.next_page_token || null }, tree };
      renderInstance();
    };

    // showExecution reads the first page of one execution's history (or of
    // all) and draws it.
    async function showExecution(x) {
      execFilter = x;
      let first;
      try { first = await readHistory(''); } catch (e) { if (view.alive) body.prepend(errorBanner(e)); return; }
      if (!view.alive || execFilter !== x) return;
      rendered.history = { events: first.events, next: first.next_page_token || null };
      renderInstance();
    }

    // loadMore appends the next page of the history shown.
    async function loadMore(button) {
      const h0 = rendered.history;
      if (!h0.next) return;
      button.disabled = true;
      let more;
      try { more = await readHistory(h0.next); } catch (e) { button.disabled = false; button.after(errorBanner(e)); return; }
      if (!view.alive || rendered.history !== h0) return;
      rendered.history = { events: h0.events.concat(more.events), next: more.next_page_token || null };
      renderInstance();
    }

    // payloadOf reads one event with its payloads (the page of one event
    // after its predecessor's key).
    async function payloadOf(e) {
      const got = await api(historyPath, { after_event: e.execution_id + ':' + (e.event_id - 1), limit: '1' });
      const full = got.events[0];
      if (!full || full.execution_id !== e.execution_id || full.event_id !== e.event_id) throw new ApiError(404, 'not_found', 'the event is no longer stored');
      return full;
    }

    function renderInstance() {
      const { details, history, tree } = rendered;
      const events = history.events;
      const s = details.summary;
      const execs = details.executions;
      const summary = panel('Summary', { id: 'summary' });
      summary.body.appendChild(summaryList(s));
      const pending = panel('Pending work', { id: 'pending', note: details.current_execution ? 'execution ' + details.current_execution.execution_id : '' });
      pending.body.appendChild(pendingWork(details.current_execution, s));

      const select = h('select', { id: 'exec-filter', 'aria-label': 'execution', onchange: () => showExecution(select.value) },
        h('option', { value: 'all', selected: execFilter === 'all' }, 'all executions'),
        execs.map((e) => h('option', { value: String(e.execution_id), selected: execFilter === String(e.execution_id) }, 'execution ' + e.execution_id + ' (' + e.status + ')')));
      const shown = events;
      const stored = execs.filter((e) => execFilter === 'all' || String(e.execution_id) === execFilter).reduce((n, e) => n + e.event_count, 0);
      const partial = history.next ? ' (of the ' + fmtNum(shown.length) + ' events loaded)' : '';
      const timeline = panel('Execution timeline', { id: 'timeline', tools: select, note: 'from the stored history' + partial + '; hover a bar for details' });
      const tl = buildTimeline(shown);
      timeline.body.appendChild(h('div', { class: 'chart', id: 'gantt' }, tl.rows.length ? gantt(tl, chartWidth(body) - 34) : h('div', { class: 'empty' }, 'No events.')));
      if (tl.truncated) timeline.body.appendChild(h('div', { class: 'note' }, 'Showing the first ' + MAX_GANTT_ROWS + ' of ' + tl.total + ' rows.'));
      timeline.body.appendChild(legend([['execution', 'execution'], ['activity', 'activity'], ['activity-failed', 'failed'],
        ['activity-cancelled', 'cancelled'], ['timer', 'timer'], ['sub', 'sub-orchestration'], ['wait', 'external event wait'], ['pending', 'pending (open-ended)']]));

      const execPanel = panel('Executions', { id: 'executions' });
      execPanel.body.appendChild(table([
        { label: 'Execution', num: true, cell: (e) => String(e.execution_id) },
        { label: 'Status', cell: (e) => badge(e.status) },
        { label: 'Started (UTC)', cls: 'time', cell: (e) => fmtTime(e.started_at) },
        { label: 'Completed (UTC)', cls: 'time', cell: (e) => e.completed_at ? fmtTime(e.completed_at) : '—' },
        { label: 'Duration', num: true, cell: (e) => fmtMs(e.duration_ms) },
        { label: 'Events', num: true, cell: (e) => fmtNum(e.event_count) },
        { label: 'Output / error', cls: 'clip', cell: (e) => {
          const t = e.error ? errorText(e.error) : e.output;
          return t === null || t === undefined ? '' : h('span', { title: t, class: e.error ? 'error' : null }, t);
        } },
      ], execs));

      const hist = panel('History', { id: 'history', note: fmtNum(shown.length) + (history.next ? ' of ' + fmtNum(stored) : '') + ' event' + (shown.length === 1 ? '' : 's') +
        (execFilter === 'all' ? '' : ' of execution ' + execFilter) + ' · payloads are read when a row is opened' });
      const latest = execs.length ? execs[execs.length - 1].execution_id : null;
      hist.body.appendChild(historySections(shown, latest, payloadOf));
      if (history.next) {
        const more = h('button', { type: 'button', id: 'history-more', onclick: () => loadMore(more) }, 'Load ' + HISTORY_PAGE + ' more events');
        hist.body.appendChild(h('div', { class: 'pager' }, more, h('span', { class: 'note' }, fmtNum(shown.length) + ' of ' + fmtNum(stored) + ' events loaded')));
      }

      const family = panel('Tree', { id: 'tree', note: tree.instances.length + ' instance' + (tree.instances.length === 1 ? '' : 's') + ' from root ' + tree.root_id });
      family.body.appendChild(treeTable(tree, id));

      body.replaceChildren(h('div', { class: 'grid2 row-gap' }, summary.el, pending.el), timeline.el, execPanel.el, family.el, hist.el);
    }
  }

  // treeTable lists an instance's family (GET /v1/instances/{id}/tree), each
  // instance indented under its parent (text, not inline style: the CSP
  // forbids that) and linked, except the one shown.
  function treeTable(tree, current) {
    const parent = new Map(tree.instances.map((t) => [t.instance_id, t.parent_instance]));
    const depthOf = (id) => {
      let n = 0;
      for (; id !== tree.root_id && parent.has(id) && n < tree.instances.length; n++) id = parent.get(id);
      return n;
    };
    return table([
      { label: 'Instance', cls: 'mono', cell: (t) => {
        const d = depthOf(t.instance_id);
        return h('span', null, d ? '\u00a0\u00a0'.repeat(d - 1) + '↳ ' : '',
          t.instance_id === current ? h('strong', null, t.instance_id) : h('a', { href: instanceHref(t.instance_id) }, t.instance_id));
      } },
      { label: 'Orchestration', cell: (t) => t.orchestration_name },
      { label: 'Status', cell: (t) => badge(t.status) },
      { label: 'Created (UTC)', cls: 'time', cell: (t) => fmtTime(t.created_at) },
    ], tree.instances);
  }

  // Browsers resolve "%2E" path segments like "." (WHATWG URL), so the
  // ids "." and ".." cannot be sent in a path from a page; the bulk status
  // endpoint takes ids in its body.
  async function dotIdNotice(view, body, id) {
    let status = '?';
    try {
      const r = await api('bulk/status', null, { method: 'POST', body: { instance_ids: [id] } });
      status = r.statuses[0].status;
    } catch (e) {
      status = 'unknown (' + e.message + ')';
    }
    if (!view.alive) return;
    body.replaceChildren(h('div', { class: 'banner info' },
      'Status: ', badge(status), ' — browsers turn the path segment %2E into ".", so the details and history of the instance ',
      h('code', null, JSON.stringify(id)), ' cannot be fetched from this page. Use the Go client or the CLI: duroscope get ', JSON.stringify(id)));
  }

  function summaryList(s) {
    const kv = (k, v) => [h('dt', null, k), h('dd', null, v)];
    const pre = (v) => v === null || v === undefined ? h('span', { class: 'muted' }, 'null') : h('pre', { class: 'value' }, v);
    return h('dl', { class: 'kv' },
      kv('Instance id', h('span', { class: 'mono' }, s.instance_id)),
      kv('Orchestration', [s.orchestration_name, s.version ? h('span', { class: 'muted' }, ' v' + s.version) : null]),
      kv('Status', badge(s.status)),
      kv('Created (UTC)', fmtTime(s.created_at)),
      kv('Updated (UTC)', fmtTime(s.updated_at)),
      kv('Executions', fmtNum(s.execution_count) + ' (current ' + s.current_execution_id + ')'),
      kv('Parent', s.parent_instance ? [idLink(s.parent_instance), s.parent_id !== null ? h('span', { class: 'muted' }, ' event ' + s.parent_id) : null] : h('span', { class: 'muted' }, 'none')),
      kv('Custom status', pre(s.custom_status)),
      kv('Output', pre(s.output)),
      kv('Error', s.error ? h('span', { class: 'error' }, errorText(s.error)) : h('span', { class: 'muted' }, 'none')));
  }

  function pendingWork(cur, s) {
    if (!cur) return h('div', { class: 'empty' }, s.status === 'Running' ? 'No current execution.' : 'None: the instance is ' + s.status + '.');
    const parts = [h('div', { class: 'note' }, 'Execution ' + cur.execution_id + ' · ' + cur.status + ' · last event ' + fmtTime(cur.last_event_at) + ' UTC')];
    const total = cur.pending_activities.length + cur.pending_timers.length + cur.pending_events.length + cur.pending_sub_orchestrations.length;
    if (total === 0) parts.push(h('div', { class: 'empty' }, 'Nothing pending.'));
    if (cur.pending_activities.length) parts.push(h('h3', null, 'Activities'), table([
      { label: '#', num: true, cell: (a) => String(a.correlation_id) },
      { label: 'Name', cell: (a) => a.name },
      { label: 'Input', cls: 'clip', cell: (a) => h('span', { title: a.input }, a.input) },
      { label: 'Tag', cell: (a) => a.tag || '' },
      { label: 'Scheduled (UTC)', cls: 'time', cell: (a) => fmtTime(a.scheduled_at) },
    ], cur.pending_activities, { cls: 'pending-activities' }));
    if (cur.pending_timers.length) parts.push(h('h3', null, 'Timers'), table([
      { label: '#', num: true, cell: (t) => String(t.correlation_id) },
      { label: 'Delay', num: true, cell: (t) => fmtMs(t.delay_ms) },
      { label: 'Scheduled (UTC)', cls: 'time', cell: (t) => fmtTime(t.scheduled_at) },
      { label: 'Fires at (UTC)', cls: 'time', cell: (t) => fmtTime(t.fire_at) },
    ], cur.pending_timers, { cls: 'pending-timers' }));
    if (cur.pending_events.length) parts.push(h('h3', null, 'External events'), table([
      { label: '#', num: true, cell: (e) => String(e.correlation_id) },
      { label: 'Name', cell: (e) => e.name },
      { label: 'Persistent', cell: (e) => e.persistent ? 'yes' : 'no' },
      { label: 'Subscribed (UTC)', cls: 'time', cell: (e) => fmtTime(e.subscribed_at) },
    ], cur.pending_events, { cls: 'pending-events' }));
    if (cur.pending_sub_orchestrations.length) parts.push(h('h3', null, 'Sub-orchestrations'), table([
      { label: '#', num: true, cell: (o) => String(o.correlation_id) },
      { label: 'Name', cell: (o) => o.name },
      { label: 'Instance', cls: 'id', cell: (o) => idLink(o.instance) },
      { label: 'Scheduled (UTC)', cls: 'time', cell: (o) => fmtTime(o.scheduled_at) },
    ], cur.pending_sub_orchestrations, { cls: 'pending-subs' }));
    return h('div', null, parts);
  }

  // EVENTS.md's types; others come from a newer Duroxide.
  const KNOWN_TYPES = new Set(['OrchestrationStarted', 'OrchestrationCompleted', 'OrchestrationFailed',
    'OrchestrationContinuedAsNew', 'OrchestrationCancelRequested', 'OrchestrationChained', 'ActivityScheduled',
    'ActivityCompleted', 'ActivityFailed', 'ActivityCancelRequested', 'TimerCreated', 'TimerFired',
    'ExternalSubscribed', 'ExternalEvent', 'ExternalSubscribedCancelled', 'ExternalSubscribedPersistent',
    'ExternalEventPersistent', 'ExternalSubscribedPersistentCancelled', 'SubOrchestrationScheduled',
    'SubOrchestrationCompleted', 'SubOrchestrationFailed', 'SubOrchestrationCancelRequested',
    'CustomStatusUpdated', 'KeyValueSet', 'KeyValueCleared', 'KeyValuesCleared']);

  // The payload fields shown in the history's summary column, by type.
  function eventGist(e) {
    const bits = [];
    for (const k of ['name', 'instance', 'reason', 'status', 'key']) if (typeof e[k] === 'string') bits.push(k + '=' + e[k]);
    if (e.fire_at_ms !== undefined) bits.push('fire_at=' + fmtTime(e.fire_at_ms));
    if (e.details) bits.push(errorTextRaw(e.details));
    for (const k of ['value', 'result', 'output', 'input', 'data']) if (typeof e[k] === 'string') bits.push(k + '=' + e[k]);
    if (!KNOWN_TYPES.has(e.type)) bits.unshift('unknown event type (kept, not projected)');
    return bits.join(' · ');
  }

  // errorTextRaw summarizes the wire form of ErrorDetails ({"Application":{...}}).
  function errorTextRaw(d) {
    if (!d || typeof d !== 'object') return '';
    const [cat] = Object.keys(d);
    const v = d[cat] || {};
    let kind = v.kind;
    if (kind && typeof kind === 'object') kind = Object.keys(kind)[0];
    return cat + (kind ? '/' + kind : v.operation ? '/' + v.operation : '') + (v.message ? ': ' + v.message : '');
  }

  // historySections shows the history one collapsible section per
  // execution, the latest open; each row's payloads are read (payloadOf)
  // when the row is opened.
  function historySections(events, latest, payloadOf) {
    if (events.length === 0) return h('div', { class: 'empty' }, 'No events.');
    const t0 = events.reduce((m, e) => Math.min(m, e.timestamp_ms), Infinity); // no spread: histories can be huge
    const byExec = new Map();
    for (const e of events) {
      if (!byExec.has(e.execution_id)) byExec.set(e.execution_id, []);
      byExec.get(e.execution_id).push(e);
    }
    return h('div', null, [...byExec].map(([x, evs]) => h('details', { class: 'exec-history', open: x === latest || byExec.size === 1, dataset: { execution: String(x) } },
      h('summary', null, 'Execution ' + x + ' · ' + fmtNum(evs.length) + ' event' + (evs.length === 1 ? '' : 's')),
      historyTable(evs, t0, payloadOf))));
  }

  // payloadCell is a row's payload: its gist, and the whole event once
  // opened (built then, so a page of hundreds of rows stays light; read
  // again with its payloads when they were left out).
  function payloadCell(e, payloadOf) {
    let pre = null, done = false;
    return h('details', { ontoggle: async (ev) => {
      if (!ev.target.open || done) return;
      done = true;
      if (!pre) {
        pre = h('pre', null, JSON.stringify(e, null, 2));
        ev.target.appendChild(pre);
      }
      if (e.omitted_bytes === undefined) return;
      pre.textContent = 'reading ' + fmtNum(e.omitted_bytes) + ' bytes of payload…';
      try {
        pre.textContent = JSON.stringify(await payloadOf(e), null, 2);
      } catch (err) {
        done = false; // read again when opened again
        pre.textContent = 'could not read the payload: ' + errorText(err);
      }
    } }, h('summary', null, eventGist(e) || 'JSON'));
  }

  function historyTable(events, t0, payloadOf) {
    return table([
      { label: 'Exec.', num: true, cell: (e) => String(e.execution_id) },
      { label: 'Event', num: true, cell: (e) => String(e.event_id) },
      { label: 'Source', num: true, cell: (e) => e.source_event_id === null || e.source_event_id === undefined ? '' : String(e.source_event_id) },
      { label: 'Time (UTC)', cls: 'time', cell: (e) => fmtTime(e.timestamp_ms) },
      { label: '+', num: true, cell: (e) => '+' + fmtMs(e.timestamp_ms - t0) },
      { label: 'Type', cell: (e) => h('span', { class: 'type' }, e.type) },
      { label: 'Payload', cls: 'payload', cell: (e) => payloadCell(e, payloadOf) },
    ], events, { cls: 'history' });
  }

  // ------------------------------------------------------------- gantt --

  // Outcome events and the scheduling type their source_event_id must
  // point at (in the same execution) to count, as in docs/semantics.md.
  const OUTCOMES = {
    ActivityCompleted: ['ActivityScheduled', 'completed'],
    ActivityFailed: ['ActivityScheduled', 'failed'],
    ActivityCancelRequested: ['ActivityScheduled', 'cancelled'],
    TimerFired: ['TimerCreated', 'fired'],
    SubOrchestrationCompleted: ['SubOrchestrationScheduled', 'completed'],
    SubOrchestrationFailed: ['SubOrchestrationScheduled', 'failed'],
    SubOrchestrationCancelRequested: ['SubOrchestrationScheduled', 'cancelled'],
    ExternalSubscribedCancelled: ['ExternalSubscribed', 'cancelled'],
    ExternalSubscribedPersistentCancelled: ['ExternalSubscribedPersistent', 'cancelled'],
  };
  const LIFECYCLE = { OrchestrationStarted: 'Running', OrchestrationCompleted: 'Completed', OrchestrationFailed: 'Failed', OrchestrationContinuedAsNew: 'ContinuedAsNew' };

  // buildTimeline pairs scheduling events with their outcomes: one row per
  // execution, then its activities, timers, sub-orchestrations and external
  // event waits in scheduling order. A row without an outcome is pending
  // (end null).
  function buildTimeline(events) {
    const byExec = new Map();
    for (const e of events) {
      if (!byExec.has(e.execution_id)) byExec.set(e.execution_id, []);
      byExec.get(e.execution_id).push(e);
    }
    const rows = [];
    let tMin = Infinity, tMax = -Infinity;
    for (const [exec, evs] of [...byExec.entries()].sort((a, b) => a[0] - b[0])) {
      evs.sort((a, b) => a.event_id - b.event_id);
      const byId = new Map(evs.map((e) => [e.event_id, e]));
      const outcome = new Map();
      for (const e of evs) {
        tMin = Math.min(tMin, e.timestamp_ms);
        tMax = Math.max(tMax, e.timestamp_ms);
        const o = OUTCOMES[e.type];
        if (!o || e.source_event_id === null || e.source_event_id === undefined) continue;
        const src = byId.get(e.source_event_id);
        // The lowest event_id is the outcome (events are in event_id order).
        if (src && src.type === o[0] && !outcome.has(src.event_id)) outcome.set(src.event_id, { e, state: o[1] });
      }
      // External waits: per kind and name, the uncancelled subscriptions in
      // event_id order are satisfied by that name's events in order.
      const raised = new Map();
      for (const e of evs) {
        if (e.type === 'ExternalEvent' || e.type === 'ExternalEventPersistent') {
          const k = e.type + '\u0000' + e.name;
          if (!raised.has(k)) raised.set(k, []);
          raised.get(k).push(e);
        }
      }
      const used = new Map();

      let lifecycle = null, started = null;
      for (const e of evs) {
        if (LIFECYCLE[e.type] && (!lifecycle || e.event_id > lifecycle.event_id)) lifecycle = e;
        if (e.type === 'OrchestrationStarted' && !started) started = e;
      }
      const status = lifecycle ? LIFECYCLE[lifecycle.type] : 'Running';
      const execStart = started ? started.timestamp_ms : evs.reduce((m, e) => Math.min(m, e.timestamp_ms), Infinity);
      const markers = [];
      const execRow = {
        kind: 'execution', exec, status, label: 'execution ' + exec + (started ? ' · ' + started.name : ''),
        start: execStart, end: status === 'Running' ? null : lifecycle.timestamp_ms, state: status, markers,
        title: 'execution ' + exec + ': ' + status + (started ? ' (' + started.name + ' ' + started.version + ')' : ''),
      };
      rows.push(execRow);
      for (const e of evs) {
        const o = outcome.get(e.event_id);
        const end = o ? o.e.timestamp_ms : null;
        const state = o ? o.state : 'pending';
        const ended = o ? ' → ' + state + ' at +' + fmtMs(end - e.timestamp_ms) + ' (event ' + o.e.event_id + ')' : ' → pending';
        switch (e.type) {
          case 'ActivityScheduled': {
            const system = typeof e.name === 'string' && e.name.startsWith('__duroxide_syscall:');
            rows.push({ kind: 'activity', exec, label: e.name, start: e.timestamp_ms, end, state, system, eventId: e.event_id,
              title: 'activity ' + e.name + ' (event ' + e.event_id + ')' + ended + (o && o.state === 'failed' ? '\n' + errorTextRaw(o.e.details) : '') });
            break;
          }
          case 'TimerCreated':
            rows.push({ kind: 'timer', exec, label: 'timer ' + fmtMs(Math.max(0, e.fire_at_ms - e.timestamp_ms)), start: e.timestamp_ms, end, state,
              fireAt: e.fire_at_ms, eventId: e.event_id,
              title: 'timer (event ' + e.event_id + ') fire at ' + fmtTime(e.fire_at_ms) + ' UTC' + ended });
            break;
          case 'SubOrchestrationScheduled': {
            const child = /^sub::\d+$/.test(e.instance) ? e.instance_id + '::' + e.instance : e.instance;
            rows.push({ kind: 'sub', exec, label: e.name + ' → ' + child, start: e.timestamp_ms, end, state, link: child, eventId: e.event_id,
              title: 'sub-orchestration ' + e.name + ' instance ' + child + ' (event ' + e.event_id + ')' + ended });
            break;
          }
          case 'ExternalSubscribed':
          case 'ExternalSubscribedPersistent': {
            const persistent = e.type === 'ExternalSubscribedPersistent';
            let wEnd = end, wState = state, how = ended;
            if (!o) {
              const k = (persistent ? 'ExternalEventPersistent' : 'ExternalEvent') + '\u0000' + e.name;
              const n = used.get(k) || 0;
              const ev = (raised.get(k) || [])[n];
              if (ev) {
                used.set(k, n + 1);
                wEnd = Math.max(e.timestamp_ms, ev.timestamp_ms);
                wState = 'received';
                how = ' → event received (event ' + ev.event_id + ')';
              }
            }
            rows.push({ kind: 'wait', exec, label: 'wait ' + e.name + (persistent ? ' (persistent)' : ''), start: e.timestamp_ms, end: wEnd, state: wState, eventId: e.event_id,
              title: 'external event ' + e.name + (persistent ? ' (persistent)' : '') + ' subscribed (event ' + e.event_id + ')' + how });
            break;
          }
          case 'ExternalEvent':
          case 'ExternalEventPersistent':
            markers.push({ t: e.timestamp_ms, cls: 'event', title: 'external event ' + e.name + ' raised (event ' + e.event_id + ')' });
            break;
          case 'OrchestrationCancelRequested':
            markers.push({ t: e.timestamp_ms, cls: 'cancel', title: 'cancel requested: ' + e.reason + ' (event ' + e.event_id + ')' });
            break;
          case 'CustomStatusUpdated':
            markers.push({ t: e.timestamp_ms, cls: 'status', title: 'custom status: ' + (e.status === null || e.status === undefined ? 'null' : e.status) + ' (event ' + e.event_id + ')' });
            break;
          default:
        }
      }
    }
    const total = rows.length;
    return { rows: rows.slice(0, MAX_GANTT_ROWS), total, truncated: total > MAX_GANTT_ROWS, tMin, tMax };
  }

  const TICK_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3,
    900e3, 1800e3, 3600e3, 7200e3, 3 * 3600e3, 6 * 3600e3, 12 * 3600e3, 86400e3, 2 * 86400e3, 7 * 86400e3, 30 * 86400e3];

  function truncate(s, n) { return s.length > n ? s.slice(0, n - 1) + '…' : s; }

  function gantt(tl, width) {
    const W = Math.max(720, width), LABEL = 260, OPEN = 64, RH = 22, TOP = 30;
    const plotW = W - LABEL - OPEN - 8;
    const t0 = tl.tMin, span = Math.max(1, tl.tMax - tl.tMin);
    const x = (t) => LABEL + plotW * (Math.min(t, tl.tMax) - t0) / span;
    const openX = LABEL + plotW + OPEN - 4;
    const H = TOP + tl.rows.length * RH + 6;
    const root = svg('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: 'gantt', role: 'img', 'aria-label': 'execution timeline' });
    const defs = svg('defs');
    for (const [idc, color] of [['gantt-pending', '#2f80ed'], ['gantt-pending-timer', '#b07cf0'], ['gantt-pending-wait', '#f2994a'], ['gantt-pending-sub', '#14a3a3'], ['gantt-pending-exec', '#9aa8b6']]) {
      defs.appendChild(svg('pattern', { id: idc, width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' },
        svg('rect', { width: 6, height: 6, fill: '#ffffff' }), svg('rect', { width: 3, height: 6, fill: color, opacity: 0.55 })));
    }
    root.appendChild(defs);
    // Time axis, relative to the first event.
    let step = TICK_STEPS[TICK_STEPS.length - 1];
    for (const s of TICK_STEPS) if (span / s <= 8) { step = s; break; }
    const axis = svg('g', { class: 'tick' });
    axis.appendChild(svg('text', { x: 8, y: 14, class: 'dim' }, 'start ' + fmtTime(t0) + ' UTC'));
    for (let t = 0; t <= span + 0.5; t += step) {
      const xx = LABEL + plotW * t / span;
      axis.appendChild(svg('line', { x1: xx, x2: xx, y1: TOP - 6, y2: H, class: 'open-edge' }));
      axis.appendChild(svg('text', { x: xx, y: TOP - 10, 'text-anchor': 'middle' }, '+' + fmtMs(t)));
    }
    axis.appendChild(svg('line', { x1: LABEL + plotW, x2: LABEL + plotW, y1: TOP - 6, y2: H, class: 'open-edge' }));
    axis.appendChild(svg('text', { x: LABEL + plotW + OPEN / 2, y: TOP - 10, 'text-anchor': 'middle' }, 'open →'));
    root.appendChild(axis);

    tl.rows.forEach((r, i) => {
      const y = TOP + i * RH;
      const g = svg('g', { class: 'row ' + r.kind, 'data-kind': r.kind, 'data-state': r.state });
      if (r.kind === 'execution' && i > 0) g.appendChild(svg('line', { x1: 0, x2: W, y1: y, y2: y, class: 'exec-sep' }));
      g.appendChild(svg('rect', { x: 0, y, width: W, height: RH, fill: 'transparent', class: 'rowbg' }));
      g.appendChild(svg('text', { x: r.kind === 'execution' ? 8 : 20, y: y + 15, class: r.kind === 'execution' ? '' : 'dim', 'font-weight': r.kind === 'execution' ? 600 : null },
        truncate(r.label, r.kind === 'execution' ? 32 : 36), svg('title', null, r.label)));
      const x1 = x(r.start);
      let x2, pending = r.end === null;
      if (!pending) x2 = x(r.end);
      else if (r.kind === 'timer' && r.fireAt <= tl.tMax) x2 = x(r.fireAt); // due, not fired yet
      else x2 = openX;
      const cls = ['bar', r.kind, r.state, pending ? 'pending' : '', r.system ? 'system' : '', r.kind === 'execution' ? r.status : ''].filter(Boolean).join(' ');
      const bar = svg('rect', { x: x1, y: y + 4, width: Math.max(2, x2 - x1), height: RH - 8, class: cls },
        svg('title', null, r.title + '\nstart ' + fmtTime(r.start) + ' UTC' + (r.end !== null ? '\nend ' + fmtTime(r.end) + ' UTC (' + fmtMs(r.end - r.start) + ')' : '')));
      if (r.link) g.appendChild(svg('a', { href: instanceHref(r.link) }, bar));
      else g.appendChild(bar);
      for (const m of r.markers || []) {
        const mx = x(m.t), my = y + RH / 2;
        g.appendChild(svg('path', { d: `M${mx} ${my - 6} L${mx + 5} ${my} L${mx} ${my + 6} L${mx - 5} ${my} Z`, class: 'marker ' + m.cls }, svg('title', null, m.title)));
      }
      // Duration (or "pending") beside the bar when there is room.
      const note = pending ? (r.kind === 'timer' ? 'fires ' + fmtTime(r.fireAt, false).slice(11) : 'pending') : fmtMs(r.end - r.start);
      // Right of the bar if it fits, else left of it if that clears the
      // labels, else nowhere (the tooltip has it).
      const noteW = note.length * 6.5;
      if (x2 + 4 + noteW < W) g.appendChild(svg('text', { x: x2 + 4, y: y + 15, class: 'dim' }, note));
      else if (x1 - 4 - noteW > LABEL) g.appendChild(svg('text', { x: x1 - 4, y: y + 15, class: 'dim', 'text-anchor': 'end' }, note));
      root.appendChild(g);
    });
    return root;
  }

  // --------------------------------------------------------- activities --

  function activitiesView(main, view, _path, params) {
    const f = { orchestration: params.get('orchestration') || '', since: params.get('since') || '', include_system: params.get('include_system') === 'true' };
    let sortKey = params.get('sort') || 'activity_name', desc = params.get('desc') === '1';
    const form = h('form', { class: 'filters', id: 'activity-filters', onsubmit: (ev) => {
      ev.preventDefault();
      const fd = new FormData(form);
      location.hash = hashFor('/activities', { orchestration: fd.get('orchestration').trim(), since: toApiTime(fd.get('since')), include_system: fd.get('include_system') ? 'true' : '' });
    } },
    h('label', null, 'Orchestration', h('input', { type: 'text', name: 'orchestration', value: f.orchestration, placeholder: 'all' })),
    h('label', null, 'Scheduled at or after (UTC)', h('input', { type: 'text', name: 'since', value: f.since, placeholder: 'any time' })),
    h('div', { class: 'group', role: 'group', 'aria-label': 'system calls' }, h('span', { class: 'group-label' }, 'System calls'),
      h('div', { class: 'opts' }, h('label', null, h('input', { type: 'checkbox', name: 'include_system', value: '1', checked: f.include_system }), 'include __duroxide_syscall:*'))),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Apply'), h('button', { type: 'button', onclick: () => { location.hash = '#/activities'; } }, 'Clear')));

    const stats = panel('Activity statistics', { id: 'activity-stats', note: 'durations of completed and failed activities; click a column to sort' });
    const bars = panel('Latency by activity', { id: 'activity-latency', note: 'p50 / p95 / p99, logarithmic axis' });
    const over = panel('Latency percentiles over time', { id: 'activity-latency-time' });
    main.append(h('h1', null, 'Activities'), h('section', { class: 'panel' }, form), stats.el, bars.el, over.el);

    let last = null;
    // The API gives 0 for an activity without durations; show that as none.
    const dur = (a, v) => a.total_completed + a.total_failed === 0 ? '—' : fmtMs(v);
    const render = () => {
      const rows = last.activities.slice().sort((a, b) => {
        const va = a[sortKey], vb = b[sortKey];
        const c = typeof va === 'string' ? va.localeCompare(vb) : va - vb;
        return desc ? -c : c;
      });
      const col = (label, key, cell, num) => ({
        label: label + (sortKey === key ? (desc ? ' ▼' : ' ▲') : ''), num, cell,
        onclick: () => { if (sortKey === key) desc = !desc; else { sortKey = key; desc = key !== 'activity_name'; } render(); },
        title: 'sort by ' + label,
      });
      stats.body.replaceChildren(table([
        col('Activity', 'activity_name', (a) => h('span', { class: 'mono' }, a.activity_name)),
        col('Scheduled', 'total_scheduled', (a) => fmtNum(a.total_scheduled), true),
        col('Completed', 'total_completed', (a) => fmtNum(a.total_completed), true),
        col('Failed', 'total_failed', (a) => fmtNum(a.total_failed), true),
        col('Cancelled', 'total_cancelled', (a) => fmtNum(a.total_cancelled), true),
        col('Failure rate', 'failure_rate', (a) => (a.failure_rate * 100).toFixed(1) + ' %', true),
        col('Avg', 'avg_duration_ms', (a) => dur(a, a.avg_duration_ms), true),
        col('p50', 'p50_duration_ms', (a) => activityPctCell(a, 'p50', f), true),
        col('p95', 'p95_duration_ms', (a) => activityPctCell(a, 'p95', f), true),
        col('p99', 'p99_duration_ms', (a) => activityPctCell(a, 'p99', f), true),
      ], rows, { cls: 'activities', empty: 'No activities match.' }));
      bars.body.replaceChildren(rows.length ? latencyBars(rows.slice(0, 40), chartWidth(bars.body)) : h('div', { class: 'empty' }, 'No activities.'),
        legend([['p50', 'p50'], ['p95', 'p95'], ['p99', 'p99']]));
    };

    view.autoRefresh = true;
    view.refresh = async () => {
      const q = { orchestration: f.orchestration, since: f.since, include_system: f.include_system ? 'true' : '' };
      try {
        last = await api('stats/activities', q);
      } catch (e) {
        if (view.alive) { stats.body.replaceChildren(errorBanner(e)); bars.body.replaceChildren(); }
        return;
      }
      if (!view.alive) return;
      render();
      await refreshLatencyOverTime(view, over, last.activities, f);
    };
  }

  // latencyBars draws p50/p95/p99 per activity as grouped horizontal bars
  // on a logarithmic axis (activity latencies span milliseconds to hours).
  function latencyBars(rows, width) {
    const W = Math.max(560, width), LABEL = 230, RH = 26, T = 6, B = 22;
    const plotW = W - LABEL - 70;
    const H = T + rows.length * RH + B;
    const decades = Math.max(1, Math.ceil(Math.log10(Math.max(10, ...rows.map((r) => r.p99_duration_ms)))));
    const scale = (v) => plotW * Math.log10(Math.max(1, v)) / decades;
    const root = svg('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'latency percentiles by activity (log scale)', class: 'latency' });
    const grid = svg('g', { class: 'grid' });
    for (let i = 0; i <= decades; i++) {
      const xx = LABEL + plotW * i / decades;
      grid.appendChild(svg('line', { x1: xx, x2: xx, y1: T, y2: H - B }));
      grid.appendChild(svg('text', { x: xx, y: H - 6, 'text-anchor': 'middle' }, fmtMs(Math.pow(10, i))));
    }
    root.appendChild(grid);
    const colors = { p50: '#7fb3f5', p95: '#2f80ed', p99: '#173f75' };
    rows.forEach((r, i) => {
      const y = T + i * RH;
      const g = svg('g', { class: 'activity-row', 'data-name': r.activity_name });
      g.appendChild(svg('text', { x: LABEL - 8, y: y + 16, 'text-anchor': 'end' }, truncate(r.activity_name, 34), svg('title', null, r.activity_name)));
      ['p50', 'p95', 'p99'].forEach((p, j) => {
        const v = r[p + '_duration_ms'];
        g.appendChild(svg('rect', { x: LABEL, y: y + 3 + j * 7, width: Math.max(1, scale(v)), height: 6, fill: colors[p] },
          svg('title', null, r.activity_name + ' ' + p + ': ' + fmtMs(v))));
      });
      g.appendChild(svg('text', { x: LABEL + Math.max(1, scale(r.p99_duration_ms)) + 6, y: y + 16 }, 'p99 ' + fmtMs(r.p99_duration_ms)));
      root.appendChild(g);
    });
    return h('div', { class: 'chart' }, root);
  }

  // refreshLatencyOverTime plots p50/p95/p99 per bucket of the most
  // scheduled activities, from the time-series report grouped by activity,
  // when the service offers it.
  async function refreshLatencyOverTime(view, over, activities, filters) {
    if (reportSupport.activity === false && over.body.querySelector('#latency-unsupported')) return;
    try {
      const list = await api('instances', { limit: 1000 });
      if (!view.alive) return;
      if (list.instances.length === 0) { over.body.replaceChildren(h('div', { class: 'empty' }, 'No instances yet.')); return; }
      const { from, to } = dataRange(list.instances);
      const rr = reportRange(from, to);
      const params = Object.assign({}, rr.params, { orchestration: filters.orchestration, include_system: filters.include_system ? 'true' : '' });
      const { report, why } = await fetchReport('activity', params);
      if (!view.alive) return;
      if (!report) {
        over.note.textContent = '';
        over.body.replaceChildren(h('div', { class: 'banner info', id: 'latency-unsupported' },
          'Latency over time needs GET /v1/reports/timeseries?group_by=activity (' + why + '); the table above has the percentiles over the whole range.'));
        return;
      }
      // One activity at a time (default: the most scheduled one).
      const names = activities.slice().sort((a, b) => b.total_scheduled - a.total_scheduled || a.activity_name.localeCompare(b.activity_name))
        .map((a) => a.activity_name);
      if (!names.includes(view.latencyActivity)) view.latencyActivity = names[0];
      const name = view.latencyActivity;
      const pick = h('select', { id: 'latency-activity', 'aria-label': 'activity', onchange: () => {
        view.latencyActivity = pick.value;
        runRefresh(view);
      } }, names.map((n) => h('option', { value: n, selected: n === name }, n)));
      // Buckets without a completed or failed activity have no durations.
      const rows = report.rows.filter((r) => r.group === name && r.completed + r.failed > 0);
      const colors = { p50: '#7fb3f5', p95: '#2f80ed', p99: '#173f75' };
      const series = rows.length ? ['p50', 'p95', 'p99'].map((p) => ({ key: p, points: rows.map((r) => ({ t: parseTime(r.bucket_start), v: r[p + '_duration_ms'] })) })) : [];
      over.note.textContent = 'per ' + report.bucket + ', logarithmic axis' + approxNote(report);
      over.body.replaceChildren(
        h('div', { class: 'panel-tools' }, h('label', null, 'Activity ', pick)),
        series.length
          ? h('div', { class: 'chart', dataset: { source: 'report' } }, lineChart(series, colors, { width: chartWidth(over.body), label: 'latency percentiles of ' + name + ' over time' }))
          : h('div', { class: 'empty' }, 'No completed or failed ' + name + ' in the range.'),
        legend([['p50', 'p50'], ['p95', 'p95'], ['p99', 'p99']]));
    } catch (e) {
      if (view.alive) over.body.replaceChildren(errorBanner(e));
    }
  }

  // -------------------------------------------- percentile drill-downs --
  //
  // Every percentile the stats show links to the rows at or above it:
  // GET /v1/stats/performance/instances (an orchestration's instances) and
  // GET /v1/stats/activities/calls (an activity's calls), slowest first,
  // with the same filters as the stats, so the list holds exactly what the
  // percentile covers.

  const PERF_MAX_ORCHESTRATIONS = 100;
  const PERF_PARALLEL = 3;
  const DRILL_PAGE = 50;

  // pctLink renders duration ms (percentile pct of a stats answer) as a
  // link to its drill-down at hash path with params.
  function pctLink(pct, ms, path, params) {
    return h('a', { href: hashFor(path, Object.assign({}, params, { min_duration_ms: ms, pct })), class: 'pct', dataset: { pct },
      title: 'list the rows at or above ' + pct + ' (' + fmtMs(ms) + ')' }, fmtMs(ms));
  }

  // activityPctCell is the activities table's percentile cell: a link to
  // the activity's calls at or above it, with the view's filters.
  function activityPctCell(a, pct, f) {
    if (a.total_completed + a.total_failed === 0) return '—';
    return pctLink(pct, a[pct + '_duration_ms'], '/activities/calls',
      { activity: a.activity_name, orchestration: f.orchestration, since: f.since, include_system: f.include_system ? 'true' : '' });
  }

  // performanceView: per orchestration (or the one asked for), the
  // durations of its completed and failed instances; each percentile links
  // to its instances.
  function performanceView(main, view, _path, params) {
    const f = { orchestration: params.get('orchestration') || '', since: params.get('since') || '' };
    const form = h('form', { class: 'filters', id: 'performance-filters', onsubmit: (ev) => {
      ev.preventDefault();
      const fd = new FormData(form);
      location.hash = hashFor('/performance', { orchestration: fd.get('orchestration').trim(), since: toApiTime(fd.get('since')) });
    } },
    h('label', null, 'Orchestration', h('input', { type: 'text', name: 'orchestration', value: f.orchestration, placeholder: 'all' })),
    h('label', null, 'Created at or after (UTC)', h('input', { type: 'text', name: 'since', value: f.since, placeholder: 'any time' })),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Apply'),
      h('button', { type: 'button', onclick: () => { location.hash = '#/performance'; } }, 'Clear')));
    const perf = panel('Instance durations', { id: 'performance', note: 'completed and failed instances, created_at to the end of the last execution; click a percentile to list the instances at or above it' });
    main.append(h('h1', null, 'Performance'), h('section', { class: 'panel' }, form), perf.el);
    // One scan per orchestration: read when the page opens, not on every
    // auto-refresh tick, and PERF_PARALLEL at a time (the service admits a
    // few scans at once and refuses the rest with 503).
    view.autoRefresh = false;
    view.refresh = async () => {
      let rows;
      try {
        let names = [f.orchestration];
        if (!f.orchestration) {
          const c = await api('instances/count', { group_by: 'orchestration' });
          names = (c.groups || []).map((g) => g.key).slice(0, PERF_MAX_ORCHESTRATIONS);
        }
        rows = new Array(names.length);
        let next = 0;
        await Promise.all(Array.from({ length: Math.min(PERF_PARALLEL, names.length) }, async () => {
          while (next < names.length) {
            const i = next++;
            rows[i] = Object.assign({ orchestration: names[i] }, await api('stats/performance', { orchestration: names[i], since: f.since }));
          }
        }));
      } catch (e) {
        if (view.alive) perf.body.replaceChildren(errorBanner(e));
        return;
      }
      if (!view.alive) return;
      const link = (r, pct) => r.count === 0 ? '—'
        : pctLink(pct, r[pct + '_duration_ms'], '/performance/instances', { orchestration: r.orchestration, since: f.since });
      perf.body.replaceChildren(table([
        { label: 'Orchestration', cell: (r) => h('span', { class: 'mono' }, r.orchestration) },
        { label: 'Measured', num: true, cell: (r) => fmtNum(r.count) },
        { label: 'Avg', num: true, cell: (r) => r.count ? fmtMs(r.avg_duration_ms) : '—' },
        { label: 'Min', num: true, cell: (r) => r.count ? fmtMs(r.min_duration_ms) : '—' },
        { label: 'p50', num: true, cell: (r) => link(r, 'p50') },
        { label: 'p95', num: true, cell: (r) => link(r, 'p95') },
        { label: 'p99', num: true, cell: (r) => link(r, 'p99') },
        { label: 'Max', num: true, cell: (r) => r.count ? fmtMs(r.max_duration_ms) : '—' },
      ], rows, { cls: 'performance', empty: 'No orchestrations.' }));
    };
  }

  // drillDownView lists one drill-down page by page (next_page_token).
  // spec: {title, back: [href, text], endpoint, keys (hash params passed to
  // the API), listKey (the answer's list), columns, what}.
  function drillDownView(main, view, path, params, spec) {
    const q = {};
    for (const k of spec.keys) q[k] = params.get(k) || '';
    const pct = params.get('pct') || '';
    const token = params.get('page_token') || '';
    const min = q.min_duration_ms;
    const filters = spec.keys.filter((k) => q[k] && k !== 'min_duration_ms' && k !== spec.keys[0]).map((k) => k + ' ' + q[k]);
    main.append(h('div', null, h('a', { href: spec.back[0] }, spec.back[1])),
      h('h1', { id: 'drilldown-title' }, spec.title(q[spec.keys[0]]), ' ',
        h('span', { class: 'note' }, (min ? 'at or above ' + (pct ? pct + ' = ' : '') + fmtMs(Number(min)) : 'all') +
          (filters.length ? ' · ' + filters.join(' · ') : ''))));
    const list = panel(spec.what + ', slowest first', { id: 'drilldown' });
    main.append(list.el);
    view.autoRefresh = false;
    view.refresh = async () => {
      let res;
      try {
        res = await api(spec.endpoint, Object.assign({}, q, { limit: DRILL_PAGE, page_token: token }));
      } catch (e) {
        if (view.alive) list.body.replaceChildren(errorBanner(e));
        return;
      }
      if (!view.alive) return;
      const rows = res[spec.listKey];
      const keep = Object.assign({}, q, { pct });
      const pager = h('div', { class: 'pager' },
        h('button', { type: 'button', id: 'drill-first', disabled: !token, onclick: () => { location.hash = hashFor(path, keep); } }, 'First'),
        h('button', { type: 'button', id: 'drill-next', disabled: !res.next_page_token,
          onclick: () => { location.hash = hashFor(path, Object.assign({}, keep, { page_token: res.next_page_token })); } }, 'Next →'),
        h('span', { class: 'note', id: 'drill-note' }, rows.length + ' shown' + (res.next_page_token ? '' : ' · last page')));
      list.body.replaceChildren(table(spec.columns, rows, { cls: 'drilldown', empty: 'Nothing at or above this duration.' }), pager);
    };
  }

  function slowInstancesView(main, view, path, params) {
    drillDownView(main, view, path, params, {
      title: (o) => o + ' instances',
      back: [hashFor('/performance', { orchestration: params.get('orchestration'), since: params.get('since') }), '← Performance'],
      endpoint: 'stats/performance/instances', keys: ['orchestration', 'since', 'min_duration_ms'], listKey: 'instances',
      what: 'Completed and failed instances',
      columns: [
        { label: 'Instance', cls: 'id', cell: (r) => idLink(r.instance_id) },
        { label: 'Duration', num: true, cell: (r) => fmtMs(r.duration_ms) },
        { label: 'Status', cell: (r) => badge(r.status) },
        { label: 'Version', cell: (r) => r.version },
        { label: 'Created (UTC)', cls: 'time', cell: (r) => fmtTime(r.created_at) },
        { label: 'Updated (UTC)', cls: 'time', cell: (r) => fmtTime(r.updated_at) },
        { label: 'Error', cls: 'clip', cell: (r) => r.error ? h('span', { title: errorText(r.error), class: 'error' }, errorText(r.error)) : '' },
      ],
    });
  }

  function activityCallsView(main, view, path, params) {
    drillDownView(main, view, path, params, {
      title: (a) => a + ' calls',
      back: [hashFor('/activities', { orchestration: params.get('orchestration'), since: params.get('since'), include_system: params.get('include_system') }), '← Activities'],
      endpoint: 'stats/activities/calls', keys: ['activity', 'orchestration', 'since', 'include_system', 'min_duration_ms'], listKey: 'calls',
      what: 'Completed and failed calls',
      columns: [
        { label: 'Instance', cls: 'id', cell: (r) => idLink(r.instance_id) },
        { label: 'Execution', num: true, cell: (r) => fmtNum(r.execution_id) },
        { label: 'Event', num: true, cell: (r) => fmtNum(r.correlation_id) },
        { label: 'Duration', num: true, cell: (r) => fmtMs(r.duration_ms) },
        { label: 'Outcome', cell: (r) => badge(r.outcome === 'Completed' ? 'Completed' : 'Failed') },
        { label: 'Orchestration', cell: (r) => r.orchestration_name },
        { label: 'Scheduled (UTC)', cls: 'time', cell: (r) => fmtTime(r.scheduled_at) },
      ],
    });
  }

  function notFoundView(main) {
    main.append(h('h1', null, 'Not found'), h('p', null, 'No such page. ', h('a', { href: '#/' }, 'Go to the overview.')));
  }

  // -------------------------------------------------------------- start --

  function start() {
    document.getElementById('refresh-toggle').addEventListener('click', () => {
      setPaused(!app.paused);
      if (!app.paused) tick();
    });
    document.getElementById('forget-token').addEventListener('click', () => {
      sessionStorage.removeItem(TOKEN_KEY);
      updateTokenButton();
      route();
    });
    document.getElementById('refresh-interval').addEventListener('change', (ev) => {
      setRefreshMs(Number(ev.target.value));
      tick();
    });
    setRefreshMs(app.refreshMs);
    updateTokenButton();
    window.addEventListener('hashchange', route);
    route();
  }

  // Exposed for the browser test: the encoder must match the Go client's.
  window.duroscope = Object.freeze({ escapeInstanceID, decodeSegment, buildTimeline, HISTORY_PAGE });

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
