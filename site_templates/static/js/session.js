// Keys live in this module's memory only: never in storage, never in the URL. Logging
// out (or the idle lock) zeroes every key we hold and reloads the page, which drops every
// decrypted string with the old document.

const held = [];
let idleTimer = null;
let lastActive = Date.now();
let idleMs = 0;
let idleStarted = false;

/** Remember a key (Uint8Array) so logout can zero it. */
export function hold(key) {
  if (key instanceof Uint8Array) held.push(key);
  return key;
}

export function wipe() {
  for (const key of held) key.fill(0);
  held.length = 0;
}

const LOCKED = 'chartseal.locked'; // a flag for the message after reload, nothing secret

/**
 * Rollback check (FORMAT.md 5.4 step 3): false when `seq` is lower than the highest seen
 * under `key` in this browser session, else remember it and return true. `key` is a hash
 * (crypto.js seenKey), and the value a counter: nothing here opens anything.
 */
export function seenAtLeast(key, seq) {
  let prev = 0;
  try { prev = Number(sessionStorage.getItem(key)) || 0; } catch { /* storage disabled: this page only */ }
  if (seq < Math.max(prev, memory.get(key) || 0)) return false;
  memory.set(key, seq);
  try { sessionStorage.setItem(key, String(seq)); } catch { /* as above */ }
  return true;
}

const memory = new Map(); // the same counters, for a browser without sessionStorage

export function logout({ locked = false } = {}) {
  wipe();
  clearTimeout(idleTimer);
  document.body.replaceChildren();
  try {
    if (locked) sessionStorage.setItem(LOCKED, '1');
  } catch { /* storage may be disabled: the message is only a courtesy */ }
  // A reload drops every decrypted string with the old document; the route in the URL
  // goes first so the fresh page starts at its login form.
  history.replaceState(null, '', location.pathname + location.search);
  location.reload();
}

/** True once after an idle lock, so the login form can say why it is back. */
export function wasLocked() {
  try {
    const flag = sessionStorage.getItem(LOCKED);
    sessionStorage.removeItem(LOCKED);
    return flag === '1';
  } catch {
    return false;
  }
}

function check() {
  const left = idleMs - (Date.now() - lastActive);
  if (left <= 0) {
    logout({ locked: true });
    return;
  }
  clearTimeout(idleTimer);
  idleTimer = setTimeout(check, Math.min(left, 60000));
}

function touch() { lastActive = Date.now(); }

/** Lock after `minutes` without input. Timers sleep in background tabs, so also check on return. */
export function startIdleLock(minutes) {
  const m = Number(minutes);
  idleMs = (Number.isFinite(m) && m > 0 ? Math.min(m, 24 * 60) : 10) * 60000;
  touch();
  if (idleStarted) { check(); return; } // Refresh calls this again: listeners once
  idleStarted = true;
  for (const type of ['pointerdown', 'keydown', 'wheel', 'touchstart', 'scroll']) {
    addEventListener(type, touch, { passive: true, capture: true });
  }
  document.addEventListener('visibilitychange', () => { if (!document.hidden) check(); });
  check();
}
