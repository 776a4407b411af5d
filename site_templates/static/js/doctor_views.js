// The doctor's views after unlock: patient list with search, the diary, a patient page.
import { apply, formatMoney } from './i18n.js';
import { getBytes } from './net.js';
import { $, errorKey, focusHeading, insertFragment, isoToday, markPainted, message, recordShown, setState, show } from './ui.js';
import { clinicBase, openBundle } from './clinic.js';
import { hold } from './session.js';
import { checkDiaryPointer, checkDiaryShard, checkShardRow } from './rules.js';
import { loadShards, ShardCache } from './index_loader.js';
import * as list from './list_view.js';

const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;
let S = null; // session: { C, site, clinic, doorId, door, ik, index }
let db = null; // the database being viewed
const diaries = new Map(); // "db/month" -> opened diary shard (memory only)
let cache = new ShardCache(); // opened index shards by object name
// The list of the database being viewed: its load (a promise), and how it ended.
let listLoad = { promise: Promise.resolve(), state: 'ready', error: null };

/** The database to land on: the one the viewer last chose in this tab, else the biggest. */
function landing(dbs, lastId) {
  const last = dbs.findIndex((d) => d && d.id === lastId);
  if (last >= 0) return last;
  let best = 0;
  dbs.forEach((d, i) => { if (d.count > dbs[best].count) best = i; });
  return best;
}

function fillPicker(dbs, i) {
  const pick = $('db');
  pick.replaceChildren(...dbs.map((d, j) => new Option(String(d.name || d.id), String(j))));
  pick.value = String(i);
  show($('db-pick'), dbs.length > 1);
}

export function start(session) {
  S = session;
  const dbs = S.index.databases;
  const first = landing(dbs, null);
  fillPicker(dbs, first);
  const pick = $('db');
  pick.addEventListener('change', () => { useDb(Number(pick.value)); route(); });
  list.setup(S.C.normalizeSearch);
  $('list').addEventListener('click', openRow);
  $('back').addEventListener('click', () => history.back());
  $('d-pick').addEventListener('change', () => goDay($('d-pick').value));
  $('d-pick').addEventListener('keydown', (e) => { if (e.key === 'Enter') goDay($('d-pick').value); });
  $('d-cal').addEventListener('change', () => goDay($('d-cal').value));
  $('d-cal-btn').addEventListener('click', () => {
    $('d-cal').value = $('d-pick').value;
    try { $('d-cal').showPicker(); } catch { $('d-pick').focus(); } // no calendar: type the date
  });
  $('d-prev').addEventListener('click', () => shiftDay(-1));
  $('d-next').addEventListener('click', () => shiftDay(1));
  $('d-today').addEventListener('click', () => { location.hash = `#diary/${isoToday()}`; });
  document.addEventListener('chartseal:lang', () => { if (!$('view-diary').hidden) route(); });
  useDb(first);
  addEventListener('hashchange', route);
  if (!location.hash) history.replaceState(null, '', '#list');
  route().then(() => { if (!$('view-list').hidden) $('search').focus(); });
}

const sameBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Refresh (refresh.js): a newer root replaces the old; the view and the search stay. Only
 * the shards whose name changed are fetched, and the list changes once they are all in.
 * A shard that fails its checks empties the list and rejects (Refresh shows the message).
 */
export async function update(session) {
  const lastId = db && db.id;
  if (!sameBytes(S.ik, session.ik)) cache = new ShardCache(); // a new index key: nothing old applies
  S = session;
  diaries.clear();
  const i = landing(S.index.databases, lastId);
  fillPicker(S.index.databases, i);
  useDb(i, { keepQuery: true, atOnce: true });
  const load = listLoad;
  await load.promise;
  if (load.error) throw load.error;
  cache.keepOnly(S.index);
  await route();
}

function ctx() { return { C: S.C, clinic: S.clinic, doorId: S.doorId, ik: S.ik }; }

/**
 * Show database `i`: its shards are fetched (those in memory are reused) and its rows shown
 * as they arrive, or with `atOnce` all together once every shard is in (Refresh).
 */
function useDb(i, { keepQuery = false, atOnce = false } = {}) {
  db = S.index.databases[i];
  const mine = db;
  const load = { state: 'loading', error: null };
  const live = () => listLoad === load;
  listLoad = load;
  const got = [];
  if (!atOnce) list.begin(mine.count, { keepQuery });
  load.promise = loadShards(ctx(), cache, mine, (shard) => (atOnce ? got.push(shard) : list.add(shard)), live)
    .then(() => {
      if (!live()) return;
      if (atOnce) {
        list.begin(mine.count, { keepQuery });
        for (const shard of got) list.add(shard);
      }
      list.end();
      load.state = 'ready';
      if (!$('view-list').hidden) setState('ready');
    }, (err) => {
      if (!live()) return;
      // The safe choice: a shard that fails a check (or cannot be fetched) leaves no row of
      // this database on screen, rather than a list that silently lacks some patients.
      list.clear();
      load.state = 'failed';
      load.error = err;
      console.warn('chartseal:', err.name, err.message);
      if (!$('view-list').hidden) listFailed();
    });
}

function listFailed() {
  setState('error');
  message($('app-error'), errorKey(listLoad.error, 'err.damaged'));
}

function openRow(event) {
  const li = event.target.closest('li[data-i]');
  const row = li && list.rowAt(Number(li.dataset.i));
  if (row) location.hash = `#patient/${row.rid}`;
}

function showView(name) {
  for (const v of ['list', 'diary', 'patient']) show($(`view-${v}`), v === name);
  for (const v of ['list', 'diary']) {
    const tab = $(`tab-${v}`);
    if (v === name) tab.setAttribute('aria-current', 'page'); else tab.removeAttribute('aria-current');
  }
}

async function route() {
  const hash = location.hash.slice(1);
  message($('app-error'), null);
  const [name, arg] = [hash.split('/')[0], hash.split('/').slice(1).join('/')];
  try {
    if (name === 'patient') await showPatient(arg);
    else if (name === 'diary') await showDiary(DAY_RE.test(arg) ? arg : isoToday());
    else { showList(); return; }
    setState('ready');
  } catch (err) {
    setState('error');
    message($('app-error'), errorKey(err, 'err.damaged'));
    console.warn('chartseal:', err.name, err.message);
  }
}

/** The list view; busy while its shards arrive, the failure's message if they failed. */
function showList() {
  showView('list');
  if (listLoad.state === 'failed') listFailed();
  else setState(listLoad.state === 'loading' ? 'busy' : 'ready');
}

/**
 * The row of `rid` in any shard in memory; else once the list being loaded is in; else in
 * the shards of the other databases (a route to a patient of another database, after a
 * Refresh dropped its old shard). Null when no shard of this account holds it.
 */
async function findPatient(rid) {
  if (cache.row(rid)) return cache.row(rid);
  await listLoad.promise;
  if (cache.row(rid)) return cache.row(rid);
  for (const other of S.index.databases) {
    if (other !== db) await loadShards(ctx(), cache, other, () => {});
    if (cache.row(rid)) return cache.row(rid);
  }
  return null;
}

async function showPatient(rid) {
  const record = $('record');
  record.replaceChildren();
  showView('patient');
  setState('busy');
  const p = await findPatient(rid);
  if (location.hash !== `#patient/${rid}`) return;
  if (!p) { message($('app-error'), 'err.not_found'); return; }
  checkShardRow(p); // all of FORMAT.md 10.2's row rules, now that the row is used (the list checked what it shows)
  const bundle = await openBundle(S.clinic, p, 'doctor');
  if (location.hash !== `#patient/${rid}`) return; // the user moved on meanwhile
  insertFragment(record, bundle.html, apply);
  performance.mark('chartseal:record-shown');
  markPainted('chartseal:record-painted');
  focusHeading(record);
  recordShown({
    site: S.site, clinic: S.clinic, card: p.card, rid, door: S.doorId, who: 'account',
    user: S.index.user, noteSk: S.door.note_sk, box: document.getElementById('note-box'),
  });
}

async function openDiary(month) {
  const key = `${db.id}/${month}`;
  if (diaries.has(key)) return diaries.get(key);
  const ptr = db.diary && db.diary[month];
  let shard = null;
  if (ptr) {
    // The key is derived from the index key; the index's copy must agree (FORMAT.md 10.4).
    const k = hold(checkDiaryPointer(ptr, hold(S.C.b64d(S.door.ik, 32)), db.id, month));
    const body = await getBytes(`${clinicBase(S.clinic)}${ptr.obj}`);
    shard = checkDiaryShard(await S.C.openBody(k, body, S.C.diaryAd(S.clinic, S.doorId, db.id, month)), db.id, month);
  }
  diaries.set(key, shard);
  return shard;
}

async function showDiary(day) {
  showView('diary');
  $('d-pick').value = day;
  const box = $('diary');
  box.replaceChildren();
  const shard = await openDiary(day.slice(0, 7));
  if (location.hash.slice(1).split('/')[0] !== 'diary' || $('d-pick').value !== day) return;
  const entry = shard && shard.days[day];
  $('d-user').textContent = S.index.user || '';
  $('d-date').textContent = day;
  $('d-paid').textContent = formatMoney(entry ? entry.paid : 0);
  $('d-count').textContent = String(entry ? (entry.visits || 0) + (entry.appointments || 0) : 0);
  if (entry) insertFragment(box, entry.html, apply);
  show($('diary-empty'), !entry);
}

/** A typed or picked day, if it is a real date (YYYY-MM-DD). */
function goDay(text) {
  const day = String(text).trim();
  const d = new Date(`${day}T12:00:00Z`);
  if (DAY_RE.test(day) && !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === day) location.hash = `#diary/${day}`;
  else $('d-pick').value = $('d-date').textContent; // not a date: back to the day shown
}

function shiftDay(delta) {
  const cur = DAY_RE.test($('d-pick').value) ? $('d-pick').value : isoToday();
  const d = new Date(`${cur}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + delta);
  location.hash = `#diary/${d.toISOString().slice(0, 10)}`;
}
