// moat's dashboard: a plain browser module over the admin HTTP API, no build step and no
// dependencies. Every value from the API goes into the page through textContent or an attribute,
// never as markup: host names come from reverse DNS and user names from clients, both attacker
// controlled. The server's Content-Security-Policy (default-src 'self') forbids inline scripts and
// style attributes, so colours live in style.css classes, SVG included.

const TOKEN_KEY = 'moat.token';
const REFRESH_MS = 2000;
/** Beyond this many hosts the table shows the first ones of the current order (filter to see more). */
const MAX_HOST_ROWS = 1000;
const SVG = 'http://www.w3.org/2000/svg';

const state = {
  token: /** @type {string | null} */ (null),
  /** Bumped on sign-out, so that a response to an older request is dropped. */
  generation: 0,
  timer: /** @type {ReturnType<typeof setTimeout> | undefined} */ (undefined),
  inFlight: false,
  /** A refresh was asked for while one was running (after an unblock): run another at once. */
  again: false,
  signedIn: false,
  lastOk: /** @type {Date | null} */ (null),
  hosts: /** @type {any[]} */ ([]),
  maxConnectErrors: /** @type {number | null} */ (null),
  /** The JSON each section was last drawn from: an unchanged section is not redrawn. */
  drawn: /** @type {Record<string, string>} */ ({}),
  sort: { key: 'lastSeen', dir: 'desc' },
  filter: '',
  onlyFailing: false,
};

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

class AuthError extends Error {}

/** One API call with the bearer token; throws AuthError on 401, Error with the API's message otherwise. */
async function api(path, method = 'GET', body = undefined) {
  const headers = { authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  // Relative paths, so that the page also works behind a reverse proxy under a prefix.
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
  });
  let data = null;
  try {
    data = await res.json();
  } catch {
    // not JSON (a proxy's error page); the status says enough
  }
  if (res.status === 401) throw new AuthError(data?.error ?? 'unauthorized');
  if (!res.ok) throw new Error(`${method} /${path}: ${res.status} ${data?.error ?? res.statusText}`);
  return data;
}

// ---- token ---------------------------------------------------------------------------------

/** `/#token=…` (a link that signs in; the tests use it): keep it for this tab, drop it from the address bar. */
function takeTokenFromFragment() {
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (m === null) return;
  let token = m[1];
  try {
    token = decodeURIComponent(token);
  } catch {
    // keep it as written
  }
  if (token !== '') sessionStorage.setItem(TOKEN_KEY, token);
  history.replaceState(null, '', location.pathname + location.search);
}

function showSignin(message, error = false) {
  $('dashboard').hidden = true;
  $('refresh').hidden = true;
  $('signin').hidden = false;
  $('signin-message').textContent = message;
  $('signin-message').classList.toggle('error', error);
  const input = /** @type {HTMLInputElement} */ ($('token'));
  input.value = '';
  input.focus();
}

/** Forgets the token and everything shown with it. */
function signOut(message, error = false) {
  state.generation++;
  state.token = null;
  state.signedIn = false;
  state.lastOk = null;
  state.hosts = [];
  state.drawn = {};
  sessionStorage.removeItem(TOKEN_KEY);
  clearTimeout(state.timer);
  for (const id of ['hosts', 'blocked', 'failed-logins', 'sessions']) {
    $(id).querySelector('tbody')?.replaceChildren();
  }
  $('chart').replaceChildren();
  $('stats').replaceChildren();
  $('meta').textContent = '';
  hideError();
  showSignin(message, error);
}

function signIn(token) {
  state.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
  $('signin-message').textContent = 'Checking the token…';
  $('signin-message').classList.remove('error');
  refresh();
}

// ---- refresh loop --------------------------------------------------------------------------

async function refresh() {
  clearTimeout(state.timer);
  state.timer = undefined;
  if (state.token === null) return;
  if (state.inFlight) {
    state.again = true;
    return;
  }
  state.inFlight = true;
  const generation = state.generation;
  try {
    // A token not yet accepted is tried with one request: moat's admin guard counts every rejected
    // request as a failed login (delays, then a block), and seven at once for one typo would be
    // seven failures.
    const first = state.signedIn ? null : await api('api/status');
    const [status, hosts, blocked, failed, sessions, outcomes, posture, sqlfw] = await Promise.all([
      first ?? api('api/status'),
      api('api/hosts'),
      api('api/blocked'),
      api('api/failed-logins'),
      api('api/sessions'),
      api('api/outcomes'),
      api('api/posture'),
      api('api/sqlfw/report'),
    ]);
    if (generation !== state.generation) return;
    if (!state.signedIn) {
      state.signedIn = true;
      $('signin').hidden = true;
      $('signin-message').textContent = '';
      $('dashboard').hidden = false;
      $('refresh').hidden = false;
    }
    state.maxConnectErrors = numberOr(status.variables?.max_connect_errors, null);
    drawStatus(status, hosts.hosts, blocked.blocked);
    state.hosts = hosts.hosts;
    drawHosts(false);
    drawBlocked(blocked.blocked);
    drawFailedLogins(failed.failedLogins);
    drawSessions(sessions.sessions);
    drawChart(outcomes.minutes);
    drawPosture(posture);
    drawSqlfwReport(sqlfw);
    state.lastOk = new Date();
    hideError();
  } catch (e) {
    if (generation !== state.generation) return;
    if (e instanceof AuthError) {
      signOut(
        state.signedIn ? 'The token is no longer accepted; sign in again.' : 'That token was not accepted.',
        true,
      );
      return;
    }
    const since = state.lastOk === null ? '' : ` The tables show the data of ${clock(state.lastOk)}.`;
    showError(`moat's API did not answer: ${e.message}. Retrying every ${REFRESH_MS / 1000} s.${since}`);
  } finally {
    state.inFlight = false;
    if (generation === state.generation) drawRefreshed();
    if (state.again) {
      state.again = false;
      refresh();
    } else if (generation === state.generation) schedule();
  }
}

/** The next refresh, unless the tab is hidden (it resumes when the tab is shown again). */
function schedule() {
  clearTimeout(state.timer);
  state.timer = undefined;
  if (state.token !== null && document.visibilityState === 'visible') {
    state.timer = setTimeout(refresh, REFRESH_MS);
  }
}

function drawRefreshed() {
  const paused = document.visibilityState !== 'visible';
  const failing = !$('error').hidden;
  $('live-dot').className = `dot ${failing ? 'down' : paused ? 'paused' : 'live'}`;
  const when = state.lastOk === null ? 'not refreshed yet' : `Updated ${clock(state.lastOk)}`;
  $('refreshed').textContent = `${when}${paused ? ' · paused while the tab is hidden' : ''}`;
}

function showError(text) {
  $('error').textContent = text;
  $('error').hidden = false;
}

function hideError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

/** False (and remembers the data) when `name` was last drawn from the same data. */
function changed(name, data) {
  const json = JSON.stringify(data);
  if (state.drawn[name] === json) return false;
  state.drawn[name] = json;
  return true;
}

// ---- status --------------------------------------------------------------------------------

function drawStatus(status, hosts, blocked) {
  const s = status.status ?? {};
  $('meta').textContent =
    `${status.version ? `version ${status.version} · ` : ''}up ${duration(status.uptimeSeconds)}`;
  const failing = hosts.filter(isFailing).length;
  const items = [
    ['Connections', s.Connections],
    ['Aborted connects', s.Aborted_connects],
    ['Threads connected', s.Threads_connected],
    ['max_connect_errors', state.maxConnectErrors],
    ['Hosts', hosts.length],
    ['Failing hosts', failing, failing > 0 ? 'warn' : ''],
    ['Blocked', blocked.length, blocked.length > 0 ? 'bad' : ''],
  ];
  // A fleet member (state.store: redis): whether the shared state is reachable, and what waits for it.
  if (s.Moat_redis_up !== undefined) {
    const up = s.Moat_redis_up === 1;
    const pending = s.Moat_redis_pending ?? 0;
    items.push(['Shared state', up ? 'up' : `down · ${pending} waiting`, up ? '' : 'bad']);
  }
  if (!changed('status', items)) return;
  const dl = $('stats');
  dl.replaceChildren(
    ...items.map(([label, value, tone]) => {
      const div = el('div', tone ? `stat ${tone}` : 'stat');
      div.append(
        el('dt', '', label),
        el('dd', '', value === undefined || value === null ? '—' : String(value)),
      );
      return div;
    }),
  );
}

// ---- hosts ---------------------------------------------------------------------------------

/** Sort keys; null sorts last in both directions. */
const HOST_KEYS = {
  ip: (h) => ipKey(h.ip),
  host: (h) => (h.host === null ? null : h.host.toLowerCase()),
  connections: (h) => h.totalConnections * 1e6 + h.currentConnections,
  failures: (h) => failureTotal(h),
  sumConnectErrors: (h) => h.sumConnectErrors,
  firstSeen: (h) => time(h.firstSeen),
  lastSeen: (h) => time(h.lastSeen),
  blocked: (h) => (h.blocked ? 1 : 0),
};
/** Text columns sort A→Z on the first click; counts, times and flags largest first. */
const ASCENDING_FIRST = new Set(['ip', 'host']);

/** MySQL's failure class → how bad it looks: a guess at the password, a protocol-level failure, or policy. */
const FAILURE_TONE = {
  authentication: 'bad',
  'proxy-user': 'bad',
  'proxy-user-acl': 'bad',
  'host-acl': 'policy',
  'host-blocked': 'policy',
  'max-user-connections': 'policy',
  'max-user-connections-per-hour': 'policy',
  'default-database': 'info',
  'init-connect': 'info',
};

function isFailing(h) {
  return failureTotal(h) > 0;
}

function failureTotal(h) {
  let n = 0;
  for (const v of Object.values(h.counts ?? {})) n += v;
  return n;
}

/** IPv4 as zero-padded octets, IPv6 as zero-padded groups: compares as strings in address order. */
function ipKey(ip) {
  if (ip.includes('.') && !ip.includes(':')) {
    return `4 ${ip
      .split('.')
      .map((o) => o.padStart(3, '0'))
      .join('.')}`;
  }
  const [head, tail = ''] = ip.toLowerCase().split('::');
  const a = head === '' ? [] : head.split(':');
  const b = tail === '' ? [] : tail.split(':');
  const groups = ip.includes('::')
    ? [...a, ...Array(Math.max(0, 8 - a.length - b.length)).fill('0'), ...b]
    : a;
  return `6 ${groups.map((g) => g.padStart(4, '0')).join(':')}`;
}

function visibleHosts() {
  const f = state.filter.trim().toLowerCase();
  let rows = state.hosts;
  if (f !== '')
    rows = rows.filter((h) => h.ip.toLowerCase().includes(f) || (h.host ?? '').toLowerCase().includes(f));
  if (state.onlyFailing) rows = rows.filter(isFailing);
  const key = HOST_KEYS[state.sort.key];
  const sign = state.sort.dir === 'asc' ? 1 : -1;
  return rows
    .map((h) => [key(h), ipKey(h.ip), h])
    .sort(([a, ia], [b, ib]) => {
      if (a !== b) {
        if (a === null) return 1;
        if (b === null) return -1;
        return (a < b ? -1 : 1) * sign;
      }
      return ia < ib ? -1 : ia > ib ? 1 : 0;
    })
    .map((r) => r[2]);
}

/** Redraws the hosts table when the data, the order or the filter changed (`force` for the latter two). */
function drawHosts(force) {
  if (!changed('hosts', state.hosts) && !force) return;
  const rows = visibleHosts();
  const shown = rows.slice(0, MAX_HOST_ROWS);
  const table = $('hosts');
  for (const th of table.querySelectorAll('th[data-key]')) {
    if (th.dataset.key === state.sort.key) {
      th.setAttribute('aria-sort', state.sort.dir === 'asc' ? 'ascending' : 'descending');
    } else th.removeAttribute('aria-sort');
  }
  const total = state.hosts.length;
  let count = `${total} ${total === 1 ? 'host' : 'hosts'}`;
  if (rows.length !== total) count = `${rows.length} of ${count}`;
  if (shown.length < rows.length) count += `, the first ${shown.length} shown`;
  $('hosts-count').textContent = count;
  const body = table.querySelector('tbody');
  if (shown.length === 0) {
    body.replaceChildren(
      emptyRow(8, total === 0 ? 'No client has connected yet.' : 'No host matches the filter.'),
    );
    return;
  }
  body.replaceChildren(...shown.map(hostRow));
}

function hostRow(h) {
  const tr = el('tr', h.blocked ? 'blocked' : '');
  tr.dataset.ip = h.ip;

  const host = el('td', 'host');
  if (h.host === null) host.append(el('span', 'muted', '—'));
  else {
    host.append(h.host);
    if (!h.hostValidated) {
      const b = badge('unconfirmed', 'warn');
      b.title = 'the reverse-DNS name did not resolve back to this address';
      host.append(' ', b);
    }
  }

  const conns = el('td', 'num', `${h.totalConnections} / ${h.currentConnections}`);
  if (typeof h.successes === 'number') conns.title = `${h.successes} succeeded`;

  const failures = el('td', 'badges');
  const counts = Object.entries(h.counts ?? {})
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1]);
  if (counts.length === 0) failures.append(el('span', 'muted', '—'));
  for (const [cls, n] of counts) {
    const b = badge(`${cls} ${n}`, FAILURE_TONE[cls] ?? 'warn');
    b.title = `COUNT_${cls.toUpperCase().replaceAll('-', '_')}_ERRORS = ${n}`;
    failures.append(b);
  }

  const errors = el('td', h.sumConnectErrors > 0 ? 'num hot' : 'num', String(h.sumConnectErrors));
  if (state.maxConnectErrors !== null)
    errors.title = `blocked at max_connect_errors = ${state.maxConnectErrors}`;

  const blocked = el('td');
  if (h.blocked) blocked.append(badge('blocked', 'bad'));

  tr.append(
    el('td', 'mono', h.ip),
    host,
    conns,
    failures,
    errors,
    timeCell(h.firstSeen),
    timeCell(h.lastSeen),
    blocked,
  );
  return tr;
}

// ---- blocked, failed logins, sessions --------------------------------------------------------

function drawBlocked(blocked) {
  if (!changed('blocked', blocked)) return;
  $('blocked-count').textContent = blocked.length === 0 ? '' : `(${blocked.length})`;
  const body = $('blocked').querySelector('tbody');
  if (blocked.length === 0) {
    body.replaceChildren(emptyRow(5, 'No host is blocked.'));
    return;
  }
  const rows = [...blocked].sort((a, b) => time(b.since) - time(a.since));
  body.replaceChildren(
    ...rows.map((b) => {
      const tr = el('tr');
      tr.dataset.ip = b.ip;
      const button = el('button', 'unblock', 'Unblock');
      button.type = 'button';
      button.dataset.ip = b.ip;
      button.setAttribute('aria-label', `Unblock ${b.ip}`);
      const action = el('td', 'action');
      action.append(button);
      const reason = el('td');
      reason.append(badge(b.reason, b.reason === 'manual' ? 'info' : 'bad'), el('div', 'by', b.by));
      tr.append(
        el('td', 'mono', b.ip),
        reason,
        timeCell(b.since),
        b.until === null ? el('td', 'muted', 'until unblocked') : timeCell(b.until),
        action,
      );
      return tr;
    }),
  );
}

async function unblock(button) {
  const ip = button.dataset.ip;
  button.disabled = true;
  button.textContent = 'Unblocking…';
  try {
    await api('api/unblock', 'POST', { ip });
  } catch (e) {
    if (e instanceof AuthError) {
      signOut('The token is no longer accepted; sign in again.', true);
      return;
    }
    showError(`Could not unblock ${ip}: ${e.message}`);
    button.disabled = false;
    button.textContent = 'Unblock';
    return;
  }
  delete state.drawn.blocked;
  refresh();
}

const SEVERITY_TONE = { fail: 'bad', warn: 'warn', pass: 'info' };

/** The gateway's last `moat check`: failing and warning findings, each with its fix; passes counted. */
function drawPosture(p) {
  if (!changed('posture', p)) return;
  const body = $('posture').querySelector('tbody');
  $('posture-run').hidden = !p.configured;
  if (!p.configured) {
    $('posture-count').textContent = '';
    $('posture-meta').textContent = '';
    body.replaceChildren(emptyRow(4, 'Not configured: set posture.user (see docs/check.md).'));
    return;
  }
  const open = p.findings.filter((f) => f.severity !== 'pass');
  const fails = open.filter((f) => f.severity === 'fail').length;
  $('posture-count').textContent =
    p.checkedAt === null ? '' : `(${fails} failing, ${open.length - fails} warnings)`;
  const passed = p.findings.length - open.length;
  $('posture-meta').textContent =
    p.checkedAt === null ? 'checking…' : `checked ${stamp(new Date(p.checkedAt))} · ${passed} passed`;
  if (p.error !== null) {
    body.replaceChildren(emptyRow(4, `The check could not run: ${p.error}`));
    return;
  }
  if (open.length === 0) {
    body.replaceChildren(emptyRow(4, p.checkedAt === null ? 'Not checked yet.' : 'Every check passes.'));
    return;
  }
  body.replaceChildren(
    ...open.map((f) => {
      const tr = el('tr');
      tr.dataset.id = f.id;
      const sev = el('td');
      sev.append(badge(f.severity, SEVERITY_TONE[f.severity] ?? 'info'));
      const what = el('td');
      what.append(el('div', 'mono', f.id), el('div', 'by', f.subject));
      what.title = f.why;
      const fix = el('td');
      fix.append(el('code', 'fix', f.fix));
      tr.append(sev, what, el('td', '', f.seen), fix);
      return tr;
    }),
  );
}

async function runPosture(button) {
  button.disabled = true;
  button.textContent = 'Checking…';
  try {
    drawPosture(await api('api/posture', 'POST', {}));
  } catch (e) {
    if (e instanceof AuthError) {
      signOut('The token is no longer accepted; sign in again.', true);
      return;
    }
    showError(`The posture check did not run: ${e.message}`);
  } finally {
    button.disabled = false;
    button.textContent = 'Check now';
  }
}

/** The SQL firewall's learning report (GET /api/sqlfw/report); the card is hidden when it is off. */
function drawSqlfwReport(r) {
  $('sqlfw-card').hidden = r.enabled !== true;
  if (!changed('sqlfw', r.report)) return;
  const body = $('sqlfw-report').querySelector('tbody');
  $('sqlfw-count').textContent = String(r.report.length);
  if (r.report.length === 0) {
    body.replaceChildren(emptyRow(6, "Every statement seen is on its profile's list."));
    return;
  }
  const rows = [...r.report].sort((a, b) => b.lastSeen - a.lastSeen);
  body.replaceChildren(
    ...rows.map((x) => {
      const tr = el('tr');
      tr.append(
        el('td', 'mono', x.profile),
        el('td', '', x.mode),
        el('td', 'mono', x.truncated ? `${x.text} …` : x.text),
        el('td', 'num', String(x.count)),
        timeCell(new Date(x.firstSeen).toISOString()),
        timeCell(new Date(x.lastSeen).toISOString()),
      );
      return tr;
    }),
  );
}

function drawFailedLogins(list) {
  if (!changed('failed', list)) return;
  const body = $('failed-logins').querySelector('tbody');
  if (list.length === 0) {
    body.replaceChildren(emptyRow(2, 'No failed logins.'));
    return;
  }
  const rows = [...list].sort(
    (a, b) => b.failedAttempts - a.failedAttempts || (a.userHost < b.userHost ? -1 : 1),
  );
  body.replaceChildren(
    ...rows.map((f) => {
      const tr = el('tr');
      tr.append(el('td', 'mono', f.userHost), el('td', 'num', String(f.failedAttempts)));
      return tr;
    }),
  );
}

function drawSessions(list) {
  if (!changed('sessions', list)) return;
  $('sessions-count').textContent = list.length === 0 ? '' : `(${list.length})`;
  const body = $('sessions').querySelector('tbody');
  if (list.length === 0) {
    body.replaceChildren(emptyRow(8, 'No client is connected.'));
    return;
  }
  const or = (v) =>
    v === null || v === undefined || v === '' ? el('td', 'muted', '—') : el('td', '', String(v));
  const rows = [...list].sort((a, b) => a.id - b.id);
  body.replaceChildren(
    ...rows.map((s) => {
      const tr = el('tr');
      tr.append(
        el('td', 'num', String(s.id)),
        or(s.user),
        el('td', 'mono', s.host),
        or(s.db),
        el('td', '', s.command),
        el('td', 'num', duration(s.timeSeconds)),
        el('td', '', s.state),
        s.tls === null ? el('td', 'muted', 'none') : el('td', '', s.tls),
      );
      return tr;
    }),
  );
}

// ---- chart ---------------------------------------------------------------------------------

const CHART = { width: 600, height: 190, left: 40, right: 8, top: 10, bottom: 24, minutes: 60 };
const SERIES = ['ok', 'failed', 'refused'];

/** Stacked bars, one per minute of the last hour; minutes without attempts are absent from the API. */
function drawChart(minutes) {
  const last = minutes.length === 0 ? 0 : time(minutes[minutes.length - 1].t);
  const end = Math.max(Math.floor(Date.now() / 60_000) * 60_000, last);
  if (!changed('chart', [end, minutes])) return;
  const byMinute = new Map(minutes.map((m) => [time(m.t), m]));
  const buckets = [];
  for (let i = CHART.minutes - 1; i >= 0; i--) {
    const t = end - i * 60_000;
    const m = byMinute.get(t);
    buckets.push({ t, ok: m?.ok ?? 0, failed: m?.failed ?? 0, refused: m?.refused ?? 0 });
  }
  const totals = { ok: 0, failed: 0, refused: 0 };
  for (const b of buckets) for (const s of SERIES) totals[s] += b[s];
  const peak = Math.max(1, ...buckets.map((b) => b.ok + b.failed + b.refused));
  const [top, step] = niceScale(peak);

  const { width, height, left, right, top: padTop, bottom } = CHART;
  const plotW = width - left - right;
  const plotH = height - padTop - bottom;
  const y = (v) => padTop + plotH - (v / top) * plotH;
  const slot = plotW / CHART.minutes;
  const barW = Math.max(1, slot - 2);

  const svg = svgEl('svg', {
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': `Connection outcomes in the last ${CHART.minutes} minutes: ${totals.ok} ok, ${totals.failed} failed, ${totals.refused} refused`,
  });
  const grid = svgEl('g', { class: 'grid' });
  for (let v = 0; v <= top; v += step) {
    grid.append(svgEl('line', { x1: left, x2: width - right, y1: y(v), y2: y(v) }));
    const label = svgEl('text', { x: left - 6, y: y(v) + 4, 'text-anchor': 'end' });
    label.textContent = String(v);
    grid.append(label);
  }
  buckets.forEach((b, i) => {
    if (new Date(b.t).getMinutes() % 10 !== 0) return;
    const x = left + i * slot + slot / 2;
    grid.append(svgEl('line', { class: 'tick', x1: x, x2: x, y1: padTop + plotH, y2: padTop + plotH + 4 }));
    const label = svgEl('text', { x, y: height - 6, 'text-anchor': 'middle' });
    label.textContent = hhmm(new Date(b.t));
    grid.append(label);
  });
  svg.append(grid);

  const bars = svgEl('g', { class: 'bars' });
  buckets.forEach((b, i) => {
    const total = b.ok + b.failed + b.refused;
    if (total === 0) return;
    const g = svgEl('g', { class: 'minute' });
    const title = svgEl('title');
    title.textContent = `${hhmm(new Date(b.t))}: ${b.ok} ok, ${b.failed} failed, ${b.refused} refused`;
    g.append(title);
    let base = 0;
    for (const s of SERIES) {
      if (b[s] === 0) continue;
      g.append(
        svgEl('rect', {
          class: `bar ${s}`,
          x: (left + i * slot + (slot - barW) / 2).toFixed(1),
          y: y(base + b[s]).toFixed(1),
          width: barW.toFixed(1),
          height: Math.max(1, y(base) - y(base + b[s])).toFixed(1),
        }),
      );
      base += b[s];
    }
    bars.append(g);
  });
  svg.append(bars);
  if (totals.ok + totals.failed + totals.refused === 0) {
    const none = svgEl('text', {
      class: 'none',
      x: left + plotW / 2,
      y: padTop + plotH / 2,
      'text-anchor': 'middle',
    });
    none.textContent = 'No connection attempts in the last hour';
    svg.append(none);
  }
  $('chart').replaceChildren(svg);
}

/** A round top of the y axis and its step (1, 2 or 5 × 10ⁿ), at most about five lines. */
function niceScale(peak) {
  const raw = peak / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag);
  return [Math.ceil(peak / step) * step, step];
}

// ---- small helpers ---------------------------------------------------------------------------

function el(tag, className = '', text = undefined) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function svgEl(tag, attrs = {}) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

function badge(text, tone) {
  return el('span', `badge ${tone}`, text);
}

function emptyRow(columns, text) {
  const tr = el('tr', 'empty');
  const td = el('td', 'muted', text);
  td.colSpan = columns;
  tr.append(td);
  return tr;
}

function timeCell(iso) {
  const td = el('td', 'time');
  if (iso === null || iso === undefined) {
    td.append(el('span', 'muted', '—'));
    return td;
  }
  const t = el('time', '', stamp(new Date(iso)));
  t.setAttribute('datetime', iso);
  t.title = iso;
  td.append(t);
  return td;
}

function time(iso) {
  return iso === null || iso === undefined ? null : Date.parse(iso);
}

function numberOr(v, fallback) {
  const n = Number(v);
  return v === undefined || v === null || Number.isNaN(n) ? fallback : n;
}

const pad = (n) => String(n).padStart(2, '0');
const hhmm = (d) => `${pad(d.getHours())}:${pad(d.getMinutes())}`;
const clock = (d) => `${hhmm(d)}:${pad(d.getSeconds())}`;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Local time, short: the date only when it is not today, the year only when it is not this year. */
function stamp(d) {
  const now = new Date();
  if (d.getFullYear() !== now.getFullYear()) {
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hhmm(d)}`;
  }
  if (d.getMonth() === now.getMonth() && d.getDate() === now.getDate()) return clock(d);
  return `${MONTHS[d.getMonth()]} ${d.getDate()} ${clock(d)}`;
}

function duration(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

// ---- wiring --------------------------------------------------------------------------------

function sortBy(key) {
  if (state.sort.key === key) state.sort.dir = state.sort.dir === 'asc' ? 'desc' : 'asc';
  else state.sort = { key, dir: ASCENDING_FIRST.has(key) ? 'asc' : 'desc' };
  drawHosts(true);
}

function start() {
  $('signin-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const token = /** @type {HTMLInputElement} */ ($('token')).value.trim();
    if (token !== '') signIn(token);
  });
  $('signout').addEventListener('click', () => {
    signOut('Signed out.');
  });
  $('hosts')
    .querySelector('thead')
    .addEventListener('click', (e) => {
      const th = /** @type {HTMLElement} */ (e.target).closest('th[data-key]');
      if (th !== null) sortBy(th.dataset.key);
    });
  $('host-filter').addEventListener('input', (e) => {
    state.filter = /** @type {HTMLInputElement} */ (e.target).value;
    drawHosts(true);
  });
  $('only-failing').addEventListener('change', (e) => {
    state.onlyFailing = /** @type {HTMLInputElement} */ (e.target).checked;
    drawHosts(true);
  });
  $('posture-run').addEventListener('click', (e) => {
    const button = /** @type {HTMLButtonElement} */ (e.currentTarget);
    if (!button.disabled) runPosture(button);
  });
  $('blocked').addEventListener('click', (e) => {
    const button = /** @type {HTMLElement} */ (e.target).closest('button.unblock');
    if (button !== null && !button.disabled) unblock(button);
  });
  document.addEventListener('visibilitychange', () => {
    if (state.token === null) return;
    if (document.visibilityState === 'visible') refresh();
    else {
      clearTimeout(state.timer);
      state.timer = undefined;
      drawRefreshed();
    }
  });
  window.addEventListener('hashchange', () => {
    takeTokenFromFragment();
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token !== null && token !== state.token) {
      signOut('');
      signIn(token);
    }
  });

  takeTokenFromFragment();
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token === null) showSignin('');
  else signIn(token);
}

start();
