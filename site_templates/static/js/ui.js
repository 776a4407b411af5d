// Small DOM helpers shared by the pages: views, the busy indicator, error messages.
import { t } from './i18n.js';
import { NetworkError, NotFound } from './net.js';
import { loadNotes } from './features.js';

export const $ = (id) => document.getElementById(id);

export function show(el, visible) { el.hidden = !visible; }

/** Page state for scripts and tests: login, busy, ready, error. */
export function setState(state) { document.body.dataset.state = state; }

export function busy(on) {
  show($('busy'), on);
  $('go').disabled = on;
  if (on) setState('busy');
}

export function message(el, key) {
  if (!key) {
    el.textContent = '';
    el.removeAttribute('data-i18n');
    show(el, false);
    return;
  }
  el.dataset.i18n = key;
  el.textContent = t(key);
  show(el, true);
}

/**
 * The message key for an error. Wrong credentials of every kind share one key, so the page
 * never says which part was wrong (FORMAT.md 5.1).
 */
export function errorKey(err, authKey) {
  if (err instanceof NotFound || err?.name === 'NotFound' || err?.name === 'AuthFailed') return authKey;
  if (err instanceof NetworkError || err?.name === 'NetworkError') return 'err.network';
  if (err?.name === 'StaleError') return 'err.stale'; // a rollback (FORMAT.md 5.4)
  return 'err.damaged';
}

/** Insert HTML that came out of the exporter's autoescaped templates, then relabel it. */
export function insertFragment(el, html, apply) {
  if (typeof html !== 'string') throw Object.assign(new Error('fragment is not text'), { name: 'FormatError' });
  el.innerHTML = html;
  apply(el);
}

export function focusHeading(root) {
  const h = root.querySelector('h1, h2');
  if (!h) return;
  if (!h.hasAttribute('tabindex')) h.setAttribute('tabindex', '-1');
  h.focus({ preventScroll: false });
}

export function isoToday() {
  const d = new Date();
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/**
 * A record is on screen: tell the notes feature (FORMAT.md 9) through an event and, when
 * notes.js is part of the build, its `attach(detail)`. `detail` carries the site settings,
 * clinic, card, rid, door id, who/user and the door's note key, plus the #note-box element.
 */
export function recordShown(detail) {
  document.dispatchEvent(new CustomEvent('chartseal:record', { detail }));
  if (!loadNotes) return;
  loadNotes()
    .then((mod) => (typeof mod.attach === 'function' ? mod.attach(detail) : undefined))
    .catch((err) => console.warn('chartseal: notes unavailable:', err.message));
}

/** Mark `name` once the browser has painted what was just inserted (benchmarks read it). */
export function markPainted(name) {
  requestAnimationFrame(() => setTimeout(() => performance.mark(name), 0));
}
