// The page's side of the Recoscope tracker: it watches the DOM, the network and the page's
// lifecycle, and tells the WASM core (tracker-wasm/src) what happened. The core decides what
// each observation means (impressions, attribution, batches, back-off); this file only
// observes and carries out. Bundled and minified by scripts/tracker-build.
//
// Storage keys (all under "rs:"):
//   localStorage   rs:uid        anonymous user id          rs:consent  "1" once granted
//                  rs:optout     "1": the user said no      rs:lock     "<page> <until>"
//                  rs:q:<page>   "<heartbeat>\n" + the page's unsent events (core export)
//   sessionStorage rs:sid        session id                 rs:clicks   recent clicks
import init, { Tracker } from 'recoscope-tracker-core';

const w = window;
const d = document;
const now = () => Date.now();
const HEARTBEAT_MS = 5000;
// A queue whose page wrote no heartbeat for this long belongs to a page that is gone.
const ORPHAN_MS = 20000;
// Events wait this long for company before a batch goes (clicks go at once).
const BATCH_WAIT_MS = 1000;

const queued = (w.recoscope && w.recoscope.q) || [];
let core;
let config = {};
let endpoint;
let state = 'off'; // 'off' | 'pending' (consent asked, not given) | 'on'
let pageId;
let sending = false;
let sendTimer;
let dueTimer;
const handles = new WeakMap();
const items = new Map(); // handle -> element
let nextHandle = 1;
let observer;
let gone = false; // pagehide came: the page is being left (or cached)

const id = () => (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2));
const store = (area, key, value) => {
  try {
    if (value === undefined) return area.getItem(key);
    if (value === null) area.removeItem(key);
    else area.setItem(key, value);
  } catch (e) {
    // Storage can be full or forbidden (private modes): the tracker works without it.
  }
};
const local = (k, v) => (state === 'on' || v === null ? store(w.localStorage, k, v) : null);
const session = (k, v) => (state === 'on' || v === null ? store(w.sessionStorage, k, v) : null);

function active() {
  return d.visibilityState === 'visible' && d.hasFocus();
}

function command(args) {
  const [name, a, b] = args;
  if (name === 'init') return start(a || {});
  if (!core) return queued.push(args);
  const t = now();
  if (name === 'consent') return consent(a);
  if (name === 'identify') {
    core.identify(String(a));
    if (state === 'on') local('rs:uid', String(a));
  } else if (name === 'order') {
    // recoscope('order', {items: ['sku-1', ...], order_id, scenario})
    const extra = a.order_id ? JSON.stringify({ order_id: String(a.order_id) }) : '';
    for (const item of a.items || []) core.track('order', String(item), a.scenario || 'checkout', extra, t);
    sendSoon(0);
  } else if (name === 'track') {
    // recoscope('track', 'add_cart', {item: 'sku-1', scenario, extra})
    const o = b || {};
    core.track(String(a), String(o.item), o.scenario || config.scenario || 'direct', o.extra ? JSON.stringify(o.extra) : '', t);
    sendSoon(0);
  } else if (name === 'flush') {
    sendSoon(0);
  }
  save();
}

// --- consent -------------------------------------------------------------------------------

function privacySignal() {
  const n = navigator;
  return config.respectDnt && (n.doNotTrack === '1' || w.doNotTrack === '1' || n.globalPrivacyControl === true);
}

function consent(granted) {
  if (granted) {
    store(w.localStorage, 'rs:optout', null);
    store(w.localStorage, 'rs:consent', '1');
    state = 'on';
    local('rs:uid', userId);
    session('rs:sid', sessionId);
    drain();
    sendSoon(0);
  } else {
    // Remembered, so later pages stay silent too; everything kept so far is forgotten.
    state = 'off';
    core.clear();
    for (const k of ['rs:uid', 'rs:consent', 'rs:q:' + pageId]) store(w.localStorage, k, null);
    store(w.sessionStorage, 'rs:clicks', null);
    store(w.localStorage, 'rs:optout', '1');
  }
}

// --- the DOM -------------------------------------------------------------------------------

function attr(el, name) {
  return (el && el.getAttribute('data-reco-' + name)) || '';
}

function register(el) {
  let h = handles.get(el);
  if (!h) {
    h = nextHandle++;
    handles.set(el, h);
    observer.observe(el);
  }
  items.set(h, el);
  const list = el.closest('[data-reco-list]');
  const position = attr(el, 'position');
  core.list_item(
    h,
    attr(el, 'scenario') || attr(list, 'scenario') || attr(list, 'list'),
    attr(el, 'request') || attr(list, 'request'),
    attr(el, 'experiment') || attr(list, 'experiment'),
    attr(el, 'group') || attr(list, 'group'),
    attr(el, 'item'),
    position === '' ? -1 : parseInt(position, 10),
  );
}

const viewed = new Set();

function scan() {
  const present = new Set();
  for (const el of d.querySelectorAll('[data-reco-list] [data-reco-item]')) {
    register(el);
    present.add(handles.get(el));
  }
  for (const [h, el] of items) {
    if (!present.has(h)) {
      core.forget(h);
      observer.unobserve(el);
      items.delete(h);
    }
  }
  // An item page: <main data-reco-view="sku-1" data-reco-scenario="item_page">. Its view
  // goes at once; its engaged time (and its media's) as `dwell` increments.
  for (const el of d.querySelectorAll('[data-reco-view]')) {
    const item = attr(el, 'view');
    if (item && !viewed.has(item)) {
      viewed.add(item);
      core.view(item, attr(el, 'scenario') || config.scenario || 'direct', now());
      save();
      sendSoon(BATCH_WAIT_MS);
    }
  }
  due();
}

function onIntersect(entries) {
  const t = now();
  for (const e of entries) {
    const r = e.boundingClientRect;
    core.observed(handles.get(e.target), e.intersectionRatio, r.width * r.height, t);
  }
  due();
}

function due() {
  clearTimeout(dueTimer);
  const before = core.pending();
  const next = core.due(now());
  if (core.pending() > before) {
    save();
    sendSoon(BATCH_WAIT_MS);
  }
  if (next > 0) dueTimer = setTimeout(due, Math.max(0, next - now()) + 1);
}

function onClick(e) {
  const target = e.target instanceof Element ? e.target : null;
  if (!target) return;
  const button = target.closest('[data-reco-action]');
  const item = target.closest('[data-reco-list] [data-reco-item]');
  const t = now();
  if (item && handles.get(item)) {
    core.click(handles.get(item), button && item.contains(button) ? attr(button, 'action') : 'click', '', t);
    session('rs:clicks', core.export_clicks(t));
  } else if (button && attr(button, 'item')) {
    // An action outside lists: <button data-reco-action="add_cart" data-reco-item="sku-1">.
    core.track(attr(button, 'action'), attr(button, 'item'), attr(button, 'scenario') || config.scenario || 'direct', '', t);
  } else {
    return;
  }
  save();
  // A click often leaves the page: send now, with keepalive.
  sendSoon(0);
}

let lastInput = 0;
function onInput() {
  const t = now();
  if (t - lastInput < 1000) return;
  lastInput = t;
  core.input(t);
}

function onMedia(e) {
  const m = e.target;
  if (!(m instanceof HTMLMediaElement) || !m.closest('[data-reco-view]')) return;
  core.media(!m.paused && !m.ended, m.currentTime, m.duration, now());
}

function onActivity() {
  const a = active();
  core.page_active(a, now());
  due();
}

// --- delivery ------------------------------------------------------------------------------

function sendSoon(wait) {
  if (state !== 'on') return;
  clearTimeout(sendTimer);
  const at = Math.max(core.retry_at(), now() + (core.pending() >= 50 ? 0 : wait));
  sendTimer = setTimeout(send, Math.max(0, at - now()));
}

function send() {
  if (state !== 'on' || sending || !navigator.onLine) return;
  const body = core.take(now(), false);
  if (!body) {
    if (core.pending() && core.retry_at() > now()) sendSoon(0);
    return;
  }
  const batch = core.batch();
  sending = true;
  const done = (status, retryAfter) => {
    sending = false;
    core.settle(batch, status, retryAfter, now());
    save();
    if (core.pending()) sendSoon(0);
  };
  // text/plain and the key in the query: a simple request, no CORS preflight.
  fetch(endpoint, { method: 'POST', body, keepalive: true, credentials: 'omit' }).then(
    (res) => {
      const retry = parseFloat(res.headers.get('retry-after')) || 0;
      if (res.status === 200 || res.status === 400) {
        res.json().then(warnRejected, () => {});
      } else if (res.status >= 400 && ![408, 413, 429].includes(res.status) && res.status < 500) {
        console.warn('recoscope: the API refused a batch (' + res.status + '); dropped');
      }
      done(res.status, retry);
    },
    () => done(0, 0),
  );
}

function warnRejected(answer) {
  for (const r of (answer && answer.rejected) || []) {
    console.warn('recoscope: event rejected: ' + r.code + ' ' + (r.field || '') + ': ' + r.message);
  }
}

// The page is hidden or left: what is queued goes out as beacons, which the browser
// completes after the page is gone. A beacon's fate is never known, so none goes while the
// page is offline or the last send failed (the API is unreachable, or asked to wait): the
// queue stays in localStorage for the next page instead. Only a page that is left
// (`closing`) gives up its queue to the other pages at once, and its lock.
function leave(closing) {
  onActivity();
  core.dwell(now(), true);
  if (state !== 'on') return;
  if (navigator.onLine && core.healthy(now())) {
    const t = now();
    let body;
    while ((body = core.take(t, true))) {
      const ok = navigator.sendBeacon(endpoint, body);
      core.settle(core.batch(), ok ? 202 : 0, 0, t);
      if (!ok) break;
    }
  }
  save(closing);
  if (closing && (store(w.localStorage, 'rs:lock') || '').startsWith(pageId + ' ')) {
    local('rs:lock', null);
  }
}

// --- the queue in localStorage ---------------------------------------------------------------

function save(closing) {
  // Opted out: nothing is kept, not even in memory.
  if (state === 'off') core.clear();
  if (state !== 'on') return;
  const key = 'rs:q:' + pageId;
  const events = core.export(now(), !closing);
  // A closing page's queue is an orphan at once; an empty one is removed.
  if (!events) local(key, null);
  else local(key, (closing ? 0 : now()) + '\n' + events);
}

// One page at a time takes over the queues of pages that are gone (closed, crashed, or
// reloaded offline) and sends them as its own. localStorage has no atomic operations: a page
// that finds the lock free writes its name, waits, and goes ahead only if its name is still
// there (of pages starting at once, the last writer wins and the others step back).
function drain() {
  if (state !== 'on') return;
  const t = now();
  const lock = (store(w.localStorage, 'rs:lock') || '').split(' ');
  if (lock[0] !== pageId) {
    if (+lock[1] > t) return;
    local('rs:lock', pageId + ' ' + (t + 2 * HEARTBEAT_MS));
    setTimeout(drain, 100 + Math.random() * 100);
    return;
  }
  local('rs:lock', pageId + ' ' + (t + 2 * HEARTBEAT_MS));
  for (let i = w.localStorage.length - 1; i >= 0; i--) {
    const key = w.localStorage.key(i);
    if (!key || !key.startsWith('rs:q:') || key === 'rs:q:' + pageId) continue;
    const text = store(w.localStorage, key) || '';
    const cut = text.indexOf('\n');
    if (t - +text.slice(0, cut) < ORPHAN_MS) continue;
    core.adopt(text.slice(cut + 1), t);
    local(key, null);
  }
  save();
  sendSoon(0);
}

function heartbeat() {
  if (state !== 'on') return;
  core.dwell(now(), false);
  save();
  drain();
  if (core.pending()) sendSoon(0);
}

// --- start ---------------------------------------------------------------------------------

let userId;
let sessionId;

async function start(options) {
  if (core) return;
  config = options;
  endpoint = (options.endpoint || new URL('/api/v1/behaviors', import.meta.url).href) + '?key=' + encodeURIComponent(options.key || '');
  const optedOut = store(w.localStorage, 'rs:optout') === '1' || privacySignal();
  state = optedOut ? 'off' : options.consent === 'required' && store(w.localStorage, 'rs:consent') !== '1' ? 'pending' : 'on';
  await init({ module_or_path: new URL('recoscope.wasm', import.meta.url) });
  pageId = id();
  userId = options.user || (state === 'on' && store(w.localStorage, 'rs:uid')) || id();
  sessionId = (state === 'on' && store(w.sessionStorage, 'rs:sid')) || id();
  local('rs:uid', userId);
  session('rs:sid', sessionId);
  const seed = crypto.getRandomValues(new Uint32Array(2));
  core = new Tracker(userId, sessionId, pageId, seed[0] * 4294967296 + seed[1], active());
  if (state === 'on') {
    core.adopt_clicks(store(w.sessionStorage, 'rs:clicks') || '', now());
  }
  observer = new IntersectionObserver(onIntersect, { threshold: [0, 0.3, 0.5, 1] });
  new MutationObserver(scan).observe(d.documentElement, {
    childList: true,
    subtree: true,
    attributes: true,
    attributeFilter: ['data-reco-item', 'data-reco-position', 'data-reco-request', 'data-reco-list', 'data-reco-view'],
  });
  d.addEventListener('click', onClick, true);
  // When a page is left, pagehide comes first and visibilitychange after it (HTML's "unload
  // a document"); either may be missing in some browsers, so both send, and a page that got
  // pagehide stays `gone` for both. Never `unload`: it keeps a page out of the back/forward
  // cache.
  d.addEventListener('visibilitychange', () => (d.visibilityState === 'hidden' ? leave(gone) : onActivity()));
  w.addEventListener('pagehide', () => {
    gone = true;
    leave(true);
  });
  w.addEventListener('pageshow', (e) => {
    gone = false;
    if (!e.persisted) return;
    // Restored from the back/forward cache: a new page view. Another page may have taken over
    // this page's saved queue meanwhile; what is left of it is the truth.
    const saved = store(w.localStorage, 'rs:q:' + pageId);
    core.clear();
    if (saved) core.adopt(saved.slice(saved.indexOf('\n') + 1), now());
    pageId = id();
    core.new_page_view(pageId, now());
    viewed.clear();
    scan();
    save();
  });
  for (const type of ['pointerdown', 'pointermove', 'keydown', 'scroll', 'wheel', 'touchstart']) {
    w.addEventListener(type, onInput, { capture: true, passive: true });
  }
  for (const type of ['play', 'pause', 'ended', 'timeupdate', 'seeked']) {
    d.addEventListener(type, onMedia, true);
  }
  w.addEventListener('focus', onActivity);
  w.addEventListener('blur', onActivity);
  w.addEventListener('online', () => sendSoon(0));
  setInterval(heartbeat, HEARTBEAT_MS);
  scan();
  drain();
  w.recoscope = (...args) => command(args);
  w.recoscope.loaded = true;
  for (const args of queued.splice(0)) command(args);
}

// Calls made before the core is ready wait in `queued` (the loader's queue, taken over).
w.recoscope = function () {
  queued.push(arguments);
};
// The script tag itself may carry the configuration (no inline snippet needed):
// <script type="module" src=".../recoscope.js" data-key="rk_..." data-consent="required">
const tag = d.querySelector('script[data-key][src*="recoscope"]');
const pending = queued.findIndex((args) => args[0] === 'init');
if (pending >= 0) start(queued.splice(pending, 1)[0][1] || {});
else if (tag) start({ key: tag.dataset.key, endpoint: tag.dataset.endpoint, consent: tag.dataset.consent, respectDnt: tag.dataset.respectDnt === 'true' });
