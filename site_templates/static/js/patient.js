// The patient page: clinic ID (from ?c=), card number and password open one record,
// with the patient's own password or the clinic's general password.
import './frame_guard.js'; // first: nothing else runs in a frame
import { apply, adoptClinicLang, wireSwitch } from './i18n.js';
import { loadCrypto } from './sodium.js';
import { cancel, canRunTwo, warm } from './kdf.js';
import { $, busy, focusHeading, insertFragment, markPainted, message, recordShown, setState, show } from './ui.js';
import { beginLogin, fieldsReady, loginFailed } from './login.js';
import { authFailed, checkFresh, checkRecordPayload, loadSite, openBundle, openDoorWith, openEntry, showAsOf, validClinic } from './clinic.js';
import { logout, startIdleLock, wasLocked } from './session.js';

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
  try {
    opened = await openDoorWith(site, C.passwordBytes(password), C.patientSalt(clinic, card), 'record');
    checkRecordPayload(opened.payload, card);
    cancel(1);
  } catch (err) {
    if (err.name !== 'AuthFailed') { cancel(1); throw err; }
    const door = await (both || general());
    await checkFresh(site, door.payload, door.doorId);
    opened = await openEntry(site, door.payload, card);
  }
  const at = await checkFresh(site, opened.payload, opened.doorId);
  const bundle = await openBundle(clinic, opened.payload);
  return { site, opened, bundle, at };
}

function showRecord({ site, opened, bundle, at }, clinic, card) {
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
  } catch (err) {
    loginFailed(err, AUTH);
    $('password').select();
  } finally {
    busy(false);
  }
}

function main() {
  wireSwitch($('lang'));
  const params = new URLSearchParams(location.search);
  const c = validClinic(params.get('c') || '');
  if (c) $('clinic').value = c;
  (c ? $('card') : $('clinic')).focus();
  if (wasLocked()) message($('login-info'), 'locked');
  $('login').addEventListener('submit', onSubmit);
  $('logout').addEventListener('click', () => logout());
  warm();
  // Knowing the clinic, show its language before the user starts typing.
  if (c) loadSite(c).then((site) => adoptClinicLang(site.lang)).catch(() => {});
  loadCrypto().catch(() => message($('login-error'), 'err.unsupported'));
  setState('login');
}

main();
