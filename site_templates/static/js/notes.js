// The note box (docs/FORMAT.md 9): write a note on a record, Save, see it confirmed or see
// why not. The note is sealed to the clinic's key and signed with the door's note key here,
// in the browser; the endpoint can check the signature but never read the text.
//
// This module imports nothing: the crypto module and the translator come in `ctx`, so it runs
// the same in the page and under `node --test` (tests/js/notes.test.mjs).

export const MAX_TEXT = 4000;      // characters (code points), after NFC
export const MAX_PAYLOAD = 5120;   // bytes of the sealed payload JSON
const WHO = new Set(['patient', 'general', 'account']);

// English fallbacks; the page's translator is used when it knows a key.
const EN = {
  'note.label': 'Write a note to the clinic',
  'note.save': 'Save',
  'note.sending': 'Sending…',
  'note.saved': 'Saved. The clinic will see your note.',
  'note.left': 'characters left',
  'note.err.empty': 'Write something first.',
  'note.err.long': 'The note is too long. Shorten it and try again.',
  'note.err.network': 'The note could not be sent. Check the connection and try again.',
  'note.err.busy': 'The notes service is busy. Try again in a few minutes.',
  'note.err.clock': "This device's clock is wrong; correct it and try again.",
  'note.err.old': 'This page is out of date. Log out, log in again and resend.',
  'note.err.refused': 'The note was not accepted',
  'note.sent': 'Notes you sent from this page',
};

function translator(t) {
  return (key) => {
    const v = t ? t(key) : null;
    return v && v !== key ? v : (EN[key] || key);
  };
}

/** The sealed payload of a note (FORMAT.md 9). */
export function notePayload({ rid, card, who, user }, text, ts) {
  if (!WHO.has(who)) throw new TypeError(`unknown writer kind ${who}`);
  return { v: 1, rid, card, text: String(text).normalize('NFC'), ts, who, user: who === 'account' ? user : '' };
}

/** null if the note may be sent, else the message key saying why not. */
export function checkNote(C, payload) {
  const text = payload.text;
  if (!text.trim()) return 'note.err.empty';
  if ([...text].length > MAX_TEXT) return 'note.err.long';
  if (new TextEncoder().encode(C.canonicalJson(payload)).length > MAX_PAYLOAD) return 'note.err.long';
  return null;
}

/** Characters left, counting code points as the clinic does. */
export function charsLeft(text) { return MAX_TEXT - [...String(text).normalize('NFC')].length; }

function build(ctx, text, ts) {
  const payload = notePayload(ctx, text, ts);
  const problem = checkNote(ctx.crypto, payload);
  if (problem) return { problem };
  return {
    note: ctx.crypto.makeNote({
      clinic: ctx.clinic, door: ctx.door, noteSk: ctx.noteSk, notesPk: ctx.notesPk, payload, ts,
    }),
  };
}

const REASONS = {
  stale: 'note.err.clock', 'too many notes': 'note.err.busy', 'unknown door': 'note.err.old',
  'unknown clinic': 'note.err.old', 'site unavailable': 'note.err.busy', 'inbox unavailable': 'note.err.busy',
};

async function post(url, note, fetchImpl) {
  let res;
  try {
    res = await fetchImpl(url, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(note),
      credentials: 'omit', cache: 'no-store', redirect: 'error',
    });
  } catch {
    return { status: 0, body: {} };
  }
  let body = {};
  try { body = await res.json(); } catch { /* a proxy's HTML error page */ }
  return { status: res.status, body: body && typeof body === 'object' ? body : {} };
}

/**
 * Seal, sign and POST a note. Resolves to `{ok: true, id}` or `{ok: false, key, reason}`
 * (`key`: a message key; `reason`: the endpoint's own words, if it answered).
 */
export async function sendNote(ctx, text, { fetchImpl = globalThis.fetch, now = () => Date.now() } = {}) {
  let ts = Math.floor(now() / 1000);
  for (let attempt = 0; attempt < 2; attempt += 1) {
    const { note, problem } = build(ctx, text, ts);
    if (problem) return { ok: false, key: problem };
    const { status, body } = await post(ctx.notesUrl, note, fetchImpl);
    if (status === 201) return { ok: true, id: body.id };
    // Our own note, already stored (an answer lost on the way back, then sent again).
    if (status === 409 && body.error === 'replay') return { ok: true, id: null };
    if (status === 0) return { ok: false, key: 'note.err.network' };
    // A wrong device clock: sign once more with the endpoint's time.
    if (body.error === 'stale' && Number.isSafeInteger(body.now) && attempt === 0) { ts = body.now; continue; }
    const key = REASONS[body.error] || (status >= 500 ? 'note.err.busy' : 'note.err.refused');
    return { ok: false, key, reason: typeof body.error === 'string' ? body.error : `HTTP ${status}` };
  }
  return { ok: false, key: 'note.err.clock', reason: 'stale' };
}

let boxes = 0;

// Notes this viewer sent, per record, for as long as this page lives (memory only, like
// the keys): shown under the box so a note is not sent twice. A reload or logout drops them.
const sent = new Map();
const sentKey = (ctx) => `${ctx.clinic}|${ctx.door}|${ctx.rid}`;

/** The notes sent from this page for this record and viewer, oldest first. */
export function sentNotes(ctx) { return sent.get(sentKey(ctx)) || []; }

function remember(ctx, text, ts) {
  const list = sent.get(sentKey(ctx)) || [];
  list.push({ text: String(text).normalize('NFC'), ts });
  sent.set(sentKey(ctx), list);
}

function hhmm(ts) {
  const d = new Date(ts * 1000);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

function el(tag, attrs = {}, text = '') {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

/**
 * Render the note box into `container`. `ctx`: {clinic, notesUrl, notesPk, door, noteSk, rid,
 * card, who, user, crypto, t?}. The container's `data-note-state` tells scripts and tests
 * where it is: ready, sending, saved, error.
 */
export function mountNoteBox(container, ctx) {
  const tr = translator(ctx.t);
  boxes += 1;
  const id = `note-text-${boxes}`;
  const form = el('form', { class: 'note-form', novalidate: '' });
  const label = el('label', { for: id }, tr('note.label'));
  const area = el('textarea', { id, name: 'note', rows: '4', dir: 'auto', spellcheck: 'true' });
  const row = el('div', { class: 'note-row' });
  const save = el('button', { type: 'submit', class: 'btn note-save' }, tr('note.save'));
  const left = el('span', { class: 'note-left', 'aria-live': 'off' });
  const status = el('p', { class: 'msg note-status', role: 'status', 'aria-live': 'polite' });
  status.hidden = true;
  const past = el('div', { class: 'note-sent' });
  const pastTitle = el('h4', {}, tr('note.sent'));
  const pastList = el('ul');
  past.append(pastTitle, pastList);
  const showSent = () => {
    const notes = sentNotes(ctx);
    pastList.replaceChildren(...notes.map((n) => {
      const li = el('li', { dir: 'auto' });
      li.append(el('time', {}, hhmm(n.ts)), document.createTextNode(n.text));
      return li;
    }));
    past.hidden = notes.length === 0;
  };
  row.append(save, left);
  form.append(label, area, row, status, past);
  showSent();
  container.replaceChildren(form);
  container.hidden = false;
  container.dataset.noteState = 'ready';

  const count = () => {
    const n = charsLeft(area.value);
    left.textContent = `${n} ${tr('note.left')}`;
    left.classList.toggle('err', n < 0);
  };
  let said = null; // the last message, said again in a new language
  const say = (state, key, reason) => {
    said = [state, key, reason];
    container.dataset.noteState = state;
    status.classList.toggle('err', state === 'error');
    status.textContent = reason && key === 'note.err.refused' ? `${tr(key)} (${reason}).` : tr(key);
    status.hidden = false;
  };
  area.addEventListener('input', count);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (container.dataset.noteState === 'sending') return;
    save.disabled = true;
    say('sending', 'note.sending');
    try {
      const text = area.value;
      const result = await sendNote(ctx, text);
      if (result.ok) {
        remember(ctx, text, Math.floor(Date.now() / 1000));
        showSent();
        area.value = '';
        say('saved', 'note.saved');
      } else {
        say('error', result.key, result.reason);
      }
    } catch (err) {
      say('error', 'note.err.refused', err && err.message);
    } finally {
      save.disabled = false;
      count();
    }
  });
  // Relabel when the user switches language (i18n.js announces it).
  const relabel = () => {
    label.textContent = tr('note.label');
    save.textContent = tr('note.save');
    pastTitle.textContent = tr('note.sent');
    if (said) say(...said);
    count();
  };
  document.addEventListener('chartseal:lang', relabel);
  count();
  return { form, area, destroy: () => document.removeEventListener('chartseal:lang', relabel) };
}

let current = null;

/**
 * The portal calls this each time a record is on screen (ui.js `recordShown`, loaded through
 * features.js). `detail`: {site, clinic, card, rid, door, who, user, noteSk (b64), box}.
 */
export async function attach(detail) {
  const d = detail || {};
  if (current) current.destroy();
  current = null;
  if (!d.box) return null;
  if (!d.site || !d.site.notes_url || !d.site.notes_pk || !d.noteSk) {
    d.box.hidden = true; // notes are off for this clinic, or this door cannot write
    return null;
  }
  // Loaded here, not at the top: under Node the rest of this module runs without a page.
  const [{ loadCrypto }, { t }] = await Promise.all([import('./sodium.js'), import('./i18n.js')]);
  const C = await loadCrypto();
  current = mountNoteBox(d.box, {
    clinic: d.clinic, notesUrl: d.site.notes_url, notesPk: C.b64d(d.site.notes_pk, 32),
    door: d.door, noteSk: C.b64d(d.noteSk, 64), rid: d.rid, card: d.card, who: d.who,
    user: d.user || '', crypto: C, t,
  });
  return current;
}
