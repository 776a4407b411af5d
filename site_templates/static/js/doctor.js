// The doctor portal: clinic ID + login password + user name + user password open the
// account's index; then the patient list, the diary and patient pages, with hash routes
// (#list, #diary/<date>, #patient/<rid>) so back and forward work.
import './frame_guard.js'; // first: nothing else runs in a frame
import { adoptClinicLang, setCurrency, wireSwitch } from './i18n.js';
import { loadCrypto } from './sodium.js';
import { warm } from './kdf.js';
import { getBytes } from './net.js';
import { $, busy, message, setState, show } from './ui.js';
import { beginLogin, fieldsReady, loginFailed } from './login.js';
import { checkFresh, checkIndexFresh, clinicBase, fetchDoor, formatError, loadSite, OBJ_RE, openDoorWith, reloadSite, showAsOf, showClinicName, validClinic } from './clinic.js';
import { wireRefresh } from './refresh.js';
import { warmShards } from './index_loader.js';
import { hold, logout, startIdleLock, wasLocked } from './session.js';
import * as views from './doctor_views.js';
import { checkRoot } from './rules.js';
import { watchClinicName } from './clinic_name.js';

const AUTH = 'err.auth_doctor';

async function unlock(clinic, user, loginPw, userPw) {
  const C = await loadCrypto();
  const site = await loadSite(clinic);
  adoptClinicLang(site.lang);
  const pw = C.passwordBytes(loginPw, userPw);
  const { doorId, doorKey, payload } = await openDoorWith(site, pw, C.accountSalt(clinic, user), 'account');
  return openIndex(C, site, clinic, doorId, doorKey, payload);
}

/** The account door is open: freshness, then its index root (the login and Refresh share this). */
async function openIndex(C, site, clinic, doorId, doorKey, payload) {
  if (!OBJ_RE.test(payload.index)) throw formatError('bad index pointer');
  await checkFresh(site, payload, doorId);
  const ik = hold(C.b64d(payload.ik, 32));
  const body = await getBytes(`${clinicBase(clinic)}${payload.index}`);
  performance.mark('chartseal:index-fetched');
  const index = await C.openBody(ik, body, C.indexAd(clinic, doorId));
  performance.mark('chartseal:index-opened');
  checkRoot(index); // FORMAT.md 10.2; its shards are fetched and checked by the list (index_loader.js)
  const at = await checkIndexFresh(site, index, doorId);
  return { C, site, clinic, doorId, doorKey, door: payload, ik, index, at };
}

/** Refresh: the account door again with the key derived at login, then its index. */
async function again(S) {
  const site = await reloadSite(S.clinic);
  const { payload } = await fetchDoor(site, S.doorKey, S.doorId, 'account');
  const session = await openIndex(S.C, site, S.clinic, S.doorId, S.doorKey, payload);
  showAsOf($('as-of'), session.at);
  setCurrency(site.currency);
  showClinicName(site);
  await views.update(session);
  return session;
}

async function onSubmit(event) {
  const C = await beginLogin(event);
  if (!C) return;
  const clinic = validClinic($('clinic').value);
  const user = C.normalizeUser($('user').value);
  const loginPw = $('login-password').value;
  if (!fieldsReady(clinic, [user, loginPw])) return;
  busy(true);
  try {
    const session = await unlock(clinic, user, loginPw, $('user-password').value);
    $('login-password').value = '';
    $('user-password').value = '';
    show($('login-view'), false);
    show($('app-view'), true);
    show($('logout'), true);
    showAsOf($('as-of'), session.at);
    setCurrency(session.site.currency);
    showClinicName(session.site);
    startIdleLock(session.site.idle_lock_minutes);
    let last = session;
    wireRefresh(async () => { last = await again(last); }, $('app-error'));
    views.start(session); // the list says "ready" once its shards are in

  } catch (err) {
    loginFailed(err, AUTH);
  } finally {
    busy(false);
  }
}

function main() {
  wireSwitch($('lang'));
  if (wasLocked()) message($('login-info'), 'locked');
  // A route typed before login means nothing without keys: start from a clean URL.
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  const c = validClinic(new URLSearchParams(location.search).get('c') || '');
  if (c) $('clinic').value = c;
  (c ? $('login-password') : $('clinic')).focus();
  // Knowing the clinic, show its name and language on the login form.
  if (c) loadSite(c).then((site) => { adoptClinicLang(site.lang); showClinicName(site); }).catch(() => {});
  $('login').addEventListener('submit', onSubmit);
  $('logout').addEventListener('click', () => logout());
  watchClinicName($('clinic'));
  warm();
  warmShards(); // the worker that opens index shards: its libsodium compiles before the key is derived
  loadCrypto().catch(() => message($('login-error'), 'err.unsupported'));
  setState('login');
}

main();
