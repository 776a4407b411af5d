// Keys live in this module's memory only: never in storage, never in the URL. Logging
// out (or the idle lock) zeroes every key we hold and reloads the page, which drops every
// decrypted string with the old document.

const held = [];
let idleTimer = null;
let lastActive = Date.now();
let idleMs = 0;

/** Remember a key (Uint8Array) so logout can zero it. */
export function hold(key) {
  if (key instanceof Uint8Array) held.push(key);
  return key;
}

export function wipe() {
  for (const key of held) key.fill(0);
  held.length = 0;
}

export function logout({ locked = false } = {}) {
  wipe();
  clearTimeout(idleTimer);
  document.body.replaceChildren();
  // replace(): the logged-in page does not stay in the back history as a live entry.
  location.replace(location.pathname + location.search + (locked ? '#locked' : ''));
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
  for (const type of ['pointerdown', 'keydown', 'wheel', 'touchstart', 'scroll']) {
    addEventListener(type, touch, { passive: true, capture: true });
  }
  document.addEventListener('visibilitychange', () => { if (!document.hidden) check(); });
  check();
}
