// Browser test of the Duroscope dashboard, run by internal/e2e/dashboard_test.go
// against a real query service:
//
//   node web/e2e/dashboard.mjs <baseURL> <screenshotDir>
//
// Environment: DUROSCOPE_E2E_CONFIG = {"token": API token or "", "xss_id":
// an instance made of HTML, "prefix": id prefix of the generated instances,
// "live_url": GET ?step=<name> makes the Go test publish events (live changes)};
// CHROMIUM_PATH (default /usr/bin/chromium).
//
// It loads every page in headless Chromium, checks the content against the
// API's own answers, and writes overview.png, instances.png, instance.png
// and activities.png into screenshotDir. Exit status 0 = all checks passed.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [base, shots] = process.argv.slice(2);
if (!base || !shots) {
  console.error('usage: node dashboard.mjs <baseURL> <screenshotDir>');
  process.exit(2);
}
const cfg = JSON.parse(process.env.DUROSCOPE_E2E_CONFIG || '{}');
const token = cfg.token || '';
const prefix = cfg.prefix || '';

// ------------------------------------------------------------- helpers --

async function apiGet(p) {
  const r = await fetch(base + '/v1/' + p, { headers: token ? { Authorization: 'Bearer ' + token } : {} });
  if (!r.ok) throw new Error(`GET /v1/${p}: HTTP ${r.status} ${await r.text()}`);
  return r.json();
}

let checks = 0;
function check(cond, msg) {
  if (!cond) throw new Error('check failed: ' + msg);
  checks++;
  console.log('ok    ' + msg);
}

async function step(name, fn) {
  console.log('----- ' + name);
  const t = Date.now();
  await fn();
  console.log(`      ${name}: ${Date.now() - t} ms`);
}

const fmtNum = (n) => n.toLocaleString('en-US');

// The Go client's EscapeInstanceID test vectors (client/client_test.go).
const ESCAPE_CASES = [
  ['order-1::sub::2', 'order-1%3A%3Asub%3A%3A2'],
  ['a/..', 'a%2F..'],
  ['.', '%2E'],
  ['..', '%2E%2E'],
  ['...', '...'],
  ['x y%z', 'x%20y%25z'],
  ['ünï/cødé', '%C3%BCn%C3%AF%2Fc%C3%B8d%C3%A9'],
  ['?#[]@!$&\'()*+,;=', '%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D'],
  ['a+b c~d_e-f.g', 'a%2Bb%20c~d_e-f.g'],
  ['\x00\n\t"\\', '%00%0A%09%22%5C'],
  ['é/'.repeat(256), '%C3%A9%2F'.repeat(256)],
];

// ---------------------------------------------------------------- main --

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'duroscope-chromium-'));
const ctx = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1440, height: 900 },
});
const problems = [];
let failed = false;
try {
  const page = ctx.pages()[0] || await ctx.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('console', (m) => {
    // fetch logs refused requests (the 401 before the token is entered,
    // the 404 of an optional endpoint, the 400 the test provokes, a 503 of
    // a report endpoint whose backend is not wired) as errors; those are
    // expected.
    if (m.type() !== 'error') return;
    const refused = /Failed to load resource: the server responded with a status of (\d+)/.exec(m.text());
    const code = refused && refused[1];
    if (code === '400' || code === '401' || code === '404') return;
    if (code === '503' && /\/v1\/reports\//.test(m.location().url || '')) return;
    problems.push('console error: ' + m.text() + ' (' + (m.location().url || '') + ')');
  });
  const text = (sel) => page.locator(sel).first().innerText();
  const count = (sel) => page.locator(sel).count();
  const waitText = async (sel, want, what) => {
    await page.waitForFunction(([s, w]) => {
      const el = document.querySelector(s);
      return el && el.textContent.trim() === w;
    }, [sel, want]).catch(() => {});
    check((await text(sel)).trim() === want, `${what}: ${want}`);
  };
  const waitCount = async (sel, want, what) => {
    await page.waitForFunction(([s, w]) => document.querySelectorAll(s).length === w, [sel, want]).catch(() => {});
    check(await count(sel) === want, `${what}: ${want}`);
  };
  const go = async (hash) => {
    await page.evaluate((h) => { location.hash = h; }, hash);
  };

  // Whether this service has the time-series report (the dashboard falls
  // back to the instance list without it).
  const probe = await fetch(base + '/v1/reports/timeseries?group_by=status&bucket=hour&from=2025-11-25T00:00:00.000Z&to=2025-11-26T00:00:00.000Z',
    { headers: token ? { Authorization: 'Bearer ' + token } : {} });
  const reportAvailable = probe.status === 200;
  console.log('      GET /v1/reports/timeseries: HTTP ' + probe.status);

  await step('token prompt', async () => {
    await page.goto(base + '/');
    if (token) {
      await page.waitForSelector('#token-dialog[open]');
      check(true, 'the page asks for the API token');
      await page.fill('#token-input', token);
      await page.click('#token-submit');
      await page.waitForSelector('#token-dialog', { state: 'hidden' });
      check(await page.evaluate(() => sessionStorage.getItem('duroscope.token')) === token, 'token kept in sessionStorage');
      check(await page.isVisible('#forget-token'), '"Forget token" button shown');
    }
  });

  await step('encoding matches the Go client', async () => {
    const got = await page.evaluate((cases) => cases.map(([id]) => window.duroscope.escapeInstanceID(id)), ESCAPE_CASES);
    ESCAPE_CASES.forEach(([id, want], i) => {
      if (got[i] !== want) throw new Error(`escapeInstanceID(${JSON.stringify(id)}) = ${got[i]}, want ${want}`);
    });
    check(true, `escapeInstanceID agrees with client.EscapeInstanceID on ${ESCAPE_CASES.length} ids`);
    const round = await page.evaluate((cases) => cases.every(([id]) => window.duroscope.decodeSegment(window.duroscope.escapeInstanceID(id)) === id), ESCAPE_CASES);
    check(round, 'decodeSegment(escapeInstanceID(id)) = id');
  });

  await step('overview', async () => {
    const [health, queues, wm, probs] = await Promise.all([apiGet('health'), apiGet('queues'), apiGet('watermark'), apiGet('problems?limit=10')]);
    await waitText('#health [data-key=total_instances] .value', fmtNum(health.total_instances), 'total instances');
    await waitText('#health [data-key=running_instances] .value', fmtNum(health.running_instances), 'running instances');
    await waitText('#health [data-key=failed_instances] .value', fmtNum(health.failed_instances), 'failed instances');
    await waitText('#health [data-key=health_score] .value', String(health.health_score), 'health score');
    await waitText('#queues [data-key=pending_timers] .value', fmtNum(queues.pending_timers), 'pending timers');
    await waitText('#queues [data-key=orchestrator_queue_depth] .value', fmtNum(queues.orchestrator_queue_depth), 'orchestrator queue depth');
    await waitText('#queues [data-key=activity_queue_depth] .value', fmtNum(queues.activity_queue_depth), 'activity queue depth');
    await waitText('#watermark [data-key=lag_events] .value', fmtNum(wm.lag_events), 'lag');
    await waitText('#watermark [data-key=stream_last_seq] .value', fmtNum(wm.stream_last_seq), 'stream last seq');
    await page.waitForFunction(() => /lag 0 events/.test(document.getElementById('projection').textContent)).catch(() => {});
    check(/lag 0 events/.test(await text('#projection')), 'header shows the projection lag from X-Projection-Lag-Events');

    await page.waitForSelector('#status-chart svg g.col');
    const source = await page.getAttribute('#status-chart .chart', 'data-source');
    check(await count('#status-chart svg rect.seg') > 0, `status chart drawn (source: ${source})`);
    check(source === (reportAvailable ? 'report' : 'instances'), `the chart uses the report exactly when the service has one (${reportAvailable})`);
    const totals = (await page.locator('#status-chart svg g.col').evaluateAll((gs) => gs.map((g) => Number(g.getAttribute('data-total')))));
    if (source === 'instances') {
      // Derived from the list: at the last bucket's end every instance exists.
      check(totals[totals.length - 1] === health.total_instances, `chart's last bucket counts every instance (${totals[totals.length - 1]})`);
    } else {
      // The report counts instances by creation bucket: together, all of them.
      const sum = totals.reduce((a, b) => a + b, 0);
      check(sum === health.total_instances, `chart's buckets add up to every instance (${sum})`);
    }
    for (const key of ['long_running', 'potentially_stuck', 'recent_failures', 'slower_than_usual']) {
      const want = probs[key];
      const sel = `#problems [data-key=${key}] tbody tr`;
      await waitCount(sel, want.length, `problems: ${key} rows`);
      if (want.length) check((await text(sel + ' td')) === want[0].instance_id, `problems: ${key} newest first (${want[0].instance_id})`);
    }
    await page.screenshot({ path: path.join(shots, 'overview.png'), fullPage: true });
  });

  await step('auto-refresh and pause', async () => {
    const before = await text('#updated');
    await page.waitForFunction((b) => document.getElementById('updated').textContent !== b, before, { timeout: 8000 });
    check(true, 'the overview refreshes by itself');
    await page.click('#refresh-toggle');
    check(await page.getAttribute('#refresh-toggle', 'aria-pressed') === 'true', 'pause button pressed');
    const paused = await text('#updated');
    await page.waitForTimeout(5600);
    check(await text('#updated') === paused, 'no refresh while paused');
    await page.click('#refresh-toggle');
    check(await page.getAttribute('#refresh-toggle', 'aria-pressed') === 'false', 'resumed');
    // The interval is the user's: 2 s refreshes twice in 5 s, and the
    // choice survives a reload.
    await page.selectOption('#refresh-interval', '2000');
    const seen = new Set();
    const t0 = Date.now();
    while (seen.size < 3 && Date.now() - t0 < 5500) {
      seen.add(await text('#updated'));
      await page.waitForTimeout(200);
    }
    check(seen.size >= 3, `every 2 s: ${seen.size} distinct refresh times in ${Date.now() - t0} ms`);
    await page.reload();
    await page.waitForSelector('#refresh-interval option', { state: 'attached' });
    check(await page.inputValue('#refresh-interval') === '2000', 'the interval survives a reload');
    await page.selectOption('#refresh-interval', '5000');
  });

  await step('instances list, filters, paging', async () => {
    await go('#/instances');
    const all = await apiGet('instances?limit=50');
    await waitCount('table.instances tbody tr', all.instances.length, 'unfiltered rows');
    check((await text('table.instances tbody tr td')) === all.instances[0].instance_id, 'newest instance first');

    // Status + orchestration.
    await page.check('#instance-filters input[name=status][value=Running]');
    await page.fill('#instance-filters input[name=orchestration]', 'ApprovalWorkflow');
    await page.click('#instance-filters button[type=submit]');
    const running = await apiGet('instances?status=Running&orchestration=ApprovalWorkflow&limit=50');
    await waitCount('table.instances tbody tr', running.instances.length, 'rows for status=Running&orchestration=ApprovalWorkflow');
    check(running.instances.length < all.instances.length, 'the filter narrows the list');
    const badges = await page.locator('table.instances tbody .badge').allInnerTexts();
    check(badges.every((b) => b === 'Running'), 'every row is Running');
    check(await count('table.instances a[href="#/instances/approval-42"]') === 1, 'approval-42 listed');
    check(/status=Running/.test(await page.evaluate(() => location.hash)), 'filters kept in the URL');
    const counted = await apiGet('instances/count?status=Running&orchestration=ApprovalWorkflow');
    await page.waitForFunction((n) => (document.querySelector('#page-note')?.textContent || '').includes(' of ' + n + ' matching'), counted.count.toLocaleString('en-US'));
    check(counted.count >= running.instances.length, `the filtered list shows its count (${counted.count} matching, GET /v1/instances/count)`);

    // The further filters, from the form, kept in the URL (shareable).
    await go('#/instances');
    await page.check('#instance-filters input[name=root_only]');
    await page.check('#instance-filters input[name=status][value=Failed]');
    await page.click('#instance-filters button[type=submit]');
    const roots = await apiGet('instances?status=Failed&root_only=true&limit=50');
    await waitCount('table.instances tbody tr', roots.instances.length, 'rows for status=Failed&root_only=true');
    check(/root_only=true/.test(await page.evaluate(() => location.hash)), 'root_only kept in the URL');
    check(roots.instances.every((s) => s.parent_instance === null), 'roots only: no row has a parent');
    const kind = roots.instances.find((s) => s.error)?.error.kind;
    if (kind) {
      await go('#/instances?error_kind=' + encodeURIComponent(kind));
      const byKind = await apiGet('instances?error_kind=' + encodeURIComponent(kind) + '&limit=50');
      await waitCount('table.instances tbody tr', byKind.instances.length, `rows for error_kind=${kind} (from the URL)`);
      check(await page.inputValue('#instance-filters input[name=error_kind]') === kind, 'the URL fills the form');
    }
    // The activity tag filter, typed in the form.
    await go('#/instances');
    await page.fill('#instance-filters input[name=activity_tag]', 'gpu');
    await page.click('#instance-filters button[type=submit]');
    const tagged = await apiGet('instances?activity_tag=gpu&limit=50');
    await waitCount('table.instances tbody tr', tagged.instances.length, 'rows for activity_tag=gpu');
    check(/activity_tag=gpu/.test(await page.evaluate(() => location.hash)), 'activity_tag kept in the URL');
    const [nTagged, nAll] = [(await apiGet('instances/count?activity_tag=gpu')).count, (await apiGet('instances/count')).count];
    check(nTagged > 0 && nTagged < nAll, `the activity tag narrows the list (${nTagged} of ${nAll})`);

    // Prefix.
    await go('#/instances');
    await page.fill('#instance-filters input[name=instance_prefix]', 'approval-');
    await page.click('#instance-filters button[type=submit]');
    const pre = await apiGet('instances?instance_prefix=approval-&limit=50');
    await waitCount('table.instances tbody tr', pre.instances.length, 'rows for instance_prefix=approval-');

    // Created range (typed in the short UTC form).
    await go('#/instances');
    await page.fill('#instance-filters input[name=created_after]', '2025-11-25 21:20');
    await page.fill('#instance-filters input[name=created_before]', '2025-11-25 21:25');
    await page.click('#instance-filters button[type=submit]');
    const ranged = await apiGet('instances?created_after=2025-11-25T21:20:00.000Z&created_before=2025-11-25T21:25:00.000Z&limit=50');
    await waitCount('table.instances tbody tr', ranged.instances.length, 'rows for the created range');
    check(ranged.instances.length > 0 && ranged.instances.length < all.instances.length, 'the created range narrows the list');

    // A bad parameter shows the service's message.
    await go('#/instances?created_after=yesterday');
    await page.waitForSelector('#instance-list .banner.error');
    check(/created_after/.test(await text('#instance-list .banner.error')), 'a 400 names the parameter');

    // Paging with page_token.
    await go('#/instances?limit=25');
    const p1 = await apiGet('instances?limit=25');
    const p2 = await apiGet('instances?limit=25&page_token=' + encodeURIComponent(p1.next_page_token));
    await waitCount('table.instances tbody tr', 25, 'page 1 rows');
    check((await text('table.instances tbody tr td')) === p1.instances[0].instance_id, 'page 1 first row');
    await page.click('#page-next');
    await page.waitForFunction((id) => document.querySelector('table.instances tbody tr td')?.textContent === id, p2.instances[0].instance_id);
    check(true, `Next shows page 2 (${p2.instances[0].instance_id})`);
    check(/page_token=/.test(await page.evaluate(() => location.hash)), 'page_token in the URL');
    await page.click('#page-prev');
    await page.waitForFunction((id) => document.querySelector('table.instances tbody tr td')?.textContent === id, p1.instances[0].instance_id);
    check(true, 'Previous returns to page 1');
    check(await count(`table.instances a[href^="#/instances/${prefix.replace('/', '%2F')}"]`) > 0, `ids with "/" are linked as %2F`);
    await page.screenshot({ path: path.join(shots, 'instances.png'), fullPage: true });
  });

  await step('instance page: approval-42', async () => {
    await go('#/instances?instance_prefix=approval-');
    await page.click('table.instances a[href="#/instances/approval-42"]');
    await waitText('#instance-id', 'approval-42', 'instance page title');
    const hist = await apiGet('instances/approval-42/history');
    const det = await apiGet('instances/approval-42/details');
    await page.waitForSelector('#gantt svg rect.bar');
    await waitCount('table.history tbody tr', hist.events.length, 'raw history rows');
    check(await count('#gantt g.row[data-kind=activity][data-state=completed]') === 2, 'Gantt: two completed activities');
    check(await count('#gantt g.row[data-kind=timer][data-state=fired]') === 1, 'Gantt: one fired timer');
    check(await count('#gantt g.row[data-kind=timer][data-state=pending]') === 1, 'Gantt: one pending timer (open-ended)');
    check(await count('#gantt g.row[data-kind=wait][data-state=cancelled]') === 1, 'Gantt: one cancelled event wait');
    check(await count('#gantt g.row[data-kind=wait][data-state=pending]') === 1, 'Gantt: one pending event wait');
    check(await count('#gantt g.row[data-kind=execution][data-state=Running]') === 1, 'Gantt: the execution is open');
    const cur = det.current_execution;
    await waitCount('#pending table.pending-timers tbody tr', cur.pending_timers.length, 'pending timers');
    await waitCount('#pending table.pending-events tbody tr', cur.pending_events.length, 'pending events');
    check((await text('#pending table.pending-events tbody tr')).includes('ApprovalEvent'), 'pending event ApprovalEvent');
    check((await text('#summary')).includes('waiting for approval'), 'custom status shown');
    await page.screenshot({ path: path.join(shots, 'instance.png'), fullPage: true });
  });

  if (cfg.huge_id) {
    await step('instance page: a huge history opens by pages', async () => {
      const n = Number(cfg.huge_events);
      // The same measure on a small instance, in this run, for the ratio.
      await go('#/instances');
      await page.waitForSelector('table.instances');
      const small = await apiGet('instances/approval-42/history');
      const ts = Date.now();
      await go('#/instances/approval-42');
      await waitCount('#history table.history tbody tr', small.events.length, 'the small history');
      console.log(`FIGURE small history of ${small.events.length} events: shown ${Date.now() - ts} ms after navigation`);
      await go('#/instances');
      await page.waitForSelector('table.instances');
      const pageSize = await page.evaluate(() => window.duroscope.HISTORY_PAGE);
      const t0 = Date.now();
      await go('#/instances/' + cfg.huge_id);
      await waitCount('#history table.history tbody tr', pageSize, 'the first page of the history');
      const openMs = Date.now() - t0;
      console.log(`FIGURE huge history of ${n} events: first page shown ${openMs} ms after navigation`);
      for (const p of ['details', 'history?limit=' + pageSize + '&include_payloads=false', 'tree']) {
        const t = Date.now();
        await apiGet('instances/' + cfg.huge_id + '/' + p);
        console.log(`FIGURE huge history of ${n} events: GET /v1/instances/{id}/${p} ${Date.now() - t} ms`);
      }
      check((await text('#history .panel-head')).includes(pageSize + ' of ' + n.toLocaleString('en-US')), 'the history says how much is loaded');
      const payloadless = await apiGet('instances/' + cfg.huge_id + '/history?limit=1&after_event=1:1&include_payloads=false');
      check(payloadless.events[0].omitted_bytes > 0 && payloadless.events[0].input === undefined, 'pages are read without payloads');
      await page.click('#history-more');
      await waitCount('#history table.history tbody tr', 2 * pageSize, 'a second page after "Load more"');
      const first = page.locator('#history table.history tbody tr').nth(1).locator('details');
      await first.locator('summary').click();
      await page.waitForFunction(() => {
        const pre = document.querySelectorAll('#history table.history tbody tr')[1].querySelector('pre');
        return pre && pre.textContent.includes('"input"');
      });
      check(true, 'opening a row reads its payload');
      check(await count('#history details.exec-history[open]') === 1, 'the execution section is open');
      await page.click('#history details.exec-history > summary');
      check(await count('#history details.exec-history[open]') === 0, 'and collapses');
      await page.screenshot({ path: path.join(shots, 'instance-huge-history.png'), fullPage: false });
    });
  }

  await step('instance page: sub-orchestration link, failures', async () => {
    await go('#/instances/parent-7');
    await page.waitForSelector('#gantt g.row[data-kind=sub]');
    const link = '#gantt a[href="#/instances/parent-7%3A%3Asub%3A%3A2"]';
    check(await count(link) === 1, 'sub-orchestration bar links to the child (encoded like the Go client)');
    const tree = await apiGet('instances/parent-7/tree');
    await waitCount('#tree tbody tr', tree.instances.length, 'tree rows');
    check(await count('#tree a[href="#/instances/parent-7%3A%3Asub%3A%3A2"]') === 1, 'tree links to the child');
    await page.click(link + ' rect');
    await waitText('#instance-id', 'parent-7::sub::2', 'child instance page');
    await page.waitForSelector('#gantt svg rect.bar');
    await page.waitForSelector('#tree a[href="#/instances/parent-7"]');
    check((await text('#tree .note')).includes('from root parent-7'), 'the child\'s tree starts at its root');

    await go('#/instances/retry-3');
    await page.waitForSelector('#gantt g.row[data-kind=activity]');
    check(await count('#gantt g.row[data-kind=activity][data-state=failed]') > 0, 'failed activities drawn');
    check(await count('#summary .error') === 1, 'instance error shown');
  });

  await step('instance page: id with "/"', async () => {
    const list = await apiGet('instances?limit=5&instance_prefix=' + encodeURIComponent(prefix));
    const id = list.instances[0].instance_id;
    await go('#/instances?instance_prefix=' + encodeURIComponent(prefix));
    const href = await page.evaluate((i) => '#/instances/' + window.duroscope.escapeInstanceID(i), id);
    await page.click(`table.instances a[href="${href}"]`);
    await waitText('#instance-id', id, 'instance page of ' + id);
    const hist = await apiGet('instances/' + id.replaceAll('/', '%2F') + '/history');
    await waitCount('table.history tbody tr', hist.events.length, 'its history rows');
  });

  if (cfg.xss_id) {
    await step('text from the API is never HTML', async () => {
      const href = await page.evaluate((i) => '#/instances/' + window.duroscope.escapeInstanceID(i), cfg.xss_id);
      await go(href);
      await waitText('#instance-id', cfg.xss_id, 'HTML id shown as text');
      await page.waitForSelector('table.history tbody tr');
      check((await text('#summary')).includes('<script>window.__pwned=1</script>'), 'custom status shown as text');
      check((await text('#summary')).includes('<b>Evil</b>'), 'orchestration name shown as text');
      check(await count('#main img, #main b, #main script, #main i') === 0, 'no element made from data');
      await go('#/instances?instance_prefix=xss');
      await page.waitForSelector('table.instances tbody tr');
      check(await count('#main img, #main b, #main script') === 0, 'list: no element made from data');
      check(await page.evaluate(() => window.__pwned === undefined), 'no script from data ran');
    });
  }

  await step('instance page: the id "."', async () => {
    // Browsers resolve a %2E path segment like "."; the page says so and
    // shows the status from POST /v1/bulk/status.
    await go('#/instances/%2E');
    await page.waitForSelector('#instance-body .banner.info');
    const note = await text('#instance-body .banner.info');
    check(/Running/.test(note) && /%2E/.test(note), 'the id "." gets its status and an explanation');
  });

  await step('activities', async () => {
    await go('#/activities');
    const stats = await apiGet('stats/activities');
    await waitCount('table.activities tbody tr', stats.activities.length, 'activity rows');
    check((await text('table.activities tbody tr td')) === stats.activities[0].activity_name, 'sorted by name like the API');
    const headers = await page.locator('table.activities th').allInnerTexts();
    check(['p50', 'p95', 'p99'].every((p) => headers.some((h) => h.startsWith(p))), 'p50/p95/p99 columns');
    await waitCount('#activity-latency svg g.activity-row', Math.min(40, stats.activities.length), 'latency bars');
    await page.locator('table.activities th', { hasText: 'p99' }).click();
    const maxP99 = Math.max(...stats.activities.map((a) => a.p99_duration_ms));
    const top = stats.activities.find((a) => a.p99_duration_ms === maxP99);
    await page.waitForFunction((n) => document.querySelector('table.activities tbody tr td')?.textContent === n, top.activity_name).catch(() => {});
    check((await text('table.activities tbody tr td')) === top.activity_name, `sorting by p99 puts ${top.activity_name} first`);
    await page.waitForSelector('#activity-latency-time .chart, #latency-unsupported');
    if (reportAvailable) {
      check(await count('#activity-latency-time .chart[data-source=report] svg path') === 3, 'p50/p95/p99 over time drawn from the report');
      await page.selectOption('#latency-activity', 'ChargeCard');
      await page.waitForSelector('#activity-latency-time svg[aria-label="latency percentiles of ChargeCard over time"]');
      check(true, 'choosing another activity redraws the chart');
    } else {
      check(await count('#latency-unsupported') === 1, 'latency over time: the service has no report (notice shown)');
    }
    await page.locator('table.activities th', { hasText: 'Activity' }).click();
    await page.screenshot({ path: path.join(shots, 'activities.png'), fullPage: true });
  });

  await step('percentile drill-downs', async () => {
    // Performance: click an orchestration's p99, see exactly the instances
    // at or above it (the API's own drill-down of the shown value).
    await go('#/performance');
    const groups = (await apiGet('instances/count?group_by=orchestration')).groups;
    await waitCount('table.performance tbody tr', groups.length, 'performance: one row per orchestration');
    let orch = null, perf = null;
    for (const g of groups) {
      const m = await apiGet('stats/performance?orchestration=' + encodeURIComponent(g.key));
      if (m.count > 3 && (!perf || m.count > perf.count)) { orch = g.key; perf = m; }
    }
    check(orch !== null, `an orchestration with measured instances (${orch}, ${perf && perf.count})`);
    // The row whose first cell is exactly name (names may contain each other).
    const rowOf = async (sel, name) => page.locator(sel + ' tbody tr').nth(await page.evaluate(([s, n]) =>
      [...document.querySelectorAll(s + ' tbody tr')].findIndex((tr) => tr.cells[0].textContent === n), [sel, name]));
    await (await rowOf('table.performance', orch)).locator('a.pct[data-pct=p99]').click();
    await page.waitForSelector('#drilldown table.drilldown tbody tr');
    const want = await apiGet(`stats/performance/instances?orchestration=${encodeURIComponent(orch)}&min_duration_ms=${perf.p99_duration_ms}&limit=50`);
    check(want.instances.length > 0 && want.instances.every((i) => i.duration_ms >= perf.p99_duration_ms), `the API lists ${want.instances.length} instances at or above p99 (${perf.p99_duration_ms} ms)`);
    await waitCount('#drilldown table.drilldown tbody tr', want.instances.length, 'p99 drill-down rows');
    const shown = await page.locator('#drilldown table.drilldown tbody tr td:first-child').allInnerTexts();
    check(shown.join('\n') === want.instances.map((i) => i.instance_id).join('\n'), 'the same instances, slowest first');
    check((await text('#drilldown-title')).includes('p99'), 'the title names the percentile');
    await page.screenshot({ path: path.join(shots, 'performance-p99.png'), fullPage: true });
    // p50 lists about half of them, slowest first.
    await go('#/performance');
    await page.waitForSelector('table.performance tbody tr a.pct');
    await (await rowOf('table.performance', orch)).locator('a.pct[data-pct=p50]').click();
    const half = await apiGet(`stats/performance/instances?orchestration=${encodeURIComponent(orch)}&min_duration_ms=${perf.p50_duration_ms}&limit=50`);
    check(half.instances.length > 1 && half.instances.every((x, i) => i === 0 || half.instances[i - 1].duration_ms >= x.duration_ms),
      `the API lists ${half.instances.length} instances at or above p50, slowest first`);
    await waitCount('#drilldown table.drilldown tbody tr', half.instances.length, 'p50 drill-down rows');
    const shownHalf = await page.locator('#drilldown table.drilldown tbody tr td:first-child').allInnerTexts();
    check(shownHalf.join('\n') === half.instances.map((i) => i.instance_id).join('\n'), 'p50: the same instances in the same order');
    await page.locator('#drilldown table.drilldown tbody tr td:first-child a').first().click();
    await waitText('#instance-id', want.instances[0].instance_id, 'a drilled-down instance opens');

    // Activities: the p95 of the first activity lists its calls.
    await go('#/activities');
    const stats = (await apiGet('stats/activities')).activities.filter((a) => a.total_completed + a.total_failed > 0);
    const act = stats[0];
    await page.waitForSelector('table.activities tbody tr a.pct');
    await (await rowOf('table.activities', act.activity_name)).locator('a.pct[data-pct=p95]').click();
    await page.waitForSelector('#drilldown table.drilldown');
    const calls = await apiGet(`stats/activities/calls?activity=${encodeURIComponent(act.activity_name)}&min_duration_ms=${act.p95_duration_ms}&limit=50`);
    await waitCount('#drilldown table.drilldown tbody tr', calls.calls.length, `${act.activity_name} calls at or above p95`);
    check(calls.calls.every((c) => c.duration_ms >= act.p95_duration_ms), 'every call at or above p95');
  });

  await step('more instance pages (screenshots only)', async () => {
    for (const id of ['welcome-1', 'counter-1', 'retry-3', 'chat-1']) {
      await go('#/instances/' + id);
      await waitText('#instance-id', id, 'instance page of ' + id);
      await page.waitForSelector('#gantt svg rect.bar');
      await page.screenshot({ path: path.join(shots, 'instance-' + id + '.png'), fullPage: true });
    }
  });

  await step('live changes: the list and instance pages update without reload', async () => {
    // The Go test publishes events when asked (live_url?step=...); the
    // periodic refresh is paused, so only the change stream can update.
    const trigger = async (name) => {
      const r = await fetch(cfg.live_url + '?step=' + name);
      if (!r.ok) throw new Error(`live trigger ${name}: HTTP ${r.status} ${await r.text()}`);
    };
    await page.evaluate(() => { window.__notReloaded = 1; });
    const wasPaused = (await page.getAttribute('#refresh-toggle', 'aria-pressed')) === 'true';
    if (!wasPaused) await page.click('#refresh-toggle');
    await go('#/instances?instance_prefix=live-');
    await waitText('#live-status', '● live', 'the list follows the change stream');
    check(await count('table.instances tbody tr') === 0, 'no live- instance yet');
    await trigger('start-1');
    await waitCount('table.instances tbody tr', 1, 'a started instance appears in the list');
    await waitText('table.instances tbody tr .badge', 'Running', 'with its status');
    await trigger('complete-1');
    await waitText('table.instances tbody tr .badge', 'Completed', 'its row turns Completed in place');
    await trigger('start-2');
    await waitCount('table.instances tbody tr', 2, 'a second instance appears');
    await go('#/instances/live-2');
    await waitText('#instance-status .badge', 'Running', 'instance page of live-2');
    await waitText('#live-status', '● live', 'the instance page follows the change stream');
    await trigger('complete-2');
    await waitText('#instance-status .badge', 'Completed', 'the instance page turns Completed');
    check(await page.evaluate(() => window.__notReloaded === 1), 'the page was never reloaded');
    if (!wasPaused) await page.click('#refresh-toggle');
  });

  check(problems.length === 0, 'no page errors, console errors or CSP violations' + (problems.length ? ':\n  ' + problems.join('\n  ') : ''));
  console.log(`dashboard: all ${checks} checks passed`);
} catch (e) {
  failed = true;
  console.error(e && e.stack ? e.stack : String(e));
  if (problems.length) console.error('page problems:\n  ' + problems.join('\n  '));
  try {
    const page = ctx.pages()[0];
    if (page) await page.screenshot({ path: path.join(shots, 'failure.png'), fullPage: true });
    console.error('screenshot of the failure: ' + path.join(shots, 'failure.png'));
  } catch (_) { /* the browser may be gone */ }
} finally {
  await ctx.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
