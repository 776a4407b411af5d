// The steps both portals share: read a clinic's public settings, open a door, open a
// patient bundle. Every check the format asks for is made before anything is shown.
import { loadCrypto } from './sodium.js';
import { deriveDoor } from './kdf.js';
import { getBytes, getText, NotFound } from './net.js';
import { hold, seenAtLeast } from './session.js';
import * as R from './rules.js';

const CLINIC_RE = /^[0-9]{10}$/;
const OBJ_RE = /^obj\/[0-9a-f]{32}\.bin$/;
const WHO = { record: 'patient', general: 'general-door', account: 'account' }; // FORMAT.md 10.2

/** Site files are addressed relative to the page: <site>/doctor/ -> <site>/c/<clinic>/. */
export function clinicBase(clinic) { return `../c/${clinic}/`; }

function formatError(message) {
  return Object.assign(new Error(message), { name: 'FormatError' });
}

/** A wrong clinic, card, password or account: one error for all (no oracle). */
export function authFailed() {
  return Object.assign(new Error('no such door'), { name: 'AuthFailed' });
}

export function validClinic(text) {
  const clinic = String(text).replace(/\s+/g, '');
  return CLINIC_RE.test(clinic) ? clinic : null;
}

const sites = new Map(); // clinic -> promise of its checked site.json (public data)

/**
 * site.json, checked: format, KDF limits (before any KDF runs). The patient page asks for
 * it as soon as ?c= names the clinic; the login then reuses the answer.
 */
export function loadSite(clinic) {
  if (!sites.has(clinic)) {
    const p = fetchSite(clinic);
    sites.set(clinic, p);
    p.catch(() => sites.delete(clinic)); // a failure is retried at the next attempt
  }
  return sites.get(clinic);
}

async function fetchSite(clinic) {
  await loadCrypto(); // the portal cannot run without it: fail here, before any request
  let text;
  try {
    text = await getText(`${clinicBase(clinic)}site.json`);
  } catch (err) {
    if (err instanceof NotFound) throw Object.assign(new Error('no such clinic'), { name: 'NoClinic' });
    throw err;
  }
  let site;
  try { site = JSON.parse(text); } catch { throw formatError('site.json is not JSON'); }
  // Format, clinic, and parameters; weak ones open only on this machine, marked as a test site.
  // `signed` is site.json as published: its signature is checked once a door is open.
  return { ...site, kdfParams: R.checkSite(site, clinic, R.isLoopback(location.hostname)), signed: site };
}

/** site.json fetched again (the Refresh button): the next checks see the newest counter. */
export function reloadSite(clinic) {
  sites.delete(clinic);
  return loadSite(clinic);
}

/** A rollback: an object older than the floor or than one this session already saw. */
export function staleError(message) {
  return Object.assign(new Error(message), { name: 'StaleError' });
}

/**
 * FORMAT.md 5.4 once a door or entry `doorId` is open: site.json's signature with the
 * door's site key, the door against the floor, and both against the highest counters this
 * session saw. Returns the door's `at`. Nothing it led to may be shown before this passes.
 */
export async function checkFresh(site, payload, doorId) {
  const C = await loadCrypto();
  let info;
  try {
    info = C.checkSite(site.signed, payload);
  } catch (err) {
    if (err instanceof C.StaleError) throw staleError(err.message);
    throw err;
  }
  if (!seenAtLeast(C.seenKey(site.clinic, 'site'), info.seq)) throw staleError('site.json older than one seen');
  if (!seenAtLeast(C.seenKey(site.clinic, `door/${doorId}`), payload.seq)) throw staleError('door older than one seen');
  return payload.at;
}

/** The same step 3 for an account index, keyed by its account's door id. */
export async function checkIndexFresh(site, index, doorId) {
  const C = await loadCrypto();
  C.checkSeq(index.seq, 'index seq');
  C.checkAt(index.at, 'index time');
  if (!seenAtLeast(C.seenKey(site.clinic, `index/${doorId}`), index.seq)) throw staleError('index older than one seen');
  return index.at;
}

/** "As of <time>": the time an object was published, in the portal's date format, local. */
export function showAsOf(el, at) {
  const d = new Date(at);
  const pad = (n) => String(n).padStart(2, '0');
  const text = Number.isNaN(d.getTime()) ? ''
    : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  const time = el.querySelector('time');
  time.textContent = text;
  time.dateTime = at;
  el.hidden = !text;
}

/** Derive a door and open it; a missing door is `authFailed()`. */
export async function openDoorWith(site, pw, salt, expectKind, lane = 0) {
  const C = await loadCrypto();
  performance.mark('chartseal:kdf-start');
  const { doorKey, doorId } = await deriveDoor(pw, salt, site.kdfParams, lane);
  performance.mark('chartseal:kdf-end');
  hold(doorKey);
  return fetchDoor(site, doorKey, doorId, expectKind);
}

/**
 * Fetch and open door `doorId` with a key already derived: the login's second step, and
 * the Refresh button's first (no new Argon2id). Returns `{doorId, doorKey, payload}`; the
 * key stays in memory only, zeroed at logout like every other.
 */
export async function fetchDoor(site, doorKey, doorId, expectKind) {
  const C = await loadCrypto();
  let text;
  try {
    text = await getText(`${clinicBase(site.clinic)}door/${doorId}.json`);
  } catch (err) {
    if (err instanceof NotFound) throw authFailed();
    throw err;
  }
  const payload = C.openDoor(doorKey, site.clinic, doorId, text, { site: site.kdfParams });
  return { doorId, doorKey, payload: R.checkDoorPayload(payload, WHO[expectKind]) };
}

/** The clinic's name from site.json (FORMAT.md 4) in every `.clinic-name` slot, as text. */
export function showClinicName(site) {
  // One short line, as text: site.json is public and not yet authenticated at login.
  const raw = site && typeof site.clinic_name === 'string' ? site.clinic_name : '';
  const name = raw.replace(/\s+/g, ' ').trim().slice(0, 80);
  for (const el of document.querySelectorAll('.clinic-name')) {
    el.textContent = name;
    el.hidden = !name;
  }
}

/** A record pointer, and (with `card`) the card the viewer typed: FORMAT.md 10.3. */
function checkRecordPayload(payload, card) { return R.checkRecordPointer(payload, card); }

/** A general entry for `card`, opened with the general door's keys. */
export async function openEntry(site, general, card) {
  const C = await loadCrypto();
  const lk = hold(C.b64d(general.lk, 32));
  const gk = hold(C.b64d(general.gk, 32));
  const entry = C.entryId(lk, card);
  let text;
  try {
    text = await getText(`${clinicBase(site.clinic)}door/${entry}.json`);
  } catch (err) {
    if (err instanceof NotFound) throw authFailed();
    throw err;
  }
  const payload = R.checkDoorPayload(C.openDoor(gk, site.clinic, entry, text, { entry: true }), 'general');
  return { doorId: entry, payload: checkRecordPayload(payload, card) };
}

/**
 * Fetch and open a patient bundle; returns `{rid, card, title, updated, html}`. `reader` is
 * 'doctor' or 'patient': a doctor never takes the patient's reduced view for the whole
 * record (FORMAT.md 6.1).
 */
export async function openBundle(clinic, pointer, reader) {
  const C = await loadCrypto();
  checkRecordPayload(pointer);
  const ck = hold(C.b64d(pointer.ck, 32));
  const body = await getBytes(`${clinicBase(clinic)}${pointer.bundle}`);
  const bundle = R.checkBundle(await C.openBody(ck, body, C.bundleAd(clinic, pointer.rid)), pointer);
  const view = bundle.view;
  if (view !== undefined && (view !== 'patient' || reader !== 'patient')) throw formatError(`bundle view ${view} for a ${reader}`);
  return bundle;
}

export { checkRecordPayload, formatError, OBJ_RE };
