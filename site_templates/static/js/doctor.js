// The doctor portal: clinic ID + login password + user name + user password open the
// account's index; then the patient list, the diary and patient pages, with hash routes
// (#list, #diary/<date>, #patient/<rid>) so back and forward work.
import './frame_guard.js'; // first: nothing else runs in a frame
import { adoptClinicLang, wireSwitch } from './i18n.js';
import { loadCrypto } from './sodium.js';
import { warm } from './kdf.js';
import { getBytes } from './net.js';
import { $, busy, message, setState, show } from './ui.js';
import { beginLogin, fieldsReady, loginFailed } from './login.js';
import { checkFresh, checkIndexFresh, clinicBase, formatError, loadSite, OBJ_RE, openDoorWith, showAsOf, validClinic } from './clinic.js';
import { hold, logout, startIdleLock, wasLocked } from './session.js';
import * as views from './doctor_views.js';
import { checkIndex } from './rules.js';

const AUTH = 'err.auth_doctor';

async function unlock(clinic, user, loginPw, userPw) {
  const C = await loadCrypto();
  const site = await loadSite(clinic);
  adoptClinicLang(site.lang);
  const pw = C.passwordBytes(loginPw, userPw);
  const { doorId, payload } = await openDoorWith(site, pw, C.accountSalt(clinic, user), 'account');
  if (!OBJ_RE.test(payload.index)) throw formatError('bad index pointer');
  await checkFresh(site, payload, doorId);
  const ik = hold(C.b64d(payload.ik, 32));
  const body = await getBytes(`${clinicBase(clinic)}${payload.index}`);
  performance.mark('chartseal:index-fetched');
  const index = await C.openBody(ik, body, C.indexAd(clinic, doorId));
  performance.mark('chartseal:index-opened');
  checkIndex(index); // FORMAT.md 10.2
  const at = await checkIndexFresh(site, index, doorId);
  return { C, site, clinic, doorId, door: payload, index, at };
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
    startIdleLock(session.site.idle_lock_minutes);
    views.start(session);
    setState('ready');
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
  $('login').addEventListener('submit', onSubmit);
  $('logout').addEventListener('click', () => logout());
  warm();
  loadCrypto().catch(() => message($('login-error'), 'err.unsupported'));
  setState('login');
}

main();
