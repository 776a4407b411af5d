// The patient page: clinic ID (from ?c=), card number and password open one record,
// with the patient's own password or the clinic's general password.
import './frame_guard.js'; // first: nothing else runs in a frame
import { apply, adoptClinicLang, setCurrency, wireSwitch } from './i18n.js';
import { loadCrypto } from './sodium.js';
import { cancel, canRunTwo, warm } from './kdf.js';
import { $, busy, focusHeading, insertFragment, markPainted, message, recordShown, setState, show } from './ui.js';
import { beginLogin, fieldsReady, loginFailed } from './login.js';
import { authFailed, checkFresh, checkRecordPayload, fetchDoor, loadSite, openBundle, openDoorWith, openEntry, reloadSite, showAsOf, showClinicName, validClinic } from './clinic.js';
import { logout, startIdleLock, wasLocked } from './session.js';
import { watchClinicName } from './clinic_name.js';
import { wireRefresh } from './refresh.js';

const AUTH = 'err.auth';

async function unlock(clinic, card, password) {
  const C = await loadCrypto();
  const site = await loadSite(clinic);
  adoptClinicLang(site.lang);
  if (site.patient_pages === false) throw authFailed();
  const general = () => openDoorWith(site, C.passwordBytes(password), C.generalSalt(clinic), 'general', 1);
  // The password may be the patient's own or the clinic's general one. With two cores both
  // doors are derived at once, so the general password costs no second Argon2id wait.
  const both = canRunTwo() ? general() : null;
  both?.catch(() => {}); // settled below, or cancelled
  let opened;
  let door = null;
  try {
    opened = await openDoorWith(site, C.passwordBytes(password), C.patientSalt(clinic, card), 'record');
    checkRecordPayload(opened.payload, card);
    cancel(1);
  } catch (err) {
    if (err.name !== 'AuthFailed') { cancel(1); throw err; }
    door = await (both || general());
    await checkFresh(site, door.payload, door.doorId);
    opened = await openEntry(site, door.payload, card);
  }
  return finish(site, opened, card, door);
}

/**
 * The record door (own password) or the general door is open: check freshness, follow the
 * entry for a general door, open the bundle. `door` (the general door) is null for the own.
 */
async function finish(site, opened, card, door) {
  const at = await checkFresh(site, opened.payload, opened.doorId);
  const bundle = await openBundle(site.clinic, opened.payload, 'patient');
  return { site, opened, bundle, at, door };
}

/** Refresh: the same doors again with the keys derived at login (refresh.js). */
async function again(clinic, card, { opened, door }) {
  const site = await reloadSite(clinic);
  if (!door) {
    const own = await fetchDoor(site, opened.doorKey, opened.doorId, 'record');
    checkRecordPayload(own.payload, card);
    return finish(site, own, card, null);
  }
  const general = await fetchDoor(site, door.doorKey, door.doorId, 'general');
  await checkFresh(site, general.payload, general.doorId);
  return finish(site, await openEntry(site, general.payload, card), card, general);
}

function showRecord({ site, opened, bundle, at }, clinic, card) {
  setCurrency(site.currency);
  showClinicName(site);
  insertFragment($('record'), bundle.html, apply);
  showAsOf($('as-of'), at);
  show($('login-view'), false);
  show($('record-view'), true);
  show($('logout'), true);
  setState('ready');
  performance.mark('chartseal:record-shown');
  markPainted('chartseal:record-painted');
  focusHeading($('record'));
  startIdleLock(site.idle_lock_minutes);
  recordShown({
    site, clinic, card, rid: bundle.rid, door: opened.doorId, who: opened.payload.who,
    user: '', noteSk: opened.payload.note_sk, box: document.getElementById('note-box'),
  });
}

async function onSubmit(event) {
  const C = await beginLogin(event);
  if (!C) return;
  const clinic = validClinic($('clinic').value);
  const card = C.normalizeCard($('card').value);
  const password = $('password').value;
  if (!fieldsReady(clinic, [card, password])) return;
  busy(true);
  try {
    const result = await unlock(clinic, card, password);
    $('password').value = '';
    showRecord(result, clinic, card);
    let last = result;
    wireRefresh(async () => { last = await again(clinic, card, last); showRecord(last, clinic, card); }, $('app-error'));
  } catch (err) {
    loginFailed(err, AUTH);
    $('password').select();
  } finally {
    busy(false);
  }
}

/**
 * A card's QR code opens ?c=<clinic>&k=<card>#p=<password> (docs/SECURITY.md). Take the card
 * and password out of the address at once, before anything else runs, so neither stays in
 * the address bar, the history entry or a bookmark; the clinic ID stays (it is the page's
 * address). Returns what the link carried.
 */
function takeCardLink() {
  const params = new URLSearchParams(location.search);
  const hash = new URLSearchParams(location.hash.replace(/^#/, ''));
  const link = { clinic: params.get('c') || '', card: params.get('k') || '', password: hash.get('p') || '' };
  if (params.has('k') || location.hash) {
    const clean = new URL(location.pathname, location.origin);
    if (link.clinic) clean.searchParams.set('c', link.clinic);
    history.replaceState(null, '', clean.href);
  }
  return link;
}

function main() {
  const link = takeCardLink();
  wireSwitch($('lang'));
  const c = validClinic(link.clinic);
  if (c) $('clinic').value = c;
  if (link.card) $('card').value = link.card;
  (c ? $('card') : $('clinic')).focus();
  if (wasLocked()) message($('login-info'), 'locked');
  $('login').addEventListener('submit', onSubmit);
  $('logout').addEventListener('click', () => logout());
  warm();
  // Knowing the clinic, show its language before the user starts typing.
  if (c) loadSite(c).then((site) => { adoptClinicLang(site.lang); showClinicName(site); }).catch(() => {});
  watchClinicName($('clinic'));
  loadCrypto().catch(() => message($('login-error'), 'err.unsupported'));
  setState('login');
  if (c && link.card && link.password) {
    $('password').value = link.password;
    $('login').requestSubmit(); // the same path as typing them and pressing the button
  }
}

main();
