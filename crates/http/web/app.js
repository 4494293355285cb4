/* Caravel web console: a small single-page app in plain JavaScript.
 *
 * Layout of this file:
 *   1. state, strings (t), element builder (h), formatting
 *   2. api(): every request goes through it (CSRF header, JSON, errors, 401)
 *   3. messages, progress bar, act() wrapper for button actions
 *   4. form and table helpers
 *   5. header, navigation, router
 *   6. one render function per page
 *   7. the I18N table (English and Simplified Chinese)
 *
 * Data from the server is only ever put into the page as text
 * (textContent / text nodes / attributes), never as HTML.
 */
'use strict';

(function () {

// ---------------------------------------------------------------- state

const LANG_KEY = 'caravel.lang';

const state = {
  lang: 'en',
  signedIn: false,
  address: '',
  role: '',
  csrf: '',
  route: '',
  params: {},
  ps: {},            // per-page state; reset on navigation, kept on language switch
  flash: null,       // notice to show after the next navigation
  flashError: null,  // error to show after the next navigation
  routeSeq: 0,
  renderSeq: 0,
};

const PUBLIC = new Set(['sign-in', 'forgot']);
const USER_NAV = ['mail', 'home', 'security', 'signatures', 'autoreplies', 'rules', 'lists', 'quarantine', 'doctor'];
const ADMIN_NAV = ['admin/domains', 'admin/users', 'admin/aliases', 'admin/filter', 'admin/antivirus',
  'admin/quarantine', 'admin/queue', 'admin/dns', 'admin/log', 'admin/doctor'];
/* Pages a domain administrator does not get (the API refuses them too). */
const SERVER_ADMIN_ONLY = new Set(['admin/antivirus', 'admin/queue', 'admin/doctor']);

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

function isManager() {
  return state.role === 'admin' || state.role === 'domain-admin';
}

function isServerAdmin() {
  return state.role === 'admin';
}

function userPath(suffix) {
  return '/api/v1/users/' + enc(state.address) + (suffix || '');
}

// ---------------------------------------------------------------- strings

function detectLang() {
  let saved = null;
  try { saved = localStorage.getItem(LANG_KEY); } catch (e) { /* storage may be off */ }
  if (saved === 'en' || saved === 'zh') return saved;
  const nav = String(navigator.language || '').toLowerCase();
  return nav.startsWith('zh') ? 'zh' : 'en';
}

function applyLang() {
  document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
}

/* The one lookup for visible text. `{word}` in a string is replaced by
 * vars.word when given; other braces (placeholders the user types) stay. */
function t(key, vars) {
  const table = I18N[state.lang] || I18N.en;
  let s = table[key];
  if (s === undefined) s = I18N.en[key];
  if (s === undefined) return key;
  if (vars) {
    s = s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] === undefined || vars[k] === null ? m : String(vars[k])));
  }
  return s;
}

/* A label for a value the server sends (a kind, a status...): the
 * translation when there is one, else the value itself. */
function tv(prefix, value) {
  const key = prefix + '.' + value;
  return (I18N[state.lang] && I18N[state.lang][key]) || I18N.en[key] || String(value);
}

// ---------------------------------------------------------------- element builder

/* h('tag', {attr: value, onclick: fn}, child, [children], 'text'): text is
 * always added as a text node. `value` and `checked` are set as properties
 * (after the children, so a <select> finds its option). */
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  let value;
  let checked;
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'value') value = v;
      else if (k === 'checked') checked = !!v;
      else if (k === 'class') el.className = v;
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  appendKids(el, kids);
  if (value !== undefined) el.value = value;
  if (checked !== undefined) { el.checked = checked; el.defaultChecked = checked; }
  return el;
}

/* Replaces an element's children; like h(), takes nested arrays and text. */
function setKids(el, ...kids) {
  el.replaceChildren();
  appendKids(el, kids);
  return el;
}

function appendKids(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    el.append(k instanceof Node ? k : String(k));
  }
}

// ---------------------------------------------------------------- formatting

function locale() {
  return state.lang === 'zh' ? 'zh-CN' : 'en';
}

function fmtMs(ms) {
  if (ms === null || ms === undefined || ms === '') return '—';
  const d = new Date(Number(ms));
  if (isNaN(d.getTime())) return String(ms);
  return d.toLocaleString(locale(), { dateStyle: 'medium', timeStyle: 'short' });
}

function fmtTime(secs) {
  if (secs === null || secs === undefined || secs === '') return '—';
  return fmtMs(Number(secs) * 1000);
}

function fmtSize(bytes) {
  if (bytes === null || bytes === undefined) return '—';
  let n = Number(bytes);
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  const text = i === 0 ? String(n) : (n >= 100 ? n.toFixed(0) : n.toFixed(1).replace(/\.0$/, ''));
  return text + ' ' + units[i];
}

/* Bytes as the quota field takes them back: "2G", "500M", "unlimited". */
function quotaText(bytes) {
  if (bytes === null || bytes === undefined) return 'unlimited';
  const units = [['T', 1024 ** 4], ['G', 1024 ** 3], ['M', 1024 ** 2], ['K', 1024]];
  for (const [u, size] of units) {
    if (bytes >= size && bytes % size === 0) return (bytes / size) + u;
  }
  return String(bytes);
}

const TIME_KEY = /(^|_)(at|time|ts|created|updated|next|queued|since|until|expires|last|last_used|arrived|received)($|_)/i;

/* Any value of an object we only show generically (queue items, DKIM keys,
 * domain details). */
function fmtValue(key, v) {
  if (v === null || v === undefined || v === '') return '—';
  if (typeof v === 'boolean') return v ? t('yes') : t('no');
  if (typeof v === 'number' && TIME_KEY.test(key) && v > 1e9) return v > 1e12 ? fmtMs(v) : fmtTime(v);
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(', ') || '—';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function humanKey(key) {
  const k = 'field.' + key;
  const found = (I18N[state.lang] && I18N[state.lang][k]) || I18N.en[k];
  if (found) return found;
  const s = String(key).replace(/_/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/* "a, b; c" → ["a", "b", "c"] */
function csv(text) {
  return String(text || '').split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean);
}

/* Empty text → null, else the trimmed text. */
function nul(text) {
  const s = String(text === undefined || text === null ? '' : text).trim();
  return s === '' ? null : s;
}

function dateInputValue(v) {
  if (v === null || v === undefined || v === '') return '';
  if (typeof v === 'number') return new Date(v * 1000).toISOString().slice(0, 10);
  return String(v).slice(0, 10);
}

// ---------------------------------------------------------------- api

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
    this.handled = false;
  }
}

/* The one way to call the server. Adds the CSRF header to everything but
 * GET, sends and reads JSON, keeps the newest CSRF token, turns an error
 * answer into an ApiError with the server's words, and sends the browser to
 * the sign-in page when a session has ended (401).
 * opts.long: show the progress bar at once (else after 400 ms).
 * opts.noRedirect: a 401 is just an error (sign-in calls). */
async function api(method, path, body, opts) {
  opts = opts || {};
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin' };
  if (method !== 'GET' && method !== 'HEAD') {
    if (state.csrf) headers['X-CSRF-Token'] = state.csrf;
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
  }
  busyStart(opts.long);
  let res;
  let data = null;
  try {
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, t('err.network'));
    }
    const text = await res.text();
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
  } finally {
    busyEnd();
  }
  if (data && typeof data === 'object' && typeof data.csrf === 'string' && data.csrf) state.csrf = data.csrf;
  if (!res.ok) {
    const message = (data && typeof data.error === 'string' && data.error) || t('err.status', { status: res.status });
    const err = new ApiError(res.status, message);
    if (res.status === 401 && state.signedIn && !opts.noRedirect) {
      err.handled = true;
      sessionEnded(message);
    }
    throw err;
  }
  return data;
}

function setSession(r) {
  state.signedIn = true;
  state.address = r.address || state.address;
  state.role = r.role || 'user';
  if (r.csrf) state.csrf = r.csrf;
}

function clearSession() {
  state.signedIn = false;
  state.address = '';
  state.role = '';
  state.csrf = '';
  state.mailPicked = null;
}

function sessionEnded(message) {
  clearSession();
  state.flashError = message || t('err.sessionEnded');
  go('#/sign-in');
}

/* A side request that may fail without spoiling the page: the error is
 * shown, the page goes on with null. */
function soft(promise) {
  return promise.catch((e) => {
    if (e && e.handled) throw e;
    showError(e);
    return null;
  });
}

// ---------------------------------------------------------------- messages and progress

function clearMessages() {
  setKids($('msgs'));
}

function showError(e) {
  if (e && e.handled) return;
  const text = e instanceof Error ? e.message : String(e);
  const old = $('msgs').querySelector('[data-test="error"]');
  if (old) old.remove();
  $('msgs').prepend(h('div', { role: 'alert', 'data-test': 'error', class: 'msg msg-error' }, text));
}

function showNotice(text, ...extra) {
  const old = $('msgs').querySelector('[data-test="notice"]');
  if (old) old.remove();
  $('msgs').append(h('div', { role: 'status', 'data-test': 'notice', class: 'msg msg-ok' }, text, extra));
}

let busyCount = 0;
let busyTimer = null;

function busyStart(now) {
  busyCount++;
  if (now) showBusy();
  else if (!busyTimer) busyTimer = setTimeout(showBusy, 400);
}

function busyEnd() {
  busyCount = Math.max(0, busyCount - 1);
  if (busyCount > 0) return;
  clearTimeout(busyTimer);
  busyTimer = null;
  setKids($('busy'));
}

function showBusy() {
  busyTimer = null;
  if (busyCount === 0 || $('busy').firstChild) return;
  $('busy').append(h('div', { class: 'busy' },
    h('progress', { 'data-test': 'progress', 'aria-label': t('working') }),
    h('span', {}, t('working'))));
}

function setReady() {
  $('page').setAttribute('data-ready', '1');
}

/* Runs a user action: clears the messages, marks the page as not ready,
 * disables the control, shows an error if the action fails, and marks the
 * page ready again (unless the action moved to another page). */
async function act(control, fn) {
  clearMessages();
  const seq = state.routeSeq;
  $('page').removeAttribute('data-ready');
  if (control) control.disabled = true;
  try {
    await fn();
  } catch (e) {
    if (seq === state.routeSeq) showError(e);
  } finally {
    if (control) control.disabled = false;
    if (seq === state.routeSeq) setReady();
  }
}

// ---------------------------------------------------------------- form and table helpers

let uid = 0;

/* A labelled control, with an optional hint under it. */
function field(label, control, hint) {
  if (!control.id) control.id = 'f' + (++uid);
  let hintEl = null;
  if (hint) {
    hintEl = h('small', { class: 'hint', id: control.id + '-hint' }, hint);
    control.setAttribute('aria-describedby', hintEl.id);
  }
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hintEl);
}

function input(name, attrs) {
  return h('input', Object.assign({ name, type: 'text' }, attrs));
}

function textarea(name, attrs) {
  return h('textarea', Object.assign({ name, rows: '4' }, attrs));
}

/* options: [[value, label], ...] */
function select(name, options, attrs) {
  return h('select', Object.assign({ name }, attrs), options.map(([v, label]) => h('option', { value: v }, label)));
}

function checkbox(name, label, attrs) {
  return h('label', { class: 'check' }, h('input', Object.assign({ type: 'checkbox', name }, attrs)), h('span', {}, label));
}

function button(label, testName, attrs) {
  return h('button', Object.assign({ type: 'button', 'data-test': testName }, attrs), label);
}

function submit(label, testName, attrs) {
  return button(label, testName, Object.assign({ type: 'submit', class: 'primary' }, attrs));
}

/* A button that runs fn through act(). */
function actionButton(label, testName, fn, attrs) {
  const b = button(label, testName, attrs);
  b.addEventListener('click', () => act(b, fn));
  return b;
}

/* A form that submits on Enter or with its submit button; onSubmit gets
 * the field values ({name: value}, checkboxes as booleans). */
function form(attrs, onSubmit, ...kids) {
  const f = h('form', Object.assign({ novalidate: true }, attrs), kids);
  f.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const btn = ev.submitter || f.querySelector('[type="submit"]');
    act(btn, () => onSubmit(values(f), f));
  });
  return f;
}

function values(f) {
  const out = {};
  for (const el of f.elements) {
    if (!el.name) continue;
    if (el.type === 'checkbox') out[el.name] = el.checked;
    else if (el.type === 'radio') { if (el.checked) out[el.name] = el.value; }
    else out[el.name] = el.value;
  }
  return out;
}

function fillForm(f, data) {
  for (const el of f.elements) {
    if (!el.name || !(el.name in data)) continue;
    const v = data[el.name];
    if (el.type === 'checkbox') el.checked = !!v;
    else el.value = v === null || v === undefined ? '' : v;
    el.dispatchEvent(new Event('change'));
  }
}

function actions(...kids) {
  return h('div', { class: 'actions' }, kids);
}

function card(title, ...kids) {
  return h('section', { class: 'card' }, title ? h('h2', {}, title) : null, kids);
}

function pageHead(title, lead, ...extra) {
  return h('div', { class: 'page-head' },
    h('div', {}, h('h1', {}, title), lead ? h('p', { class: 'lead' }, lead) : null),
    extra.length ? h('div', { class: 'head-actions' }, extra) : null);
}

/* cols: [{label, cell: (row) => node|text, class}]; rowAttrs: (row) => {...}.
 * On narrow screens each row becomes a card; data-label names each cell. */
function table(cols, rows, rowAttrs, attrs) {
  if (!rows || !rows.length) return h('p', Object.assign({ class: 'empty' }, attrs), t('empty'));
  return h('div', { class: 'table-wrap' },
    h('table', Object.assign({ class: 'data' }, attrs),
      h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, c.label)))),
      h('tbody', {}, rows.map((r) => h('tr', rowAttrs ? rowAttrs(r) : {},
        cols.map((c) => h('td', { 'data-label': c.label, class: c.class }, c.cell(r))))))));
}

function badge(status) {
  return h('span', { class: 'badge', 'data-status': status }, tv('status', status));
}

function pill(on) {
  return h('span', { class: 'pill ' + (on ? 'pill-on' : 'pill-off') }, on ? t('on') : t('off'));
}

function code(text, attrs) {
  return h('code', attrs || {}, text);
}

/* A value with a copy button. */
function copyable(text) {
  return h('div', { class: 'copyable' }, h('code', {}, text),
    h('button', { type: 'button', class: 'small', 'data-test': 'copy', onclick: (ev) => copyText(text, ev.currentTarget) }, t('b.copy')));
}

async function copyText(text, btn) {
  clearMessages();
  try {
    await navigator.clipboard.writeText(text);
  } catch (e) {
    const area = h('textarea', { class: 'offscreen', 'aria-hidden': 'true' });
    area.value = text;
    document.body.append(area);
    area.select();
    try { document.execCommand('copy'); } catch (e2) { /* nothing more to try */ }
    area.remove();
  }
  showNotice(t('copied'));
  if (btn) btn.focus();
}

/* key/value rows for objects we do not know field by field. */
function details(obj, skip) {
  const entries = Object.entries(obj || {}).filter(([k]) => !(skip || []).includes(k));
  if (!entries.length) return null;
  return h('dl', { class: 'kv' }, entries.map(([k, v]) => [h('dt', {}, humanKey(k)), h('dd', {}, fmtValue(k, v))]));
}

// ---------------------------------------------------------------- header, navigation, router

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function navLinks(routes) {
  return h('ul', {}, routes.map((r) => {
    const name = r.replace(/\//g, '-');
    return h('li', {}, h('a', {
      href: '#/' + r,
      'data-test': 'nav-' + name,
      'aria-current': state.route === r ? 'page' : null,
    }, t('title.' + r)));
  }));
}

function renderChrome() {
  const signed = state.signedIn && !PUBLIC.has(state.route);
  document.body.classList.toggle('public', !signed);
  const nav = $('nav');
  nav.classList.remove('open');
  nav.setAttribute('aria-label', t('nav.label'));
  setKids($('top'),
    signed ? h('button', {
      type: 'button', class: 'menu', 'data-test': 'menu', 'aria-controls': 'nav', 'aria-expanded': 'false',
      onclick: toggleMenu,
    }, h('span', { class: 'menu-icon', 'aria-hidden': 'true' }), h('span', { class: 'menu-text' }, t('menu'))) : null,
    h('a', { class: 'brand', href: signed ? '#/home' : '#/sign-in' }, 'Caravel'),
    h('span', { class: 'spacer' }),
    signed ? h('span', { class: 'who', 'data-test': 'me', title: state.address }, state.address) : null,
    h('button', {
      type: 'button', class: 'ghost', 'data-test': 'lang', lang: state.lang === 'en' ? 'zh-CN' : 'en', onclick: switchLang,
    }, state.lang === 'en' ? '中文' : 'English'),
    signed ? h('button', { type: 'button', class: 'ghost', 'data-test': 'sign-out', onclick: signOut }, t('b.signOut')) : null);
  if (!signed) {
    setKids(nav);
    nav.hidden = true;
    return;
  }
  nav.hidden = false;
  const groups = [h('div', { class: 'nav-group' }, h('h2', {}, t('nav.account')), navLinks(USER_NAV))];
  if (isManager()) {
    const admin = ADMIN_NAV.filter((r) => isServerAdmin() || !SERVER_ADMIN_ONLY.has(r));
    groups.push(h('div', { class: 'nav-group' }, h('h2', {}, t('nav.admin')), navLinks(admin)));
  }
  setKids(nav, groups);
}

function toggleMenu(ev) {
  const open = $('nav').classList.toggle('open');
  ev.currentTarget.setAttribute('aria-expanded', String(open));
}

function switchLang() {
  state.lang = state.lang === 'en' ? 'zh' : 'en';
  try { localStorage.setItem(LANG_KEY, state.lang); } catch (e) { /* storage may be off */ }
  applyLang();
  clearMessages();
  renderChrome();
  renderView();
}

async function signOut(ev) {
  const btn = ev.currentTarget;
  btn.disabled = true;
  clearMessages();
  try {
    await api('DELETE', '/api/v1/session', undefined, { noRedirect: true });
  } catch (e) {
    if (e.status !== 401) state.flashError = e.message;
  }
  clearSession();
  go('#/sign-in');
}

function parseHash() {
  // The webmail's own address (/mail) opens on the Mail page.
  const start = location.pathname === '/mail' && !location.hash ? 'mail' : '';
  const raw = String(location.hash || '').replace(/^#\/?/, '') || start;
  const cut = raw.indexOf('?');
  const path = cut < 0 ? raw : raw.slice(0, cut);
  const query = cut < 0 ? '' : raw.slice(cut + 1);
  return { path, params: Object.fromEntries(new URLSearchParams(query)) };
}

function route() {
  const { path, params } = parseHash();
  if (!PAGES[path]) return go('#/home');
  if (!state.signedIn && !PUBLIC.has(path)) return go('#/sign-in');
  if (path.startsWith('admin/') && !isManager()) return go('#/home');
  if (path !== 'mail') {
    stopListening();
    // Ticks hold while the list redraws, not once the mail page is left.
    state.mailPicked = null;
  }
  // A message being written is kept as a draft when the page changes.
  if (state.ps.compose) leaveComposer(state.ps.compose);
  state.route = path;
  state.params = params;
  state.ps = {};
  if (state.resume && path === 'sign-in') {
    state.ps.pending = state.resume;
    state.resume = null;
  }
  state.routeSeq++;
  clearMessages();
  if (state.flashError) { showError(state.flashError); state.flashError = null; }
  if (state.flash) { showNotice(state.flash); state.flash = null; }
  renderChrome();
  setKids($('view'), h('p', { class: 'loading' }, t('loading')));
  window.scrollTo(0, 0);
  return renderView();
}

/* (Re)renders the current page into a fresh box and swaps it in when done,
 * so a slow, older render never writes into a newer one. */
async function renderView() {
  const seq = ++state.renderSeq;
  const main = $('page');
  main.setAttribute('data-page', state.route.replace(/\//g, '-'));
  main.removeAttribute('data-ready');
  document.title = t('title.' + state.route) + ' · Caravel';
  const box = h('div', { class: 'view-box' });
  try {
    await PAGES[state.route](box, state.params);
  } catch (e) {
    if (seq === state.renderSeq) showError(e);
  }
  if (seq !== state.renderSeq) return;
  setKids($('view'), box);
  main.setAttribute('data-ready', '1');
}

// ================================================================ pages

// ---------------------------------------------------------------- sign-in

function renderSignIn(view) {
  const ps = state.ps;
  if (ps.pending) {
    renderSecondFactor(view, ps.pending);
    return;
  }
  const f = form({ class: 'stack' }, async (v) => {
    const r = await api('POST', '/api/v1/session', { address: v.address.trim(), password: v.password }, { noRedirect: true });
    await afterSignIn(r);
  },
  field(t('f.address'), input('address', { type: 'email', autocomplete: 'username', inputmode: 'email', autocapitalize: 'off', spellcheck: 'false' })),
  field(t('f.password'), input('password', { type: 'password', autocomplete: 'current-password' })),
  actions(submit(t('b.signIn'), 'sign-in')));
  view.append(h('div', { class: 'auth card' },
    h('h1', {}, t('signin.title')),
    h('p', { class: 'lead' }, t('signin.lead')),
    f,
    h('p', { class: 'aside' }, h('a', { href: '#/forgot', 'data-test': 'forgot' }, t('signin.forgot')))));
}

async function afterSignIn(r) {
  if (r && r.signed_in) {
    setSession(r);
    go('#/home');
    return;
  }
  const methods = (r && Array.isArray(r.second_factor) && r.second_factor.length) ? r.second_factor : ['totp'];
  state.ps.pending = {
    address: (r && r.address) || '',
    methods,
    method: methods.includes('totp') ? 'totp' : methods[0],
  };
  await renderView();
}

function renderSecondFactor(view, p) {
  const numeric = p.method !== 'recovery';
  const tabs = h('div', { class: 'segmented', role: 'group', 'aria-label': t('2fa.choose') },
    p.methods.map((m) => h('button', {
      type: 'button',
      'data-test': 'method-' + m,
      'aria-pressed': String(m === p.method),
      class: m === p.method ? 'seg on' : 'seg',
      onclick: () => { p.method = m; clearMessages(); renderView(); },
    }, tv('method', m))));
  const send = (p.method === 'email' || p.method === 'sms')
    ? actions(actionButton(t('b.sendCode'), 'send-code', async () => {
      const r = await api('POST', '/api/v1/session/' + p.method + '-code', {}, { noRedirect: true });
      showNotice(t('2fa.sent', { to: (r && r.sent_to) || '' }));
    }))
    : null;
  const f = form({ class: 'stack' }, async (v) => {
    const r = await api('POST', '/api/v1/session/' + p.method, { code: v.code.trim() }, { noRedirect: true });
    if (r && r.signed_in) {
      setSession(r);
      go('#/home');
    }
  },
  field(t('f.code'), input('code', {
    autocomplete: 'one-time-code', inputmode: numeric ? 'numeric' : null, autocapitalize: 'off', spellcheck: 'false',
  }), tv('2fa.hint', p.method)),
  actions(submit(t('b.verify'), 'verify')));
  view.append(h('div', { class: 'auth card' },
    h('h1', {}, t('2fa.title')),
    h('p', { class: 'lead' }, t('2fa.lead', { address: p.address })),
    p.methods.length > 1 ? tabs : null,
    send,
    f,
    h('p', { class: 'aside' }, h('button', {
      type: 'button', class: 'link', 'data-test': 'start-over',
      onclick: () => { state.ps.pending = null; clearMessages(); renderView(); },
    }, t('2fa.startOver')))));
}

// ---------------------------------------------------------------- forgot password

function renderForgot(view) {
  const ps = state.ps;
  const step = ps.step || 1;
  let body;
  if (step === 1) {
    body = form({ class: 'stack' }, async (v) => {
      await api('POST', '/api/v1/password-reset', { address: v.address.trim() }, { noRedirect: true });
      ps.step = 2;
      ps.address = v.address.trim();
      showNotice(t('forgot.sent'));
      await renderView();
    },
    h('p', {}, t('forgot.step1')),
    field(t('f.address'), input('address', { type: 'email', autocomplete: 'username', inputmode: 'email', autocapitalize: 'off', value: ps.address || '' })),
    actions(submit(t('b.sendReset'), 'send-reset')));
  } else if (step === 2) {
    body = form({ class: 'stack' }, async (v) => {
      const payload = { token: v.token.trim(), password: v.password };
      if (v.code.trim()) payload.code = v.code.trim();
      await api('POST', '/api/v1/password-reset/confirm', payload, { noRedirect: true });
      ps.step = 3;
      showNotice(t('forgot.done'), ' ', h('a', { href: '#/sign-in' }, t('b.toSignIn')));
      await renderView();
    },
    h('p', {}, t('forgot.step2')),
    field(t('f.token'), input('token', { autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false' })),
    field(t('f.newPassword'), input('password', { type: 'password', autocomplete: 'new-password' })),
    field(t('f.code2fa'), input('code', { autocomplete: 'one-time-code', inputmode: 'numeric' }), t('forgot.codeHint')),
    actions(submit(t('b.reset'), 'reset'),
      h('button', { type: 'button', class: 'link', 'data-test': 'reset-again', onclick: () => { ps.step = 1; clearMessages(); renderView(); } }, t('forgot.again'))));
  } else {
    body = h('p', {}, h('a', { href: '#/sign-in', class: 'button primary', 'data-test': 'back-to-sign-in' }, t('b.toSignIn')));
  }
  view.append(h('div', { class: 'auth card' },
    h('h1', {}, t('forgot.title')),
    body,
    step !== 3 ? h('p', { class: 'aside' }, h('a', { href: '#/sign-in' }, t('b.toSignIn'))) : null));
}

// ---------------------------------------------------------------- home

async function renderHome(view) {
  const [user, replies, setup] = await Promise.all([
    api('GET', userPath()),
    soft(api('GET', userPath('/autoreplies'))),
    soft(api('GET', '/api/v1/setup')),
  ]);
  view.append(pageHead(t('title.home'), t('home.lead', { address: user.address })));
  view.append(h('div', { class: 'grid' },
    storageCard(user),
    protocolsCard(user),
    statusCard(user, replies)));
  if (setup) view.append(setupCard(setup, user.address));
}

function storageCard(user) {
  const used = Number(user.used || 0);
  const quota = user.quota;
  let text;
  let bar = null;
  if (quota === null || quota === undefined) {
    text = t('home.usedNoLimit', { used: fmtSize(used) });
  } else {
    const pct = quota > 0 ? Math.min(100, Math.round((used / quota) * 100)) : 100;
    text = t('home.usedOf', { used: fmtSize(used), quota: fmtSize(quota), pct });
    bar = h('progress', { 'data-test': 'quota', class: pct >= 90 ? 'quota full' : 'quota', max: String(quota || 1), value: String(Math.min(used, quota || 1)), 'aria-label': t('home.storage') });
  }
  return card(t('home.storage'), bar, h('p', { 'data-test': 'quota-text' }, text));
}

function protocolsCard(user) {
  const protos = user.protocols || {};
  return card(t('home.protocols'),
    h('ul', { class: 'plain' }, ['smtp', 'imap', 'pop3'].map((p) => h('li', {
      class: 'row', 'data-test': 'protocol-' + p, 'data-state': protos[p] ? 'on' : 'off',
    }, h('span', {}, tv('proto', p)), pill(!!protos[p])))),
    h('p', { class: 'hint' }, t('home.protocolsHint')));
}

function statusCard(user, replies) {
  const list = Array.isArray(replies) ? replies : [];
  const answering = list.filter((r) => r.active !== false);
  let replyText;
  if (replies === null) replyText = '—';
  else if (answering.length) replyText = t('home.replyOn', { names: answering.map((r) => r.name).join(', ') });
  else if (list.length) replyText = t('home.replySet');
  else replyText = t('home.replyOff');
  const locked = user.locked_until && user.locked_until * 1000 > Date.now();
  return card(t('home.status'),
    h('ul', { class: 'plain' },
      h('li', { class: 'row', 'data-test': '2fa-state', 'data-state': user.totp_enabled ? 'on' : 'off' },
        h('a', { href: '#/security' }, t('home.2fa')), pill(!!user.totp_enabled)),
      h('li', { class: 'row', 'data-test': 'autoreply-state', 'data-state': answering.length ? 'on' : 'off' },
        h('a', { href: '#/autoreplies' }, t('home.autoreply')), pill(answering.length > 0))),
    h('p', { class: 'hint' }, replyText),
    user.totp_enabled ? null : h('p', { class: 'hint' }, t('home.2faAdvice')),
    locked ? h('p', { class: 'warn-text' }, t('home.locked', { until: fmtTime(user.locked_until) })) : null);
}

function securityName(s) {
  return s === 'starttls' ? 'STARTTLS' : (s === 'tls' ? 'SSL/TLS' : String(s || '—').toUpperCase());
}

function setupCard(setup, address) {
  const rows = []
    .concat((setup.incoming || []).map((x) => Object.assign({ dir: 'incoming' }, x)))
    .concat((setup.outgoing || []).map((x) => Object.assign({ dir: 'outgoing' }, x)));
  const cols = [
    { label: t('setup.dir'), cell: (r) => t('setup.' + r.dir) },
    { label: t('setup.protocol'), cell: (r) => String(r.protocol || '').toUpperCase() },
    { label: t('setup.server'), cell: () => code(setup.hostname || '') },
    { label: t('setup.port'), cell: (r) => String(r.port) },
    { label: t('setup.security'), cell: (r) => securityName(r.security) },
    { label: t('setup.username'), cell: () => code(address) },
  ];
  const clients = [
    ['Outlook', t('setup.auto')],
    ['Thunderbird', t('setup.auto')],
    [t('setup.apple'), t('setup.auto')],
    ['Android', t('setup.android')],
  ];
  return card(t('setup.title'),
    h('p', {}, t('setup.lead')),
    table(cols, rows, (r) => ({ 'data-protocol': r.protocol }), { 'data-test': 'setup' }),
    h('p', { class: 'hint' }, t('setup.password')),
    h('dl', { class: 'clients' }, clients.map(([name, text]) => [h('dt', {}, name), h('dd', {}, text)])),
    actions(h('a', { class: 'button', 'data-test': 'apple-profile', href: '/apple/mobileconfig?email=' + enc(address) }, t('setup.appleProfile'))));
}

// ---------------------------------------------------------------- security

async function renderSecurity(view) {
  const [user, apps] = await Promise.all([api('GET', userPath()), soft(api('GET', '/api/v1/app-passwords'))]);
  view.append(pageHead(t('title.security'), t('sec.lead')));
  view.append(twoFactorCard(user));
  if (apps) view.append(appPasswordsCard(apps));
  view.append(passwordCard(), phoneCard(user), everywhereCard());
}

/* A new password, given the current one; every session ends with it. */
function passwordCard() {
  return card(t('sec.password'),
    h('p', {}, t('sec.passwordLead')),
    form({ class: 'stack', 'data-test': 'password-form' }, async (v) => {
      if (v.new_password !== v.again) throw new Error(t('sec.passwordMismatch'));
      await api('POST', '/api/v1/password', { password: v.password, new_password: v.new_password });
      clearSession();
      state.flash = t('sec.passwordChanged');
      go('#/sign-in');
    },
    field(t('f.currentPassword'), input('password', { type: 'password', autocomplete: 'current-password', required: true })),
    field(t('f.newPassword'), input('new_password', { type: 'password', autocomplete: 'new-password', required: true }), t('sec.passwordHint')),
    field(t('f.newPasswordAgain'), input('again', { type: 'password', autocomplete: 'new-password', required: true })),
    actions(submit(t('b.changePassword'), 'password-change'))));
}

function twoFactorCard(user) {
  const ps = state.ps;
  const title = t('sec.2fa');
  if (user.totp_enabled || ps.codes) {
    return card(title,
      h('p', { 'data-test': '2fa-on', class: 'ok-text' }, t('sec.2faOn')),
      ps.codes ? [
        h('p', { class: 'warn-text' }, t('sec.codesWarn')),
        h('ul', { 'data-test': 'recovery-codes', class: 'codes' }, ps.codes.map((c) => h('li', {}, code(c)))),
      ] : null);
  }
  if (ps.enroll) {
    const e = ps.enroll;
    return card(title,
      h('ol', { class: 'steps' },
        h('li', {}, t('sec.scan')),
        h('li', {}, t('sec.enterCode'))),
      h('div', { class: 'qr-box' },
        h('img', { 'data-test': 'qr', src: '/api/v1/2fa/qr.png?ts=' + e.ts, alt: t('sec.qrAlt'), width: '200', height: '200' }),
        h('div', {},
          h('p', {}, t('sec.byHand')),
          h('code', { 'data-test': 'totp-secret', class: 'secret' }, e.secret || ''),
          e.uri && /^otpauth:\/\//.test(e.uri) ? h('p', {}, h('a', { href: e.uri, 'data-test': 'totp-link' }, t('sec.openApp'))) : null)),
      form({ class: 'inline-form' }, async (v) => {
        const r = await api('POST', '/api/v1/2fa/confirm', { code: v.code.trim() });
        ps.enroll = null;
        ps.codes = (r && r.recovery_codes) || [];
        showNotice(t('sec.2faDone'));
        await renderView();
      },
      field(t('f.code'), input('code', { autocomplete: 'one-time-code', inputmode: 'numeric' })),
      actions(submit(t('b.confirm'), 'enroll-confirm'))));
  }
  return card(title,
    h('p', {}, t('sec.2faOff')),
    form({ class: 'inline-form' }, async (v) => {
      const r = await api('POST', '/api/v1/2fa/enroll', { password: v.password });
      ps.enroll = { secret: r && r.secret, uri: r && r.uri, ts: Date.now() };
      await renderView();
    },
    field(t('f.currentPassword'), input('password', { type: 'password', autocomplete: 'current-password' })),
    actions(submit(t('b.enroll'), 'enroll-start'))));
}

function appPasswordsCard(apps) {
  const ps = state.ps;
  const cols = [
    { label: t('f.name'), cell: (a) => a.name },
    { label: t('apps.created'), cell: (a) => fmtTime(a.created) },
    { label: t('apps.lastUsed'), cell: (a) => (a.last_used ? fmtTime(a.last_used) : t('never')) },
    { label: t('actions'), class: 'cell-actions', cell: (a) => actionButton(t('b.delete'), 'app-password-delete', async () => {
      await api('DELETE', '/api/v1/app-passwords/' + enc(a.name));
      if (ps.newApp && ps.newApp.name === a.name) ps.newApp = null;
      showNotice(t('apps.deleted', { name: a.name }));
      await renderView();
    }, { class: 'danger small' }) },
  ];
  const fresh = ps.newApp ? h('div', { class: 'callout' },
    h('p', {}, t('apps.newOnce', { name: ps.newApp.name })),
    h('code', { 'data-test': 'new-app-password', class: 'secret' }, ps.newApp.password)) : null;
  return card(t('apps.title'),
    h('p', {}, t('apps.lead')),
    table(cols, apps, (a) => ({ 'data-name': a.name }), { 'data-test': 'app-passwords' }),
    fresh,
    h('h3', {}, t('apps.add')),
    form({ class: 'inline-form' }, async (v) => {
      const r = await api('POST', '/api/v1/app-passwords', { name: v.name.trim(), password: v.password });
      ps.newApp = { name: r.name, password: r.password };
      await renderView();
    },
    field(t('apps.name'), input('name', { placeholder: t('apps.namePh'), autocomplete: 'off' })),
    field(t('f.currentPassword'), input('password', { type: 'password', autocomplete: 'current-password' })),
    actions(submit(t('b.add'), 'app-password-add'))));
}

function phoneCard(user) {
  return card(t('sec.phone'),
    h('p', {}, t('sec.phoneLead')),
    form({ class: 'inline-form' }, async (v, f) => {
      const phone = v.phone.trim();
      const r = await api('PUT', userPath('/phone'), { phone });
      const saved = (r && r.phone) || '';
      f.elements.phone.value = saved;
      showNotice(saved ? t('sec.phoneSaved', { phone: saved }) : t('sec.phoneRemoved'));
    },
    field(t('f.phone'), input('phone', { type: 'tel', autocomplete: 'tel', inputmode: 'tel', placeholder: '+8613800138000', value: user.phone || '' }), t('sec.phoneHint')),
    actions(submit(t('b.save'), 'phone-save'))));
}

function everywhereCard() {
  return card(t('sec.everywhere'),
    h('p', {}, t('sec.everywhereLead')),
    form({ class: 'stack' }, async (v) => {
      await api('POST', '/api/v1/sign-out-everywhere', { app_passwords: !!v.app_passwords });
      clearSession();
      state.flash = t('sec.everywhereDone');
      go('#/sign-in');
    },
    checkbox('app_passwords', t('sec.alsoApps')),
    actions(submit(t('b.signOutEverywhere'), 'sign-out-everywhere', { class: 'danger' }))));
}

// ---------------------------------------------------------------- mail (reading)

const MAIL_PAGE = 50;
const MAIL_VIEW_KEY = 'caravel.mailView';
const SORT_KEYS = ['date', 'arrival', 'from', 'to', 'subject', 'size'];
/* Keys the server lists largest first unless told otherwise. */
const BIGGEST_FIRST = new Set(['date', 'arrival', 'size']);
const MAX_INDENT = 6;        // a reply deeper than this is drawn at this depth
const READ_PLAIN_KEY = 'caravel.readPlain';

/* How the list is shown, for every folder alike: {sort, reverse, thread},
 * as the user last chose it (kept in the browser). */
function mailView() {
  let v = null;
  try { v = JSON.parse(localStorage.getItem(MAIL_VIEW_KEY) || 'null'); } catch (e) { v = null; }
  if (!v || typeof v !== 'object') v = {};
  const sort = SORT_KEYS.includes(v.sort) ? v.sort : 'date';
  return {
    sort,
    reverse: typeof v.reverse === 'boolean' ? v.reverse : BIGGEST_FIRST.has(sort),
    thread: v.thread === true,
  };
}

function saveMailView(v) {
  try { localStorage.setItem(MAIL_VIEW_KEY, JSON.stringify(v)); } catch (e) { /* storage may be off */ }
}

/* The list's query for a view: the sort and its direction, or
 * conversations (which the server orders by their newest message). */
function mailViewQuery(v) {
  return v.thread ? '&thread=true' : '&sort=' + enc(v.sort) + '&reverse=' + (v.reverse ? 'true' : 'false');
}

/* What the direction button says for a view: dates newest or oldest
 * first, sizes largest or smallest first, words A→Z or Z→A. */
function directionLabel(v) {
  if (v.sort === 'date' || v.sort === 'arrival') return t(v.reverse ? 'mail.newestFirst' : 'mail.oldestFirst');
  if (v.sort === 'size') return t(v.reverse ? 'mail.largestFirst' : 'mail.smallestFirst');
  return t(v.reverse ? 'mail.zToA' : 'mail.aToZ');
}

/* The sort, its direction and the Conversations switch above the list.
 * A change is remembered and the list drawn again from its first page
 * (the message being read stays open). */
function mailViewControls(folderName, params, v) {
  const apply = (next) => {
    saveMailView(next);
    clearMessages();
    const href = mailHref(folderName, params.uid ? { uid: params.uid } : {});
    if (Number(params.offset || 0) > 0) go(href);
    else renderView();
  };
  const sortSelect = select('sort', SORT_KEYS.map((k) => [k, t('mail.sort.' + k)]), {
    id: 'sort', value: v.sort, 'data-test': 'sort', disabled: v.thread,
    title: v.thread ? t('mail.threadOrder') : null,
    // Another key starts in its own usual direction (dates newest first,
    // words A→Z).
    onchange: (ev) => apply({ sort: ev.target.value, reverse: BIGGEST_FIRST.has(ev.target.value), thread: v.thread }),
  });
  const label = directionLabel(v);
  const direction = h('button', {
    type: 'button', id: 'sort-direction', class: 'small', 'data-test': 'sort-direction',
    'data-reverse': String(v.reverse), title: v.thread ? t('mail.threadOrder') : label, 'aria-label': label,
    disabled: v.thread, onclick: () => apply({ sort: v.sort, reverse: !v.reverse, thread: v.thread }),
  }, v.reverse ? '↓' : '↑');
  const threads = checkbox('threads', t('mail.threads'), {
    checked: v.thread, 'data-test': 'threads',
    onchange: (ev) => apply({ sort: v.sort, reverse: v.reverse, thread: ev.target.checked }),
  });
  return h('div', { class: 'toolbar list-view', 'data-test': 'list-view' },
    h('span', { class: 'sort-box' }, h('label', { for: 'sort', class: 'sort-label' }, t('mail.sortBy')), sortSelect, direction),
    threads);
}

/* Links to the account's pages that shape its mail, from the Mail page:
 * a button that opens a short menu (Escape or a click elsewhere closes it). */
function mailSettings() {
  const pages = ['signatures', 'autoreplies', 'rules', 'security', 'lists'];
  const menu = h('ul', { id: 'mail-settings-menu', class: 'menu-pop', 'data-test': 'mail-settings-menu', hidden: true },
    pages.map((p) => h('li', {}, h('a', { href: '#/' + p, 'data-test': 'settings-' + p }, t('title.' + p)))));
  const btn = h('button', {
    type: 'button', id: 'mail-settings', 'data-test': 'mail-settings',
    'aria-expanded': 'false', 'aria-controls': 'mail-settings-menu',
  }, t('mail.settings'), h('span', { 'aria-hidden': 'true' }, ' ▾'));
  const box = h('div', { class: 'menu-box' }, btn, menu);
  const outside = (ev) => { if (!box.contains(ev.target)) show(false); };
  function show(open) {
    menu.hidden = !open;
    btn.setAttribute('aria-expanded', String(open));
    if (open) document.addEventListener('click', outside, true);
    else document.removeEventListener('click', outside, true);
  }
  btn.addEventListener('click', () => show(menu.hidden));
  // A link followed closes the menu (the page changes anyway).
  menu.addEventListener('click', (ev) => { if (ev.target.closest('a')) show(false); });
  box.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && !menu.hidden) {
      show(false);
      btn.focus();
    }
  });
  return box;
}

function mailHref(folder, extra) {
  let href = '#/mail?folder=' + enc(folder);
  for (const [k, v] of Object.entries(extra || {})) href += '&' + k + '=' + enc(v);
  return href;
}

function folderLabel(f) {
  return f.special_use ? tv('folder', f.special_use) : f.name;
}

function personLabel(p) {
  if (!p) return '—';
  return p.name ? p.name + ' <' + p.address + '>' : (p.address || '—');
}

/* Folders, the folder's messages (pages of 50) sorted as the user chose
 * (newest first at first) or as conversations, and the message asked for:
 * its header, its attachments as downloads, its HTML in a sandboxed frame
 * the server renders (nothing runs; remote images only when the reader
 * allows them) or its text, and the messages forwarded inside it. */
async function renderMail(view, params) {
  // A message being written takes the page (and keeps it through a
  // language switch); live updates would only redraw what is hidden.
  if (state.ps.compose) {
    stopListening();
    renderComposer(view, state.ps.compose);
    return;
  }
  const folderName = params.folder || 'INBOX';
  const offset = Math.max(0, Number(params.offset || 0));
  const query = params.q || '';
  const folders = (await api('GET', '/api/v1/mail/folders')) || [];
  const current = folders.find((f) => f.name === folderName) || { name: folderName };
  // A draft opens in the composer, to be written on.
  if (params.uid && current.special_use === 'drafts') {
    stopListening();
    await openComposer({ kind: 'draft', folder: folderName, uid: Number(params.uid), back: folderName }, true);
    renderComposer(view, state.ps.compose);
    return;
  }
  // A search lists what it finds newest first; the folder itself, as the
  // user chose to see it.
  const listView = mailView();
  const page = query
    ? await api('GET', '/api/v1/mail/search?folder=' + enc(folderName) + '&q=' + enc(query))
    : await api('GET', '/api/v1/mail/messages?folder=' + enc(folderName) + '&offset=' + offset + '&limit=' + MAIL_PAGE
      + mailViewQuery(listView));
  const threaded = !query && !!(page && page.threaded);
  const folderList = h('ul', { class: 'folders', 'data-test': 'folders' }, folders.map((f) => h('li', {},
    h('a', {
      href: mailHref(f.name), 'data-test': 'folder', 'data-folder': f.name,
      'aria-current': f.name === folderName ? 'page' : null,
    }, folderLabel(f), f.unseen ? h('span', { class: 'count' }, ' (' + f.unseen + ')') : null))));
  const rows = (page && page.messages) || [];
  // As conversations: each conversation's messages come one after another
  // in reply order; its first row carries the count, every row its depth.
  const firsts = new Set();
  rows.forEach((m, i) => { if (threaded && (i === 0 || rows[i - 1].thread !== m.thread)) firsts.add(m.uid); });
  const rowAttrs = (m) => {
    const attrs = { 'data-uid': m.uid, class: m.seen ? 'seen' : 'unseen' };
    if (!threaded) return attrs;
    attrs['data-thread'] = m.thread;
    attrs['data-depth'] = Number(m.depth) || 0;
    // Conversations alternate a faint tint; a line separates them.
    attrs.class += ' thread-row' + (firsts.has(m.uid) ? ' thread-first' : '') + (Number(m.thread) % 2 ? ' thread-odd' : '');
    return attrs;
  };
  // Ticks outlive a redraw of the same folder (a live update may redraw
  // the list just as a box is ticked); an action done clears them.
  if (!state.mailPicked || state.mailPicked.folder !== folderName) state.mailPicked = { folder: folderName, uids: new Set() };
  const picked = state.mailPicked.uids;
  const onPage = new Set(rows.map((m) => m.uid));
  for (const uid of [...picked]) if (!onPage.has(uid)) picked.delete(uid);
  const list = table([
    {
      label: '', class: 'cell-pick', cell: (m) => h('input', {
        type: 'checkbox', 'data-test': 'select', 'aria-label': m.subject || '', checked: picked.has(m.uid),
        onchange: (ev) => { if (ev.target.checked) picked.add(m.uid); else picked.delete(m.uid); },
      }),
    },
    { label: t('mail.from'), cell: (m) => (m.from ? (m.from.name || m.from.address) : '—') },
    {
      label: t('mail.subject'), class: 'cell-subject', cell: (m) => [
        h('a', { href: mailHref(folderName, { uid: m.uid, offset }), 'data-test': 'open' }, (m.flagged ? '★ ' : '') + (m.subject || t('mail.noSubject'))),
        firsts.has(m.uid) && m.thread_size > 1
          ? h('span', { class: 'thread-count', 'data-test': 'thread-count', title: t('mail.threadCount', { n: m.thread_size }) }, String(m.thread_size))
          : null,
      ],
    },
    { label: t('mail.date'), cell: (m) => fmtTime(m.date) },
    { label: t('mail.size'), cell: (m) => fmtSize(m.size) },
  ], rows, rowAttrs, { 'data-test': 'messages' });
  // Replies indented by their depth (at most MAX_INDENT steps): a CSS
  // variable the stylesheet turns into the subject's indent.
  if (threaded) {
    list.querySelectorAll('tbody tr[data-depth]').forEach((tr) => {
      tr.style.setProperty('--depth', String(Math.min(MAX_INDENT, Number(tr.getAttribute('data-depth')) || 0)));
    });
  }
  const chosen = () => {
    if (!picked.size) throw new Error(t('mail.chooseFirst'));
    return [...picked];
  };
  const reload = () => renderView();
  const tool = (label, test, fn, attrs) => actionButton(label, test, async () => { await fn(); picked.clear(); await reload(); }, Object.assign({ class: 'small' }, attrs || {}));
  const others = folders.filter((f) => f.name !== folderName);
  const moveTo = select('to', others.map((f) => [f.name, folderLabel(f)]));
  const isJunk = current.special_use === 'junk';
  const toolbar = h('div', { class: 'toolbar', 'data-test': 'mail-actions' },
    tool(t('mail.markRead'), 'mark-read', () => api('POST', '/api/v1/mail/flags', { folder: folderName, uids: chosen(), seen: true })),
    tool(t('mail.markUnread'), 'mark-unread', () => api('POST', '/api/v1/mail/flags', { folder: folderName, uids: chosen(), seen: false })),
    tool(t('mail.flag'), 'flag', () => api('POST', '/api/v1/mail/flags', { folder: folderName, uids: chosen(), flagged: true })),
    isJunk
      ? tool(t('mail.notSpam'), 'not-spam', () => api('POST', '/api/v1/mail/move', { folder: folderName, uids: chosen(), to: 'INBOX' }))
      : tool(t('mail.spam'), 'spam', () => api('POST', '/api/v1/mail/move', { folder: folderName, uids: chosen(), to: junkName(folders) })),
    tool(t('mail.delete'), 'delete-messages', () => api('POST', '/api/v1/mail/delete', { folder: folderName, uids: chosen() }), { class: 'small danger' }),
    h('span', { class: 'move' }, moveTo,
      tool(t('mail.move'), 'move', () => api('POST', '/api/v1/mail/move', { folder: folderName, uids: chosen(), to: moveTo.value }))),
    (current.special_use === 'trash' || isJunk)
      ? tool(t('mail.empty'), 'empty', async () => { if (confirm(t('mail.emptyConfirm'))) await api('POST', '/api/v1/mail/empty', { name: folderName }); }, { class: 'small danger' })
      : null);
  const search = form({ class: 'inline-form', 'data-test': 'search-form' }, async (v) => {
    go(v.q.trim() ? mailHref(folderName, { q: v.q.trim() }) : mailHref(folderName));
  }, input('q', { type: 'search', value: query, placeholder: t('mail.searchPh'), 'aria-label': t('mail.search') }),
  submit(t('mail.search'), 'search'));
  const total = (page && page.total) || 0;
  // As conversations, a page ends where the server says (a long one can
  // fill a page by itself).
  const pageEnd = threaded && page && Number.isInteger(page.next_offset) ? Math.max(page.next_offset, offset + 1) : offset + MAIL_PAGE;
  const pager = query
    ? h('div', { class: 'pager' }, h('span', { 'data-test': 'found' }, t('mail.found', { n: total })),
      page.truncated ? h('small', {}, ' ' + t('mail.truncated')) : null,
      h('a', { href: mailHref(folderName), 'data-test': 'clear-search' }, t('mail.clearSearch')))
    : h('div', { class: 'pager' },
      offset > 0 ? h('a', { href: mailHref(folderName, { offset: Math.max(0, offset - MAIL_PAGE) }), 'data-test': 'newer' }, t('mail.newer')) : null,
      // As conversations, the pages count conversations.
      h('span', { 'data-test': 'range' }, t(threaded ? 'mail.rangeThreads' : 'mail.range',
        { from: total ? offset + 1 : 0, to: Math.min(total, pageEnd), total })),
      pageEnd < total ? h('a', { href: mailHref(folderName, { offset: pageEnd }), 'data-test': 'older' }, t('mail.older')) : null);
  const folderForm = form({ class: 'stack', 'data-test': 'folder-form' }, async (v, f) => {
    await api('POST', '/api/v1/mail/folders/create', { name: v.name.trim() });
    f.reset();
    await reload();
  }, field(t('mail.newFolder'), input('name', { autocomplete: 'off', placeholder: t('mail.newFolderPh') })),
  actions(submit(t('b.add'), 'folder-create')));
  const folderActions = current.special_use ? null : h('div', { class: 'toolbar' },
    actionButton(t('mail.renameFolder'), 'folder-rename', async () => {
      const to = prompt(t('mail.renamePrompt'), folderName);
      if (to && to.trim() && to.trim() !== folderName) {
        await api('POST', '/api/v1/mail/folders/rename', { from: folderName, to: to.trim() });
        go(mailHref(to.trim()));
      }
    }, { class: 'small' }),
    actionButton(t('mail.deleteFolder'), 'folder-delete', async () => {
      if (confirm(t('mail.deleteFolderConfirm', { name: folderName }))) {
        await api('POST', '/api/v1/mail/folders/delete', { name: folderName });
        go(mailHref('INBOX'));
      }
    }, { class: 'small danger' }));
  const reader = params.uid ? await mailReader(folderName, params, folders) : h('p', { class: 'hint' }, t('mail.pick'));
  state.mailQuietUntil = Date.now() + 1500;
  listen(folderName, () => (picked.size ? showNotice(t('mail.changed')) : renderView()));
  const write = actionButton(t('compose.write'), 'compose',
    () => openComposer({ kind: 'new', back: folderName }), { id: 'compose', class: 'primary' });
  view.append(pageHead(t('title.mail'), null, write, mailSettings()),
    h('div', { class: 'mail' },
      card(t('mail.folders'), folderList, folderForm),
      card(folderLabel(current), search, query ? null : mailViewControls(folderName, params, listView), toolbar, list, pager, folderActions),
      card(null, reader)));
}

/* Live updates while the folder is open: the server says when its
 * messages or the folder list change (new mail, an IMAP client's flags),
 * and the page reloads them, unless messages are ticked (then it says so). */
function listen(folderName, changed) {
  if (state.mailEvents && state.mailEvents.folder === folderName && state.mailEvents.source.readyState !== 2) {
    state.mailEvents.changed = changed;
    return;
  }
  stopListening();
  if (typeof EventSource === 'undefined') return;
  const source = new EventSource('/api/v1/mail/events?folder=' + enc(folderName));
  const entry = { folder: folderName, source, changed, timer: null };
  // The page's own doings (opening a message marks it read) echo back as
  // changes: a change within a moment of a render waits for that moment
  // to pass, so a redraw never cuts into the one just made.
  const soon = () => {
    clearTimeout(entry.timer);
    const wait = Math.max(300, (state.mailQuietUntil || 0) - Date.now());
    entry.timer = setTimeout(() => { if (state.route === 'mail') entry.changed(); }, wait);
  };
  source.addEventListener('change', soon);
  source.addEventListener('folders', soon);
  state.mailEvents = entry;
}

function stopListening() {
  if (state.mailEvents) {
    state.mailEvents.source.close();
    clearTimeout(state.mailEvents.timer);
    state.mailEvents = null;
  }
}

function junkName(folders) {
  const junk = folders.find((f) => f.special_use === 'junk');
  return junk ? junk.name : 'Junk';
}

function people(list) {
  return (list || []).map(personLabel).join(', ') || '—';
}

/* Text worth showing (not missing, not only blank). */
function hasText(text) {
  return typeof text === 'string' && text.trim() !== '';
}

function prefersPlainReading() {
  try { return localStorage.getItem(READ_PLAIN_KEY) === '1'; } catch (e) { return false; }
}

/* The sandboxed frame the server renders a message's HTML into (a
 * message forwarded inside it with `nested`): nothing runs in it, nothing
 * loads but its own pictures (remote ones only when the reader allowed). */
function mailFrame(q, title, remote, nested, test) {
  return h('iframe', {
    class: 'mail-body', 'data-test': test, title: title || '',
    sandbox: 'allow-popups allow-popups-to-escape-sandbox',
    src: '/api/v1/mail/render?' + q + (nested === null ? '' : '&nested=' + enc(nested)) + (remote ? '&remote=true' : ''),
  });
}

async function mailReader(folderName, params, folders) {
  const remote = params.remote === '1';
  const q = 'folder=' + enc(folderName) + '&uid=' + enc(params.uid);
  const m = await api('GET', '/api/v1/mail/message?' + q + (remote ? '&remote=true' : ''));
  const head = h('dl', { class: 'kv mail-head', 'data-test': 'message-head' },
    h('dt', {}, t('mail.from')), h('dd', {}, people(m.from)),
    h('dt', {}, t('mail.to')), h('dd', {}, people(m.to)),
    (m.cc && m.cc.length) ? [h('dt', {}, t('mail.cc')), h('dd', {}, people(m.cc))] : null,
    // Only in the sender's own copies (Sent, Drafts).
    (m.bcc && m.bcc.length) ? [h('dt', {}, t('mail.bcc')), h('dd', {}, people(m.bcc))] : null,
    h('dt', {}, t('mail.date')), h('dd', {}, fmtTime(m.date)));
  const attachments = (m.attachments || []).length ? h('ul', { class: 'attachments', 'data-test': 'attachments' },
    m.attachments.map((a) => h('li', {}, h('a', {
      href: '/api/v1/mail/attachment?' + q + '&index=' + a.index, download: a.name, 'data-test': 'attachment',
    }, a.name), ' ', h('small', {}, (a.type || '') + ', ' + fmtSize(a.size))))) : null;
  // Pictures per sender: the choice is the server's (kept for every
  // device), and it holds only when the server proved the From address.
  const trust = (on) => async () => {
    await api('POST', '/api/v1/mail/images/trust', { address: m.sender, trust: on });
    await renderView();
  };
  let images = null;
  if (m.remote_images_blocked && !remote) {
    images = h('p', { class: 'notice-line', 'data-test': 'images-blocked' }, t('mail.imagesBlocked'), ' ',
      h('a', { href: mailHref(folderName, { uid: params.uid, offset: params.offset || 0, remote: '1' }), 'data-test': 'show-images' }, t('mail.showImages')),
      // Offered only where it would hold: the server proved the sender.
      m.sender && m.sender_proved && !m.sender_trusted_for_images
        ? [' ', actionButton(t('mail.alwaysImages', { sender: m.sender }), 'trust-images', trust(true), { class: 'small' })]
        : null,
      m.sender_trusted_for_images && !m.sender_proved ? [' ', t('mail.senderUnproved')] : null);
  } else if (m.sender_trusted_for_images && m.remote_images_shown && !remote) {
    images = h('p', { class: 'notice-line', 'data-test': 'images-trusted' }, t('mail.imagesTrusted', { sender: m.sender }), ' ',
      actionButton(t('mail.stopImages'), 'untrust-images', trust(false), { class: 'small' }));
  }
  // The body: the HTML in its frame (the server gives HTML only for a
  // real text/html part), or the text. A message with both, or with a
  // forwarded one that has both, can be read either way; the choice is
  // remembered and holds for the forwarded ones too.
  const hasHtml = m.html !== null && m.html !== undefined;
  const nested = Array.isArray(m.nested) ? m.nested : [];
  const nestedHtml = nested.map((n) => !!n.has_html);
  const both = (hasHtml && hasText(m.text)) || nested.some((n, i) => nestedHtml[i] && hasText(n.text));
  let plain = both && prefersPlainReading();
  const bodyBox = h('div', { class: 'mail-view' });
  const nestedBoxes = nested.map((n, i) => nestedMessage(n, q, remote, nestedHtml[i]));
  let frame = null; // made once, when first shown
  const toggle = both ? h('button', { type: 'button', id: 'view-toggle', class: 'small', 'data-test': 'view-toggle' }) : null;
  const draw = () => {
    const asText = !hasHtml || (plain && hasText(m.text));
    if (!asText && !frame) frame = mailFrame(q, m.subject, remote, null, 'message-html');
    // The pictures notice only matters where pictures would show.
    setKids(bodyBox, asText ? null : images,
      asText ? h('pre', { class: 'mail-text', 'data-test': 'message-text' }, m.text || '') : frame);
    nestedBoxes.forEach((b) => b.draw(plain));
    if (toggle) {
      // The button names the other way of reading it.
      toggle.setAttribute('data-view', plain ? 'plain' : 'formatted');
      setKids(toggle, t(plain ? 'mail.showFormatted' : 'mail.showPlain'));
    }
  };
  if (toggle) {
    toggle.addEventListener('click', () => {
      plain = !plain;
      try { localStorage.setItem(READ_PLAIN_KEY, plain ? '1' : '0'); } catch (e) { /* storage may be off */ }
      draw();
    });
  }
  draw();
  const one = [Number(params.uid)];
  const after = () => go(mailHref(folderName, { offset: params.offset || 0 }));
  // Answering and passing on: each opens the composer with this message.
  const write = (label, kind) => actionButton(label, kind,
    () => openComposer({ kind, message: m, folder: folderName, uid: Number(params.uid), back: folderName }),
    { id: kind, class: 'small' });
  const tools = h('div', { class: 'toolbar', 'data-test': 'message-actions' },
    write(t('compose.reply'), 'reply'),
    write(t('compose.replyAll'), 'reply-all'),
    write(t('compose.forward'), 'forward'),
    write(t('compose.forwardAttachment'), 'forward-attachment'),
    actionButton(t('mail.markUnread'), 'message-unread', async () => {
      await api('POST', '/api/v1/mail/flags', { folder: folderName, uids: one, seen: false });
      after();
    }, { class: 'small' }),
    actionButton(t('mail.spam'), 'message-spam', async () => {
      await api('POST', '/api/v1/mail/move', { folder: folderName, uids: one, to: junkName(folders) });
      after();
    }, { class: 'small' }),
    actionButton(t('mail.delete'), 'message-delete', async () => {
      await api('POST', '/api/v1/mail/delete', { folder: folderName, uids: one });
      after();
    }, { class: 'small danger' }));
  return h('article', { 'data-test': 'message' }, bounceNotice(m.bounce),
    h('h2', { 'data-test': 'message-subject' }, m.subject || t('mail.noSubject')), tools, head, attachments,
    toggle ? h('div', { class: 'view-switch' }, toggle) : null, bodyBox,
    nestedBoxes.map((b) => b.box));
}

/* A message forwarded whole inside the one being read (an entry of the
 * answer's `nested`), in a box below it: who sent it to whom and when,
 * its subject, its HTML (when it has some: `html`) in a frame of its own,
 * rendered by the server like the message's, or its text, and the names
 * of its attachments. Returns {box, draw(plain)}: draw shows the text or
 * the HTML. */
function nestedMessage(n, q, remote, html) {
  const bodyBox = h('div', { class: 'nested-body' });
  let frame = null;
  const box = h('section', { class: 'nested-message', 'data-test': 'nested-message', 'data-index': n.index },
    h('h3', { class: 'nested-title' }, t('mail.forwarded')),
    h('dl', { class: 'kv mail-head', 'data-test': 'nested-head' },
      h('dt', {}, t('mail.from')), h('dd', {}, people(n.from)),
      h('dt', {}, t('mail.to')), h('dd', {}, people(n.to)),
      h('dt', {}, t('mail.date')), h('dd', {}, fmtTime(n.date)),
      h('dt', {}, t('mail.subject')), h('dd', { 'data-test': 'nested-subject' }, n.subject || t('mail.noSubject'))),
    bodyBox,
    (n.attachments || []).length ? [
      h('p', { class: 'hint' }, t('mail.nestedAttachments')),
      h('ul', { class: 'attachments', 'data-test': 'nested-attachments' },
        n.attachments.map((name) => h('li', {}, String(name)))),
    ] : null);
  const draw = (plain) => {
    const asText = !html || (plain && hasText(n.text));
    if (!asText && !frame) frame = mailFrame(q, n.subject, remote, n.index, 'nested-html');
    setKids(bodyBox, asText
      ? (typeof n.text === 'string' ? h('pre', { class: 'mail-text', 'data-test': 'nested-text' }, n.text) : null)
      : frame);
  };
  return { box, draw };
}

/* A delivery report, said plainly above the report itself: each
 * recipient and the server's explanation of what happened. A report with
 * no failure in it (delayed, delivered) is not called a failure. */
function bounceNotice(bounce) {
  if (!bounce) return null;
  const list = Array.isArray(bounce.recipients) ? bounce.recipients : [];
  const failed = !list.length || list.some((r) => r.failed !== false);
  return h('div', { class: failed ? 'bounce' : 'bounce bounce-info', role: 'note', 'data-test': 'bounce' },
    h('p', {}, h('strong', {}, t(failed ? 'mail.bounce' : 'mail.report'))),
    list.length ? [
      h('p', {}, t('mail.bounceLead')),
      h('ul', {}, list.map((r) => h('li', { 'data-address': r.address || '', 'data-failed': String(r.failed !== false) },
        h('span', { class: 'bounce-address' }, r.address || '—'), ': ',
        r.explanation || r.status || ''))),
    ] : null);
}

// ---------------------------------------------------------------- mail (writing)

const DRAFT_WAIT = 3000;     // a draft is saved this long after the last change
const LOOKUP_WAIT = 200;     // address suggestions after this long without typing
const SIGNATURE_WAIT = 500;  // the signature preview follows the header fields
const PLAIN_KEY = 'caravel.plain';
const SEPARATOR = /[,;，；]/;

/* The composer is one object in the Mail page's state (state.ps.compose):
 * the header fields as typed, the body's two editors (kept as elements
 * across redraws, so a language switch loses nothing), the attachments,
 * what it answers or forwards, and the draft it last saved. Every change
 * goes through composeChanged(): the draft is saved a moment later and the
 * signature preview follows the sender, recipients and subject.
 *
 * The server builds the message (/api/v1/mail/draft and /send); the page
 * only sends what was typed. The editor holds the user's own writing and
 * the quote of a message built from its text with text nodes; a reopened
 * draft's HTML is rebuilt node by node from a short list (importSafe).
 * Nothing the server or another sender wrote goes in as HTML. */

/* Opens the composer. opts: {kind: new | reply | reply-all | forward |
 * forward-attachment | draft, message (the /mail/message answer, for
 * answers and forwards), folder, uid, back (the folder to return to)}.
 * With noRender the caller draws the page (a draft opened from the list). */
async function openComposer(opts, noRender) {
  const info = (await api('GET', '/api/v1/mail/compose')) || {};
  if (opts.kind === 'draft') {
    opts.message = await api('GET', '/api/v1/mail/message?folder=' + enc(opts.folder) + '&uid=' + enc(opts.uid));
  }
  state.ps.compose = newComposer(info, opts);
  if (!noRender) await renderView();
}

function lower(s) {
  return String(s || '').trim().toLowerCase();
}

/* "Name <address>" as a recipient field holds it; a name with commas,
 * quotes or brackets goes in quotes. */
function mailboxText(p) {
  if (!p) return '';
  const name = String(p.name || '').trim();
  if (!name || lower(name) === lower(p.address)) return p.address || '';
  const plain = /^[^",;<>@()[\]\\:.，；]*$/.test(name);
  return (plain ? name : '"' + name.replace(/["\\]/g, '\\$&') + '"') + ' <' + p.address + '>';
}

/* A recipient field's text as a list: commas and semicolons (also the
 * full-width ones a Chinese keyboard types) separate, except inside quotes
 * or angle brackets. */
function splitAddresses(text) {
  const out = [];
  let cur = '';
  let quoted = false;
  let angle = false;
  let escaped = false;
  for (const ch of String(text || '')) {
    if (escaped) {
      escaped = false;
    } else if (quoted && ch === '\\') {
      escaped = true;
    } else if (ch === '"') {
      quoted = !quoted;
    } else if (!quoted && ch === '<') {
      angle = true;
    } else if (!quoted && ch === '>') {
      angle = false;
    } else if (!quoted && !angle && SEPARATOR.test(ch)) {
      if (cur.trim()) out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

/* The bare address in "Name <address>" (or the entry itself). */
function bareAddress(entry) {
  const m = /<([^<>]*)>\s*$/.exec(String(entry || ''));
  return lower(m ? m[1] : entry);
}

/* People as a recipient field's text, without the account's own
 * addresses and without repeats (nor those in `skip`, bare addresses). */
function peopleText(list, own, skip) {
  const seen = new Set(skip || []);
  const out = [];
  for (const p of list || []) {
    const a = lower(p && p.address);
    if (!a || own.has(a) || seen.has(a)) continue;
    seen.add(a);
    out.push(mailboxText(p));
  }
  return out.join(', ');
}

function replySubject(subject) {
  const s = String(subject || '');
  return /^\s*(re|回复|答复)\s*[:：]/i.test(s) ? s : 'Re: ' + s;
}

function forwardSubject(subject) {
  const s = String(subject || '');
  return /^\s*(fwd?|转发)\s*[:：]/i.test(s) ? s : 'Fwd: ' + s;
}

function prefersPlain() {
  try { return localStorage.getItem(PLAIN_KEY) === '1'; } catch (e) { return false; }
}

// ---- the body: blocks of lines, shown as nodes or as text

/* A body is built as blocks, {lines: [...]} paragraphs and {quote: [...]}
 * quoted lines, and drawn either as editor nodes (text nodes, <br>, <p>,
 * <blockquote>) or as plain text ("> " before each quoted line). */
function blocksToNodes(blocks) {
  return blocks.map((b) => {
    const lines = b.quote || b.lines;
    const kids = lines.some((l) => l !== '') ? lines.map((l, i) => [i ? h('br') : null, l]) : h('br');
    return b.quote ? h('blockquote', { type: 'cite' }, kids) : h('p', {}, kids);
  });
}

function blocksToText(blocks) {
  let out = '';
  blocks.forEach((b, i) => {
    const text = b.quote ? b.quote.map((l) => '> ' + l).join('\n') : b.lines.join('\n');
    out += (i === 0 ? '' : (b.quote ? '\n' : '\n\n')) + text;
  });
  return out;
}

/* Plain text as paragraphs (blank lines) of lines. */
function textBlocks(text) {
  return String(text || '').replace(/\r\n?/g, '\n').replace(/\n+$/, '')
    .split(/\n{2,}/).map((p) => ({ lines: p.split('\n') }));
}

function textToNodes(text) {
  return blocksToNodes(textBlocks(text));
}

/* Elements a restored draft keeps (everything else gives its text only),
 * and those dropped with their content. */
const KEEP_TAGS = new Set(['p', 'div', 'br', 'b', 'strong', 'i', 'em', 'u', 's', 'ul', 'ol', 'li', 'blockquote', 'a']);
const BLOCK_TAGS = new Set(['table', 'tr', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'pre', 'section', 'article', 'header', 'footer', 'center', 'dl', 'dt', 'dd']);
const DROP_TAGS = new Set(['script', 'style', 'head', 'title', 'template', 'iframe', 'object', 'embed', 'img', 'svg', 'math',
  'noscript', 'video', 'audio', 'picture', 'source', 'form', 'input', 'button', 'select', 'textarea', 'link', 'meta', 'base']);

/* HTML the server gave (a saved draft) as new, safe editor nodes: parsed
 * in an inert document (nothing loads or runs there), then copied element
 * by element from a short list, links only to web and mail addresses, no
 * attributes else. The HTML itself never reaches the page. */
function importSafe(html) {
  const doc = new DOMParser().parseFromString(String(html || ''), 'text/html');
  const out = document.createDocumentFragment();
  copySafe(doc.body, out);
  return out;
}

function copySafe(from, to) {
  if (!from) return;
  for (const n of from.childNodes) {
    if (n.nodeType === Node.TEXT_NODE) {
      to.append(document.createTextNode(n.data));
      continue;
    }
    if (n.nodeType !== Node.ELEMENT_NODE) continue;
    const tag = n.tagName.toLowerCase();
    if (DROP_TAGS.has(tag)) continue;
    let el;
    if (tag === 'a') {
      const href = String(n.getAttribute('href') || '').trim();
      el = /^(https?:\/\/|mailto:)/i.test(href) ? h('a', { href }) : h('span');
    } else if (KEEP_TAGS.has(tag)) {
      el = document.createElement(tag);
    } else if (BLOCK_TAGS.has(tag) || tag === 'td' || tag === 'th') {
      el = document.createElement('div');
    } else {
      copySafe(n, to); // an unknown or inline element: its content only
      continue;
    }
    copySafe(n, el);
    to.append(el);
  }
}

/* The text of a message to quote: its text part, or the words of its
 * HTML when it has none. */
function messageText(m) {
  if (m.text && String(m.text).trim()) return String(m.text);
  if (!m.html) return '';
  const box = h('div', { class: 'offscreen', 'aria-hidden': 'true' }, importSafe(m.html));
  document.body.append(box);
  const text = box.innerText;
  box.remove();
  return text;
}

/* The editor's text as the message's text part: what the reader sees,
 * with "> " before each line of a quote. Read from a copy laid out off
 * screen, so innerText knows where lines end. */
function editorText(editor) {
  const outermost = (q) => !(q.parentElement && q.parentElement.closest('blockquote'));
  const quoted = [...editor.querySelectorAll('blockquote')].filter(outermost).map((q) => q.innerText);
  const copy = h('div', { class: 'offscreen', 'aria-hidden': 'true' }, [...editor.childNodes].map((n) => n.cloneNode(true)));
  [...copy.querySelectorAll('blockquote')].filter(outermost).forEach((q, i) => {
    const lines = String(quoted[i] || '').replace(/\n+$/, '').split('\n');
    q.replaceWith(h('div', {}, lines.map((l, j) => [j ? h('br') : null, '> ' + l])));
  });
  document.body.append(copy);
  const text = copy.innerText;
  copy.remove();
  return text.replace(/\u00a0/g, ' ').replace(/\s+$/, '');
}

// ---- the composer's model

function newComposer(info, o) {
  const ids = Array.isArray(info.identities) ? info.identities : [];
  const own = new Set(ids.map((i) => lower(i.address)).concat([lower(state.address)]));
  const m = o.message || null;
  const c = {
    info, own, kind: o.kind, back: o.back || 'INBOX',
    from: ids.length ? ids[0].address : state.address,
    to: '', cc: '', bcc: '', subject: '',
    showCc: false, showBcc: false,
    plain: prefersPlain(),
    files: [],          // {name, size, type, upload | ref, fixed, pending, xhr, progress}
    reply_to: null, forward: null, draft_uid: null,
    error: '',          // the last refusal, shown in the composer
    status: null,       // the draft line: {key, vars, bad}
    signature: '',      // the text the server adds when sending
    version: 0,         // changes made ...
    savedVersion: 0,    // ... and the last one saved as a draft
    timers: {}, saving: null, sending: false, closed: false, left: false, sigSeq: 0, focused: false,
    ui: {},             // this drawing's elements
  };
  c.editor = h('div', { class: 'editor', contenteditable: 'true', role: 'textbox', 'aria-multiline': 'true', spellcheck: 'true', 'data-test': 'editor' });
  c.area = textarea('body', { class: 'plain-body', rows: '14', 'data-test': 'body' });
  c.editor.addEventListener('input', () => composeChanged(c, 'body'));
  c.area.addEventListener('input', () => composeChanged(c, 'body'));
  c.editor.addEventListener('paste', (ev) => {
    // Pictures and files pasted in become attachments.
    const files = ev.clipboardData && ev.clipboardData.files;
    if (files && files.length) {
      ev.preventDefault();
      for (const f of files) uploadFile(c, f);
    }
  });
  let blocks = [];
  if (m && o.kind !== 'draft') {
    // Answer from the address the message came to, when it is one's own.
    const to = [...(m.to || []), ...(m.cc || [])].find((p) => own.has(lower(p.address)));
    const id = to && ids.find((i) => lower(i.address) === lower(to.address));
    if (id) c.from = id.address;
  }
  if (o.kind === 'reply' || o.kind === 'reply-all') {
    let targets = (m.reply_to && m.reply_to.length) ? m.reply_to : (m.from || []);
    // Answering one's own message (from Sent) goes to its recipients.
    if (targets.length && targets.every((p) => own.has(lower(p.address)))) targets = m.to || [];
    c.to = peopleText(targets, own);
    if (o.kind === 'reply-all') {
      c.cc = peopleText([...(m.to || []), ...(m.cc || [])], own, splitAddresses(c.to).map(bareAddress));
    }
    c.subject = replySubject(m.subject);
    c.reply_to = { folder: o.folder, uid: o.uid };
    const who = m.from && m.from.length ? personLabel(m.from[0]) : '—';
    const lines = messageText(m).replace(/\r\n?/g, '\n').replace(/\n+$/, '').split('\n');
    blocks = [{ lines: [''] }, { lines: [t('compose.wrote', { date: fmtTime(m.date), who })] }, { quote: lines }];
  } else if (o.kind === 'forward') {
    c.subject = forwardSubject(m.subject);
    c.forward = { folder: o.folder, uid: o.uid, as_attachment: false };
    const people = (list) => (list || []).map(personLabel).join(', ');
    const head = [t('compose.fwdHead'),
      t('mail.from') + ': ' + people(m.from),
      t('mail.date') + ': ' + fmtTime(m.date),
      t('mail.subject') + ': ' + (m.subject || ''),
      t('mail.to') + ': ' + people(m.to)];
    if (m.cc && m.cc.length) head.push(t('mail.cc') + ': ' + people(m.cc));
    blocks = [{ lines: [''] }, { lines: head }].concat(textBlocks(messageText(m)));
    c.files = (m.attachments || []).map((a) => ({
      name: a.name, size: a.size, type: a.type, ref: { folder: o.folder, uid: o.uid, index: a.index },
    }));
  } else if (o.kind === 'forward-attachment') {
    c.subject = forwardSubject(m.subject);
    c.forward = { folder: o.folder, uid: o.uid, as_attachment: true };
    c.files = [{ name: (m.subject || t('mail.noSubject')) + '.eml', type: 'message/rfc822', fixed: true }];
  } else if (o.kind === 'draft') {
    const sender = m.from && m.from[0];
    const id = sender && ids.find((i) => lower(i.address) === lower(sender.address));
    if (id) c.from = id.address;
    const all = new Set();
    c.to = peopleText(m.to, all);
    c.cc = peopleText(m.cc, all);
    c.bcc = peopleText(m.bcc, all);
    c.subject = m.subject || '';
    c.draft_uid = o.uid;
    c.files = (m.attachments || []).map((a) => ({
      name: a.name, size: a.size, type: a.type, ref: { folder: o.folder, uid: o.uid, index: a.index },
    }));
    // Written as rich text, it comes back so; else as plain text.
    c.plain = m.html === null || m.html === undefined;
    if (c.plain) c.area.value = m.text || '';
    else setKids(c.editor, importSafe(m.html));
  }
  c.showCc = !!c.cc;
  c.showBcc = !!c.bcc;
  if (o.kind !== 'draft') {
    if (c.plain) c.area.value = blocksToText(blocks);
    else setKids(c.editor, blocksToNodes(blocks));
  }
  refreshSignature(c, 0);
  return c;
}

/* Every change: the draft is saved DRAFT_WAIT after the last one; the
 * signature preview follows the header fields. */
function composeChanged(c, what) {
  if (c.closed || c.left) return;
  c.version++;
  clearTimeout(c.timers.draft);
  // While sending, no autosave: a draft saved now would outlive the sent message.
  if (c.sending) return;
  c.timers.draft = setTimeout(() => { saveDraft(c, false).catch(() => {}); }, DRAFT_WAIT);
  if (what !== 'body' && what !== 'files') refreshSignature(c, SIGNATURE_WAIT);
}

function stopComposerTimers(c) {
  for (const k of Object.keys(c.timers)) clearTimeout(c.timers[k]);
}

/* The page is changing under the composer: what was not saved yet is
 * saved now (the body is read while the editor is still on the page). */
function leaveComposer(c) {
  stopComposerTimers(c);
  if (!c.closed && !c.sending && c.version !== c.savedVersion) saveDraft(c, false).catch(() => {});
  c.left = true;
}

/* The body as sent: in rich mode the editor's HTML (the user's own; the
 * server cleans it) and its text, in plain mode the text alone. */
function composeBody(c) {
  if (c.plain) return { text: c.area.value, html: null };
  return { text: editorText(c.editor), html: c.editor.innerHTML };
}

/* The draft as /mail/draft and /mail/send take it, and the attachments
 * in the order sent. */
function draftBody(c, body) {
  const items = c.files.filter((f) => !f.pending && !f.fixed && (f.upload || f.ref));
  return {
    items,
    body: {
      from: c.from,
      to: splitAddresses(c.to),
      cc: splitAddresses(c.cc),
      bcc: splitAddresses(c.bcc),
      subject: c.subject,
      text: body.text,
      html: body.html,
      attachments: items.map((f) => (f.upload ? { upload: f.upload } : f.ref)),
      reply_to: c.reply_to,
      forward: c.forward,
      draft_uid: c.draft_uid,
    },
  };
}

function clockNow() {
  return new Date().toLocaleTimeString(locale(), { hour: '2-digit', minute: '2-digit' });
}

/* Saves the draft (now: manual; else only when something changed since
 * the last save). Saves run one after another, each replacing the last. */
function saveDraft(c, manual) {
  clearTimeout(c.timers.draft);
  const version = c.version;
  const body = composeBody(c);
  const run = async () => {
    if (c.closed || (!manual && version === c.savedVersion) || (!manual && c.sending)) return;
    const { body: draft, items } = draftBody(c, body);
    setDraftStatus(c, 'compose.saving');
    try {
      const r = await api('POST', '/api/v1/mail/draft', draft);
      const folder = (r && r.folder) || c.info.drafts || 'Drafts';
      const old = c.draft_uid;
      c.draft_uid = r && r.uid !== undefined ? r.uid : c.draft_uid;
      // Attachments taken from the draft now replaced are in the new one:
      // the files in the order sent, then the whole messages (message/rfc822,
      // which the server puts last).
      const whole = (f) => !!f.ref && /^message\/rfc822$/i.test(f.type || '');
      items.filter((f) => !whole(f)).concat(items.filter(whole)).forEach((f, i) => {
        if (f.ref && old !== null && f.ref.folder === folder && f.ref.uid === old) f.ref = { folder, uid: c.draft_uid, index: i };
      });
      c.savedVersion = Math.max(c.savedVersion, version);
      setDraftStatus(c, 'compose.savedAt', { time: clockNow() });
    } catch (e) {
      setDraftStatus(c, 'compose.notSaved', { error: e.message }, true);
      if (manual) throw e;
    }
  };
  c.saving = (c.saving || Promise.resolve()).catch(() => {}).then(run);
  return c.saving;
}

function setDraftStatus(c, key, vars, bad) {
  c.status = { key, vars, bad };
  drawDraftStatus(c);
}

function drawDraftStatus(c) {
  const el = c.ui.status;
  if (!el) return;
  el.classList.toggle('bad', !!(c.status && c.status.bad));
  setKids(el, c.status ? t(c.status.key, c.status.vars) : '');
}

/* The refusal of a send (or of a file), shown at the top of the composer. */
function setComposeError(c, text) {
  c.error = text || '';
  drawComposeError(c);
  if (c.error && c.ui.error) c.ui.error.scrollIntoView({ block: 'nearest' });
}

function drawComposeError(c) {
  if (!c.ui.error) return;
  setKids(c.ui.error, c.error
    ? h('div', { role: 'alert', class: 'msg msg-error compose-error', 'data-test': 'compose-error' }, c.error)
    : null);
}

/* The signature and footer the server will add, for these header fields
 * (asked again after changes; a failed ask keeps the last answer). */
function refreshSignature(c, wait) {
  clearTimeout(c.timers.sig);
  c.timers.sig = setTimeout(async () => {
    if (c.closed || c.left) return;
    const seq = ++c.sigSeq;
    let r = null;
    try {
      r = await api('POST', '/api/v1/mail/signature', {
        from: c.from, to: splitAddresses(c.to), cc: splitAddresses(c.cc), bcc: splitAddresses(c.bcc),
        subject: c.subject, reply: !!c.reply_to,
      });
    } catch (e) {
      return;
    }
    if (seq !== c.sigSeq || !r) return;
    c.signature = typeof r.text === 'string' ? r.text : '';
    drawSignature(c);
  }, wait);
}

function drawSignature(c) {
  if (!c.ui.sig) return;
  c.ui.sig.hidden = !c.signature;
  setKids(c.ui.sigText, c.signature);
}

// ---- attachments

/* Uploads FILE at once (its own request, with progress), refusing locally
 * what could never be sent. */
function uploadFile(c, file) {
  const max = Number(c.info.max_message_size) || 0;
  const total = c.files.reduce((n, f) => n + (Number(f.size) || 0), 0) + file.size;
  if (max && file.size > max) {
    setComposeError(c, t('compose.tooBig', { name: file.name, size: fmtSize(file.size), max: fmtSize(max) }));
    return;
  }
  if (max && total > max) {
    setComposeError(c, t('compose.tooBigTotal', { name: file.name, max: fmtSize(max) }));
    return;
  }
  const item = { name: file.name, size: file.size, type: file.type || 'application/octet-stream', progress: 0 };
  const url = '/api/v1/mail/upload?name=' + enc(file.name) + '&type=' + enc(item.type);
  item.pending = new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    item.xhr = xhr;
    const finish = (error) => {
      delete item.pending;
      delete item.xhr;
      if (error) {
        c.files = c.files.filter((f) => f !== item);
        setComposeError(c, t('compose.uploadFailed', { name: item.name, error }));
      }
      drawFiles(c);
      if (!error) composeChanged(c, 'files');
      resolve();
    };
    xhr.open('POST', url);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    if (state.csrf) xhr.setRequestHeader('X-CSRF-Token', state.csrf);
    xhr.upload.addEventListener('progress', (ev) => {
      if (!ev.lengthComputable) return;
      item.progress = ev.total ? ev.loaded / ev.total : 0;
      if (item.bar) item.bar.value = item.progress;
    });
    xhr.addEventListener('load', () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
      if (data && typeof data.csrf === 'string' && data.csrf) state.csrf = data.csrf;
      if (xhr.status >= 200 && xhr.status < 300 && data && data.id) {
        item.upload = data.id;
        item.name = data.name || item.name;
        if (data.size !== undefined) item.size = data.size;
        item.type = data.type || item.type;
        finish(null);
        return;
      }
      if (xhr.status === 401 && state.signedIn) {
        sessionEnded(data && data.error);
        resolve();
        return;
      }
      finish((data && typeof data.error === 'string' && data.error) || t('err.status', { status: xhr.status }));
    });
    xhr.addEventListener('error', () => finish(t('err.network')));
    xhr.addEventListener('abort', () => { delete item.pending; resolve(); });
    xhr.send(file);
  });
  c.files.push(item);
  drawFiles(c);
}

function removeFile(c, item) {
  if (item.fixed) return;
  if (item.xhr) item.xhr.abort();
  c.files = c.files.filter((f) => f !== item);
  drawFiles(c);
  composeChanged(c, 'files');
}

/* The attachments as chips: name, size, a progress bar while uploading,
 * and × to remove (not the forwarded message itself). */
function drawFiles(c) {
  const list = c.ui.files;
  if (!list) return;
  list.hidden = !c.files.length;
  setKids(list, c.files.map((f) => {
    f.bar = f.pending ? h('progress', { class: 'upload', max: '1', value: String(f.progress || 0), 'aria-label': t('compose.uploading', { name: f.name }) }) : null;
    return h('li', {
      class: 'chip' + (f.fixed ? ' chip-fixed' : ''), 'data-test': 'compose-attachment',
      'data-state': f.pending ? 'uploading' : 'ready', title: f.fixed ? t('compose.wholeMessage') : null,
    },
    h('span', { class: 'chip-name' }, f.name),
    f.size !== undefined && f.size !== null ? h('small', { class: 'chip-size' }, fmtSize(f.size)) : null,
    f.bar,
    f.fixed ? null : h('button', {
      type: 'button', class: 'chip-remove', 'data-test': 'remove-attachment',
      'aria-label': t('compose.remove', { name: f.name }), title: t('compose.remove', { name: f.name }),
      onclick: () => removeFile(c, f),
    }, '×'));
  }));
}

// ---- recipient fields with suggestions

/* A recipient field: a text input, and under it the addresses the server
 * suggests for the word being typed (arrows choose, Enter or a click
 * completes it as "Name <address>", Escape closes). */
function recipientField(c, name) {
  const listId = 'f' + (++uid);
  const inp = input(name, {
    value: c[name], autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false', inputmode: 'email',
    role: 'combobox', 'aria-autocomplete': 'list', 'aria-expanded': 'false', 'aria-controls': listId,
    placeholder: name === 'to' ? t('compose.toPh') : null,
  });
  const list = h('ul', { class: 'suggestions', id: listId, role: 'listbox', hidden: true, 'aria-label': t('compose.suggestions') });
  const s = { items: [], active: 0, seq: 0, timer: null };
  // The word at the caret: between the separators around it.
  const word = () => {
    const v = inp.value;
    const caret = inp.selectionStart === null ? v.length : inp.selectionStart;
    let start = caret;
    while (start > 0 && !SEPARATOR.test(v[start - 1])) start--;
    let end = caret;
    while (end < v.length && !SEPARATOR.test(v[end])) end++;
    return { start, end, text: v.slice(start, end).trim() };
  };
  const close = () => {
    s.items = [];
    list.hidden = true;
    setKids(list);
    inp.setAttribute('aria-expanded', 'false');
    inp.removeAttribute('aria-activedescendant');
  };
  const draw = () => {
    setKids(list, s.items.map((p, i) => h('li', {
      id: listId + '-' + i, role: 'option', 'aria-selected': String(i === s.active),
      class: i === s.active ? 'active' : null, 'data-address': p.address,
      onmousedown: (ev) => ev.preventDefault(), // the input keeps the focus
      onclick: () => pick(i),
    }, p.name ? [h('span', { class: 's-name' }, p.name), ' ', h('span', { class: 's-address' }, '<' + p.address + '>')] : p.address)));
    list.hidden = !s.items.length;
    inp.setAttribute('aria-expanded', String(!!s.items.length));
    if (s.items.length) inp.setAttribute('aria-activedescendant', listId + '-' + s.active);
  };
  const pick = (i) => {
    const p = s.items[i];
    if (!p) return;
    const w = word();
    const v = inp.value;
    const before = v.slice(0, w.start);
    const head = before + (before && !/\s$/.test(before) ? ' ' : '') + mailboxText(p) + ', ';
    const rest = v.slice(w.end).replace(/^[,;，；]\s*/, '');
    inp.value = head + rest;
    inp.setSelectionRange(head.length, head.length);
    close();
    c[name] = inp.value;
    composeChanged(c, name);
    inp.focus();
  };
  const lookup = async () => {
    const w = word();
    if (!w.text || /[<>"]/.test(w.text)) return close();
    const seq = ++s.seq;
    let r = null;
    try {
      r = await api('GET', '/api/v1/mail/contacts?q=' + enc(w.text));
    } catch (e) {
      r = null;
    }
    if (seq !== s.seq || document.activeElement !== inp) return;
    const have = new Set(splitAddresses(inp.value).map(bareAddress));
    s.items = ((r && r.contacts) || []).filter((p) => p && p.address && !have.has(lower(p.address)));
    s.active = 0;
    draw();
  };
  inp.addEventListener('input', () => {
    c[name] = inp.value;
    composeChanged(c, name);
    clearTimeout(s.timer);
    s.timer = setTimeout(lookup, LOOKUP_WAIT);
  });
  inp.addEventListener('keydown', (ev) => {
    if (list.hidden || !s.items.length) return;
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      ev.preventDefault();
      const n = s.items.length;
      s.active = (s.active + (ev.key === 'ArrowDown' ? 1 : n - 1)) % n;
      draw();
    } else if (ev.key === 'Enter') {
      ev.preventDefault();
      pick(s.active);
    } else if (ev.key === 'Escape') {
      ev.preventDefault();
      close();
    }
  });
  inp.addEventListener('blur', () => { clearTimeout(s.timer); s.seq++; close(); });
  return { input: inp, box: h('div', { class: 'recipient' }, inp, list) };
}

// ---- the editor's toolbar

const FORMATS = [
  ['bold', 'B', 'compose.bold', 'fmt-bold'],
  ['italic', 'I', 'compose.italic', 'fmt-italic'],
  ['underline', 'U', 'compose.underline', 'fmt-underline'],
  ['insertUnorderedList', '•', 'compose.bullets'],
  ['insertOrderedList', '1.', 'compose.numbers'],
  ['link', null, 'compose.link'],
  ['removeFormat', null, 'compose.clear'],
];

function editorTools(c) {
  const run = (cmd) => {
    c.editor.focus();
    if (cmd === 'link') addLink(c);
    else if (cmd === 'removeFormat') {
      document.execCommand('removeFormat', false, null);
      document.execCommand('unlink', false, null);
    } else document.execCommand(cmd, false, null);
    composeChanged(c, 'body');
    updateTools(c);
  };
  const buttons = FORMATS.map(([cmd, glyph, key, cls]) => h('button', {
    type: 'button', class: 'small fmt' + (cls ? ' ' + cls : ''), 'data-cmd': cmd, 'data-test': 'fmt-' + cmd,
    title: t(key), 'aria-label': t(key), 'aria-pressed': ['bold', 'italic', 'underline', 'insertUnorderedList', 'insertOrderedList'].includes(cmd) ? 'false' : null,
    onmousedown: (ev) => ev.preventDefault(), // the selection stays in the editor
    onclick: () => run(cmd),
  }, glyph || t(key + 'Short')));
  return h('div', { class: 'fmt-group', role: 'group', 'aria-label': t('compose.toolbar') }, buttons);
}

/* A link on the selected words (or the address itself at the caret):
 * web and mail addresses only. */
function addLink(c) {
  const sel = window.getSelection();
  const range = sel.rangeCount && c.editor.contains(sel.getRangeAt(0).commonAncestorContainer) ? sel.getRangeAt(0).cloneRange() : null;
  let url = prompt(t('compose.linkPrompt'), 'https://');
  if (!url) return;
  url = url.trim();
  if (/^www\./i.test(url)) url = 'https://' + url;
  else if (/^[^\s@/:]+@[^\s@/]+\.[^\s@/]+$/.test(url)) url = 'mailto:' + url;
  if (!/^(https?:\/\/[^\s/]+|mailto:[^\s@]+@)\S*$/i.test(url)) {
    setComposeError(c, t('compose.linkBad'));
    return;
  }
  c.editor.focus();
  if (range) {
    sel.removeAllRanges();
    sel.addRange(range);
  }
  if (range && !range.collapsed) {
    document.execCommand('createLink', false, url);
    return;
  }
  const a = h('a', { href: url }, url.replace(/^mailto:/i, ''));
  const at = range || (() => { const r = document.createRange(); r.selectNodeContents(c.editor); r.collapse(false); return r; })();
  at.insertNode(a);
  at.setStartAfter(a);
  at.collapse(true);
  sel.removeAllRanges();
  sel.addRange(at);
}

/* The pressed state of the formatting buttons follows the caret. */
function updateTools(c) {
  if (!c.ui.tools) return;
  for (const b of c.ui.tools.querySelectorAll('[aria-pressed]')) {
    let on = false;
    try { on = document.queryCommandState(b.getAttribute('data-cmd')); } catch (e) { on = false; }
    b.setAttribute('aria-pressed', String(!!on));
  }
}

let toolsWatched = false;

function watchTools() {
  if (toolsWatched) return;
  toolsWatched = true;
  document.addEventListener('selectionchange', () => {
    const c = state.ps && state.ps.compose;
    if (c && !c.plain && document.activeElement === c.editor) updateTools(c);
  });
}

/* Rich text ⇄ plain text: the text is the editor's as it reads; back, the
 * text becomes paragraphs of text nodes. */
function setPlain(c, plain) {
  if (plain === c.plain) return;
  if (plain) c.area.value = editorText(c.editor);
  else setKids(c.editor, textToNodes(c.area.value));
  c.plain = plain;
  try { localStorage.setItem(PLAIN_KEY, plain ? '1' : '0'); } catch (e) { /* storage may be off */ }
  drawMode(c);
  composeChanged(c, 'body');
  (plain ? c.area : c.editor).focus();
}

function drawMode(c) {
  c.editor.hidden = c.plain;
  c.area.hidden = !c.plain;
  if (c.ui.tools) c.ui.tools.hidden = c.plain;
  if (c.ui.toggle) c.ui.toggle.setAttribute('aria-pressed', String(c.plain));
}

/* The caret where writing starts: the top of the body for an answer or
 * a draft, else the To field. */
function focusComposer(c) {
  if (c.focused || !c.ui.to) return;
  c.focused = true;
  if (!['reply', 'reply-all', 'draft'].includes(c.kind)) {
    c.ui.to.focus();
    return;
  }
  if (c.plain) {
    c.area.focus();
    c.area.setSelectionRange(0, 0);
    return;
  }
  c.editor.focus();
  const r = document.createRange();
  r.setStart(c.editor.firstChild || c.editor, 0);
  r.collapse(true);
  const sel = window.getSelection();
  sel.removeAllRanges();
  sel.addRange(r);
}

// ---- sending, saving, discarding

async function sendComposed(c) {
  setComposeError(c, '');
  if (![c.to, c.cc, c.bcc].some((v) => splitAddresses(v).length)) {
    setComposeError(c, t('compose.noRecipient'));
    if (c.ui.to) c.ui.to.focus();
    return;
  }
  c.sending = true;
  clearTimeout(c.timers.draft);
  try {
    // Files still uploading go with it; a draft being saved finishes first
    // (so the server deletes the right one).
    await Promise.all(c.files.filter((f) => f.pending).map((f) => f.pending));
    if (c.saving) await c.saving.catch(() => {});
    const { body } = draftBody(c, composeBody(c));
    await api('POST', '/api/v1/mail/send', body, { long: true });
    c.closed = true;
    stopComposerTimers(c);
    state.flash = t('compose.sent');
    go(mailHref(c.back));
  } catch (e) {
    if (e && e.handled) throw e;
    // Refused (422: a recipient, a limit, the filter): the words stay in
    // the composer, with everything as it was.
    setComposeError(c, e instanceof Error ? e.message : String(e));
  } finally {
    c.sending = false;
  }
}

async function discardComposed(c) {
  const something = c.version > 0 || c.draft_uid !== null;
  if (something && !confirm(t('compose.discardConfirm'))) return;
  c.closed = true;
  stopComposerTimers(c);
  for (const f of c.files) if (f.xhr) f.xhr.abort();
  try {
    if (c.saving) await c.saving.catch(() => {});
    if (c.draft_uid !== null) {
      await api('POST', '/api/v1/mail/delete', { folder: c.info.drafts || 'Drafts', uids: [c.draft_uid] });
    }
  } catch (e) {
    c.closed = false;
    throw e;
  }
  go(mailHref(c.back));
}

/* Back to the folder, the draft kept (saved first if it changed). */
async function closeComposed(c) {
  if (c.version !== c.savedVersion) await saveDraft(c, true);
  c.closed = true;
  stopComposerTimers(c);
  go(mailHref(c.back));
}

// ---- drawing the composer

function renderComposer(view, c) {
  watchTools();
  const ui = c.ui = {};
  const ids = Array.isArray(c.info.identities) && c.info.identities.length
    ? c.info.identities : [{ address: c.from || state.address, name: null }];
  const row = (label, control, target, extra, attrs) => {
    if (!target.id) target.id = 'f' + (++uid);
    return h('div', Object.assign({ class: 'compose-row' }, attrs || {}),
      h('label', { for: target.id }, label), control, extra ? h('span', { class: 'row-extra' }, extra) : null);
  };
  const from = select('from', ids.map((i) => [i.address, mailboxText(i)]), { value: c.from });
  from.addEventListener('change', () => { c.from = from.value; composeChanged(c, 'from'); });
  const to = recipientField(c, 'to');
  const cc = recipientField(c, 'cc');
  const bcc = recipientField(c, 'bcc');
  ui.to = to.input;
  const ccRow = row(t('compose.cc'), cc.box, cc.input, null, { hidden: !c.showCc, 'data-test': 'cc-row' });
  const bccRow = row(t('compose.bcc'), bcc.box, bcc.input, null, { hidden: !c.showBcc, 'data-test': 'bcc-row' });
  const reveal = (which, rowEl, field) => {
    const b = h('button', {
      type: 'button', class: 'link', 'data-test': 'show-' + which, hidden: c[which === 'cc' ? 'showCc' : 'showBcc'],
      onclick: () => {
        c[which === 'cc' ? 'showCc' : 'showBcc'] = true;
        rowEl.hidden = false;
        b.hidden = true;
        field.focus();
      },
    }, t('compose.' + which));
    return b;
  };
  const subject = input('subject', { value: c.subject, autocomplete: 'off' });
  subject.addEventListener('input', () => { c.subject = subject.value; composeChanged(c, 'subject'); });

  // The editor and its toolbar; the plain-text switch.
  ui.tools = editorTools(c);
  ui.toggle = h('button', {
    type: 'button', id: 'plain-toggle', class: 'small', 'data-test': 'plain-toggle', 'aria-pressed': String(c.plain),
    onclick: () => setPlain(c, !c.plain),
  }, t('compose.plain'));
  c.editor.setAttribute('aria-label', t('compose.body'));
  c.area.setAttribute('aria-label', t('compose.body'));
  drawMode(c);

  // The signature the server adds, read-only.
  ui.sigText = h('pre', { class: 'signature-preview', 'data-test': 'compose-signature' });
  ui.sig = h('div', { class: 'signature-box', hidden: true }, h('p', { class: 'hint' }, t('compose.signature')), ui.sigText);
  drawSignature(c);

  // Attachments: a button for the file picker, and dropping files anywhere
  // on the composer.
  const picker = h('input', { type: 'file', id: 'attach-input', multiple: true, class: 'file-input', tabindex: '-1', 'aria-hidden': 'true' });
  picker.addEventListener('change', () => {
    for (const f of picker.files) uploadFile(c, f);
    picker.value = '';
  });
  ui.files = h('ul', { class: 'chips', 'data-test': 'compose-attachments', 'aria-label': t('compose.attachments') });
  drawFiles(c);

  const send = actionButton(t('compose.send'), 'send', () => sendComposed(c), { id: 'send', class: 'primary', disabled: c.sending });
  ui.status = h('span', { class: 'draft-status', role: 'status', 'aria-live': 'polite', 'data-test': 'draft-status' });
  drawDraftStatus(c);
  ui.error = h('div', { class: 'compose-error-slot' });
  drawComposeError(c);

  const root = h('section', { class: 'card composer', 'data-test': 'composer', 'aria-labelledby': 'compose-title' },
    h('div', { class: 'card-head' }, h('h2', { id: 'compose-title' }, t('compose.title.' + c.kind)),
      h('button', { type: 'button', class: 'link', 'data-test': 'compose-close', onclick: (ev) => act(ev.currentTarget, () => closeComposed(c)) }, t('compose.close'))),
    ui.error,
    h('div', { class: 'compose-fields' },
      row(t('compose.from'), from, from),
      row(t('compose.to'), to.box, to.input, [reveal('cc', ccRow, cc.input), reveal('bcc', bccRow, bcc.input)]),
      ccRow,
      bccRow,
      row(t('compose.subject'), subject, subject)),
    h('div', { class: 'compose-body' },
      h('div', { class: 'toolbar editor-toolbar' }, ui.tools, h('span', { class: 'spacer' }), ui.toggle),
      c.editor, c.area),
    ui.sig,
    h('div', { class: 'compose-files' },
      ui.files,
      h('div', { class: 'toolbar' },
        button(t('compose.attach'), 'attach', { class: 'small', onclick: () => picker.click() }),
        h('small', { class: 'hint' }, t('compose.dropHint')), picker)),
    h('div', { class: 'actions compose-actions' },
      send,
      actionButton(t('compose.saveDraft'), 'save-draft', () => saveDraft(c, true).catch((e) => {
        if (e && e.handled) throw e;
        setComposeError(c, e.message);
      }), { id: 'save-draft' }),
      actionButton(t('compose.discard'), 'discard', () => discardComposed(c), { id: 'discard', class: 'danger' }),
      ui.status));

  // Files dropped on the composer are attached (not opened by the browser,
  // not put into the editor).
  const hasFiles = (ev) => ev.dataTransfer && [...(ev.dataTransfer.types || [])].includes('Files');
  root.addEventListener('dragover', (ev) => {
    if (!hasFiles(ev)) return;
    ev.preventDefault();
    ev.dataTransfer.dropEffect = 'copy';
    root.classList.add('dragging');
  });
  root.addEventListener('dragleave', (ev) => {
    if (!ev.relatedTarget || !root.contains(ev.relatedTarget)) root.classList.remove('dragging');
  });
  root.addEventListener('drop', (ev) => {
    root.classList.remove('dragging');
    if (!hasFiles(ev)) return;
    ev.preventDefault();
    for (const f of ev.dataTransfer.files) uploadFile(c, f);
  });
  // Ctrl+Enter (⌘+Enter) sends.
  root.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey) && !send.disabled) {
      ev.preventDefault();
      send.click();
    }
  });
  view.append(pageHead(t('title.mail'), null), root);
  // After the page has been swapped in.
  setTimeout(() => focusComposer(c), 0);
}

// ---------------------------------------------------------------- signatures

const WHEN = ['always', 'new', 'reply', 'external', 'internal'];
const SIG_PLACEHOLDERS = ['name', 'title', 'company', 'phone', 'mobile', 'website', 'address'];

async function renderSignatures(view) {
  const listBox = h('div');
  const previewBox = h('div', { class: 'preview' });
  const f = signatureForm(previewBox, () => refresh());
  async function refresh() {
    const list = await api('GET', userPath('/signatures'));
    setKids(listBox, signatureTable(list || [], f, refresh));
  }
  await refresh();
  view.append(pageHead(t('title.signatures'), t('sig.lead')),
    card(t('sig.list'), listBox),
    card(t('sig.edit'), f, previewBox),
    card(t('prof.title'), h('p', { class: 'hint' }, t('prof.lead')), await profileForm()));
}

/* The details {title}, {company} ... are filled with; empty fields fall
 * back on the company's (set by the administrator). */
async function profileForm() {
  const p = (await api('GET', userPath('/profile'))) || {};
  const fields = ['title', 'company', 'phone', 'mobile', 'website', 'address', 'zone'];
  const f = form({ class: 'stack', 'data-test': 'profile-form' }, async (v) => {
    const body = {};
    for (const k of fields) body[k] = v[k].trim();
    await api('PATCH', userPath('/profile'), body);
    showNotice(t('prof.saved'));
  },
  h('div', { class: 'row-fields' },
    field(t('prof.f.title'), input('title', { value: p.title || '', autocomplete: 'organization-title' })),
    field(t('prof.f.company'), input('company', { value: p.company || '', autocomplete: 'organization' }))),
  h('div', { class: 'row-fields' },
    field(t('prof.f.phone'), input('phone', { value: p.phone || '', type: 'tel' })),
    field(t('prof.f.mobile'), input('mobile', { value: p.mobile || '', type: 'tel' }))),
  field(t('prof.f.website'), input('website', { value: p.website || '', type: 'url' })),
  field(t('prof.f.address'), input('address', { value: p.address || '', autocomplete: 'street-address' })),
  field(t('prof.f.zone'), input('zone', { value: p.zone || '', placeholder: 'Asia/Shanghai' }), t('prof.zoneHint')),
  actions(submit(t('b.save'), 'profile-save')));
  return f;
}

function signatureTable(list, f, refresh) {
  const cols = [
    { label: t('f.name'), cell: (s) => s.name },
    { label: t('sig.when'), cell: (s) => tv('when', s.when) },
    { label: t('sig.domains'), cell: (s) => (s.domains && s.domains.length ? s.domains.join(', ') : t('sig.allDomains')) },
    { label: t('sig.text'), cell: (s) => h('span', { class: 'clip' }, String(s.text || '').split('\n')[0]) },
    { label: t('actions'), class: 'cell-actions', cell: (s) => [
      button(t('b.edit'), 'signature-edit', { class: 'small', onclick: () => {
        fillForm(f, { name: s.name, when: s.when || 'always', domains: (s.domains || []).join(', '), text: s.text || '', html: s.html || '' });
        f.scrollIntoView({ behavior: 'smooth', block: 'start' });
        f.elements.text.focus();
      } }),
      actionButton(t('b.delete'), 'signature-delete', async () => {
        await api('DELETE', userPath('/signatures/' + enc(s.name)));
        showNotice(t('sig.deleted', { name: s.name }));
        await refresh();
      }, { class: 'danger small' }),
    ] },
  ];
  return table(cols, list, (s) => ({ 'data-name': s.name }), { 'data-test': 'signatures' });
}

function signatureForm(previewBox, refresh) {
  const preview = button(t('b.preview'), 'signature-preview');
  const f = form({ class: 'stack', 'data-test': 'signature-form' }, async (v) => {
    const name = v.name.trim() || 'default';
    await api('PUT', userPath('/signatures/' + enc(name)), {
      when: v.when, domains: csv(v.domains), text: v.text, html: nul(v.html),
    });
    showNotice(t('sig.saved', { name }));
    await refresh();
  },
  h('div', { class: 'row-fields' },
    field(t('f.name'), input('name', { value: 'default', autocomplete: 'off' })),
    field(t('sig.when'), select('when', WHEN.map((w) => [w, tv('when', w)]), { value: 'always' }))),
  field(t('sig.domains'), input('domains', { placeholder: 'example.com, partner.cn', autocomplete: 'off' }), t('sig.domainsHint')),
  field(t('sig.text'), textarea('text', { rows: '6' }), placeholderHelp('sig.ph', SIG_PLACEHOLDERS)),
  field(t('sig.html'), textarea('html', { rows: '5', spellcheck: 'false' }), t('sig.htmlHint')),
  actions(preview, submit(t('b.save'), 'signature-save')));
  preview.addEventListener('click', () => act(preview, async () => {
    const v = values(f);
    const r = await api('POST', userPath('/signatures/preview'), { text: v.text, html: nul(v.html) });
    setKids(previewBox,
      h('h3', {}, t('sig.previewText')),
      h('pre', { 'data-test': 'preview-text' }, (r && r.text) || ''),
      r && r.html ? [h('h3', {}, t('sig.previewHtml')),
        h('iframe', { sandbox: '', 'data-test': 'preview-html', srcdoc: r.html, title: t('sig.previewHtml') })] : null);
  }));
  return f;
}

/* "{name} — your name, ..." as a list of codes and words. */
function placeholderHelp(prefix, names) {
  return h('span', {}, t('placeholders'), ' ',
    names.map((n, i) => [i ? ', ' : '', h('code', {}, '{' + n + '}'), ' ', t(prefix + '.' + n)]));
}

// ---------------------------------------------------------------- auto-replies

const SCENARIOS = ['out-of-office', 'holidays', 'after-hours', 'acknowledge'];
const REPLY_PLACEHOLDERS = ['name', 'opens', 'opens_sender', 'subject'];

async function renderAutoreplies(view) {
  const listBox = h('div');
  const f = autoreplyForm(() => refresh());
  async function refresh() {
    const list = await api('GET', userPath('/autoreplies'));
    setKids(listBox, autoreplyTable(list || [], f, refresh));
  }
  await refresh();
  view.append(pageHead(t('title.autoreplies'), t('ar.lead')),
    card(t('ar.list'), listBox),
    card(t('ar.edit'), f));
}

function autoreplyTable(list, f, refresh) {
  const period = (r) => {
    if (!r.from && !r.until) return t('ar.noDates');
    return (r.from || '…') + ' – ' + (r.until || '…');
  };
  const cols = [
    { label: t('f.name'), cell: (r) => r.name },
    { label: t('ar.scenario'), cell: (r) => tv('scenario', r.scenario) },
    { label: t('ar.subject'), cell: (r) => r.subject || '—' },
    { label: t('ar.period'), cell: period },
    { label: t('ar.state'), cell: (r) => h('span', { class: 'pill ' + (r.active ? 'pill-on' : 'pill-off') }, r.active ? t('ar.active') : t('ar.inactive')) },
    { label: t('actions'), class: 'cell-actions', cell: (r) => [
      button(t('b.edit'), 'autoreply-edit', { class: 'small', onclick: () => {
        fillForm(f, {
          name: r.name, scenario: r.scenario, subject: r.subject || '', text: r.text || '', html: r.html || '',
          from: dateInputValue(r.from), until: dateInputValue(r.until), hours: r.hours || '09:00-18:00',
          workdays: r.workdays || 'mon-fri', calendar: r.calendar || '', sender_domains: (r.sender_domains || []).join(', '),
          language: r.language || '', days: r.days || 7,
        });
        f.scrollIntoView({ behavior: 'smooth', block: 'start' });
      } }),
      actionButton(t('b.delete'), 'autoreply-delete', async () => {
        await api('DELETE', userPath('/autoreplies/' + enc(r.name)));
        showNotice(t('ar.deleted', { name: r.name }));
        await refresh();
      }, { class: 'danger small' }),
    ] },
  ];
  return table(cols, list, (r) => ({ 'data-name': r.name }), { 'data-test': 'autoreplies' });
}

function autoreplyForm(refresh) {
  const scenario = select('scenario', SCENARIOS.map((s) => [s, tv('scenario', s)]), { value: 'out-of-office' });
  const explain = h('small', { class: 'hint' });
  const hoursBox = h('div', { class: 'row-fields' },
    field(t('ar.hours'), input('hours', { value: '09:00-18:00', autocomplete: 'off' }), t('ar.hoursHint')),
    field(t('ar.workdays'), input('workdays', { value: 'mon-fri', autocomplete: 'off' }), t('ar.workdaysHint')));
  const calendarBox = h('div', {},
    field(t('ar.calendar'), input('calendar', { autocomplete: 'off' }), t('ar.calendarHint')));
  function sync() {
    explain.textContent = t('scenario.' + scenario.value + '.help');
    hoursBox.hidden = scenario.value !== 'after-hours';
    calendarBox.hidden = scenario.value !== 'holidays';
  }
  scenario.addEventListener('change', sync);
  sync();
  if (!scenario.id) scenario.id = 'f' + (++uid);
  explain.id = scenario.id + '-hint';
  scenario.setAttribute('aria-describedby', explain.id);
  return form({ class: 'stack', 'data-test': 'autoreply-form' }, async (v) => {
    const name = v.name.trim() || 'default';
    const days = parseInt(v.days, 10);
    await api('PUT', userPath('/autoreplies/' + enc(name)), {
      scenario: v.scenario,
      subject: v.subject,
      text: v.text,
      html: nul(v.html),
      from: nul(v.from),
      until: nul(v.until),
      hours: v.hours.trim() || '09:00-18:00',
      workdays: v.workdays.trim() || 'mon-fri',
      calendar: nul(v.calendar),
      sender_domains: csv(v.sender_domains),
      language: nul(v.language),
      days: Number.isFinite(days) && days > 0 ? days : 7,
    });
    showNotice(t('ar.saved', { name }));
    await refresh();
  },
  h('div', { class: 'row-fields' },
    field(t('f.name'), input('name', { value: 'default', autocomplete: 'off' })),
    h('div', { class: 'field' }, h('label', { for: scenario.id }, t('ar.scenario')), scenario, explain)),
  hoursBox,
  calendarBox,
  field(t('ar.subject'), input('subject', { autocomplete: 'off' })),
  field(t('ar.text'), textarea('text', { rows: '6' }), placeholderHelp('ar.ph', REPLY_PLACEHOLDERS)),
  h('div', { class: 'row-fields' },
    field(t('ar.from'), input('from', { type: 'date' })),
    field(t('ar.until'), input('until', { type: 'date' }))),
  h('p', { class: 'hint' }, t('ar.datesHint')),
  h('details', {},
    h('summary', {}, t('more')),
    field(t('ar.senderDomains'), input('sender_domains', { autocomplete: 'off', placeholder: 'example.com, partner.cn' }), t('ar.senderDomainsHint')),
    h('div', { class: 'row-fields' },
      field(t('ar.language'), input('language', { autocomplete: 'off', placeholder: 'zh, en' }), t('ar.languageHint')),
      field(t('ar.days'), input('days', { type: 'number', min: '1', value: '7', inputmode: 'numeric' }), t('ar.daysHint'))),
    field(t('ar.html'), textarea('html', { rows: '4', spellcheck: 'false' }), t('ar.htmlHint'))),
  actions(submit(t('b.save'), 'autoreply-save')));
}

// ---------------------------------------------------------------- mail rules

async function renderRules(view) {
  const listBox = h('div');
  async function refresh() {
    const list = await api('GET', userPath('/rules'));
    const cols = [
      { label: t('rules.rule'), cell: (r) => r.description || '' },
      { label: t('actions'), class: 'cell-actions', cell: (r) => actionButton(t('b.delete'), 'rule-delete', async () => {
        await api('DELETE', userPath('/rules/' + enc(r.id)));
        showNotice(t('deleted'));
        await refresh();
      }, { class: 'danger small' }) },
    ];
    setKids(listBox, table(cols, list || [], (r) => ({ 'data-id': r.id }), { 'data-test': 'rules' }));
  }
  await refresh();
  const f = form({ class: 'stack', 'data-test': 'rule-form' }, async (v, formEl) => {
    const body = {};
    for (const k of ['from', 'to', 'subject', 'body', 'larger', 'smaller', 'move_to', 'reject']) {
      const s = nul(v[k]);
      if (s !== null) body[k] = s;
    }
    if (nul(v.header)) body.header = [v.header.trim()];
    const forward = csv(v.forward);
    if (forward.length) body.forward = forward;
    for (const k of ['attachment', 'any', 'no_keep', 'mark_read', 'flag', 'stop']) body[k] = !!v[k];
    await api('POST', userPath('/rules'), body);
    formEl.reset();
    showNotice(t('rules.added'));
    await refresh();
  },
  h('fieldset', {}, h('legend', {}, t('rules.if')),
    h('div', { class: 'row-fields' },
      field(t('rules.from'), input('from', { autocomplete: 'off' })),
      field(t('rules.to'), input('to', { autocomplete: 'off' }))),
    h('div', { class: 'row-fields' },
      field(t('rules.subject'), input('subject', { autocomplete: 'off' })),
      field(t('rules.body'), input('body', { autocomplete: 'off' }))),
    h('div', { class: 'row-fields' },
      field(t('rules.larger'), input('larger', { placeholder: '5M', autocomplete: 'off' }), t('rules.sizeHint')),
      field(t('rules.smaller'), input('smaller', { placeholder: '100K', autocomplete: 'off' }))),
    field(t('rules.header'), input('header', { placeholder: 'List-Id: news', autocomplete: 'off' }), t('rules.headerHint')),
    checkbox('attachment', t('rules.attachment')),
    checkbox('any', t('rules.any')),
    h('p', { class: 'hint' }, t('rules.containsHint'))),
  h('fieldset', {}, h('legend', {}, t('rules.then')),
    field(t('rules.moveTo'), input('move_to', { placeholder: t('rules.moveToPh'), autocomplete: 'off' })),
    field(t('rules.forward'), input('forward', { autocomplete: 'off', inputmode: 'email' }), t('rules.forwardHint')),
    checkbox('no_keep', t('rules.noKeep')),
    checkbox('mark_read', t('rules.markRead')),
    checkbox('flag', t('rules.flag')),
    field(t('rules.reject'), input('reject', { autocomplete: 'off' }), t('rules.rejectHint')),
    checkbox('stop', t('rules.stop'))),
  actions(submit(t('b.addRule'), 'rule-add')));
  view.append(pageHead(t('title.rules'), t('rules.lead')),
    card(t('rules.list'), listBox),
    card(t('rules.new'), f));
}

// ---------------------------------------------------------------- allow / block lists (own)

async function renderLists(view) {
  const me = state.address.toLowerCase();
  const listBox = h('div');
  async function refresh() {
    const all = await api('GET', '/api/v1/filter/rules');
    const mine = (all || []).filter((r) => (r.kind === 'allow' || r.kind === 'block') && String(r.scope || '').toLowerCase() === me);
    const cols = [
      { label: t('lists.kind'), cell: (r) => h('span', { class: 'pill pill-' + r.kind }, tv('kind', r.kind)) },
      { label: t('lists.pattern'), cell: (r) => code(r.pattern) },
      { label: t('created'), cell: (r) => fmtTime(r.created) },
      { label: t('actions'), class: 'cell-actions', cell: (r) => actionButton(t('b.delete'), 'list-delete', async () => {
        await api('DELETE', '/api/v1/filter/rules/' + enc(r.id));
        showNotice(t('deleted'));
        await refresh();
      }, { class: 'danger small' }) },
    ];
    setKids(listBox, table(cols, mine, (r) => ({ 'data-id': r.id }), { 'data-test': 'lists' }));
  }
  await refresh();
  const f = form({ class: 'inline-form', 'data-test': 'list-form' }, async (v, formEl) => {
    await api('POST', '/api/v1/filter/rules', { kind: v.kind, pattern: v.pattern.trim(), scope: state.address });
    formEl.reset();
    showNotice(t('lists.added'));
    await refresh();
  },
  field(t('lists.kind'), select('kind', [['allow', tv('kind', 'allow')], ['block', tv('kind', 'block')]])),
  field(t('lists.pattern'), input('pattern', { autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false' }), t('lists.patternHint')),
  actions(submit(t('b.add'), 'list-add')));
  view.append(pageHead(t('title.lists'), t('lists.lead')),
    card(t('lists.mine'), listBox),
    card(t('lists.new'), f));
}

// ---------------------------------------------------------------- quarantine (own and admin)

async function renderQuarantine(view, admin) {
  const listBox = h('div');
  const viewer = h('div');
  async function refresh() {
    const list = await api('GET', '/api/v1/quarantine');
    setKids(listBox, quarantineTable(list || [], admin, viewer, refresh));
  }
  await refresh();
  view.append(pageHead(t(admin ? 'title.admin/quarantine' : 'title.quarantine'), t(admin ? 'q.leadAdmin' : 'q.lead')),
    card(null, listBox), viewer);
}

function quarantineTable(list, admin, viewer, refresh) {
  const cols = [
    { label: t('q.time'), cell: (q) => fmtTime(q.created) },
    { label: t('q.from'), cell: (q) => q.sender || '—' },
  ];
  // An outside address an alias here forwards to: say which alias.
  const to = (q) => (q.recipients || []).map((r) => (q.via && q.via[r]
    ? t('q.via', { address: r, aliases: q.via[r].join(', ') }) : r));
  if (admin) cols.push({ label: t('q.to'), cell: (q) => to(q).join(', ') || '—' });
  cols.push(
    { label: t('q.subject'), cell: (q) => q.subject || t('q.noSubject') },
    { label: t('q.why'), cell: (q) => [h('span', { class: 'pill pill-' + q.kind }, tv('qkind', q.kind)), ' ', q.reason || ''] },
    { label: t('q.size'), cell: (q) => fmtSize(q.size) },
    { label: t('actions'), class: 'cell-actions', cell: (q) => quarantineButtons(q, viewer, refresh) });
  return table(cols, list, (q) => ({ 'data-id': q.id, 'data-kind': q.kind }), { 'data-test': 'quarantine' });
}

function quarantineButtons(q, viewer, refresh) {
  const path = '/api/v1/quarantine/' + enc(q.id);
  return [
    actionButton(t('b.view'), 'view', async () => {
      const r = await api('GET', path);
      // Each recipient's verdict: its reason and X-Spam fields.
      const verdicts = Object.entries((r && r.held && r.held.verdicts) || {});
      setKids(viewer, card(t('q.message', { subject: q.subject || t('q.noSubject') }),
        verdicts.length ? h('dl', { 'data-test': 'held-verdicts', class: 'verdicts' },
          verdicts.map(([who, v]) => [h('dt', {}, t('q.verdictFor', { address: who })),
            h('dd', {}, v.reason || '—', v.fields ? h('pre', { class: 'source' }, v.fields) : null)])) : null,
        h('pre', { 'data-test': 'held-text', class: 'source' }, (r && r.text) || ''),
        r && r.truncated ? h('p', { class: 'hint' }, t('q.truncated')) : null,
        actions(button(t('b.close'), 'close-view', { onclick: () => setKids(viewer) }))));
      viewer.scrollIntoView({ behavior: 'smooth', block: 'start' });
    }, { class: 'small' }),
    actionButton(t('b.release'), 'release', async () => {
      let body = {};
      if (q.kind === 'virus') {
        if (!window.confirm(t('q.virusConfirm'))) return;
        body = { force: true };
      }
      const r = await api('POST', path + '/release', body);
      setKids(viewer);
      showNotice(t('q.released', { to: ((r && r.released_to) || []).join(', ') || '—' }));
      await refresh();
    }, { class: 'small' }),
    actionButton(t('b.delete'), 'delete', async () => {
      await api('DELETE', path);
      setKids(viewer);
      showNotice(t('deleted'));
      await refresh();
    }, { class: 'danger small' }),
  ];
}

// ---------------------------------------------------------------- doctor (own and server) and trace

async function renderDoctor(view, admin) {
  const path = admin ? '/api/v1/doctor' : '/api/v1/doctor/' + enc(state.address);
  const box = h('div');
  async function run(long) {
    const list = await api('GET', path, undefined, { long });
    setKids(box, checksList(list || []));
  }
  const rerun = actionButton(t('b.runAgain'), 'doctor-run', () => run(true));
  await run(false);
  view.append(pageHead(t(admin ? 'title.admin/doctor' : 'title.doctor'), t(admin ? 'doc.leadAdmin' : 'doc.lead'), rerun),
    card(null, box));
  if (!admin) view.append(traceCard());
}

function checksList(list) {
  const count = (s) => list.filter((c) => c.status === s).length;
  return [
    h('p', { class: 'summary', 'data-test': 'doctor-summary' }, t('doc.summary', { ok: count('ok'), warn: count('warn'), fail: count('fail') })),
    h('ul', { class: 'checks' }, list.map((c) => h('li', { class: 'check-row', 'data-test': 'check', 'data-status': c.status, 'data-name': c.name },
      badge(c.status),
      h('div', {},
        h('strong', {}, c.name),
        h('p', {}, c.verdict || ''),
        c.fix ? h('p', { class: 'fix' }, h('span', { class: 'fix-label' }, t('doc.fix')), ' ', c.fix) : null)))),
  ];
}

function traceCard() {
  const results = h('div', { class: 'trace-results' });
  const f = form({ class: 'inline-form', 'data-test': 'trace-form' }, async (v) => {
    const dir = v.direction === 'from' ? 'from' : 'to';
    const list = await api('GET', '/api/v1/trace?' + dir + '=' + enc(state.address) + '&last=10');
    setKids(results, traceList(list || []));
  },
  field(t('trace.direction'), select('direction', [['to', t('trace.toMe')], ['from', t('trace.fromMe')]])),
  actions(submit(t('b.trace'), 'trace')));
  return card(t('trace.title'), h('p', {}, t('trace.lead')), f, results);
}

function traceList(list) {
  if (!list.length) return h('p', { class: 'empty', 'data-test': 'trace-empty' }, t('trace.none'));
  return list.map((m) => h('article', { class: 'card trace', 'data-test': 'trace-message' },
    h('h3', {}, m.message_id || t('trace.noId')),
    h('p', { class: 'meta' },
      m.sender ? [t('trace.sender'), ' ', m.sender] : null,
      m.session ? [m.sender ? ' · ' : '', t('trace.session'), ' ', m.session] : null),
    h('ol', { class: 'timeline' }, (m.steps || []).map((s) => h('li', { 'data-event': s.event },
      h('time', {}, typeof s.ts === 'number' ? fmtMs(s.ts) : (s.time || '')),
      h('div', {},
        h('strong', {}, tv('event', s.event)),
        s.recipient ? [' → ', s.recipient] : null,
        s.what ? h('div', {}, s.what) : null,
        s.detail ? h('div', { class: 'hint' }, s.detail) : null))))));
}

// ---------------------------------------------------------------- admin: domains

const PROTOCOLS = ['smtp', 'imap', 'pop3'];

async function renderAdminDomains(view) {
  const domains = (await api('GET', '/api/v1/domains')) || [];
  const keys = await Promise.all(domains.map((d) => soft(api('GET', '/api/v1/domains/' + enc(d.name) + '/dkim'))));
  view.append(pageHead(t('title.admin/domains'), t('dom.lead')));
  if (isServerAdmin()) {
    view.append(card(t('dom.add'), form({ class: 'inline-form', 'data-test': 'domain-form' }, async (v) => {
      const name = v.name.trim();
      await api('POST', '/api/v1/domains', { name });
      showNotice(t('dom.added', { name }));
      await renderView();
    },
    field(t('dom.name'), input('name', { placeholder: 'example.com', autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false' })),
    actions(submit(t('b.add'), 'domain-add')))));
  }
  if (!domains.length) view.append(h('p', { class: 'empty' }, t('empty')));
  domains.forEach((d, i) => view.append(domainCard(d, keys[i])));
}

function domainCard(d, keys) {
  const record = state.ps.dkim && state.ps.dkim[d.name];
  return h('section', { class: 'card', 'data-test': 'domain', 'data-domain': d.name },
    h('div', { class: 'card-head' },
      h('h2', {}, d.name),
      h('div', { class: 'head-actions' },
        h('a', { class: 'button small', href: '#/admin/dns?domain=' + enc(d.name), 'data-test': 'domain-dns' }, t('dom.dns')),
        isServerAdmin() ? actionButton(t('b.delete'), 'domain-delete', async () => {
          if (!window.confirm(t('dom.confirmDelete', { name: d.name }))) return;
          await api('DELETE', '/api/v1/domains/' + enc(d.name));
          showNotice(t('dom.deleted', { name: d.name }));
          await renderView();
        }, { class: 'danger small' }) : null)),
    details(d, ['name', 'protocols']),
    h('h3', {}, t('dom.protocols')),
    h('p', { class: 'hint' }, t('dom.protocolsHint')),
    h('div', { class: 'switches' }, PROTOCOLS.map((p) => protocolSwitch(d, p))),
    h('h3', {}, t('dom.dkim')),
    dkimTable(d.name, keys),
    record ? h('div', { class: 'callout', 'data-test': 'dkim-record' },
      h('p', {}, t('dom.publish')),
      h('dl', { class: 'kv' },
        h('dt', {}, t('dns.name')), h('dd', {}, copyable(record.name || '')),
        h('dt', {}, t('dns.type')), h('dd', {}, record.type || 'TXT'),
        h('dt', {}, t('dns.value')), h('dd', {}, copyable(record.value || '')))) : null,
    form({ class: 'inline-form' }, async (v) => {
      const r = await api('POST', '/api/v1/domains/' + enc(d.name) + '/dkim', { algorithm: v.algorithm });
      state.ps.dkim = state.ps.dkim || {};
      state.ps.dkim[d.name] = (r && r.record) || null;
      showNotice(t('dom.dkimMade'));
      await renderView();
    },
    field(t('dom.algorithm'), select('algorithm', [['rsa', 'RSA 2048'], ['ed25519', 'Ed25519']])),
    actions(submit(t('b.generate'), 'dkim-generate', { class: '' }))));
}

function protocolSwitch(d, p) {
  const protos = d.protocols || {};
  const box = h('input', { type: 'checkbox', name: p, 'data-test': 'domain-proto-' + p, checked: !!protos[p] });
  box.addEventListener('change', () => act(box, async () => {
    try {
      await api('PUT', '/api/v1/domains/' + enc(d.name) + '/protocols', { [p]: box.checked });
      showNotice(t('dom.protoSaved', { proto: p.toUpperCase(), state: box.checked ? t('on') : t('off') }));
    } catch (e) {
      box.checked = !box.checked;
      throw e;
    }
  }));
  return h('label', { class: 'check' }, box, h('span', {}, tv('proto', p)));
}

function dkimTable(domain, keys) {
  if (!Array.isArray(keys)) return h('p', { class: 'empty' }, '—');
  if (!keys.length) return h('p', { class: 'empty' }, t('dom.noKeys'));
  return h('ul', { class: 'plain keys' }, keys.map((k) => h('li', { class: 'key', 'data-selector': k.selector },
    details(k),
    k.selector ? actions(actionButton(t('b.delete'), 'dkim-delete', async () => {
      await api('DELETE', '/api/v1/domains/' + enc(domain) + '/dkim/' + enc(k.selector));
      showNotice(t('deleted'));
      await renderView();
    }, { class: 'danger small' })) : null)));
}

// ---------------------------------------------------------------- admin: users

const ROLES = ['user', 'domain-admin', 'admin'];

async function renderAdminUsers(view) {
  const ps = state.ps;
  const users = (await api('GET', '/api/v1/users')) || [];
  const created = ps.generated ? h('div', { class: 'callout' },
    h('p', {}, t('users.generated', { address: ps.generated.address })),
    h('code', { 'data-test': 'generated-password', class: 'secret' }, ps.generated.password)) : null;
  view.append(pageHead(t('title.admin/users'), t('users.lead')),
    card(null, userTable(users)),
    card(t('users.create'), created, createUserForm()));
}

function userTable(users) {
  const cols = [
    { label: t('f.address'), cell: (u) => h('strong', {}, u.address) },
    { label: t('f.name'), cell: (u) => u.name || '—' },
    { label: t('users.storage'), cell: (u) => fmtSize(u.used) + ' / ' + (u.quota === null || u.quota === undefined ? t('users.unlimited') : fmtSize(u.quota)) },
    { label: t('users.locked'), cell: (u) => (u.locked_until && u.locked_until * 1000 > Date.now() ? t('users.lockedUntil', { until: fmtTime(u.locked_until) }) : t('no')) },
    { label: t('users.2fa'), cell: (u) => pill(!!u.totp_enabled) },
    { label: t('users.role'), cell: (u) => tv('role', u.role) },
    { label: t('users.protocols'), cell: (u) => h('div', { class: 'switches' }, PROTOCOLS.map((p) => userProtocolBox(u, p))) },
    { label: t('actions'), class: 'cell-actions', cell: (u) => userButtons(u) },
  ];
  return table(cols, users, (u) => ({ 'data-address': u.address }), { 'data-test': 'users' });
}

function userProtocolBox(u, p) {
  const protos = u.protocols || {};
  const box = h('input', { type: 'checkbox', name: p, 'data-test': 'proto-' + p, checked: !!protos[p] });
  box.addEventListener('change', () => act(box, async () => {
    try {
      await api('PATCH', '/api/v1/users/' + enc(u.address), { [p]: box.checked });
      showNotice(t('users.saved', { address: u.address }));
    } catch (e) {
      box.checked = !box.checked;
      throw e;
    }
  }));
  return h('label', { class: 'check' }, box, h('span', {}, p.toUpperCase()));
}

function userButtons(u) {
  const path = '/api/v1/users/' + enc(u.address);
  const edit = button(t('b.edit'), 'user-edit', { class: 'small', 'aria-expanded': 'false' });
  edit.addEventListener('click', () => toggleUserEdit(u, edit));
  return [
    edit,
    actionButton(t('b.setPassword'), 'set-password', async () => {
      const password = window.prompt(t('users.newPassword', { address: u.address }));
      if (!password) return;
      await api('PUT', path + '/password', { password });
      showNotice(t('users.passwordSet', { address: u.address }));
    }, { class: 'small' }),
    actionButton(t('b.unlock'), 'unlock', async () => {
      await api('POST', path + '/unlock', {});
      showNotice(t('users.unlocked', { address: u.address }));
      await renderView();
    }, { class: 'small' }),
    actionButton(t('b.delete'), 'user-delete', async () => {
      if (!window.confirm(t('users.confirmDelete', { address: u.address }))) return;
      await api('DELETE', path);
      showNotice(t('users.deleted', { address: u.address }));
      await renderView();
    }, { class: 'danger small' }),
  ];
}

/* Opens (or closes) a form row under the user's row. */
function toggleUserEdit(u, btn) {
  const row = btn.closest('tr');
  const next = row.nextElementSibling;
  if (next && next.classList.contains('edit-row')) {
    next.remove();
    btn.setAttribute('aria-expanded', 'false');
    return;
  }
  const initial = {
    name: u.name || '',
    quota: quotaText(u.quota),
    recovery: u.recovery || '',
    phone: u.phone || '',
    role: u.role || 'user',
  };
  const roles = isServerAdmin() ? ROLES : ROLES.filter((r) => r !== 'admin');
  const f = form({ class: 'stack', 'data-test': 'user-edit-form' }, async (v) => {
    const changes = {};
    for (const k of Object.keys(initial)) {
      if (v[k] !== initial[k]) changes[k] = k === 'role' ? v[k] : v[k].trim();
    }
    if (Object.keys(changes).length) {
      await api('PATCH', '/api/v1/users/' + enc(u.address), changes);
      showNotice(t('users.saved', { address: u.address }));
    }
    await renderView();
  },
  h('div', { class: 'row-fields' },
    field(t('f.name'), input('name', { value: initial.name, autocomplete: 'off' })),
    field(t('users.quota'), input('quota', { value: initial.quota, autocomplete: 'off' }), t('users.quotaHint'))),
  h('div', { class: 'row-fields' },
    field(t('users.recovery'), input('recovery', { type: 'email', value: initial.recovery, autocomplete: 'off' }), t('users.recoveryHint')),
    field(t('f.phone'), input('phone', { type: 'tel', value: initial.phone, autocomplete: 'off' }), t('sec.phoneHint'))),
  field(t('users.role'), select('role', roles.map((r) => [r, tv('role', r)]), { value: initial.role })),
  actions(submit(t('b.save'), 'user-save'),
    button(t('b.cancel'), 'user-cancel', { onclick: () => { editRow.remove(); btn.setAttribute('aria-expanded', 'false'); btn.focus(); } })));
  const editRow = h('tr', { class: 'edit-row', 'data-edit': u.address },
    h('td', { colspan: String(row.children.length) }, f));
  row.after(editRow);
  btn.setAttribute('aria-expanded', 'true');
  f.elements.name.focus();
}

function createUserForm() {
  return form({ class: 'stack', 'data-test': 'user-create-form' }, async (v) => {
    const body = { address: v.address.trim() };
    if (v.password) body.password = v.password;
    if (nul(v.name)) body.name = v.name.trim();
    if (nul(v.quota)) body.quota = v.quota.trim();
    const r = await api('POST', '/api/v1/users', body);
    state.ps.generated = r && r.password ? { address: (r.user && r.user.address) || body.address, password: r.password } : null;
    showNotice(t('users.created', { address: (r && r.user && r.user.address) || body.address }));
    await renderView();
  },
  h('div', { class: 'row-fields' },
    field(t('f.address'), input('address', { type: 'email', autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false', placeholder: 'name@example.com' })),
    field(t('f.password'), input('password', { type: 'password', autocomplete: 'new-password' }), t('users.passwordHint'))),
  h('div', { class: 'row-fields' },
    field(t('f.name'), input('name', { autocomplete: 'off' })),
    field(t('users.quota'), input('quota', { autocomplete: 'off', placeholder: '2G' }), t('users.quotaHint'))),
  actions(submit(t('b.createUser'), 'user-create')));
}

// ---------------------------------------------------------------- admin: aliases

async function renderAdminAliases(view) {
  const listBox = h('div');
  async function refresh() {
    const list = await api('GET', '/api/v1/aliases');
    const cols = [
      { label: t('alias.alias'), cell: (a) => h('strong', {}, a.address) },
      { label: t('alias.targets'), cell: (a) => (a.targets || []).join(', ') },
      { label: t('actions'), class: 'cell-actions', cell: (a) => actionButton(t('b.delete'), 'alias-delete', async () => {
        await api('DELETE', '/api/v1/aliases/' + enc(a.address));
        showNotice(t('alias.deleted', { alias: a.address }));
        await refresh();
      }, { class: 'danger small' }) },
    ];
    setKids(listBox, table(cols, list || [], (a) => ({ 'data-address': a.address }), { 'data-test': 'aliases' }));
  }
  await refresh();
  const f = form({ class: 'stack', 'data-test': 'alias-form' }, async (v, formEl) => {
    const alias = v.alias.trim();
    await api('POST', '/api/v1/aliases', { alias, targets: csv(v.targets) });
    formEl.reset();
    showNotice(t('alias.added', { alias }));
    await refresh();
  },
  h('div', { class: 'row-fields' },
    field(t('alias.alias'), input('alias', { autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false', placeholder: 'sales@example.com' }), t('alias.aliasHint')),
    field(t('alias.targets'), input('targets', { autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false' }), t('alias.targetsHint'))),
  actions(submit(t('b.add'), 'alias-add')));
  view.append(pageHead(t('title.admin/aliases'), t('alias.lead')), card(null, listBox), card(t('alias.new'), f));
}

// ---------------------------------------------------------------- admin: filter

function scopeLabel(scope) {
  return scope ? scope : t('scope.server');
}

async function renderAdminFilter(view) {
  const keywordBox = h('div');
  const listBox = h('div');
  async function refresh() {
    const all = (await api('GET', '/api/v1/filter/rules')) || [];
    const del = (r) => actionButton(t('b.delete'), 'rule-delete', async () => {
      await api('DELETE', '/api/v1/filter/rules/' + enc(r.id));
      showNotice(t('deleted'));
      await refresh();
    }, { class: 'danger small' });
    const attrs = (r) => ({ 'data-id': r.id, 'data-kind': r.kind });
    setKids(keywordBox, table([
      { label: t('filter.pattern'), cell: (r) => code(r.pattern) },
      { label: t('filter.place'), cell: (r) => tv('place', r.place || 'any') },
      { label: t('filter.action'), cell: (r) => r.action || '—' },
      { label: t('filter.scope'), cell: (r) => scopeLabel(r.scope) },
      { label: t('created'), cell: (r) => fmtTime(r.created) },
      { label: t('actions'), class: 'cell-actions', cell: del },
    ], all.filter((r) => r.kind === 'keyword'), attrs, { 'data-test': 'keyword-rules' }));
    setKids(listBox, table([
      { label: t('lists.kind'), cell: (r) => h('span', { class: 'pill pill-' + r.kind }, tv('kind', r.kind)) },
      { label: t('lists.pattern'), cell: (r) => code(r.pattern) },
      { label: t('filter.scope'), cell: (r) => scopeLabel(r.scope) },
      { label: t('created'), cell: (r) => fmtTime(r.created) },
      { label: t('actions'), class: 'cell-actions', cell: del },
    ], all.filter((r) => r.kind === 'allow' || r.kind === 'block'), attrs, { 'data-test': 'list-rules' }));
  }
  await refresh();
  const keywordForm = form({ class: 'stack', 'data-test': 'keyword-form' }, async (v, formEl) => {
    await api('POST', '/api/v1/filter/rules', {
      kind: 'keyword', pattern: v.pattern.trim(), place: v.place, action: v.action.trim() || 'junk', scope: v.scope.trim(),
    });
    formEl.reset();
    showNotice(t('filter.added'));
    await refresh();
  },
  field(t('filter.pattern'), input('pattern', { autocomplete: 'off', spellcheck: 'false' }), t('filter.patternHint')),
  h('div', { class: 'row-fields' },
    field(t('filter.place'), select('place', ['any', 'subject', 'body'].map((p) => [p, tv('place', p)]))),
    field(t('filter.action'), input('action', { value: 'junk', list: 'filter-actions', autocomplete: 'off' }), t('filter.actionHint'))),
  h('datalist', { id: 'filter-actions' }, ['junk', 'reject', 'quarantine', 'score:5'].map((a) => h('option', { value: a }))),
  field(t('filter.scope'), input('scope', { autocomplete: 'off' }), t('filter.scopeHint')),
  actions(submit(t('b.add'), 'keyword-add')));
  const listForm = form({ class: 'stack', 'data-test': 'list-form' }, async (v, formEl) => {
    await api('POST', '/api/v1/filter/rules', { kind: v.kind, pattern: v.pattern.trim(), scope: v.scope.trim() });
    formEl.reset();
    showNotice(t('lists.added'));
    await refresh();
  },
  h('div', { class: 'row-fields' },
    field(t('lists.kind'), select('kind', [['allow', tv('kind', 'allow')], ['block', tv('kind', 'block')]])),
    field(t('lists.pattern'), input('pattern', { autocomplete: 'off', spellcheck: 'false' }), t('lists.patternHint'))),
  field(t('filter.scope'), input('scope', { autocomplete: 'off' }), t('filter.scopeHint')),
  actions(submit(t('b.add'), 'list-add')));
  view.append(pageHead(t('title.admin/filter'), t('filter.lead')),
    card(t('filter.thresholds'), await spamThresholds()),
    card(t('filter.keywords'), keywordBox, h('h3', {}, t('filter.newKeyword')), keywordForm),
    card(t('filter.lists'), listBox, h('h3', {}, t('lists.new')), listForm),
    card(t('filter.test'), h('p', { class: 'hint' }, t('filter.testHint')), classifyForm()));
}

/* The scores at which mail goes to Junk, to the quarantine, or is refused
 * ([spam] in the configuration file: read-only here). */
async function spamThresholds() {
  const s = (await api('GET', '/api/v1/spam/settings')) || {};
  const off = (v) => (v === null || v === undefined ? t('filter.off') : String(v));
  const rows = [['', s.thresholds || {}]];
  for (const [k, v] of Object.entries(s.domains || {})) rows.push(['@' + k, v]);
  for (const [k, v] of Object.entries(s.users || {})) rows.push([k, v]);
  return h('div', { 'data-test': 'spam-thresholds' },
    table([
      { label: t('filter.scope'), cell: (r) => scopeLabel(r[0]) },
      { label: t('filter.junk'), cell: (r) => off(r[1].junk) },
      { label: t('filter.quarantine'), cell: (r) => off(r[1].quarantine) },
      { label: t('filter.reject'), cell: (r) => off(r[1].reject) },
    ], rows),
    h('p', { class: 'hint' }, t('filter.thresholdsHint')));
}

/* Paste a message, see what the filter would do with it and why. */
function classifyForm() {
  const result = h('div', { 'data-test': 'classify-result' });
  const f = form({ class: 'stack', 'data-test': 'classify-form' }, async (v) => {
    const body = { message: v.message };
    if (nul(v.user)) body.user = v.user.trim();
    const r = await api('POST', '/api/v1/spam/classify', body, { long: true });
    setKids(result,
      h('div', { class: 'status-line' }, h('strong', {}, tv('verdict', r.verdict)), h('span', {}, ' ' + t('filter.score', { n: r.score }))),
      h('ul', {}, (r.reasons || []).map((x) => h('li', {}, x))));
  },
  field(t('filter.message'), h('textarea', { name: 'message', rows: 8, spellcheck: 'false', required: true })),
  field(t('filter.forUser'), input('user', { autocomplete: 'off' }), t('filter.forUserHint')),
  actions(submit(t('b.classify'), 'classify')));
  return h('div', {}, f, result);
}

// ---------------------------------------------------------------- admin: antivirus

async function renderAdminAntivirus(view) {
  const statusBox = h('div');
  async function refresh() {
    const s = (await api('GET', '/api/v1/antivirus')) || {};
    setKids(statusBox,
      h('div', { class: 'status-line', 'data-test': 'av-status', 'data-status': s.status }, badge(s.status), h('span', {}, s.verdict || '')),
      h('dl', { class: 'kv' },
        h('dt', {}, t('av.signatures')), h('dd', { 'data-test': 'av-signatures' }, String(s.signatures === undefined || s.signatures === null ? '—' : Number(s.signatures).toLocaleString(locale()))),
        h('dt', {}, t('av.updated')), h('dd', {}, s.updated ? fmtTime(s.updated) : t('never')),
        h('dt', {}, t('av.age')), h('dd', {}, s.age_days === null || s.age_days === undefined ? '—' : t('av.days', { n: s.age_days })),
        h('dt', {}, t('av.quarantined')), h('dd', {}, h('a', { href: '#/admin/quarantine' }, String(s.quarantined === undefined ? '—' : s.quarantined)))));
  }
  await refresh();
  const f = form({ class: 'stack', 'data-test': 'av-form' }, async (v) => {
    const body = {};
    if (nul(v.from)) body.from = v.from.trim();
    const r = await api('POST', '/api/v1/antivirus/update', body, { long: true });
    showNotice((r && r.result) || t('av.updatedNow'));
    await refresh();
  },
  field(t('av.from'), input('from', { autocomplete: 'off', spellcheck: 'false', placeholder: 'https://…' }), t('av.fromHint')),
  actions(submit(t('b.update'), 'av-update')));
  view.append(pageHead(t('title.admin/antivirus'), t('av.lead')),
    card(t('av.status'), statusBox),
    card(t('av.update'), h('p', { class: 'hint' }, t('av.updateHint')), f));
}

// ---------------------------------------------------------------- admin: queue

async function renderAdminQueue(view) {
  const listBox = h('div');
  async function refresh() {
    const list = (await api('GET', '/api/v1/queue')) || [];
    setKids(listBox, queueTable(list, refresh));
  }
  await refresh();
  const retryAll = actionButton(t('b.retryAll'), 'queue-retry-all', async () => {
    const r = await api('POST', '/api/v1/queue/retry', {});
    showNotice(t('queue.retrying', { n: r && r.recipients !== undefined ? fmtValue('recipients', r.recipients) : '' }));
    await refresh();
  });
  view.append(pageHead(t('title.admin/queue'), t('queue.lead'), retryAll), card(null, listBox));
}

function queueTable(list, refresh) {
  const keys = [];
  for (const item of list) for (const k of Object.keys(item || {})) if (!keys.includes(k)) keys.push(k);
  if (keys.includes('id')) {
    keys.splice(keys.indexOf('id'), 1);
    keys.unshift('id');
  }
  const cols = keys.map((k) => ({ label: humanKey(k), cell: (r) => fmtValue(k, r[k]) }));
  cols.push({ label: t('actions'), class: 'cell-actions', cell: (r) => [
    actionButton(t('b.retry'), 'queue-retry', async () => {
      await api('POST', '/api/v1/queue/' + enc(r.id) + '/retry', {});
      showNotice(t('queue.retryOne'));
      await refresh();
    }, { class: 'small' }),
    actionButton(t('b.delete'), 'queue-delete', async () => {
      await api('DELETE', '/api/v1/queue/' + enc(r.id));
      showNotice(t('deleted'));
      await refresh();
    }, { class: 'danger small' }),
  ] });
  if (!list.length) return h('p', { class: 'empty', 'data-test': 'queue-empty' }, t('queue.empty'));
  return table(cols, list, (r) => ({ 'data-id': r.id }), { 'data-test': 'queue' });
}

// ---------------------------------------------------------------- admin: DNS

async function renderAdminDns(view, params) {
  const domains = (await api('GET', '/api/v1/domains')) || [];
  view.append(pageHead(t('title.admin/dns'), t('dns.lead')));
  if (!domains.length) {
    view.append(h('p', { class: 'empty' }, t('dns.noDomains')));
    return;
  }
  const names = domains.map((d) => d.name);
  const wanted = params.domain && names.includes(params.domain) ? params.domain : names[0];
  const resultBox = h('div');
  const domainSelect = select('domain', names.map((n) => [n, n]), { value: wanted });
  async function check() {
    const list = await api('GET', '/api/v1/domains/' + enc(domainSelect.value) + '/dns/check', undefined, { long: true });
    setKids(resultBox, dnsTable(list || []));
  }
  domainSelect.addEventListener('change', () => act(domainSelect, check));
  const run = actionButton(t('b.check'), 'dns-check', check);
  view.append(card(null,
    h('div', { class: 'inline-form' }, field(t('dns.domain'), domainSelect), actions(run)),
    resultBox));
  await check();
}

function dnsTable(list) {
  const cols = [
    { label: t('dns.status'), cell: (r) => badge(r.status) },
    { label: t('dns.name'), cell: (r) => code(r.name) },
    { label: t('dns.type'), cell: (r) => r.type },
    { label: t('dns.value'), class: 'wide', cell: (r) => copyable(r.value || '') },
    { label: t('dns.found'), cell: (r) => ((r.found && r.found.length) ? h('ul', { class: 'plain' }, r.found.map((x) => h('li', {}, code(String(x))))) : t('dns.nothing')) },
    { label: t('dns.note'), cell: (r) => r.note || '' },
  ];
  return table(cols, list, (r) => ({ 'data-status': r.status, 'data-type': r.type }), { 'data-test': 'dns' });
}

// ---------------------------------------------------------------- admin: mail log

const LOG_KINDS = ['any', 'received', 'rejected', 'delivered', 'queued', 'bounced', 'deferred', 'quarantined', 'signinfailed', 'certificate'];

async function renderAdminLog(view) {
  const results = h('div');
  const traceBox = h('div', { 'data-test': 'trace-result' });
  async function search(v) {
    const q = new URLSearchParams();
    if (nul(v.q)) q.set('q', v.q.trim());
    if (v.kind && v.kind !== 'any') q.set('kind', v.kind);
    if (v.since) {
      const secs = Math.floor(new Date(v.since + 'T00:00:00').getTime() / 1000);
      if (Number.isFinite(secs)) q.set('since', String(secs));
    }
    q.set('last', '200');
    const list = await api('GET', '/api/v1/log?' + q.toString());
    setKids(traceBox);
    setKids(results, logTable(list || [], traceBox));
  }
  const f = form({ class: 'stack', 'data-test': 'log-form' }, (v) => search(v),
    field(t('log.q'), input('q', { type: 'search', autocomplete: 'off', spellcheck: 'false' }), t('log.qHint')),
    h('div', { class: 'row-fields' },
      field(t('log.kind'), select('kind', LOG_KINDS.map((k) => [k, tv('logkind', k)]))),
      field(t('log.since'), input('since', { type: 'date' }))),
    actions(submit(t('b.search'), 'log-search')));
  await search(values(f));
  view.append(pageHead(t('title.admin/log'), t('log.lead')), card(null, f), card(null, results), traceBox);
}

function logTable(list, traceBox) {
  const cols = [
    { label: t('log.time'), cell: (r) => fmtMs(r.ts) },
    { label: t('log.kind'), cell: (r) => h('span', { class: 'pill pill-' + r.kind }, tv('logkind', r.kind)) },
    { label: t('log.sender'), cell: (r) => r.sender || '—' },
    { label: t('log.recipient'), cell: (r) => r.recipient || '—' },
    { label: t('log.detail'), cell: (r) => r.detail || '' },
    { label: t('log.messageId'), cell: (r) => (r.message_id ? h('span', { class: 'clip mono' }, r.message_id) : '—') },
    { label: t('actions'), class: 'cell-actions', cell: (r) => (r.message_id ? actionButton(t('b.trace'), 'log-trace', async () => {
      const list2 = await api('GET', '/api/v1/trace?message_id=' + enc(r.message_id));
      setKids(traceBox, h('h2', {}, t('trace.title')), traceList(list2 || []));
      traceBox.scrollIntoView({ behavior: 'smooth', block: 'start' });
    }, { class: 'small link-like' }) : null) },
  ];
  return table(cols, list, (r) => ({ 'data-kind': r.kind }), { 'data-test': 'log' });
}

// ---------------------------------------------------------------- page table and start

const PAGES = {
  mail: renderMail,
  'sign-in': renderSignIn,
  forgot: renderForgot,
  home: renderHome,
  security: renderSecurity,
  signatures: renderSignatures,
  autoreplies: renderAutoreplies,
  rules: renderRules,
  lists: renderLists,
  quarantine: (view) => renderQuarantine(view, false),
  doctor: (view) => renderDoctor(view, false),
  'admin/domains': renderAdminDomains,
  'admin/users': renderAdminUsers,
  'admin/aliases': renderAdminAliases,
  'admin/filter': renderAdminFilter,
  'admin/antivirus': renderAdminAntivirus,
  'admin/quarantine': (view) => renderQuarantine(view, true),
  'admin/queue': renderAdminQueue,
  'admin/dns': renderAdminDns,
  'admin/log': renderAdminLog,
  'admin/doctor': (view) => renderDoctor(view, true),
};

async function start() {
  state.lang = detectLang();
  applyLang();
  window.addEventListener('hashchange', route);
  try {
    const s = await api('GET', '/api/v1/session', undefined, { noRedirect: true });
    if (s && s.signed_in) setSession(s);
    // A sign-in waiting for its second factor (the page was reloaded):
    // carry on where it stood.
    else if (s && Array.isArray(s.second_factor) && s.second_factor.length) {
      state.resume = {
        address: s.address || '',
        methods: s.second_factor,
        method: s.second_factor.includes('totp') ? 'totp' : s.second_factor[0],
      };
    }
  } catch (e) {
    if (e.status !== 401) state.flashError = e.message;
  }
  route();
}

// ================================================================ strings

const I18N = {
  en: {
    // general
    'loading': 'Loading…',
    'working': 'Working…',
    'empty': 'Nothing here yet.',
    'actions': 'Actions',
    'created': 'Added',
    'deleted': 'Deleted.',
    'copied': 'Copied to the clipboard.',
    'never': 'never',
    'yes': 'yes',
    'no': 'no',
    'on': 'on',
    'off': 'off',
    'more': 'More options',
    'menu': 'Menu',
    'placeholders': 'Placeholders:',
    'err.network': 'The server could not be reached. Check your connection and try again.',
    'err.status': 'The server answered with an error ({status}).',
    'err.sessionEnded': 'Your session has ended. Please sign in again.',

    // navigation and page titles
    'nav.label': 'Main menu',
    'nav.account': 'Your account',
    'nav.admin': 'Administration',
    'title.sign-in': 'Sign in',
    'title.forgot': 'Forgotten password',
    'title.home': 'Overview',
    'title.security': 'Security',
    'title.signatures': 'Signatures',
    'title.autoreplies': 'Auto-replies',
    'title.rules': 'Mail rules',
    'title.lists': 'Allow & block lists',
    'title.quarantine': 'Quarantine',
    'title.mail': 'Mail',
    'mail.folders': 'Folders',
    'mail.from': 'From',
    'mail.to': 'To',
    'mail.cc': 'Cc',
    'mail.subject': 'Subject',
    'mail.date': 'Date',
    'mail.size': 'Size',
    'mail.noSubject': '(no subject)',
    'mail.newer': '‹ Newer',
    'mail.older': 'Older ›',
    'mail.range': '{from}–{to} of {total}',
    'mail.pick': 'Choose a message to read it.',
    'mail.imagesBlocked': 'Pictures from the internet are not shown: they would tell the sender you opened this message.',
    'mail.showImages': 'Show pictures',
    'mail.alwaysImages': 'Always show pictures from {sender}',
    'mail.senderUnproved': 'Pictures from this sender are always shown, but this message could not be proved to come from them, so they are not.',
    'mail.imagesTrusted': 'Pictures from {sender} are always shown.',
    'mail.stopImages': 'Stop showing them',
    'mail.chooseFirst': 'Tick the messages first.',
    'mail.changed': 'This folder changed; it is shown again when nothing is ticked.',
    'mail.markRead': 'Mark read',
    'mail.markUnread': 'Mark unread',
    'mail.flag': 'Flag',
    'mail.spam': 'Spam',
    'mail.notSpam': 'Not spam',
    'mail.delete': 'Delete',
    'mail.move': 'Move',
    'mail.empty': 'Empty folder',
    'mail.emptyConfirm': 'Delete every message in this folder for good?',
    'mail.search': 'Search',
    'mail.searchPh': 'Words, a name or an address',
    'mail.found': '{n} found',
    'mail.truncated': '(only the newest 5000 messages were searched)',
    'mail.clearSearch': 'Show all',
    'mail.newFolder': 'New folder',
    'mail.newFolderPh': 'Customers/Germany',
    'mail.renameFolder': 'Rename folder',
    'mail.renamePrompt': 'New name for the folder:',
    'mail.deleteFolder': 'Delete folder',
    'mail.deleteFolderConfirm': 'Delete the folder {name} and every message in it?',
    'mail.bcc': 'Bcc',
    'mail.sortBy': 'Sort by',
    'mail.sort.date': 'Date',
    'mail.sort.arrival': 'Arrival',
    'mail.sort.from': 'From',
    'mail.sort.to': 'To',
    'mail.sort.subject': 'Subject',
    'mail.sort.size': 'Size',
    'mail.newestFirst': 'Newest first',
    'mail.oldestFirst': 'Oldest first',
    'mail.largestFirst': 'Largest first',
    'mail.smallestFirst': 'Smallest first',
    'mail.aToZ': 'A→Z',
    'mail.zToA': 'Z→A',
    'mail.threads': 'Conversations',
    'mail.threadOrder': 'Conversations are listed by their newest message.',
    'mail.threadCount': '{n} messages in this conversation',
    'mail.rangeThreads': '{from}–{to} of {total} conversations',
    'mail.forwarded': 'Forwarded message',
    'mail.nestedAttachments': 'Attached to it:',
    'mail.showPlain': 'Plain text',
    'mail.showFormatted': 'Formatted',
    'mail.settings': 'Settings',
    'folder.inbox': 'Inbox',
    'folder.sent': 'Sent',
    'folder.drafts': 'Drafts',
    'folder.junk': 'Junk',
    'folder.trash': 'Trash',
    'folder.archive': 'Archive',
    'mail.bounce': 'This is a delivery failure report.',
    'mail.bounceLead': 'What happened, recipient by recipient:',
    'mail.report': 'This is a delivery report.',
    'compose.write': 'Write',
    'compose.reply': 'Reply',
    'compose.replyAll': 'Reply all',
    'compose.forward': 'Forward',
    'compose.forwardAttachment': 'Forward as attachment',
    'compose.title.new': 'New message',
    'compose.title.reply': 'Reply',
    'compose.title.reply-all': 'Reply to all',
    'compose.title.forward': 'Forward',
    'compose.title.forward-attachment': 'Forward as attachment',
    'compose.title.draft': 'Draft',
    'compose.close': 'Close and keep the draft',
    'compose.from': 'From',
    'compose.to': 'To',
    'compose.cc': 'Cc',
    'compose.bcc': 'Bcc',
    'compose.subject': 'Subject',
    'compose.toPh': 'Names or addresses, separated by commas',
    'compose.suggestions': 'Suggested addresses',
    'compose.body': 'Message',
    'compose.toolbar': 'Formatting',
    'compose.bold': 'Bold',
    'compose.italic': 'Italic',
    'compose.underline': 'Underline',
    'compose.bullets': 'Bulleted list',
    'compose.numbers': 'Numbered list',
    'compose.link': 'Add a link',
    'compose.linkShort': 'Link',
    'compose.clear': 'Remove formatting',
    'compose.clearShort': 'Clear',
    'compose.linkPrompt': 'Address the link opens (https://… or an email address):',
    'compose.linkBad': 'Only links to web pages (http, https) and email addresses can be added.',
    'compose.plain': 'Plain text',
    'compose.signature': 'Added when sent:',
    'compose.attach': 'Attach files',
    'compose.dropHint': 'or drop files here',
    'compose.attachments': 'Attachments',
    'compose.uploading': 'Uploading {name}',
    'compose.remove': 'Remove {name}',
    'compose.wholeMessage': 'The original message goes with it as a whole. To leave it out, discard this message.',
    'compose.tooBig': '{name} is {size}; a message can be at most {max}. Send large files another way, for example as a download link.',
    'compose.tooBigTotal': '{name} was not attached: with it the message would be over {max}, the most a message can be.',
    'compose.uploadFailed': '{name} was not attached: {error}',
    'compose.send': 'Send',
    'compose.saveDraft': 'Save draft',
    'compose.discard': 'Discard',
    'compose.discardConfirm': 'Discard this message? Its draft is deleted too.',
    'compose.saving': 'Saving draft…',
    'compose.savedAt': 'Draft saved {time}',
    'compose.notSaved': 'Draft not saved: {error}',
    'compose.sent': 'Sent.',
    'compose.noRecipient': 'Who is it for? Add at least one address in To, Cc or Bcc.',
    'compose.wrote': 'On {date}, {who} wrote:',
    'compose.fwdHead': '---------- Forwarded message ----------',
    'title.doctor': 'Mail check-up',
    'title.admin/domains': 'Domains',
    'title.admin/users': 'Users',
    'title.admin/aliases': 'Aliases',
    'title.admin/filter': 'Spam filter',
    'title.admin/antivirus': 'Antivirus',
    'title.admin/quarantine': 'Quarantine (all)',
    'title.admin/queue': 'Outgoing queue',
    'title.admin/dns': 'DNS records',
    'title.admin/log': 'Mail log',
    'title.admin/doctor': 'Server check-up',

    // buttons
    'b.add': 'Add',
    'b.addRule': 'Add rule',
    'b.cancel': 'Cancel',
    'b.check': 'Check again',
    'b.close': 'Close',
    'b.confirm': 'Confirm',
    'b.copy': 'Copy',
    'b.createUser': 'Create user',
    'b.delete': 'Delete',
    'b.edit': 'Edit',
    'b.enroll': 'Set up two-step sign-in',
    'b.generate': 'Generate key',
    'b.preview': 'Preview',
    'b.release': 'Release',
    'b.reset': 'Set new password',
    'b.retry': 'Retry now',
    'b.retryAll': 'Retry all now',
    'b.runAgain': 'Run again',
    'b.save': 'Save',
    'b.search': 'Search',
    'b.sendCode': 'Send me a code',
    'b.sendReset': 'Send reset code',
    'b.setPassword': 'Set password',
    'b.signIn': 'Sign in',
    'b.signOut': 'Sign out',
    'b.signOutEverywhere': 'Sign out everywhere',
    'b.toSignIn': 'Back to sign-in',
    'b.trace': 'Trace',
    'b.unlock': 'Unlock',
    'b.update': 'Update now',
    'b.verify': 'Verify',
    'b.view': 'View',

    // common fields
    'f.address': 'Email address',
    'f.password': 'Password',
    'f.currentPassword': 'Your current password',
    'f.newPassword': 'New password',
    'f.code': 'Code',
    'f.code2fa': 'Two-step sign-in code',
    'f.token': 'Reset code from the email',
    'f.name': 'Name',
    'f.phone': 'Mobile number',

    // sign-in and second factor
    'signin.title': 'Sign in to Caravel',
    'signin.lead': 'Use your full email address and your mail password.',
    'signin.forgot': 'Forgotten your password?',
    '2fa.title': 'Two-step sign-in',
    '2fa.lead': 'One more step for {address}: enter a code to confirm it is you.',
    '2fa.choose': 'How to confirm',
    '2fa.sent': 'A code has been sent to {to}.',
    '2fa.startOver': 'Start again with another account',
    '2fa.hint.totp': 'The 6-digit code shown in your authenticator app.',
    '2fa.hint.recovery': 'One of the recovery codes you wrote down when you set up two-step sign-in. Each works once.',
    '2fa.hint.email': 'Press “Send me a code”, then enter the code from the email.',
    '2fa.hint.sms': 'Press “Send me a code”, then enter the code from the text message.',
    'method.totp': 'Authenticator app',
    'method.recovery': 'Recovery code',
    'method.email': 'Email',
    'method.sms': 'Text message',

    // forgotten password
    'forgot.title': 'Reset your password',
    'forgot.step1': 'Enter your email address. We will send a reset code to your recovery address.',
    'forgot.step2': 'Enter the code from the email and choose a new password.',
    'forgot.sent': 'If the address has a recovery address, a reset code is on its way. Check your inbox.',
    'forgot.codeHint': 'Only if two-step sign-in is on for your account.',
    'forgot.done': 'Your password has been changed. You can now sign in with it.',
    'forgot.again': 'Send a new code',

    // home
    'home.lead': 'Signed in as {address}.',
    'home.storage': 'Mailbox storage',
    'home.usedOf': '{used} of {quota} used ({pct}%)',
    'home.usedNoLimit': '{used} used — no limit',
    'home.protocols': 'Mail access',
    'home.protocolsHint': 'Your administrator decides which ways of connecting are allowed.',
    'home.status': 'Account status',
    'home.2fa': 'Two-step sign-in',
    'home.2faAdvice': 'Turn on two-step sign-in on the Security page to protect your account.',
    'home.autoreply': 'Auto-reply',
    'home.replyOn': 'Answering now: {names}',
    'home.replySet': 'Auto-replies are set up but not answering at the moment.',
    'home.replyOff': 'No auto-reply is set up.',
    'home.locked': 'Sign-in is locked after failed attempts until {until}.',
    'proto.smtp': 'Sending (SMTP)',
    'proto.imap': 'Mail apps (IMAP)',
    'proto.pop3': 'Download (POP3)',

    // client setup
    'setup.title': 'Set up your mail app',
    'setup.lead': 'Use these settings if your mail app asks for them.',
    'setup.dir': 'Direction',
    'setup.incoming': 'Incoming',
    'setup.outgoing': 'Outgoing',
    'setup.protocol': 'Protocol',
    'setup.server': 'Server',
    'setup.port': 'Port',
    'setup.security': 'Security',
    'setup.username': 'User name',
    'setup.password': 'Password: your mail password, or an app password if two-step sign-in is on.',
    'setup.apple': 'Apple Mail / iPhone / iPad',
    'setup.auto': 'Type only your email address and password; the settings are found automatically.',
    'setup.android': 'Choose “Other” or “IMAP”, then enter the settings from the table above.',
    'setup.appleProfile': 'Download the Apple configuration profile',

    // security
    'sec.lead': 'Protect your account and control where you are signed in.',
    'sec.2fa': 'Two-step sign-in',
    'sec.2faOn': 'Two-step sign-in is on. Signing in needs your password and a code from your authenticator app.',
    'sec.2faOff': 'Two-step sign-in is off. Turn it on so that a stolen password alone is not enough to get in.',
    'sec.scan': 'Scan this QR code with an authenticator app (for example Google Authenticator, Microsoft Authenticator or 1Password).',
    'sec.enterCode': 'Enter the 6-digit code the app shows, and confirm.',
    'sec.qrAlt': 'QR code',
    'sec.byHand': 'Cannot scan? Type this key into the app:',
    'sec.openApp': 'Open in an authenticator app on this device',
    'sec.2faDone': 'Two-step sign-in is now on.',
    'sec.codesWarn': 'Write these recovery codes down and keep them somewhere safe. Each one lets you sign in once if you lose your phone. They are shown only now.',
    'apps.title': 'App passwords',
    'apps.lead': 'Mail apps that cannot ask for a two-step code sign in with an app password instead of your password.',
    'apps.created': 'Created',
    'apps.lastUsed': 'Last used',
    'apps.deleted': 'App password “{name}” deleted.',
    'apps.add': 'New app password',
    'apps.name': 'Name for the app',
    'apps.namePh': 'e.g. Phone',
    'apps.newOnce': 'The app password for “{name}” is below. Enter it in the app now: it is shown only once.',
    'sec.phone': 'Mobile number for sign-in codes',
    'prof.title': 'Your details',
    'prof.lead': 'What {title}, {company}, {phone}, {mobile}, {website} and {address} are filled with in your signatures and auto-replies. Empty fields use your company\'s details.',
    'prof.saved': 'Your details are saved.',
    'prof.f.title': 'Job title',
    'prof.f.company': 'Company',
    'prof.f.phone': 'Telephone',
    'prof.f.mobile': 'Mobile',
    'prof.f.website': 'Website',
    'prof.f.address': 'Postal address',
    'prof.f.zone': 'Time zone',
    'prof.zoneHint': 'For working hours and auto-reply dates: a name like Asia/Shanghai or an offset like +08:00.',
    'sec.password': 'Password',
    'sec.passwordLead': 'Change the password you sign in with. Every device and app password is signed out with it: sign in again, and make new app passwords for your mail programs.',
    'sec.passwordHint': 'At least 12 characters; a few unrelated words are easy to remember and hard to guess.',
    'sec.passwordMismatch': 'The two new passwords are not the same.',
    'sec.passwordChanged': 'Your password is changed. Sign in with the new one.',
    'f.newPassword': 'New password',
    'f.newPasswordAgain': 'New password again',
    'b.changePassword': 'Change password',
    'sec.phoneLead': 'Codes can be sent to this number by text message.',
    'sec.phoneHint': 'International format, e.g. +8613800138000. Leave empty to remove it.',
    'sec.phoneSaved': 'Mobile number saved: {phone}.',
    'sec.phoneRemoved': 'Mobile number removed.',
    'sec.everywhere': 'Sign out everywhere',
    'sec.everywhereLead': 'Ends every session of your account, in every browser, including this one.',
    'sec.alsoApps': 'Also revoke all app passwords',
    'sec.everywhereDone': 'You have been signed out everywhere.',

    // signatures
    'sig.lead': 'Signatures are added to the mail you send, from any mail app.',
    'sig.list': 'Your signatures',
    'sig.edit': 'Add or change a signature',
    'sig.when': 'Use it for',
    'sig.domains': 'Only for recipients at',
    'sig.domainsHint': 'Domains separated by commas. Leave empty for all recipients.',
    'sig.allDomains': 'all recipients',
    'sig.text': 'Text',
    'sig.html': 'HTML version (optional)',
    'sig.htmlHint': 'Used in HTML mail. Leave empty to use the text.',
    'sig.previewText': 'Preview (text)',
    'sig.previewHtml': 'Preview (HTML)',
    'sig.saved': 'Signature “{name}” saved.',
    'sig.deleted': 'Signature “{name}” deleted.',
    'sig.ph.name': 'your name',
    'sig.ph.title': 'job title',
    'sig.ph.company': 'company',
    'sig.ph.phone': 'phone',
    'sig.ph.mobile': 'mobile',
    'sig.ph.website': 'website',
    'sig.ph.address': 'postal address',
    'when.always': 'All mail',
    'when.new': 'New messages',
    'when.reply': 'Replies and forwards',
    'when.external': 'Mail to outside recipients',
    'when.internal': 'Mail within the organisation',

    // auto-replies
    'ar.lead': 'Answer incoming mail automatically while you are away or outside working hours.',
    'ar.list': 'Your auto-replies',
    'ar.edit': 'Add or change an auto-reply',
    'ar.scenario': 'When to answer',
    'ar.subject': 'Subject',
    'ar.text': 'Message',
    'ar.period': 'Period',
    'ar.noDates': 'no dates set',
    'ar.state': 'State',
    'ar.active': 'answering now',
    'ar.inactive': 'not now',
    'ar.hours': 'Working hours',
    'ar.hoursHint': 'e.g. 09:00-18:00',
    'ar.workdays': 'Working days',
    'ar.workdaysHint': 'e.g. mon-fri or mon,tue,thu',
    'ar.calendar': 'Holiday calendar (optional)',
    'ar.calendarHint': 'Name of a holiday calendar on the server, e.g. china. Empty: every holiday the server knows.',
    'ar.from': 'From',
    'ar.until': 'Until',
    'ar.datesHint': 'Leave the dates empty to answer without a time limit.',
    'ar.senderDomains': 'Only answer senders at',
    'ar.senderDomainsHint': 'Domains separated by commas. Empty: answer everyone.',
    'ar.language': 'Only for senders writing in',
    'ar.languageHint': 'A language code such as zh or en. Empty: any language.',
    'ar.days': 'Answer the same sender at most once every',
    'ar.daysHint': 'Number of days (default 7).',
    'ar.html': 'HTML version (optional)',
    'ar.htmlHint': 'Leave empty to send the text only.',
    'ar.saved': 'Auto-reply “{name}” saved.',
    'ar.deleted': 'Auto-reply “{name}” deleted.',
    'ar.ph.name': 'your name',
    'ar.ph.opens': 'when you are back (the next working time)',
    'ar.ph.opens_sender': 'the same, in the sender’s time zone',
    'ar.ph.subject': 'the subject of the received mail',
    'scenario.out-of-office': 'Out of office',
    'scenario.holidays': 'Public holidays',
    'scenario.after-hours': 'Outside working hours',
    'scenario.acknowledge': 'Confirm receipt',
    'scenario.out-of-office.help': 'Answers while you are away, between the dates below.',
    'scenario.holidays.help': 'Answers on the public holidays of the holiday calendar.',
    'scenario.after-hours.help': 'Answers outside your working hours and days.',
    'scenario.acknowledge.help': 'Confirms to every sender that their message arrived.',

    // rules
    'rules.lead': 'Sort, forward or reject incoming mail automatically.',
    'rules.list': 'Your rules',
    'rules.rule': 'Rule',
    'rules.new': 'New rule',
    'rules.if': 'If the message…',
    'rules.then': 'then…',
    'rules.from': 'From contains',
    'rules.to': 'To contains',
    'rules.subject': 'Subject contains',
    'rules.body': 'Text contains',
    'rules.larger': 'Larger than',
    'rules.smaller': 'Smaller than',
    'rules.sizeHint': 'e.g. 5M or 500K',
    'rules.header': 'Header',
    'rules.headerHint': 'As “Name: value”, e.g. List-Id: news',
    'rules.attachment': 'has an attachment',
    'rules.any': 'Match if any condition is true (instead of all)',
    'rules.containsHint': 'Leave a field empty to ignore it.',
    'rules.moveTo': 'Move to folder',
    'rules.moveToPh': 'e.g. Newsletters',
    'rules.forward': 'Forward to',
    'rules.forwardHint': 'Addresses separated by commas.',
    'rules.noKeep': 'Keep no copy when forwarding',
    'rules.markRead': 'Mark as read',
    'rules.flag': 'Flag',
    'rules.reject': 'Reject with this message',
    'rules.rejectHint': 'The sender gets this text back. Leave empty to accept the mail.',
    'rules.stop': 'Stop: apply no further rules',
    'rules.added': 'Rule added.',

    // lists
    'lists.lead': 'Mail from allowed senders is never treated as spam; mail from blocked senders is refused.',
    'lists.mine': 'Your entries',
    'lists.new': 'Add an entry',
    'lists.kind': 'List',
    'lists.pattern': 'Sender',
    'lists.patternHint': 'user@domain, @domain, *.domain, an IP address or a CIDR range',
    'lists.added': 'Entry added.',
    'kind.allow': 'Allow',
    'kind.block': 'Block',
    'kind.keyword': 'Keyword',

    // quarantine
    'q.lead': 'Mail held back as spam or as dangerous. Release what you want to receive.',
    'q.leadAdmin': 'Held mail of every account you manage.',
    'q.time': 'Received',
    'q.from': 'From',
    'q.to': 'To',
    'q.via': '{address} (forwarded by {aliases})',
    'q.verdictFor': 'Held for {address}:',
    'q.subject': 'Subject',
    'q.noSubject': '(no subject)',
    'q.why': 'Why',
    'q.size': 'Size',
    'q.message': 'Message: {subject}',
    'q.virusConfirm': 'This message contains a virus. Release it anyway? Only do so if you are sure it is safe.',
    'q.released': 'Released to {to}.',
    'q.truncated': 'Only the beginning of a long message is shown.',
    'qkind.spam': 'Spam',
    'qkind.virus': 'Virus',
    'qkind.phishing': 'Phishing',
    'qkind.policy': 'Policy',
    'qkind.keyword': 'Keyword',
    'qkind.blocked': 'Blocked',

    // doctor and trace
    'doc.lead': 'Checks of your account, with what to do when something is wrong.',
    'doc.leadAdmin': 'Checks of the whole server: certificates, DNS, storage, antivirus and more.',
    'doc.summary': '{ok} OK, {warn} warnings, {fail} problems',
    'doc.fix': 'What to do:',
    'status.ok': 'OK',
    'status.warn': 'Warning',
    'status.fail': 'Problem',
    'trace.title': 'Trace my mail',
    'trace.lead': 'See what happened to your last ten messages, step by step.',
    'trace.direction': 'Messages',
    'trace.toMe': 'sent to me',
    'trace.fromMe': 'sent by me',
    'trace.none': 'No messages found.',
    'trace.noId': '(no Message-ID)',
    'trace.sender': 'From',
    'trace.session': 'Session',

    // admin: domains
    'dom.lead': 'The mail domains this server hosts.',
    'dom.add': 'Add a domain',
    'dom.name': 'Domain name',
    'dom.added': 'Domain {name} added. Publish its DNS records next.',
    'dom.deleted': 'Domain {name} deleted.',
    'dom.confirmDelete': 'Delete the domain {name}? Its accounts will no longer receive mail.',
    'dom.dns': 'DNS records',
    'dom.protocols': 'Default access for new accounts',
    'dom.protocolsHint': 'Which ways of connecting new accounts of this domain get.',
    'dom.protoSaved': '{proto} is now {state} by default.',
    'dom.dkim': 'DKIM signing keys',
    'dom.noKeys': 'No signing key yet. Generate one so that receivers can trust mail from this domain.',
    'dom.algorithm': 'Key type',
    'dom.dkimMade': 'New signing key generated.',
    'dom.publish': 'Publish this DNS record for the new key:',

    // admin: users
    'users.lead': 'Mail accounts you manage.',
    'users.storage': 'Storage',
    'users.unlimited': 'no limit',
    'users.locked': 'Locked',
    'users.lockedUntil': 'until {until}',
    'users.2fa': 'Two-step',
    'users.role': 'Role',
    'users.protocols': 'Access',
    'users.create': 'Create a user',
    'users.passwordHint': 'Leave empty to generate a strong password.',
    'users.quota': 'Storage limit',
    'users.quotaHint': 'e.g. 2G or 500M; “unlimited” for no limit.',
    'users.recovery': 'Recovery address',
    'users.recoveryHint': 'Where password-reset codes are sent.',
    'users.generated': 'Password generated for {address}. Pass it on safely: it is shown only once.',
    'users.created': 'User {address} created.',
    'users.saved': 'Changes to {address} saved.',
    'users.deleted': 'User {address} deleted.',
    'users.confirmDelete': 'Delete {address} and all of its mail? This cannot be undone.',
    'users.newPassword': 'New password for {address}:',
    'users.passwordSet': 'Password of {address} changed.',
    'users.unlocked': '{address} can sign in again.',
    'role.user': 'User',
    'role.domain-admin': 'Domain administrator',
    'role.admin': 'Administrator',

    // admin: aliases
    'alias.lead': 'Addresses that deliver to other mailboxes.',
    'alias.alias': 'Alias',
    'alias.aliasHint': 'e.g. sales@example.com, or @example.com to catch every address',
    'alias.targets': 'Delivers to',
    'alias.targetsHint': 'Addresses separated by commas.',
    'alias.new': 'Add an alias',
    'alias.added': 'Alias {alias} added.',
    'alias.deleted': 'Alias {alias} deleted.',

    // admin: filter
    'filter.lead': 'Keyword rules and allow/block lists for the whole server, a domain or an account.',
    'filter.thresholds': 'Spam scores',
    'filter.thresholdsHint': 'Set in the [spam] section of the configuration file. Mail scoring at least the first number goes to Junk; the others send it to the quarantine or refuse it.',
    'filter.junk': 'To Junk at',
    'filter.quarantine': 'Quarantine at',
    'filter.reject': 'Refuse at',
    'filter.off': 'off',
    'filter.test': 'Test a message',
    'filter.testHint': 'Paste a whole message (its header lines too) to see what the filter would do with it, and why.',
    'filter.message': 'Message',
    'filter.forUser': 'For account',
    'filter.forUserHint': 'Empty: your own settings. An address: that account\'s rules and training.',
    'filter.score': 'score {n}',
    'b.classify': 'Check',
    'verdict.accept': 'Inbox',
    'verdict.junk': 'Junk',
    'verdict.quarantine': 'Quarantine',
    'verdict.reject': 'Refused',
    'filter.keywords': 'Keyword rules',
    'filter.newKeyword': 'Add a keyword rule',
    'filter.lists': 'Allow and block lists',
    'filter.pattern': 'Text or /regular expression/',
    'filter.patternHint': 'Matched without regard to case. Write /…/ for a regular expression.',
    'filter.place': 'Look in',
    'filter.action': 'Then',
    'filter.actionHint': 'junk, reject, quarantine, or score:N to add N to the spam score',
    'filter.scope': 'Applies to',
    'filter.scopeHint': 'Empty: the whole server; @domain: one domain; an address: one account.',
    'filter.added': 'Keyword rule added.',
    'scope.server': 'whole server',
    'place.any': 'Anywhere',
    'place.subject': 'Subject',
    'place.body': 'Text',

    // admin: antivirus
    'av.lead': 'Virus signatures and what the scanner has held back.',
    'av.status': 'Status',
    'av.signatures': 'Signatures',
    'av.updated': 'Last update',
    'av.age': 'Age',
    'av.days': '{n} days',
    'av.quarantined': 'Messages in quarantine',
    'av.update': 'Update signatures',
    'av.updateHint': 'Downloads the newest virus signatures. This can take a minute.',
    'av.from': 'Source (optional)',
    'av.fromHint': 'A URL or a directory on the server. Empty: the configured mirror.',
    'av.updatedNow': 'Signatures updated.',

    // admin: queue
    'queue.lead': 'Messages waiting to be delivered to other servers.',
    'queue.empty': 'The queue is empty: everything has been delivered.',
    'queue.retrying': 'Retrying now. {n}',
    'queue.retryOne': 'The message will be retried now.',

    // admin: dns
    'dns.lead': 'The records to publish at your DNS provider, and what DNS answers now.',
    'dns.domain': 'Domain',
    'dns.noDomains': 'Add a domain first.',
    'dns.status': 'Status',
    'dns.name': 'Name',
    'dns.type': 'Type',
    'dns.value': 'Value to publish',
    'dns.found': 'Found now',
    'dns.nothing': 'nothing',
    'dns.note': 'Note',

    // admin: log
    'log.lead': 'Search what happened to mail: received, delivered, rejected and more.',
    'log.q': 'Search',
    'log.qHint': 'An address, a Message-ID or any text.',
    'log.kind': 'Event',
    'log.since': 'Since',
    'log.time': 'Time',
    'log.sender': 'From',
    'log.recipient': 'To',
    'log.detail': 'Detail',
    'log.messageId': 'Message-ID',
    'logkind.any': 'Any',
    'logkind.received': 'Received',
    'logkind.rejected': 'Rejected',
    'logkind.delivered': 'Delivered',
    'logkind.queued': 'Queued',
    'logkind.bounced': 'Bounced',
    'logkind.deferred': 'Deferred',
    'logkind.quarantined': 'Quarantined',
    'logkind.signinfailed': 'Failed sign-in',
    'event.received': 'Received',
    'event.rejected': 'Rejected',
    'event.delivered': 'Delivered',
    'event.queued': 'Queued',
    'event.bounced': 'Bounced',
    'event.deferred': 'Deferred',
    'event.quarantined': 'Quarantined',
    'event.certificate': 'Certificate',

    // generic field names (queue, DKIM keys, domain details)
    'field.id': 'ID',
    'field.sender': 'From',
    'field.recipients': 'To',
    'field.recipient': 'To',
    'field.attempts': 'Attempts',
    'field.next_attempt': 'Next attempt',
    'field.last_error': 'Last error',
    'field.created': 'Created',
    'field.size': 'Size',
    'field.selector': 'Selector',
    'field.algorithm': 'Type',
    'field.domain': 'Domain',
    'field.record': 'DNS record',
    'field.public_key': 'Public key',
    'field.accounts': 'Accounts',
    'field.aliases': 'Aliases',
  },

  zh: {
    'loading': '正在加载…',
    'working': '处理中…',
    'empty': '暂无内容。',
    'actions': '操作',
    'created': '添加时间',
    'deleted': '已删除。',
    'copied': '已复制到剪贴板。',
    'never': '从未',
    'yes': '是',
    'no': '否',
    'on': '已开启',
    'off': '已关闭',
    'more': '更多选项',
    'menu': '菜单',
    'placeholders': '可用占位符：',
    'err.network': '无法连接服务器，请检查网络后重试。',
    'err.status': '服务器返回错误（{status}）。',
    'err.sessionEnded': '登录已过期，请重新登录。',

    'nav.label': '主菜单',
    'nav.account': '我的账户',
    'nav.admin': '系统管理',
    'title.sign-in': '登录',
    'title.forgot': '忘记密码',
    'title.home': '概览',
    'title.security': '账户安全',
    'title.signatures': '邮件签名',
    'title.autoreplies': '自动回复',
    'title.rules': '收信规则',
    'title.lists': '白名单与黑名单',
    'title.quarantine': '隔离区',
    'title.mail': '邮件',
    'mail.folders': '文件夹',
    'mail.from': '发件人',
    'mail.to': '收件人',
    'mail.cc': '抄送',
    'mail.subject': '主题',
    'mail.date': '日期',
    'mail.size': '大小',
    'mail.noSubject': '（无主题）',
    'mail.newer': '‹ 较新',
    'mail.older': '较旧 ›',
    'mail.range': '第 {from}–{to} 封，共 {total} 封',
    'mail.pick': '选择一封邮件阅读。',
    'mail.imagesBlocked': '未显示来自互联网的图片：加载它们会让发件人知道您打开了这封邮件。',
    'mail.showImages': '显示图片',
    'mail.alwaysImages': '始终显示来自 {sender} 的图片',
    'mail.senderUnproved': '已设为始终显示此发件人的图片，但无法证实这封邮件确实来自该发件人，因此未显示。',
    'mail.imagesTrusted': '来自 {sender} 的图片会始终显示。',
    'mail.stopImages': '不再显示',
    'mail.chooseFirst': '请先勾选邮件。',
    'mail.changed': '此文件夹有变化；取消勾选后会重新显示。',
    'mail.markRead': '标为已读',
    'mail.markUnread': '标为未读',
    'mail.flag': '加星标',
    'mail.spam': '垃圾邮件',
    'mail.notSpam': '不是垃圾邮件',
    'mail.delete': '删除',
    'mail.move': '移动',
    'mail.empty': '清空文件夹',
    'mail.emptyConfirm': '永久删除此文件夹中的所有邮件？',
    'mail.search': '搜索',
    'mail.searchPh': '关键词、姓名或地址',
    'mail.found': '找到 {n} 封',
    'mail.truncated': '（只搜索了最新的 5000 封邮件）',
    'mail.clearSearch': '显示全部',
    'mail.newFolder': '新建文件夹',
    'mail.newFolderPh': '客户/德国',
    'mail.renameFolder': '重命名文件夹',
    'mail.renamePrompt': '文件夹的新名称：',
    'mail.deleteFolder': '删除文件夹',
    'mail.deleteFolderConfirm': '删除文件夹 {name} 及其中所有邮件？',
    'mail.bcc': '密送',
    'mail.sortBy': '排序',
    'mail.sort.date': '日期',
    'mail.sort.arrival': '收到时间',
    'mail.sort.from': '发件人',
    'mail.sort.to': '收件人',
    'mail.sort.subject': '主题',
    'mail.sort.size': '大小',
    'mail.newestFirst': '最新的在前',
    'mail.oldestFirst': '最早的在前',
    'mail.largestFirst': '最大的在前',
    'mail.smallestFirst': '最小的在前',
    'mail.aToZ': '升序（A→Z）',
    'mail.zToA': '降序（Z→A）',
    'mail.threads': '会话',
    'mail.threadOrder': '会话按其中最新的邮件排列。',
    'mail.threadCount': '此会话共 {n} 封邮件',
    'mail.rangeThreads': '第 {from}–{to} 个会话，共 {total} 个',
    'mail.forwarded': '转发的邮件',
    'mail.nestedAttachments': '其中的附件：',
    'mail.showPlain': '纯文本',
    'mail.showFormatted': '带格式',
    'mail.settings': '设置',
    'folder.inbox': '收件箱',
    'folder.sent': '已发送',
    'folder.drafts': '草稿箱',
    'folder.junk': '垃圾邮件',
    'folder.trash': '已删除',
    'folder.archive': '归档',
    'mail.bounce': '这是一封退信报告：邮件未能送达。',
    'mail.bounceLead': '各收件人的投递情况：',
    'mail.report': '这是一封投递状态报告。',
    'compose.write': '写邮件',
    'compose.reply': '回复',
    'compose.replyAll': '全部回复',
    'compose.forward': '转发',
    'compose.forwardAttachment': '作为附件转发',
    'compose.title.new': '写邮件',
    'compose.title.reply': '回复',
    'compose.title.reply-all': '全部回复',
    'compose.title.forward': '转发',
    'compose.title.forward-attachment': '作为附件转发',
    'compose.title.draft': '草稿',
    'compose.close': '关闭（保留草稿）',
    'compose.from': '发件人',
    'compose.to': '收件人',
    'compose.cc': '抄送',
    'compose.bcc': '密送',
    'compose.subject': '主题',
    'compose.toPh': '姓名或邮箱地址，多个用逗号分隔',
    'compose.suggestions': '推荐的地址',
    'compose.body': '正文',
    'compose.toolbar': '格式',
    'compose.bold': '加粗',
    'compose.italic': '斜体',
    'compose.underline': '下划线',
    'compose.bullets': '项目符号',
    'compose.numbers': '编号',
    'compose.link': '插入链接',
    'compose.linkShort': '链接',
    'compose.clear': '清除格式',
    'compose.clearShort': '清除格式',
    'compose.linkPrompt': '链接地址（https://… 或邮箱地址）：',
    'compose.linkBad': '只能插入网页（http、https）或邮箱地址的链接。',
    'compose.plain': '纯文本',
    'compose.signature': '发送时将添加：',
    'compose.attach': '添加附件',
    'compose.dropHint': '或将文件拖到这里',
    'compose.attachments': '附件',
    'compose.uploading': '正在上传 {name}',
    'compose.remove': '删除 {name}',
    'compose.wholeMessage': '原邮件将整封作为附件发送。如不需要，请放弃这封邮件。',
    'compose.tooBig': '{name} 大小为 {size}，而一封邮件最大只能 {max}。大文件请改用其他方式发送，例如下载链接。',
    'compose.tooBigTotal': '{name} 未添加：加上它邮件将超过 {max}（单封邮件的上限）。',
    'compose.uploadFailed': '{name} 未添加：{error}',
    'compose.send': '发送',
    'compose.saveDraft': '存草稿',
    'compose.discard': '放弃',
    'compose.discardConfirm': '放弃这封邮件吗？已保存的草稿也会删除。',
    'compose.saving': '正在保存草稿…',
    'compose.savedAt': '草稿已保存 {time}',
    'compose.notSaved': '草稿未保存：{error}',
    'compose.sent': '已发送。',
    'compose.noRecipient': '请填写收件人：收件人、抄送或密送中至少填一个地址。',
    'compose.wrote': '{date}，{who} 写道：',
    'compose.fwdHead': '---------- 转发的邮件 ----------',
    'title.doctor': '邮箱体检',
    'title.admin/domains': '域名管理',
    'title.admin/users': '用户管理',
    'title.admin/aliases': '别名管理',
    'title.admin/filter': '垃圾邮件过滤',
    'title.admin/antivirus': '病毒防护',
    'title.admin/quarantine': '隔离区（全部）',
    'title.admin/queue': '发送队列',
    'title.admin/dns': 'DNS 记录',
    'title.admin/log': '邮件日志',
    'title.admin/doctor': '服务器体检',

    'b.add': '添加',
    'b.addRule': '添加规则',
    'b.cancel': '取消',
    'b.check': '重新检查',
    'b.close': '关闭',
    'b.confirm': '确认',
    'b.copy': '复制',
    'b.createUser': '创建用户',
    'b.delete': '删除',
    'b.edit': '编辑',
    'b.enroll': '开启两步验证',
    'b.generate': '生成密钥',
    'b.preview': '预览',
    'b.release': '放行',
    'b.reset': '设置新密码',
    'b.retry': '立即重试',
    'b.retryAll': '全部立即重试',
    'b.runAgain': '重新检查',
    'b.save': '保存',
    'b.search': '搜索',
    'b.sendCode': '发送验证码',
    'b.sendReset': '发送重置验证码',
    'b.setPassword': '设置密码',
    'b.signIn': '登录',
    'b.signOut': '退出登录',
    'b.signOutEverywhere': '退出所有设备',
    'b.toSignIn': '返回登录',
    'b.trace': '追踪',
    'b.unlock': '解除锁定',
    'b.update': '立即更新',
    'b.verify': '验证',
    'b.view': '查看',

    'f.address': '邮箱地址',
    'f.password': '密码',
    'f.currentPassword': '当前密码',
    'f.newPassword': '新密码',
    'f.code': '验证码',
    'f.code2fa': '两步验证码',
    'f.token': '邮件中的重置验证码',
    'f.name': '名称',
    'f.phone': '手机号码',

    'signin.title': '登录 Caravel',
    'signin.lead': '请输入完整的邮箱地址和邮箱密码。',
    'signin.forgot': '忘记密码？',
    '2fa.title': '两步验证',
    '2fa.lead': '{address} 还需一步：请输入验证码以确认是您本人。',
    '2fa.choose': '验证方式',
    '2fa.sent': '验证码已发送至 {to}。',
    '2fa.startOver': '使用其他账户登录',
    '2fa.hint.totp': '身份验证器应用中显示的 6 位数字。',
    '2fa.hint.recovery': '开启两步验证时您记下的恢复码之一，每个只能使用一次。',
    '2fa.hint.email': '请先点击“发送验证码”，然后输入邮件中的验证码。',
    '2fa.hint.sms': '请先点击“发送验证码”，然后输入短信中的验证码。',
    'method.totp': '身份验证器',
    'method.recovery': '恢复码',
    'method.email': '邮件验证码',
    'method.sms': '短信验证码',

    'forgot.title': '重置密码',
    'forgot.step1': '请输入您的邮箱地址，我们会把重置验证码发送到您的备用邮箱。',
    'forgot.step2': '请输入邮件中的验证码，并设置新密码。',
    'forgot.sent': '如果该账户设置了备用邮箱，重置验证码已发出，请查收。',
    'forgot.codeHint': '仅在您的账户开启了两步验证时填写。',
    'forgot.done': '密码已修改，现在可以用新密码登录。',
    'forgot.again': '重新发送验证码',

    'home.lead': '当前登录账户：{address}',
    'home.storage': '邮箱空间',
    'home.usedOf': '已使用 {used}，共 {quota}（{pct}%）',
    'home.usedNoLimit': '已使用 {used}，不限容量',
    'home.protocols': '收发方式',
    'home.protocolsHint': '允许哪些连接方式由管理员设定。',
    'home.status': '账户状态',
    'home.2fa': '两步验证',
    'home.2faAdvice': '建议在“账户安全”页面开启两步验证，以保护您的账户。',
    'home.autoreply': '自动回复',
    'home.replyOn': '正在自动回复：{names}',
    'home.replySet': '已设置自动回复，但当前不在生效时间内。',
    'home.replyOff': '尚未设置自动回复。',
    'home.locked': '由于多次登录失败，账户已被锁定至 {until}。',
    'proto.smtp': '发信（SMTP）',
    'proto.imap': '邮件客户端（IMAP）',
    'proto.pop3': '下载邮件（POP3）',

    'setup.title': '设置邮件客户端',
    'setup.lead': '如果邮件客户端要求手动填写，请使用以下设置。',
    'setup.dir': '类型',
    'setup.incoming': '收信',
    'setup.outgoing': '发信',
    'setup.protocol': '协议',
    'setup.server': '服务器',
    'setup.port': '端口',
    'setup.security': '加密方式',
    'setup.username': '用户名',
    'setup.password': '密码：您的邮箱密码；如已开启两步验证，请使用应用专用密码。',
    'setup.apple': 'Apple 邮件 / iPhone / iPad',
    'setup.auto': '只需输入邮箱地址和密码，其余设置会自动获取。',
    'setup.android': '选择“其他”或“IMAP”，然后按上表填写各项设置。',
    'setup.appleProfile': '下载 Apple 配置描述文件',

    'sec.lead': '保护您的账户，并管理登录状态。',
    'sec.2fa': '两步验证',
    'sec.2faOn': '两步验证已开启。登录时需要密码和身份验证器应用中的验证码。',
    'sec.2faOff': '两步验证尚未开启。开启后，即使密码泄露，他人也无法登录您的账户。',
    'sec.scan': '用身份验证器应用（如 Google 身份验证器、Microsoft Authenticator 或 1Password）扫描下方二维码。',
    'sec.enterCode': '输入应用中显示的 6 位验证码并确认。',
    'sec.qrAlt': '二维码',
    'sec.byHand': '无法扫描？请在应用中手动输入以下密钥：',
    'sec.openApp': '在本设备的身份验证器应用中打开',
    'sec.2faDone': '两步验证已开启。',
    'sec.codesWarn': '请抄下这些恢复码并妥善保管。手机丢失时，每个恢复码可用于登录一次。恢复码只显示这一次。',
    'apps.title': '应用专用密码',
    'apps.lead': '无法输入两步验证码的邮件客户端，可使用应用专用密码代替账户密码登录。',
    'apps.created': '创建时间',
    'apps.lastUsed': '最近使用',
    'apps.deleted': '应用专用密码“{name}”已删除。',
    'apps.add': '新建应用专用密码',
    'apps.name': '应用名称',
    'apps.namePh': '例如：手机',
    'apps.newOnce': '以下是“{name}”的应用专用密码，请立即填入应用中——它只显示这一次。',
    'sec.phone': '接收验证码的手机号码',
    'prof.title': '个人信息',
    'prof.lead': '签名和自动回复中的 {title}、{company}、{phone}、{mobile}、{website}、{address} 将用这里的信息填写。留空的项使用公司信息。',
    'prof.saved': '个人信息已保存。',
    'prof.f.title': '职位',
    'prof.f.company': '公司',
    'prof.f.phone': '电话',
    'prof.f.mobile': '手机',
    'prof.f.website': '网站',
    'prof.f.address': '通信地址',
    'prof.f.zone': '时区',
    'prof.zoneHint': '用于工作时间和自动回复日期：如 Asia/Shanghai 或 +08:00。',
    'sec.password': '登录密码',
    'sec.passwordLead': '修改登录密码。修改后所有设备和应用专用密码都会退出：请重新登录，并为邮件客户端重新生成应用专用密码。',
    'sec.passwordHint': '至少 12 个字符；几个互不相关的词组合起来既好记又难猜。',
    'sec.passwordMismatch': '两次输入的新密码不一致。',
    'sec.passwordChanged': '密码已修改，请用新密码登录。',
    'f.newPassword': '新密码',
    'f.newPasswordAgain': '再次输入新密码',
    'b.changePassword': '修改密码',
    'sec.phoneLead': '登录验证码可通过短信发送到该号码。',
    'sec.phoneHint': '请使用国际格式，例如 +8613800138000。留空即删除号码。',
    'sec.phoneSaved': '手机号码已保存：{phone}。',
    'sec.phoneRemoved': '手机号码已删除。',
    'sec.everywhere': '退出所有设备',
    'sec.everywhereLead': '结束此账户在所有浏览器中的登录（包括当前浏览器）。',
    'sec.alsoApps': '同时撤销所有应用专用密码',
    'sec.everywhereDone': '已在所有设备上退出登录。',

    'sig.lead': '无论使用哪个邮件客户端，发出的邮件都会自动附上签名。',
    'sig.list': '我的签名',
    'sig.edit': '添加或修改签名',
    'sig.when': '适用于',
    'sig.domains': '仅限以下域名的收件人',
    'sig.domainsHint': '多个域名用逗号分隔；留空表示所有收件人。',
    'sig.allDomains': '所有收件人',
    'sig.text': '签名内容',
    'sig.html': 'HTML 版本（可选）',
    'sig.htmlHint': '用于 HTML 格式的邮件；留空则使用纯文本内容。',
    'sig.previewText': '预览（纯文本）',
    'sig.previewHtml': '预览（HTML）',
    'sig.saved': '签名“{name}”已保存。',
    'sig.deleted': '签名“{name}”已删除。',
    'sig.ph.name': '姓名',
    'sig.ph.title': '职位',
    'sig.ph.company': '公司',
    'sig.ph.phone': '电话',
    'sig.ph.mobile': '手机',
    'sig.ph.website': '网站',
    'sig.ph.address': '地址',
    'when.always': '所有邮件',
    'when.new': '新邮件',
    'when.reply': '回复和转发',
    'when.external': '发往外部的邮件',
    'when.internal': '内部邮件',

    'ar.lead': '在您外出或下班期间自动回复来信。',
    'ar.list': '我的自动回复',
    'ar.edit': '添加或修改自动回复',
    'ar.scenario': '回复场景',
    'ar.subject': '主题',
    'ar.text': '回复内容',
    'ar.period': '时间段',
    'ar.noDates': '未设定日期',
    'ar.state': '状态',
    'ar.active': '正在回复',
    'ar.inactive': '未生效',
    'ar.hours': '工作时间',
    'ar.hoursHint': '例如 09:00-18:00',
    'ar.workdays': '工作日',
    'ar.workdaysHint': '例如 mon-fri 或 mon,tue,thu',
    'ar.calendar': '节假日日历（可选）',
    'ar.calendarHint': '服务器上的节假日日历名称，例如 china。留空表示服务器已知的所有节假日。',
    'ar.from': '开始日期',
    'ar.until': '结束日期',
    'ar.datesHint': '不填日期表示长期有效。',
    'ar.senderDomains': '仅回复以下域名的发件人',
    'ar.senderDomainsHint': '多个域名用逗号分隔；留空表示回复所有人。',
    'ar.language': '仅回复使用以下语言的来信',
    'ar.languageHint': '语言代码，例如 zh 或 en；留空表示不限语言。',
    'ar.days': '对同一发件人的回复间隔（天）',
    'ar.daysHint': '天数，默认 7 天。',
    'ar.html': 'HTML 版本（可选）',
    'ar.htmlHint': '留空则只发送纯文本。',
    'ar.saved': '自动回复“{name}”已保存。',
    'ar.deleted': '自动回复“{name}”已删除。',
    'ar.ph.name': '您的姓名',
    'ar.ph.opens': '您恢复办公的时间',
    'ar.ph.opens_sender': '按发件人时区显示的上述时间',
    'ar.ph.subject': '来信主题',
    'scenario.out-of-office': '外出',
    'scenario.holidays': '法定节假日',
    'scenario.after-hours': '非工作时间',
    'scenario.acknowledge': '确认收到',
    'scenario.out-of-office.help': '在下方设定的日期之间，您外出期间自动回复。',
    'scenario.holidays.help': '在节假日日历中的法定节假日自动回复。',
    'scenario.after-hours.help': '在工作时间和工作日之外自动回复。',
    'scenario.acknowledge.help': '向每位发件人确认邮件已收到。',

    'rules.lead': '自动分类、转发或拒收来信。',
    'rules.list': '我的规则',
    'rules.rule': '规则',
    'rules.new': '新建规则',
    'rules.if': '如果邮件……',
    'rules.then': '则……',
    'rules.from': '发件人包含',
    'rules.to': '收件人包含',
    'rules.subject': '主题包含',
    'rules.body': '正文包含',
    'rules.larger': '大于',
    'rules.smaller': '小于',
    'rules.sizeHint': '例如 5M 或 500K',
    'rules.header': '邮件头',
    'rules.headerHint': '格式为“名称: 值”，例如 List-Id: news',
    'rules.attachment': '带有附件',
    'rules.any': '满足任一条件即可（默认需满足全部条件）',
    'rules.containsHint': '留空的条件不参与判断。',
    'rules.moveTo': '移动到文件夹',
    'rules.moveToPh': '例如：订阅邮件',
    'rules.forward': '转发到',
    'rules.forwardHint': '多个地址用逗号分隔。',
    'rules.noKeep': '转发后不保留副本',
    'rules.markRead': '标记为已读',
    'rules.flag': '添加旗标',
    'rules.reject': '拒收并回复以下内容',
    'rules.rejectHint': '发件人会收到这段文字；留空表示不拒收。',
    'rules.stop': '停止：不再执行后续规则',
    'rules.added': '规则已添加。',

    'lists.lead': '白名单中的发件人不会被判为垃圾邮件；黑名单中的发件人的邮件将被拒收。',
    'lists.mine': '我的名单',
    'lists.new': '添加条目',
    'lists.kind': '名单',
    'lists.pattern': '发件人',
    'lists.patternHint': 'user@domain、@domain、*.domain、IP 地址或 CIDR 网段',
    'lists.added': '条目已添加。',
    'kind.allow': '白名单',
    'kind.block': '黑名单',
    'kind.keyword': '关键词',

    'q.lead': '被判定为垃圾邮件或危险邮件而暂扣的邮件。需要接收的邮件可以放行。',
    'q.leadAdmin': '您管理的所有账户中被暂扣的邮件。',
    'q.time': '接收时间',
    'q.from': '发件人',
    'q.to': '收件人',
    'q.via': '{address}（由 {aliases} 转发）',
    'q.verdictFor': '{address} 的隔离原因：',
    'q.subject': '主题',
    'q.noSubject': '（无主题）',
    'q.why': '原因',
    'q.size': '大小',
    'q.message': '邮件：{subject}',
    'q.virusConfirm': '这封邮件含有病毒。仍要放行吗？请仅在确认安全时放行。',
    'q.released': '已放行给 {to}。',
    'q.truncated': '邮件较长，仅显示开头部分。',
    'qkind.spam': '垃圾邮件',
    'qkind.virus': '病毒',
    'qkind.phishing': '钓鱼邮件',
    'qkind.policy': '策略',
    'qkind.keyword': '关键词',
    'qkind.blocked': '已拦截',

    'doc.lead': '检查您的账户设置，并给出问题的处理建议。',
    'doc.leadAdmin': '检查整个服务器：证书、DNS、存储、病毒防护等。',
    'doc.summary': '正常 {ok} 项，注意 {warn} 项，异常 {fail} 项',
    'doc.fix': '处理建议：',
    'status.ok': '正常',
    'status.warn': '注意',
    'status.fail': '异常',
    'trace.title': '追踪我的邮件',
    'trace.lead': '逐步查看最近 10 封邮件的投递过程。',
    'trace.direction': '邮件',
    'trace.toMe': '发给我的',
    'trace.fromMe': '我发出的',
    'trace.none': '没有找到邮件。',
    'trace.noId': '（无 Message-ID）',
    'trace.sender': '发件人',
    'trace.session': '会话',

    'dom.lead': '本服务器托管的邮件域名。',
    'dom.add': '添加域名',
    'dom.name': '域名',
    'dom.added': '域名 {name} 已添加，接下来请发布其 DNS 记录。',
    'dom.deleted': '域名 {name} 已删除。',
    'dom.confirmDelete': '确定删除域名 {name} 吗？其下的账户将无法再收到邮件。',
    'dom.dns': 'DNS 记录',
    'dom.protocols': '新账户的默认收发方式',
    'dom.protocolsHint': '该域名下新建账户默认允许的连接方式。',
    'dom.protoSaved': '{proto} 默认{state}。',
    'dom.dkim': 'DKIM 签名密钥',
    'dom.noKeys': '尚无签名密钥。请生成一个，以便收件方信任来自该域名的邮件。',
    'dom.algorithm': '密钥类型',
    'dom.dkimMade': '新的签名密钥已生成。',
    'dom.publish': '请为新密钥发布以下 DNS 记录：',

    'users.lead': '您管理的邮箱账户。',
    'users.storage': '空间',
    'users.unlimited': '不限',
    'users.locked': '锁定',
    'users.lockedUntil': '至 {until}',
    'users.2fa': '两步验证',
    'users.role': '角色',
    'users.protocols': '收发方式',
    'users.create': '创建用户',
    'users.passwordHint': '留空将自动生成高强度密码。',
    'users.quota': '空间上限',
    'users.quotaHint': '例如 2G 或 500M；填“unlimited”表示不限。',
    'users.recovery': '备用邮箱',
    'users.recoveryHint': '密码重置验证码将发送到此地址。',
    'users.generated': '已为 {address} 生成密码。请通过安全方式告知对方——密码只显示这一次。',
    'users.created': '用户 {address} 已创建。',
    'users.saved': '{address} 的修改已保存。',
    'users.deleted': '用户 {address} 已删除。',
    'users.confirmDelete': '确定删除 {address} 及其全部邮件吗？此操作无法撤销。',
    'users.newPassword': '请输入 {address} 的新密码：',
    'users.passwordSet': '{address} 的密码已修改。',
    'users.unlocked': '{address} 已解除锁定，可以重新登录。',
    'role.user': '普通用户',
    'role.domain-admin': '域管理员',
    'role.admin': '系统管理员',

    'alias.lead': '将邮件转投到其他邮箱的地址。',
    'alias.alias': '别名',
    'alias.aliasHint': '例如 sales@example.com；填 @example.com 可接收该域名下所有地址的邮件',
    'alias.targets': '投递到',
    'alias.targetsHint': '多个地址用逗号分隔。',
    'alias.new': '添加别名',
    'alias.added': '别名 {alias} 已添加。',
    'alias.deleted': '别名 {alias} 已删除。',

    'filter.lead': '适用于整个服务器、某个域名或某个账户的关键词规则和黑白名单。',
    'filter.thresholds': '垃圾邮件分值',
    'filter.thresholdsHint': '在配置文件的 [spam] 部分设置。分值达到第一个数的邮件进入垃圾邮件文件夹；达到后两个数则进入隔离区或被拒收。',
    'filter.junk': '进入垃圾邮件',
    'filter.quarantine': '进入隔离区',
    'filter.reject': '拒收',
    'filter.off': '关闭',
    'filter.test': '测试一封邮件',
    'filter.testHint': '粘贴整封邮件（包括邮件头），查看过滤器会如何处理以及原因。',
    'filter.message': '邮件内容',
    'filter.forUser': '按账户',
    'filter.forUserHint': '留空：使用您自己的设置。填写地址：使用该账户的规则和学习数据。',
    'filter.score': '分值 {n}',
    'b.classify': '检测',
    'verdict.accept': '收件箱',
    'verdict.junk': '垃圾邮件',
    'verdict.quarantine': '隔离区',
    'verdict.reject': '拒收',
    'filter.keywords': '关键词规则',
    'filter.newKeyword': '添加关键词规则',
    'filter.lists': '白名单与黑名单',
    'filter.pattern': '文本或 /正则表达式/',
    'filter.patternHint': '不区分大小写。用 /…/ 包围表示正则表达式。',
    'filter.place': '检查位置',
    'filter.action': '处理方式',
    'filter.actionHint': 'junk（归入垃圾邮件）、reject（拒收）、quarantine（隔离）或 score:N（垃圾评分加 N）',
    'filter.scope': '适用范围',
    'filter.scopeHint': '留空：整个服务器；@域名：单个域名；邮箱地址：单个账户。',
    'filter.added': '关键词规则已添加。',
    'scope.server': '整个服务器',
    'place.any': '任意位置',
    'place.subject': '主题',
    'place.body': '正文',

    'av.lead': '病毒特征库状态以及被拦截的邮件。',
    'av.status': '状态',
    'av.signatures': '特征数量',
    'av.updated': '最近更新',
    'av.age': '距今',
    'av.days': '{n} 天',
    'av.quarantined': '隔离区中的邮件',
    'av.update': '更新特征库',
    'av.updateHint': '下载最新的病毒特征，可能需要一分钟左右。',
    'av.from': '更新来源（可选）',
    'av.fromHint': 'URL 或服务器上的目录；留空则使用已配置的镜像。',
    'av.updatedNow': '特征库已更新。',

    'queue.lead': '等待投递到其他服务器的邮件。',
    'queue.empty': '队列为空，所有邮件均已投递。',
    'queue.retrying': '正在重试。{n}',
    'queue.retryOne': '该邮件将立即重试投递。',

    'dns.lead': '需要在 DNS 服务商处发布的记录，以及当前 DNS 的实际解析结果。',
    'dns.domain': '域名',
    'dns.noDomains': '请先添加域名。',
    'dns.status': '状态',
    'dns.name': '主机记录',
    'dns.type': '类型',
    'dns.value': '应发布的值',
    'dns.found': '当前解析',
    'dns.nothing': '无',
    'dns.note': '说明',

    'log.lead': '查询邮件的收发记录：接收、投递、拒收等。',
    'log.q': '搜索',
    'log.qHint': '邮箱地址、Message-ID 或任意文字。',
    'log.kind': '事件',
    'log.since': '起始日期',
    'log.time': '时间',
    'log.sender': '发件人',
    'log.recipient': '收件人',
    'log.detail': '详情',
    'log.messageId': 'Message-ID',
    'logkind.any': '全部',
    'logkind.received': '已接收',
    'logkind.rejected': '已拒收',
    'logkind.delivered': '已投递',
    'logkind.queued': '已排队',
    'logkind.bounced': '已退信',
    'logkind.deferred': '延迟投递',
    'logkind.quarantined': '已隔离',
    'logkind.signinfailed': '登录失败',
    'event.received': '已接收',
    'event.rejected': '已拒收',
    'event.delivered': '已投递',
    'event.queued': '已排队',
    'event.bounced': '已退信',
    'event.deferred': '延迟投递',
    'event.quarantined': '已隔离',
    'event.certificate': '证书',

    'field.id': 'ID',
    'field.sender': '发件人',
    'field.recipients': '收件人',
    'field.recipient': '收件人',
    'field.attempts': '尝试次数',
    'field.next_attempt': '下次尝试',
    'field.last_error': '最近错误',
    'field.created': '创建时间',
    'field.size': '大小',
    'field.selector': '选择器',
    'field.algorithm': '类型',
    'field.domain': '域名',
    'field.record': 'DNS 记录',
    'field.public_key': '公钥',
    'field.accounts': '账户数',
    'field.aliases': '别名数',
  },
};

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();

})();
