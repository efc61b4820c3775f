/*
 * web/app.js — ward's operator dashboard: plain JavaScript, no framework, no
 * build step, nothing loaded from elsewhere (the server's
 * Content-Security-Policy allows only this origin's files).
 *
 * It talks to ward-server's operator API (docs/api.md) with the bearer token
 * from POST /api/v1/login, kept in sessionStorage (gone when the tab closes);
 * a 401 from any call drops the token and shows the login form again. Views
 * are chosen by the URL's hash (#/fleet, #/device/SERIAL, #/campaigns,
 * #/campaigns/new, #/campaign/ID, #/risk, #/audit). Every piece of data is
 * put on the page as text (textContent, never innerHTML), and API errors are
 * shown as the server's one-line reason.
 */
'use strict';

(function () {
  const TOKEN = 'ward.token';
  const WHO = 'ward.who';
  const PAGE_SIZES = [25, 50, 100, 200];

  /* ---- small helpers ------------------------------------------------------ */

  /* el('div', {class: 'x', text: 'y'}, child, 'text', ...): build an element.
   * Strings become text nodes; attributes go through setAttribute or a property. */
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') e.textContent = String(v);
      else if (k === 'class') e.className = v;
      else if (k === 'onclick' || k === 'onsubmit' || k === 'onchange' || k === 'oninput') e[k] = v;
      else if (k === 'dataset') Object.assign(e.dataset, v);
      else if (v === true) e.setAttribute(k, '');
      else e.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  const $ = (id) => document.getElementById(id);

  function fmtTime(t) {
    if (t === null || t === undefined || t === 0) return '—';
    const d = new Date(t * 1000);
    if (isNaN(d.getTime())) return String(t);
    return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  }

  function fmtAgo(t) {
    if (!t) return 'never';
    const s = Math.round(Date.now() / 1000 - t);
    if (s < -60) return 'in ' + fmtSpan(-s);
    if (s < 60) return 'just now';
    return fmtSpan(s) + ' ago';
  }

  function fmtSpan(s) {
    if (s < 3600) return Math.round(s / 60) + ' min';
    if (s < 172800) return Math.round(s / 3600) + ' h';
    return Math.round(s / 86400) + ' days';
  }

  /* A time cell: relative text, the exact time on hover. */
  function timeCell(t, relative) {
    return el('td', {class: 'nowrap', title: t ? fmtTime(t) : null, text: relative ? fmtAgo(t) : fmtTime(t)});
  }

  function badge(text, kind) {
    return el('span', {class: 'badge badge-' + (kind || 'muted'), text: text});
  }

  const STATUS_KIND = {active: 'ok', revoked: 'bad', decommissioned: 'muted'};
  const CAMPAIGN_KIND = {created: 'muted', running: 'info', paused: 'warn', cancelled: 'bad', finished: 'ok'};
  const STAGE_KIND = {
    healthy: 'ok', booted: 'info', installed: 'info', downloading: 'info',
    'awaiting-local-approval': 'warn', 'rolled-back': 'bad', failed: 'bad',
  };
  /* Device states of a campaign, in the order a device goes through them. */
  const DEVICE_STATES = ['healthy', 'booted', 'installed', 'awaiting-local-approval', 'downloading',
    'offered', 'awaiting-approval', 'pending', 'rolled-back', 'failed', 'cancelled'];

  function statusBadge(s) { return badge(s || 'unknown', STATUS_KIND[s] || 'muted'); }
  function stageBadge(s) { return s ? badge(s, STAGE_KIND[s] || 'muted') : el('span', {class: 'muted', text: '—'}); }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
    const s = q.toString();
    return s ? '?' + s : '';
  }

  function riskClass(score) {
    const b = Math.max(0, Math.min(10, Math.floor((Number(score) || 0) / 10)));
    return 'risk-' + b;
  }

  /* ---- the API -------------------------------------------------------------- */

  class ApiError extends Error {
    constructor(status, text) {
      super(text);
      this.status = status;
    }
  }

  async function api(method, path, body) {
    const headers = {Accept: 'application/json'};
    const token = sessionStorage.getItem(TOKEN);
    const init = {method, headers, credentials: 'omit', cache: 'no-store', redirect: 'error'};
    if (token) headers.Authorization = 'Bearer ' + token;
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let r;
    try {
      r = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'cannot reach ward-server (' + e.message + ')');
    }
    const text = await r.text();
    if (r.status === 401 && path !== '/api/v1/login') {
      signOut('Your session has ended (' + (text.trim() || 'unauthorized') + '): sign in again.');
      throw new ApiError(401, text.trim() || 'unauthorized');
    }
    if (!r.ok) throw new ApiError(r.status, text.trim() || r.status + ' ' + r.statusText);
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new ApiError(r.status, 'ward-server sent a reply that is not JSON');
    }
  }

  function errorText(e) {
    if (e instanceof ApiError) return e.status ? e.message + ' (HTTP ' + e.status + ')' : e.message;
    return String(e && e.message ? e.message : e);
  }

  /* An error box inside a view. */
  function errorBox(e) {
    return el('div', {class: 'error-box', role: 'alert'}, el('strong', {text: 'Error: '}), errorText(e));
  }

  /* ---- session --------------------------------------------------------------- */

  function showLogin(message) {
    $('topbar').hidden = true;
    $('view').hidden = true;
    $('view').replaceChildren();
    $('login').hidden = false;
    const err = $('login-error');
    err.textContent = message || '';
    err.hidden = !message;
    $('login-password').value = '';
    $('login-name').focus();
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN);
    sessionStorage.removeItem(WHO);
    if (location.hash && location.hash !== '#/login') history.replaceState(null, '', '#/login');
    showLogin(message);
  }

  async function onLogin(ev) {
    ev.preventDefault();
    const name = $('login-name').value.trim();
    const password = $('login-password').value;
    const err = $('login-error');
    const btn = $('login-submit');
    err.hidden = true;
    btn.disabled = true;
    try {
      const r = await api('POST', '/api/v1/login', {name, password});
      sessionStorage.setItem(TOKEN, r.token);
      sessionStorage.setItem(WHO, JSON.stringify({name, role: r.role || '', expires: r.expires}));
      $('login-password').value = '';
      /* replaceState: no hashchange, so start() renders the view once */
      if (!location.hash || location.hash === '#/login' || location.hash === '#/') history.replaceState(null, '', '#/fleet');
      await start();
    } catch (e) {
      err.textContent = e.status === 401 ? 'Sign-in refused: ' + (e.message || 'wrong name or password')
        : errorText(e);
      err.hidden = false;
      $('login-password').value = '';
      $('login-password').focus();
    } finally {
      btn.disabled = false;
    }
  }

  async function start() {
    if (!sessionStorage.getItem(TOKEN)) {
      showLogin();
      return;
    }
    $('login').hidden = true;
    $('topbar').hidden = false;
    $('view').hidden = false;
    const who = JSON.parse(sessionStorage.getItem(WHO) || '{}');
    $('who-name').textContent = who.name || '';
    $('who-role').textContent = who.role || '';
    $('who-role').hidden = !who.role;
    route();
    try {
      const w = await api('GET', '/api/v1/whoami');
      sessionStorage.setItem(WHO, JSON.stringify(w));
      $('who-name').textContent = w.name || '';
      $('who-role').textContent = w.role || '';
      $('who-role').hidden = !w.role;
    } catch (e) {
      /* keep what the login said; a 401 has already signed out */
    }
  }

  /* ---- routing ------------------------------------------------------------- */

  let generation = 0; /* a view that finishes after the next one started is dropped */

  function parseHash() {
    const h = location.hash.replace(/^#\/?/, '');
    const qi = h.indexOf('?');
    const path = (qi < 0 ? h : h.slice(0, qi)).split('/').map((p) => {
      try { return decodeURIComponent(p); } catch (e) { return p; }
    });
    const params = Object.fromEntries(new URLSearchParams(qi < 0 ? '' : h.slice(qi + 1)));
    return {path, params};
  }

  function route() {
    if (!sessionStorage.getItem(TOKEN)) {
      showLogin();
      return;
    }
    const {path, params} = parseHash();
    const gen = ++generation;
    const view = $('view');
    const name = path[0] || 'fleet';
    for (const a of document.querySelectorAll('.nav a')) {
      const v = a.dataset.view;
      a.classList.toggle('active', v === name || (v === 'fleet' && name === 'device') ||
        (v === 'campaigns' && name === 'campaign'));
    }
    const views = {
      fleet: () => viewFleet(params),
      device: () => viewDevice(path[1] || ''),
      campaigns: () => (path[1] === 'new' ? viewCampaignNew() : viewCampaigns()),
      campaign: () => viewCampaign(path[1] || ''),
      risk: () => viewRisk(),
      audit: () => viewAudit(params),
    };
    const render = views[name] || (() => Promise.resolve(el('div', {class: 'empty', text: 'No such view.'})));
    view.replaceChildren(el('div', {class: 'loading', text: 'Loading…'}));
    /* what the system tests wait on: which view, which render, finished or not */
    view.dataset.view = name;
    view.dataset.gen = String(gen);
    view.dataset.ready = '0';
    render().then((node) => {
      if (gen !== generation) return;
      view.replaceChildren(node);
      view.dataset.ready = '1';
    }, (e) => {
      if (gen !== generation || (e instanceof ApiError && e.status === 401)) return;
      view.replaceChildren(pageHead(title(name)), errorBox(e));
      view.dataset.ready = '1';
    });
  }

  function title(name) {
    return {fleet: 'Fleet inventory', device: 'Device', campaigns: 'Campaigns', campaign: 'Campaign',
      risk: 'Risk heat map', audit: 'Audit log'}[name] || 'ward';
  }

  function pageHead(text, sub, ...actions) {
    return el('div', {class: 'page-head'},
      el('div', {}, el('h1', {text}), sub ? el('p', {class: 'subtitle'}, sub) : null),
      actions.length ? el('div', {class: 'page-actions'}, ...actions) : null);
  }

  function card(heading, ...children) {
    return el('section', {class: 'card'}, heading ? el('h2', {text: heading}) : null, ...children);
  }

  function dl(rows) {
    const d = el('dl', {class: 'props'});
    for (const [k, v] of rows) {
      d.append(el('dt', {text: k}), el('dd', {}, v === null || v === undefined || v === '' ? el('span', {class: 'muted', text: '—'}) : v));
    }
    return d;
  }

  function table(headers, rows, cls) {
    return el('div', {class: 'table-wrap'},
      el('table', {class: 'table ' + (cls || '')},
        el('thead', {}, el('tr', {}, headers.map((h) => el('th', {text: h})))),
        el('tbody', {}, rows)));
  }

  function emptyRow(n, text) {
    return el('tr', {class: 'empty-row'}, el('td', {colspan: n, text}));
  }

  /* ---- fleet inventory ----------------------------------------------------- */

  const fleetCursors = []; /* `after` values of the pages before this one */

  async function viewFleet(p) {
    const limit = PAGE_SIZES.includes(Number(p.limit)) ? Number(p.limit) : 50;
    const filters = {model: p.model || '', tag: p.tag || '', status: p.status || '', q: p.q || ''};
    const [list, models] = await Promise.all([
      api('GET', '/api/v1/devices' + query({...filters, after: p.after, limit})),
      api('GET', '/api/v1/models').catch(() => ({models: {}})),
    ]);
    const devices = list.devices || [];
    const next = list.next !== undefined ? list.next : (list.truncated && devices.length ? devices[devices.length - 1].serial : null);

    const modelSel = el('select', {id: 'f-model', name: 'model'}, el('option', {value: '', text: 'All models'}));
    const modelNames = new Set([...Object.keys(models.models || {}), ...devices.map((d) => d.model).filter(Boolean)]);
    if (filters.model) modelNames.add(filters.model);
    for (const m of [...modelNames].sort()) modelSel.append(el('option', {value: m, text: m, selected: m === filters.model}));
    const statusSel = el('select', {id: 'f-status', name: 'status'},
      ['', 'active', 'revoked', 'decommissioned'].map((s) =>
        el('option', {value: s, text: s || 'Any status', selected: s === filters.status})));
    const tagIn = el('input', {id: 'f-tag', name: 'tag', type: 'text', placeholder: 'tag', value: filters.tag, maxlength: 32});
    const qIn = el('input', {id: 'f-q', name: 'q', type: 'search', placeholder: 'Search serial…', value: filters.q, maxlength: 64});
    const limitSel = el('select', {id: 'f-limit', name: 'limit'},
      PAGE_SIZES.map((n) => el('option', {value: n, text: n + ' per page', selected: n === limit})));
    const form = el('form', {class: 'filters', id: 'fleet-filters', onsubmit: (ev) => {
      ev.preventDefault();
      fleetCursors.length = 0;
      location.hash = '#/fleet' + query({model: modelSel.value, tag: tagIn.value.trim(), status: statusSel.value,
        q: qIn.value.trim(), limit: limitSel.value === '50' ? '' : limitSel.value});
    }},
    el('label', {}, el('span', {text: 'Model'}), modelSel),
    el('label', {}, el('span', {text: 'Tag'}), tagIn),
    el('label', {}, el('span', {text: 'Status'}), statusSel),
    el('label', {class: 'grow'}, el('span', {text: 'Serial'}), qIn),
    el('label', {}, el('span', {text: 'Page size'}), limitSel),
    el('div', {class: 'filter-buttons'},
      el('button', {type: 'submit', class: 'btn btn-primary', text: 'Apply'}),
      el('button', {type: 'button', class: 'btn btn-ghost', text: 'Reset', onclick: () => {
        fleetCursors.length = 0;
        location.hash = '#/fleet';
      }})));

    const rows = devices.map((d) => el('tr', {dataset: {serial: d.serial}},
      el('td', {}, el('a', {href: '#/device/' + encodeURIComponent(d.serial), class: 'mono', text: d.serial})),
      el('td', {text: d.model || ''}),
      el('td', {}, statusBadge(d.status)),
      el('td', {}, (d.tags || []).map((t) => el('span', {class: 'tag', text: t})),
        d.critical ? badge('critical', 'warn') : null),
      el('td', {class: 'mono', text: d.firmware_version || '—'}),
      el('td', {}, d.update ? stageBadge(d.update.stage) : el('span', {class: 'muted', text: '—'})),
      timeCell(d.last_seen, true),
      timeCell(d.cert_not_after, false)));
    const base = {...filters, limit: limit === 50 ? '' : limit};
    const prev = el('button', {type: 'button', class: 'btn', id: 'fleet-prev', text: '← Previous', disabled: !p.after,
      onclick: () => {
        const before = fleetCursors.pop();
        location.hash = '#/fleet' + query({...base, after: before || ''});
      }});
    const nextBtn = el('button', {type: 'button', class: 'btn', id: 'fleet-next', text: 'Next →', disabled: !next,
      onclick: () => {
        fleetCursors.push(p.after || '');
        location.hash = '#/fleet' + query({...base, after: next});
      }});
    const active = devices.filter((d) => d.status === 'active').length;
    return el('div', {},
      pageHead('Fleet inventory', el('span', {},
        el('span', {id: 'fleet-count', text: String(devices.length)}),
        devices.length === 1 ? ' device' : ' devices',
        p.after ? ' on this page' : (next ? ' on the first page' : ''),
        ' · ' + active + ' active')),
      card(null, form),
      card(null,
        table(['Serial', 'Model', 'Status', 'Tags', 'Firmware', 'Last update', 'Last seen', 'Certificate expires'],
          rows.length ? rows : [emptyRow(8, 'No device matches these filters.')], 'devices'),
        el('div', {class: 'pager'}, prev, el('span', {class: 'muted', text: p.after ? 'after ' + p.after : 'first page'}), nextBtn)));
  }

  /* ---- device detail ---------------------------------------------------------- */

  async function viewDevice(serial) {
    const d = await api('GET', '/api/v1/devices/' + encodeURIComponent(serial));
    const facts = d.facts && typeof d.facts === 'object' ? d.facts : {};
    const slots = facts.slots && typeof facts.slots === 'object' ? facts.slots : {};
    const booted = typeof facts.booted_slot === 'string' ? facts.booted_slot : '';
    const slotRows = ['A', 'B'].map((s) => {
      const v = slots[s] && typeof slots[s] === 'object' ? slots[s] : {};
      const st = typeof v.state === 'string' ? v.state : '';
      return el('tr', {dataset: {slot: s}, class: s === booted ? 'booted' : ''},
        el('td', {class: 'slot-name', text: s}),
        el('td', {}, st ? badge(st, st === 'good' ? 'ok' : st === 'bad' ? 'bad' : 'info') : el('span', {class: 'muted', text: 'unknown'})),
        el('td', {class: 'mono', text: typeof v.version === 'string' && v.version ? v.version : '—'}),
        el('td', {}, s === booted ? badge('booted', 'info') : ''));
    });
    const u = d.update;
    const a = d.assignment;
    const history = (d.history || []).map((h) => el('tr', {},
      timeCell(h.time), el('td', {}, stageBadge(h.stage)), el('td', {class: 'mono', text: h.target || ''}),
      el('td', {class: 'mono', text: h.version || ''}), el('td', {text: h.reason || ''})));
    const audit = (d.audit || []).map((r) => el('tr', {},
      el('td', {class: 'mono', text: r.seq}), timeCell(r.time), el('td', {text: r.event}),
      el('td', {}, detailCode(r.detail))));
    const camps = (d.campaigns || []).map((c) => el('tr', {},
      el('td', {}, el('a', {href: '#/campaign/' + encodeURIComponent(c.id), text: c.name || c.id})),
      el('td', {}, badge(c.state, CAMPAIGN_KIND[c.state])),
      el('td', {text: typeof c.phase === 'number' ? 'phase ' + (c.phase + 1) : ''}),
      el('td', {}, stageBadge(c.device_state))));
    return el('div', {},
      pageHead(d.serial, el('span', {}, statusBadge(d.status), ' ', d.critical ? badge('critical', 'warn') : null,
        ' ' + (d.model || '') + ' · last seen ' + fmtAgo(d.last_seen)),
      el('a', {href: '#/fleet', class: 'btn btn-ghost', text: '← Fleet'})),
      el('div', {class: 'grid-2'},
        card('Identity', dl([
          ['Serial', el('span', {class: 'mono', id: 'dev-serial', text: d.serial})],
          ['Model', d.model],
          ['Batch', d.batch ? el('span', {class: 'mono', text: d.batch}) : ''],
          ['Status', statusBadge(d.status)],
          ['Enrolled', d.enrolled ? fmtTime(d.enrolled) : ''],
          ['Certificate serial', d.cert_serial ? el('span', {class: 'mono wrap', text: d.cert_serial}) : ''],
          ['Certificate expires', d.cert_not_after ? fmtTime(d.cert_not_after) + ' (' + fmtAgo(d.cert_not_after) + ')' : ''],
          ['Tags', (d.tags || []).length ? el('span', {}, d.tags.map((t) => el('span', {class: 'tag', text: t}))) : ''],
          ['Critical', d.critical ? 'yes: updates wait for an operator' : 'no'],
          ['Hardware id', typeof facts.hardware_id === 'string' ? facts.hardware_id : ''],
          ['Last seen', d.last_seen ? fmtTime(d.last_seen) : 'never'],
        ])),
        card('Firmware and slots',
          dl([
            ['Firmware version', d.firmware_version ? el('span', {class: 'mono', id: 'dev-firmware', text: d.firmware_version}) : ''],
            ['Booted slot', booted ? el('span', {id: 'dev-booted', text: booted}) : ''],
          ]),
          table(['Slot', 'State', 'Version', ''], slotRows, 'slots'),
          el('h3', {text: 'Last update'}),
          u ? dl([
            ['Stage', stageBadge(u.stage)], ['Target', u.target], ['Version', u.version],
            ['Reason', u.reason], ['Reported', fmtTime(u.time)],
          ]) : el('p', {class: 'muted', text: 'No stage report yet.'}),
          el('h3', {text: 'Assignment'}),
          a ? dl([['Target', a.target], ['Version', a.version], ['Assigned', fmtTime(a.assigned)]])
            : el('p', {class: 'muted', text: 'No image assigned.'}))),
      card('Campaigns', table(['Campaign', 'State', 'Phase', 'Device state'],
        camps.length ? camps : [emptyRow(4, 'In no campaign.')], 'dev-campaigns')),
      card('Update history', table(['Time', 'Stage', 'Target', 'Version', 'Reason'],
        history.length ? history : [emptyRow(5, 'No stage reports.')], 'history')),
      card('Audit records', table(['Seq', 'Time', 'Event', 'Detail'],
        audit.length ? audit : [emptyRow(4, 'No audit records name this device.')], 'dev-audit')));
  }

  function detailCode(detail) {
    if (detail === null || detail === undefined || detail === '') return el('span', {class: 'muted', text: '—'});
    const s = typeof detail === 'string' ? detail : JSON.stringify(detail);
    return el('code', {class: 'detail', text: s});
  }

  /* ---- campaigns ------------------------------------------------------------ */

  async function viewCampaigns() {
    const r = await api('GET', '/api/v1/campaigns');
    const list = r.campaigns || [];
    const rows = list.map((c) => el('tr', {dataset: {id: c.id}},
      el('td', {}, el('a', {href: '#/campaign/' + encodeURIComponent(c.id), text: c.name || c.id}),
        el('div', {class: 'muted mono small', text: c.id})),
      el('td', {class: 'mono', text: c.image || ''}),
      el('td', {class: 'mono', text: c.version || ''}),
      el('td', {}, badge(c.state, CAMPAIGN_KIND[c.state])),
      el('td', {text: phaseText(c)}),
      el('td', {class: 'mono', text: c.select || ''}),
      timeCell(c.created),
      el('td', {text: c.created_by || ''})));
    return el('div', {},
      pageHead('Campaigns', list.length + (list.length === 1 ? ' campaign' : ' campaigns') + ', newest first',
        el('a', {href: '#/campaigns/new', class: 'btn btn-primary', id: 'new-campaign', text: 'New campaign'})),
      card(null, table(['Campaign', 'Image', 'Version', 'State', 'Phase', 'Selector', 'Created', 'By'],
        rows.length ? rows : [emptyRow(8, 'No campaign yet.')], 'campaigns')));
  }

  function phaseText(c) {
    const n = Array.isArray(c.phases) ? c.phases.length : 0;
    if (typeof c.phase !== 'number' || !n) return '';
    return 'phase ' + Math.min(c.phase + 1, n) + ' of ' + n;
  }

  async function viewCampaign(id) {
    const c = await api('GET', '/api/v1/campaigns/' + encodeURIComponent(id));
    const status = el('div', {class: 'action-status', role: 'status', id: 'campaign-action-status'});
    const reasonIn = el('input', {type: 'text', id: 'action-reason', placeholder: 'Reason (for pause or cancel, optional)', maxlength: 200});

    async function act(verb, body) {
      status.replaceChildren(el('span', {class: 'muted', text: verb + '…'}));
      for (const b of buttons.querySelectorAll('button')) b.disabled = true;
      try {
        await api('POST', '/api/v1/campaigns/' + encodeURIComponent(c.id) + '/' + verb, body);
        route(); /* re-render with the campaign as it is now */
      } catch (e) {
        if (e.status === 401) return;
        status.replaceChildren(errorBox(e));
        for (const b of buttons.querySelectorAll('button')) b.disabled = false;
      }
    }
    const reasonBody = () => (reasonIn.value.trim() ? {reason: reasonIn.value.trim()} : undefined);
    const open = c.state !== 'cancelled' && c.state !== 'finished';
    const buttons = el('div', {class: 'actions'},
      el('button', {type: 'button', class: 'btn btn-primary', id: 'act-start', text: 'Start',
        disabled: c.state !== 'created', onclick: () => act('start')}),
      el('button', {type: 'button', class: 'btn', id: 'act-pause', text: 'Pause',
        disabled: c.state !== 'running', onclick: () => act('pause', reasonBody())}),
      el('button', {type: 'button', class: 'btn', id: 'act-resume', text: 'Resume',
        disabled: c.state !== 'paused', onclick: () => act('resume')}),
      el('button', {type: 'button', class: 'btn', id: 'act-approve-phase', text: 'Approve next phase',
        disabled: !open || !c.require_approval, onclick: () => act('approve', {phase: true})}),
      el('button', {type: 'button', class: 'btn btn-danger', id: 'act-cancel', text: 'Cancel campaign',
        disabled: !open, onclick: () => act('cancel', reasonBody())}));

    const phases = Array.isArray(c.phases) ? c.phases : [];
    const phaseBlocks = phases.map((ph, i) => phaseBar(ph, i, c));
    const devices = Array.isArray(c.devices) ? c.devices : [];
    const waiting = devices.filter((d) => d.state === 'awaiting-approval');
    const checks = waiting.map((d) => el('input', {type: 'checkbox', value: d.serial, checked: true}));
    const approveCard = waiting.length ? card('Critical devices waiting for approval',
      el('ul', {class: 'checklist'}, waiting.map((d, i) => el('li', {},
        el('label', {}, checks[i], ' ', el('span', {class: 'mono', text: d.serial}),
          d.reason ? el('span', {class: 'muted', text: ' — ' + d.reason}) : null)))),
      el('button', {type: 'button', class: 'btn btn-primary', id: 'act-approve-devices', text: 'Approve selected devices',
        onclick: () => {
          const sel = checks.filter((x) => x.checked).map((x) => x.value);
          if (sel.length) act('approve', {devices: sel});
        }})) : null;
    const devRows = devices.map((d) => el('tr', {dataset: {serial: d.serial}},
      el('td', {}, el('a', {href: '#/device/' + encodeURIComponent(d.serial), class: 'mono', text: d.serial})),
      el('td', {text: typeof d.phase === 'number' ? String(d.phase + 1) : ''}),
      el('td', {}, stateBadge(d.state)),
      el('td', {text: d.critical ? 'yes' : ''}),
      el('td', {text: d.approved_by || ''}),
      el('td', {text: d.reason || ''}),
      timeCell(d.updated)));

    return el('div', {},
      pageHead(c.name || c.id, el('span', {}, badge(c.state, CAMPAIGN_KIND[c.state]), ' ',
        el('span', {id: 'campaign-state', class: 'sr-value', text: c.state}),
        ' · ' + phaseText(c) + ' · image ', el('span', {class: 'mono', text: c.image || ''})),
      el('a', {href: '#/campaigns', class: 'btn btn-ghost', text: '← Campaigns'})),
      c.reason ? el('div', {class: 'reason-line'}, el('strong', {text: 'Last decision: '}),
        el('span', {id: 'campaign-reason', text: c.reason})) : null,
      card('Actions', el('div', {class: 'action-row'}, buttons, reasonIn), status),
      el('div', {class: 'grid-2'},
        card('Progress by phase', phaseBlocks.length ? phaseBlocks : el('p', {class: 'muted', text: 'No phases.'}),
          legend()),
        card('Campaign', dl([
          ['ID', el('span', {class: 'mono', text: c.id})],
          ['Image', el('span', {class: 'mono', text: c.image || ''})],
          ['Version', c.version],
          ['Selector', el('span', {class: 'mono', text: c.select || '(every device)'})],
          ['Phases', phases.map((p) => p.percent + '%').join(' → ')],
          ['Max failure', c.max_failure !== undefined ? c.max_failure + ' %' : ''],
          ['Approval per phase', c.require_approval ? 'required' : 'not required'],
          ['Created', fmtTime(c.created) + (c.created_by ? ' by ' + c.created_by : '')],
          ['Updated', fmtTime(c.updated)],
        ]))),
      approveCard,
      card('Devices' + (devices.length >= 1000 ? ' (first 1000)' : ''),
        table(['Serial', 'Phase', 'State', 'Critical', 'Approved by', 'Reason', 'Updated'],
          devRows.length ? devRows : [emptyRow(7, 'No device in this campaign yet.')], 'campaign-devices')));
  }

  function stateBadge(s) {
    return el('span', {class: 'badge state-' + (DEVICE_STATES.includes(s) ? s : 'pending'), text: s || ''});
  }

  function phaseBar(ph, i, c) {
    const counts = ph.counts && typeof ph.counts === 'object' ? ph.counts : {};
    const total = Object.values(counts).reduce((a, b) => a + (Number(b) || 0), 0);
    const bar = el('div', {class: 'bar', role: 'img',
      'aria-label': 'phase ' + (i + 1) + ': ' + Object.entries(counts).map(([k, v]) => v + ' ' + k).join(', ')});
    const states = Object.keys(counts).sort((a, b) => stateOrder(a) - stateOrder(b));
    for (const s of states) {
      const n = Number(counts[s]) || 0;
      if (!n) continue;
      const seg = el('div', {class: 'seg state-' + (DEVICE_STATES.includes(s) ? s : 'pending'), title: n + ' ' + s});
      seg.style.flexGrow = String(n); /* CSSOM, allowed by style-src 'self' */
      bar.append(seg);
    }
    if (!total) bar.append(el('div', {class: 'seg seg-empty'}));
    const current = c.state === 'running' || c.state === 'paused' ? c.phase === i : false;
    return el('div', {class: 'phase' + (current ? ' current' : ''), dataset: {phase: i, total}},
      el('div', {class: 'phase-head'},
        el('strong', {text: 'Phase ' + (i + 1)}),
        el('span', {class: 'muted', text: ' up to ' + ph.percent + '% · '}),
        el('span', {class: 'phase-devices', text: String(ph.devices !== undefined ? ph.devices : total)}),
        el('span', {class: 'muted', text: ' devices'}),
        current ? badge('in progress', 'info') : null),
      bar,
      el('div', {class: 'phase-counts'}, states.map((s) => el('span', {class: 'count', dataset: {state: s, n: counts[s]}},
        el('span', {class: 'dot state-' + (DEVICE_STATES.includes(s) ? s : 'pending')}),
        s + ' ', el('b', {text: String(counts[s])})))));
  }

  function stateOrder(s) {
    const i = DEVICE_STATES.indexOf(s);
    return i < 0 ? 99 : i;
  }

  function legend() {
    return el('div', {class: 'legend'}, DEVICE_STATES.map((s) =>
      el('span', {}, el('span', {class: 'dot state-' + s}), s)));
  }

  async function viewCampaignNew() {
    const imgs = await api('GET', '/api/v1/images');
    const images = imgs.images || [];
    const err = el('div', {id: 'create-error'});
    const imageSel = el('select', {id: 'c-image', name: 'image', required: true},
      images.length ? images.map((im) => el('option', {value: im.name,
        text: im.name + (im.version ? ' — ' + im.version : '') + (im.hardware_id ? ' (' + im.hardware_id + ')' : '')}))
        : el('option', {value: '', text: 'No image in the repository'}));
    const nameIn = el('input', {id: 'c-name', type: 'text', maxlength: 100, placeholder: 'spring release'});
    const selIn = el('input', {id: 'c-select', type: 'text', maxlength: 400, placeholder: 'model=thermo-1 tag=lab'});
    const phasesIn = el('input', {id: 'c-phases', type: 'text', value: '1, 10, 50, 100', required: true,
      pattern: '\\s*\\d{1,3}(\\s*,\\s*\\d{1,3})*\\s*'});
    const failIn = el('input', {id: 'c-max-failure', type: 'number', min: 0, max: 100, step: '0.01', value: 5, required: true});
    const apprIn = el('input', {id: 'c-approval', type: 'checkbox'});
    const submit = el('button', {type: 'submit', class: 'btn btn-primary', id: 'c-submit', text: 'Create campaign',
      disabled: !images.length});
    const form = el('form', {class: 'form', id: 'campaign-form', onsubmit: async (ev) => {
      ev.preventDefault();
      err.replaceChildren();
      const phases = phasesIn.value.split(',').map((x) => x.trim()).filter((x) => x !== '').map(Number);
      const body = {image: imageSel.value, select: selIn.value.trim(), phases,
        max_failure: Number(failIn.value), require_approval: apprIn.checked};
      if (nameIn.value.trim()) body.name = nameIn.value.trim();
      submit.disabled = true;
      try {
        const c = await api('POST', '/api/v1/campaigns', body);
        location.hash = '#/campaign/' + encodeURIComponent(c.id);
      } catch (e) {
        if (e.status !== 401) err.replaceChildren(errorBox(e));
        submit.disabled = false;
      }
    }},
    field('Name', nameIn, 'Optional; shown in lists and the audit log.'),
    field('Image', imageSel, 'From the image repository\'s signed targets.'),
    field('Devices', selIn, 'A selector: model=M, tag=T, serial=S, joined by spaces (all must match). Empty: every active device.'),
    field('Phases', phasesIn, 'Cumulative percentages of the selected devices, increasing, the last 100 (at most 10).'),
    field('Max failure (%)', failIn, 'The campaign pauses itself when more than this share of a phase fails or rolls back.'),
    el('label', {class: 'check'}, apprIn, ' Require an operator\'s approval before each next phase'),
    err,
    el('div', {class: 'form-buttons'}, submit, el('a', {href: '#/campaigns', class: 'btn btn-ghost', text: 'Cancel'})));
    return el('div', {}, pageHead('New campaign', 'Offer one signed image to a set of devices, phase by phase.'),
      card(null, form));
  }

  function field(label, input, help) {
    const id = input.id;
    return el('div', {class: 'field'}, el('label', {for: id, text: label}), input,
      help ? el('p', {class: 'help', text: help}) : null);
  }

  /* ---- risk heat map ------------------------------------------------------------ */

  async function viewRisk() {
    const r = await api('GET', '/api/v1/fleet/risk');
    /* highest score first; ties keep the server's order (the sort is stable) */
    const devices = (r.devices || []).slice().sort((a, b) => b.score - a.score);
    const byModel = new Map();
    for (const d of devices) {
      if (!byModel.has(d.model)) byModel.set(d.model, []);
      byModel.get(d.model).push(d);
    }
    /* the riskiest models first */
    const groups = [...byModel.entries()].sort((a, b) => (b[1][0].score - a[1][0].score) || (a[0] < b[0] ? -1 : 1));
    const detail = el('div', {class: 'risk-detail', id: 'risk-detail'},
      el('p', {class: 'muted', text: 'Select a cell to see why the device scores what it does.'}));

    function showDetail(d) {
      detail.replaceChildren(
        el('div', {class: 'risk-detail-head'},
          el('a', {href: '#/device/' + encodeURIComponent(d.serial), class: 'mono', text: d.serial}),
          el('span', {class: 'score-chip ' + riskClass(d.score), text: String(d.score)})),
        el('p', {class: 'muted', text: d.model}),
        reasonList(d.reasons));
    }
    const heat = groups.map(([model, list]) => el('div', {class: 'heat-group', dataset: {model}},
      el('div', {class: 'heat-group-head'}, el('strong', {text: model}),
        el('span', {class: 'muted', text: ' ' + list.length + (list.length === 1 ? ' device' : ' devices') +
          ' · max ' + list[0].score})),
      el('div', {class: 'heat-grid'}, list.map((d) => {
        const unscored = (d.reasons || []).some((x) => /^not scored/.test(reasonText(x)));
        const cell = el('button', {type: 'button', class: 'cell ' + riskClass(d.score) + (unscored ? ' unscored' : ''),
          title: d.serial + ' — ' + d.score + '\n' + (d.reasons || []).map((x) => '+' + x.points + ' ' + reasonText(x)).join('\n'),
          dataset: {serial: d.serial, score: d.score}, 'aria-label': d.serial + ', risk ' + d.score,
          onclick: () => {
            for (const c of document.querySelectorAll('.heat-grid .cell.selected')) c.classList.remove('selected');
            cell.classList.add('selected');
            showDetail(d);
          }}, el('span', {class: 'cell-score', text: String(d.score)}));
        return cell;
      }))));
    const rows = devices.map((d, i) => el('tr', {dataset: {serial: d.serial}},
      el('td', {class: 'num', text: String(i + 1)}),
      el('td', {}, el('a', {href: '#/device/' + encodeURIComponent(d.serial), class: 'mono', text: d.serial})),
      el('td', {text: d.model}),
      el('td', {}, el('span', {class: 'score-chip ' + riskClass(d.score), text: String(d.score)})),
      el('td', {}, reasonList(d.reasons, true))));
    const scored = devices.filter((d) => !(d.reasons || []).some((x) => /^not scored/.test(reasonText(x))));
    const high = scored.filter((d) => d.score >= 50).length;
    const avg = scored.length ? Math.round(scored.reduce((a, d) => a + d.score, 0) / scored.length) : 0;
    return el('div', {},
      pageHead('Risk heat map', 'Every active device scored 0–100 from its last check-in; see docs/risk.md.'),
      el('div', {class: 'stats'},
        stat('Devices', el('span', {id: 'risk-count', text: String(devices.length)})),
        stat('Average score', String(avg)),
        stat('Score 50 or more', String(high)),
        stat('Highest', devices.length ? el('span', {id: 'risk-top'}, el('span', {class: 'mono', text: devices[0].serial}),
          ' (' + devices[0].score + ')') : '—')),
      el('div', {class: 'grid-heat'},
        card('By model, riskiest first',
          heat.length ? heat : el('p', {class: 'muted', text: 'No device yet.'}),
          el('div', {class: 'scale'}, el('span', {text: '0'}),
            [...Array(11).keys()].map((b) => el('span', {class: 'scale-step risk-' + b})), el('span', {text: '100'}))),
        card('Why', detail)),
      card('All devices by risk', table(['#', 'Serial', 'Model', 'Score', 'Reasons'],
        rows.length ? rows : [emptyRow(5, 'No device yet.')], 'risk-table')));
  }

  /* docs/api.md names a reason's text "why"; `ward fleet risk --json` names it "text" */
  function reasonText(x) {
    return String(x && (x.why !== undefined ? x.why : x.text) || '');
  }

  function stat(label, value) {
    return el('div', {class: 'stat'}, el('div', {class: 'stat-value'}, value), el('div', {class: 'stat-label', text: label}));
  }

  function reasonList(reasons, compact) {
    const list = Array.isArray(reasons) ? reasons : [];
    if (!list.length) return el('span', {class: 'muted', text: 'no risk found'});
    return el('ul', {class: 'reasons' + (compact ? ' compact' : '')}, list.map((x) =>
      el('li', {}, el('span', {class: 'points', text: '+' + x.points}), ' ', reasonText(x))));
  }

  /* ---- audit log ------------------------------------------------------------------ */

  const auditCursors = [];

  async function viewAudit(p) {
    const limit = PAGE_SIZES.includes(Number(p.limit)) ? Number(p.limit) : 50;
    const r = await api('GET', '/api/v1/audit' + query({after: p.after, limit, subject: p.subject}));
    const recs = r.records || [];
    const subjIn = el('input', {type: 'search', id: 'a-subject', placeholder: 'Subject (device serial, operator…)',
      value: p.subject || '', maxlength: 128});
    const form = el('form', {class: 'filters', onsubmit: (ev) => {
      ev.preventDefault();
      auditCursors.length = 0;
      location.hash = '#/audit' + query({subject: subjIn.value.trim()});
    }}, el('label', {class: 'grow'}, el('span', {text: 'Subject'}), subjIn),
    el('div', {class: 'filter-buttons'}, el('button', {type: 'submit', class: 'btn btn-primary', text: 'Filter'})));
    const rows = recs.map((x) => el('tr', {dataset: {seq: x.seq}},
      el('td', {class: 'mono num', text: String(x.seq)}),
      timeCell(x.time),
      el('td', {}, el('span', {class: 'event' + (/denied|failed|refus/.test(x.event) ? ' event-bad' : ''), text: x.event})),
      el('td', {class: 'mono', text: x.subject || ''}),
      el('td', {}, detailCode(x.detail))));
    const base = {subject: p.subject, limit: limit === 50 ? '' : limit};
    return el('div', {},
      pageHead('Audit log', 'Hash-chained, append-only; oldest first. Check it with ward audit verify.'),
      card(null, form),
      card(null, table(['Seq', 'Time', 'Event', 'Subject', 'Detail'],
        rows.length ? rows : [emptyRow(5, 'No records.')], 'audit'),
      el('div', {class: 'pager'},
        el('button', {type: 'button', class: 'btn', id: 'audit-prev', text: '← Previous', disabled: !p.after,
          onclick: () => { location.hash = '#/audit' + query({...base, after: auditCursors.pop() || ''}); }}),
        el('span', {class: 'muted', id: 'audit-range',
          text: recs.length ? 'records ' + recs[0].seq + '–' + recs[recs.length - 1].seq : 'no records'}),
        el('button', {type: 'button', class: 'btn', id: 'audit-next', text: 'Next →', disabled: r.next === null || r.next === undefined,
          onclick: () => { auditCursors.push(p.after || ''); location.hash = '#/audit' + query({...base, after: r.next}); }}))));
  }

  /* ---- start ---------------------------------------------------------------------- */

  document.addEventListener('DOMContentLoaded', () => {
    $('login-form').addEventListener('submit', onLogin);
    $('logout').addEventListener('click', () => signOut('You have signed out.'));
    window.addEventListener('hashchange', () => {
      if (sessionStorage.getItem(TOKEN)) route();
    });
    start();
  });
}());
