// dashboard.mjs — drive ward's web dashboard in headless Chromium (Debian's
// chromium, through playwright-core) for tests/system/test_dashboard.py.
//
//   node dashboard.mjs '<json config>'
//
// The config names the server (url), the SHA-256 of its certificate's
// SubjectPublicKeyInfo (spki: Chromium trusts exactly that key for this run,
// rather than ignoring every certificate error), an operator (user,
// password), the scenario to play, where screenshots go (shots) and what the
// scenario needs. It prints one JSON line: what the page showed ({"ok": true,
// ...}) or why it failed ({"ok": false, "error": ...}), with "problems":
// console errors, uncaught exceptions and Content-Security-Policy violations
// seen on the page. The test compares what the page showed with the API.
import { chromium } from 'playwright-core';
import path from 'node:path';

const cfg = JSON.parse(process.argv[2]);
const TIMEOUT = 15000;
const shotsTaken = [];
const problems = [];

async function shot(page, name) {
  const file = path.join(cfg.shots, name + '.png');
  await page.screenshot({ path: file, fullPage: true });
  shotsTaken.push(file);
}

// Wait for the view `name` to finish rendering, newer than render `after`.
// A view that shows an API error instead fails the scenario at once with
// that error, unless the scenario expects one (allowError).
async function view(page, name, after = 0, allowError = false) {
  await page.waitForFunction(([n, a]) => {
    const v = document.getElementById('view');
    return v && !v.hidden && v.dataset.view === n && v.dataset.ready === '1' && Number(v.dataset.gen) > a;
  }, [name, after], { timeout: TIMEOUT });
  if (!allowError) {
    const err = await page.$eval('#view', (v) => v.querySelector(':scope > .error-box, :scope > div > .error-box')?.textContent || '');
    if (err) throw new Error(`the ${name} view shows an error: ${err}`);
  }
}

async function gen(page) {
  return page.evaluate(() => Number(document.getElementById('view').dataset.gen || 0));
}

async function go(page, hash, name, allowError = false) {
  const g = await gen(page);
  await page.evaluate((h) => { location.hash = h; }, hash);
  await view(page, name, g, allowError);
}

async function login(page, user = cfg.user, password = cfg.password) {
  await page.goto(cfg.url + '/', { waitUntil: 'load' });
  await page.waitForSelector('#login-form', { state: 'visible', timeout: TIMEOUT });
  await page.fill('#login-name', user);
  await page.fill('#login-password', password);
  await page.click('#login-submit');
}

const texts = (page, sel) => page.$$eval(sel, (els) => els.map((e) => e.textContent.trim()));

async function tableRows(page, sel) {
  return page.$$eval(sel + ' tbody tr:not(.empty-row)', (rows) =>
    rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent.trim())));
}

async function fleetSerials(page) {
  return page.$$eval('table.devices tbody tr[data-serial]', (rows) => rows.map((r) => r.dataset.serial));
}

async function campaignShown(page) {
  return page.evaluate(() => ({
    state: document.getElementById('campaign-state')?.textContent || null,
    reason: document.getElementById('campaign-reason')?.textContent || null,
    phases: [...document.querySelectorAll('.phase')].map((p) => ({
      phase: Number(p.dataset.phase),
      devices: Number(p.querySelector('.phase-devices')?.textContent),
      segments: p.querySelectorAll('.bar .seg:not(.seg-empty)').length,
      counts: Object.fromEntries([...p.querySelectorAll('.count')].map((c) => [c.dataset.state, Number(c.dataset.n)])),
    })),
    devices: [...document.querySelectorAll('table.campaign-devices tbody tr[data-serial]')].map((r) => ({
      serial: r.dataset.serial, state: r.querySelectorAll('td')[2].textContent.trim(),
    })),
    buttons: Object.fromEntries([...document.querySelectorAll('.actions button')].map((b) => [b.id, !b.disabled])),
  }));
}

async function clickAction(page, id, wantState) {
  const g = await gen(page);
  await page.click('#' + id);
  await view(page, 'campaign', g);
  const shown = await campaignShown(page);
  if (wantState && shown.state !== wantState) {
    const err = await page.$eval('#campaign-action-status', (e) => e.textContent).catch(() => '');
    throw new Error(`after ${id} the page shows state ${shown.state}, not ${wantState}: ${err}`);
  }
  return shown;
}

const scenarios = {
  // wrong password, then the right one: the fleet, then its filters and paging
  async login(page) {
    const out = {};
    await login(page, cfg.user, 'not the password at all');
    await page.waitForSelector('#login-error', { state: 'visible', timeout: TIMEOUT });
    out.error = (await page.textContent('#login-error')).trim();
    out.token_after_failure = await page.evaluate(() => sessionStorage.getItem('ward.token'));
    await shot(page, 'login');
    await page.fill('#login-password', cfg.password);
    await page.click('#login-submit');
    await view(page, 'fleet');
    out.who = (await page.textContent('#who-name')).trim();
    out.count = Number((await page.textContent('#fleet-count')).trim());
    out.serials = await fleetSerials(page);
    out.rows = await tableRows(page, 'table.devices');
    out.token_kept = !!(await page.evaluate(() => sessionStorage.getItem('ward.token')));
    out.local_storage = await page.evaluate(() => localStorage.length);
    await shot(page, 'fleet');
    // filters: model, then a serial search, then status
    let g = await gen(page);
    await page.selectOption('#f-model', cfg.filter_model);
    await page.click('#fleet-filters button[type=submit]');
    await view(page, 'fleet', g);
    out.by_model = await fleetSerials(page);
    g = await gen(page);
    await page.selectOption('#f-model', '');
    await page.fill('#f-q', cfg.filter_q);
    await page.click('#fleet-filters button[type=submit]');
    await view(page, 'fleet', g);
    out.by_q = await fleetSerials(page);
    g = await gen(page);
    await page.fill('#f-q', '');
    await page.selectOption('#f-status', cfg.filter_status);
    await page.click('#fleet-filters button[type=submit]');
    await view(page, 'fleet', g);
    out.by_status = await fleetSerials(page);
    g = await gen(page);
    await page.fill('#f-tag', cfg.filter_tag);
    await page.selectOption('#f-status', '');
    await page.click('#fleet-filters button[type=submit]');
    await view(page, 'fleet', g);
    out.by_tag = await fleetSerials(page);
    // paging: 25 a page
    await go(page, '#/fleet?limit=25', 'fleet');
    out.page1 = await fleetSerials(page);
    out.next_enabled = await page.isEnabled('#fleet-next');
    if (out.next_enabled) {
      g = await gen(page);
      await page.click('#fleet-next');
      await view(page, 'fleet', g);
      out.page2 = await fleetSerials(page);
      g = await gen(page);
      await page.click('#fleet-prev');
      await view(page, 'fleet', g);
      out.page1_again = await fleetSerials(page);
    }
    return out;
  },

  async device(page) {
    await login(page);
    await view(page, 'fleet');
    // from the inventory, click through to the device
    const g = await gen(page);
    await page.click(`table.devices tr[data-serial="${cfg.serial}"] a`);
    await view(page, 'device', g);
    const out = await page.evaluate(() => ({
      serial: document.getElementById('dev-serial')?.textContent,
      firmware: document.getElementById('dev-firmware')?.textContent || null,
      booted: document.getElementById('dev-booted')?.textContent || null,
      slots: [...document.querySelectorAll('table.slots tbody tr')].map((r) => ({
        slot: r.dataset.slot, state: r.querySelectorAll('td')[1].textContent.trim(),
        version: r.querySelectorAll('td')[2].textContent.trim(), booted: r.classList.contains('booted'),
      })),
      props: Object.fromEntries([...document.querySelectorAll('dl.props')].flatMap((d) =>
        [...d.querySelectorAll('dt')].map((dt) => [dt.textContent.trim(), dt.nextElementSibling.textContent.trim()]))),
    }));
    out.history = await tableRows(page, 'table.history');
    out.campaigns = await tableRows(page, 'table.dev-campaigns');
    out.audit = await tableRows(page, 'table.dev-audit');
    out.hash = await page.evaluate(() => location.hash);
    await shot(page, 'device');
    // a device that does not exist: the API's reason on the page
    await go(page, '#/device/' + encodeURIComponent(cfg.missing_serial), 'device', true);
    out.missing_error = (await page.textContent('#view .error-box')).trim();
    return out;
  },

  async risk(page) {
    await login(page);
    await view(page, 'fleet');
    await go(page, '#/risk', 'risk');
    const out = {};
    out.cells = await page.$$eval('.heat-grid .cell', (cells) => cells.map((c) => ({
      serial: c.dataset.serial, score: Number(c.dataset.score), title: c.title,
      model: c.closest('.heat-group').dataset.model, cls: c.className,
    })));
    out.groups = await page.$$eval('.heat-group', (g) => g.map((x) => x.dataset.model));
    out.count = Number((await page.textContent('#risk-count')).trim());
    out.top = (await page.textContent('#risk-top .mono'))?.trim();
    out.table = await page.$$eval('table.risk-table tbody tr[data-serial]', (rows) => rows.map((r) => r.dataset.serial));
    await page.click(`.heat-grid .cell[data-serial="${out.top}"]`);
    out.detail = await texts(page, '#risk-detail .reasons li');
    out.detail_serial = (await page.textContent('#risk-detail .risk-detail-head a')).trim();
    await page.hover(`.heat-grid .cell[data-serial="${out.top}"]`);
    await shot(page, 'risk');
    return out;
  },

  async audit(page) {
    await login(page);
    await view(page, 'fleet');
    await go(page, '#/audit', 'audit');
    const out = {};
    out.rows = await page.$$eval('table.audit tbody tr[data-seq]', (rows) => rows.map((r) => {
      const td = r.querySelectorAll('td');
      return { seq: Number(r.dataset.seq), event: td[2].textContent.trim(), subject: td[3].textContent.trim(), detail: td[4].textContent.trim() };
    }));
    await shot(page, 'audit');
    await go(page, '#/audit?limit=25', 'audit');
    out.page1 = await page.$$eval('table.audit tbody tr[data-seq]', (rows) => rows.map((r) => Number(r.dataset.seq)));
    if (await page.isEnabled('#audit-next')) {
      const g = await gen(page);
      await page.click('#audit-next');
      await view(page, 'audit', g);
      out.page2 = await page.$$eval('table.audit tbody tr[data-seq]', (rows) => rows.map((r) => Number(r.dataset.seq)));
    }
    await go(page, '#/audit?subject=' + encodeURIComponent(cfg.subject), 'audit');
    out.by_subject = await page.$$eval('table.audit tbody tr[data-seq]', (rows) => rows.map((r) => r.querySelectorAll('td')[3].textContent.trim()));
    return out;
  },

  // the campaign the test made and drove: list, then detail with its phases
  async campaigns(page) {
    await login(page);
    await view(page, 'fleet');
    await go(page, '#/campaigns', 'campaigns');
    const out = {};
    out.list = await page.$$eval('table.campaigns tbody tr[data-id]', (rows) => rows.map((r) => ({
      id: r.dataset.id, state: r.querySelectorAll('td')[3].textContent.trim(),
    })));
    await shot(page, 'campaigns');
    const g = await gen(page);
    await page.click(`table.campaigns tr[data-id="${cfg.campaign}"] a`);
    await view(page, 'campaign', g);
    out.detail = await campaignShown(page);
    await shot(page, 'campaign');
    return out;
  },

  // create a campaign with the form (a refused one first), then start it
  async campaign_create(page) {
    await login(page);
    await view(page, 'fleet');
    await go(page, '#/campaigns', 'campaigns');
    let g = await gen(page);
    await page.click('#new-campaign');
    await view(page, 'campaigns', g);
    const out = {};
    out.images = await page.$$eval('#c-image option', (o) => o.map((x) => x.value));
    await page.fill('#c-name', cfg.name);
    await page.selectOption('#c-image', cfg.image);
    await page.fill('#c-select', cfg.select);
    await page.fill('#c-max-failure', String(cfg.max_failure));
    await page.fill('#c-phases', cfg.bad_phases);
    await shot(page, 'campaign-new');
    await page.click('#c-submit');
    await page.waitForSelector('#create-error .error-box', { timeout: TIMEOUT });
    out.create_error = (await page.textContent('#create-error .error-box')).trim();
    await page.fill('#c-phases', cfg.phases);
    g = await gen(page);
    await page.click('#c-submit');
    await view(page, 'campaign', g);
    out.id = await page.evaluate(() => decodeURIComponent(location.hash.replace('#/campaign/', '')));
    out.created = await campaignShown(page);
    out.after_start = await clickAction(page, 'act-start', 'running');
    return out;
  },

  // pause (with a reason), then a refused action shows the server's reason
  async campaign_pause(page) {
    await login(page);
    await view(page, 'fleet');
    await go(page, '#/campaign/' + encodeURIComponent(cfg.campaign), 'campaign');
    const out = {};
    out.before = await campaignShown(page);
    await page.fill('#action-reason', cfg.reason);
    out.after_pause = await clickAction(page, 'act-pause', 'paused');
    await shot(page, 'campaign-paused');
    return out;
  },

  // an auditor may read but not act: the server's 403 reason on the page, nothing changed
  async campaign_denied(page) {
    await login(page, cfg.auditor, cfg.password);
    await view(page, 'fleet');
    await go(page, '#/campaign/' + encodeURIComponent(cfg.campaign), 'campaign');
    const out = { before: await campaignShown(page) };
    await page.click('#act-resume');
    await page.waitForSelector('#campaign-action-status .error-box', { timeout: TIMEOUT });
    out.error = (await page.textContent('#campaign-action-status .error-box')).trim();
    out.after = await campaignShown(page);
    return out;
  },

  async logout(page) {
    const out = {};
    await login(page);
    await view(page, 'fleet');
    out.shown_before = (await fleetSerials(page)).length;
    await page.click('#logout');
    await page.waitForSelector('#login-form', { state: 'visible', timeout: TIMEOUT });
    out.login_message = (await page.textContent('#login-error')).trim();
    out.token = await page.evaluate(() => sessionStorage.getItem('ward.token'));
    out.view_children = await page.evaluate(() => document.getElementById('view').children.length);
    // the API from the page, without a token and with a made-up one
    out.api_no_token = await page.evaluate(async () => {
      const r = await fetch('/api/v1/devices');
      return { status: r.status, text: await r.text() };
    });
    out.api_bad_token = await page.evaluate(async () => {
      const r = await fetch('/api/v1/devices', { headers: { Authorization: 'Bearer ' + 'A'.repeat(43) } });
      return r.status;
    });
    // going to a view by its address shows the login form, not data
    await page.evaluate(() => { location.hash = '#/device/' + 'x'; });
    await page.waitForTimeout(300);
    out.after_nav = await page.evaluate(() => ({
      login: !document.getElementById('login').hidden, view: !document.getElementById('view').hidden,
    }));
    // a token the server does not know (expired, revoked): back to the login form with the reason
    await page.evaluate(() => sessionStorage.setItem('ward.token', 'B'.repeat(43)));
    await page.goto(cfg.url + '/#/fleet', { waitUntil: 'load' });
    await page.waitForSelector('#login-error', { state: 'visible', timeout: TIMEOUT });
    out.stale_message = (await page.textContent('#login-error')).trim();
    out.stale_token = await page.evaluate(() => sessionStorage.getItem('ward.token'));
    await shot(page, 'logout');
    return out;
  },
};

let browser;
let result;
try {
  browser = await chromium.launch({
    executablePath: cfg.chromium || '/usr/bin/chromium',
    // --no-sandbox: the tests run as root in CI, and Chromium will not start
    // its sandbox as root. The certificate: ward-server's is signed by the
    // deployment's own CA; rather than ignoring every certificate error,
    // trust exactly this server's public key (its SPKI SHA-256).
    args: ['--no-sandbox', `--ignore-certificate-errors-spki-list=${cfg.spki}`],
    timeout: 30000,
  });
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('console', (m) => { if (m.type() === 'error') problems.push('console: ' + m.text()); });
  page.on('pageerror', (e) => problems.push('pageerror: ' + e.message));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI);
    });
  });
  const fn = scenarios[cfg.scenario];
  if (!fn) throw new Error('no scenario ' + cfg.scenario);
  try {
    result = { ok: true, ...(await fn(page)) };
  } catch (e) {
    try { await shot(page, 'failure-' + cfg.scenario); } catch (_) { /* the page is gone */ }
    const where = await page.evaluate(() => location.href + ' ' + document.body.innerText.slice(0, 2000)).catch(() => '');
    result = { ok: false, error: String(e && e.stack ? e.stack : e), page: where };
  }
} catch (e) {
  result = { ok: false, error: String(e && e.stack ? e.stack : e) };
} finally {
  if (browser) await browser.close();
}
result.problems = problems;
result.shots = shotsTaken;
process.stdout.write(JSON.stringify(result) + '\n');
process.exit(result.ok ? 0 : 1);
