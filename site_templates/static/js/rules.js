// What a reader checks around the cryptography: docs/FORMAT.md 10 ("Reader rules").
//
// exporter/site_rules.py makes the same checks and both are held to tests/vectors/rules.json.
// crypto.js opens objects (AEAD, versions, a door's exact keys); this module holds the rules
// that need more than one object: site.json's key derivation parameters, a pointer against
// the body it names, a diary pointer against the key it must carry. Every refusal is a
// FormatError: the object is damaged or hostile, never "wrong password".
import { b64d, checkKdf, FORMAT, FormatError, hash, label, SECURE_MEM, SECURE_OPS } from './crypto.js';

const HEX32 = /^[0-9a-f]{32}$/;
const OBJ_PATH = /^obj\/[0-9a-f]{32}\.bin$/;
const MONTH = /^[0-9]{4}-(0[1-9]|1[0-2])$/;
const SITE_KDF_KEYS = new Set(['alg', 'ops', 'mem', 'test']);
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

function text(obj, key) {
  if (typeof obj[key] !== 'string') throw new FormatError(`${key} must be text`);
  return obj[key];
}

function match(obj, key, re) {
  if (!re.test(text(obj, key))) throw new FormatError(`${key} is malformed`);
  return obj[key];
}

/** A page served from this machine: the only place a "test": true site may open. */
export function isLoopback(host) { return LOOPBACK_HOSTS.has(String(host).toLowerCase()); }

/**
 * site.json's kdf, checked before any derivation: returns {ops, mem}. Parameters under the
 * secure floor need "test": true AND a loopback page, so a hostile site.json cannot make
 * the browser hash a password cheaply and send the result (the door id) to the server.
 */
export function checkSiteKdf(kdf, loopback) {
  if (!isObject(kdf) || !Object.keys(kdf).every((k) => SITE_KDF_KEYS.has(k))) {
    throw new FormatError('site.json kdf has unknown keys');
  }
  const test = kdf.test === undefined ? false : kdf.test;
  if (typeof test !== 'boolean') throw new FormatError('site.json kdf test must be true or false');
  const params = checkKdf(kdf);
  if ((params.ops < SECURE_OPS || params.mem < SECURE_MEM) && !(test && loopback)) {
    throw new FormatError(`key derivation below the secure floor (ops=${params.ops}, mem=${params.mem})`
      + (test ? '' : ' and not marked as a test site') + (loopback ? '' : ': a test site opens only on this machine'));
  }
  return params;
}

/**
 * A record pointer (record door or entry payload, index row): rid, card, bundle, ck.
 * `card`, when given, is the normalized card the viewer typed.
 */
export function checkRecordPointer(pointer, card) {
  match(pointer, 'rid', HEX32);
  match(pointer, 'bundle', OBJ_PATH);
  b64d(pointer.ck, 32);
  if (text(pointer, 'card') !== card && card !== undefined) throw new FormatError('the door belongs to another card');
  return pointer;
}

/**
 * The keys a reader uses in a door payload, with their types; `who` names the door:
 * 'patient', 'general' (an entry), 'general-door' or 'account'. Other keys are ignored.
 */
export function checkDoorPayload(payload, who) {
  if (who === 'patient' || who === 'general') {
    if (payload.kind !== 'record' || payload.who !== who) throw new FormatError(`expected a record door of ${who}`);
    checkRecordPointer(payload);
    b64d(payload.note_sk, 64);
  } else if (who === 'general-door') {
    if (payload.kind !== 'general') throw new FormatError('expected the general door');
    b64d(payload.gk, 32);
    b64d(payload.lk, 32);
  } else if (who === 'account') {
    if (payload.kind !== 'account') throw new FormatError('expected an account door');
    text(payload, 'user');
    match(payload, 'index', OBJ_PATH);
    b64d(payload.ik, 32);
    b64d(payload.note_sk, 64);
  } else {
    throw new TypeError(`unknown door ${who}`);
  }
  return payload;
}

export function checkIndexRow(row) {
  if (!isObject(row)) throw new FormatError('index row is not an object');
  checkRecordPointer(row);
  text(row, 'search');
  return row;
}

/** An opened account index: its databases, each with what the portal reads at login. */
export function checkIndex(index) {
  if (!Array.isArray(index.databases)) throw new FormatError('index has no databases');
  for (const db of index.databases) {
    if (!isObject(db) || !Array.isArray(db.patients) || !isObject(db.diary)) throw new FormatError('bad database entry in index');
    text(db, 'id');
    text(db, 'list_html');
  }
  return index;
}

/** site.json: this clinic's, of this format, with usable parameters; returns {ops, mem}. */
export function checkSite(site, clinic, loopback) {
  if (!isObject(site) || site.format !== FORMAT) throw new FormatError(`unknown site format ${JSON.stringify(site && site.format)}`);
  if (site.clinic !== clinic) throw new FormatError('site.json belongs to another clinic');
  return checkSiteKdf(site.kdf, loopback);
}

/** An opened bundle MUST carry the rid and card of the pointer that led to it. */
export function checkBundle(bundle, pointer) {
  checkRecordPointer(pointer);
  if (bundle.rid !== pointer.rid || bundle.card !== pointer.card) throw new FormatError('bundle does not match its pointer');
  text(bundle, 'html');
  text(bundle, 'title');
  text(bundle, 'updated');
  return bundle;
}

/** The normative diary key: derived from the index key (FORMAT.md 6, 10.4). */
export function diaryKey(ik, db, month) { return hash(32, label('chartseal/v1/diary-key', db, month), ik); }

/** The key to open a shard with: derived, and the index's copy MUST be the same. */
export function checkDiaryPointer(pointer, ik, db, month) {
  if (!isObject(pointer) || typeof month !== 'string' || !MONTH.test(month)) throw new FormatError('bad diary pointer');
  match(pointer, 'obj', OBJ_PATH);
  const key = diaryKey(ik, db, month);
  const given = b64d(pointer.key, 32);
  if (!given.every((x, i) => x === key[i])) throw new FormatError('diary key in the index differs from the derived one');
  return key;
}

export function checkShard(shard, db, month) {
  if (shard.db !== db || shard.month !== month || !isObject(shard.days)) {
    throw new FormatError('diary shard does not match its pointer');
  }
  return shard;
}
