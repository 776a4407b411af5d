// What a reader checks around the cryptography: docs/FORMAT.md 10 ("Reader rules").
//
// exporter/site_rules.py makes the same checks and both are held to tests/vectors/rules.json.
// crypto.js opens objects (AEAD, versions, a door's exact keys); this module holds the rules
// that need more than one object: site.json's key derivation parameters, a pointer against
// the body it names, a diary pointer against the key it must carry, an index shard against
// the root that named it. Every refusal is a
// FormatError: the object is damaged or hostile, never "wrong password".
import { b64d, checkKdf, FORMAT, FormatError, hash, label, objectName, SECURE_MEM, SECURE_OPS, VERSION } from './crypto.js';

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

const MAX_SHARDS = 4096;

function count(obj, key) {
  // JSON numbers are compared by value (FORMAT.md 1): 3.0 is 3.
  if (!Number.isSafeInteger(obj[key]) || obj[key] < 0) throw new FormatError(`${key} must be an integer of 0 or more`);
  return obj[key];
}

/**
 * An opened index root (FORMAT.md 6.2): each database names 1 to 4096 shards whose row
 * counts `n` add up to its `count`. The shards themselves are checked by checkShard.
 */
export function checkRoot(index) {
  if (!isObject(index) || !Array.isArray(index.databases)) throw new FormatError('index has no databases');
  for (const db of index.databases) {
    if (!isObject(db) || !isObject(db.diary) || !Array.isArray(db.shards)) throw new FormatError('bad database entry in index');
    text(db, 'id');
    text(db, 'name');
    const total = count(db, 'count');
    if (db.shards.length < 1 || db.shards.length > MAX_SHARDS) throw new FormatError('an index database has 1 to 4096 shards');
    let sum = 0;
    for (const shard of db.shards) {
      if (!isObject(shard)) throw new FormatError('bad shard pointer in index');
      match(shard, 'obj', OBJ_PATH);
      sum += count(shard, 'n');
    }
    if (sum !== total) throw new FormatError('index count differs from its shards\' rows');
  }
  return index;
}

/**
 * The fetched bytes of an object MUST hash to the name that led to them (FORMAT.md 3,
 * 10.3): this pins an index shard to the fresh root, so an older shard of the same
 * position, which opens with the same key, cannot be put in its place.
 */
export function checkObjectName(obj, body) {
  if (obj !== `obj/${objectName(body)}.bin`) throw new FormatError('object does not match its name');
  return body;
}

/** An opened index shard: the `db` and position `i` that led to it, `n` rows (checked on open). */
export function checkShard(shard, db, i, n) {
  if (!isObject(shard) || shard.v !== VERSION || shard.db !== db || shard.shard !== i) {
    throw new FormatError('index shard does not match its pointer');
  }
  if (!Array.isArray(shard.rows) || shard.rows.length !== n) throw new FormatError('index shard has the wrong number of rows');
  return shard;
}

/** One row of an index shard; a reader MAY check it only when it uses it (FORMAT.md 10.2). */
export function checkShardRow(row) {
  if (!isObject(row)) throw new FormatError('index row is not an object');
  checkRecordPointer(row);
  text(row, 'search');
  text(row, 'html');
  const sort = row.sort;
  if (!Array.isArray(sort) || sort.length !== 2 || sort.some((x) => typeof x !== 'string')) {
    throw new FormatError('index row sort must be two strings');
  }
  return row;
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

/** The key to open a diary shard with: derived, and the index's copy MUST be the same. */
export function checkDiaryPointer(pointer, ik, db, month) {
  if (!isObject(pointer) || typeof month !== 'string' || !MONTH.test(month)) throw new FormatError('bad diary pointer');
  match(pointer, 'obj', OBJ_PATH);
  const key = diaryKey(ik, db, month);
  const given = b64d(pointer.key, 32);
  if (!given.every((x, i) => x === key[i])) throw new FormatError('diary key in the index differs from the derived one');
  return key;
}

/**
 * The readers' order of index rows (FORMAT.md 6.2): sort[0], sort[1], card, then rid, each
 * compared by UTF-16 code units (`<`), for Array.prototype.sort on checked rows.
 */
export function compareRows(a, b) {
  const cmp = (x, y) => (x < y ? -1 : x > y ? 1 : 0);
  return cmp(a.sort[0], b.sort[0]) || cmp(a.sort[1], b.sort[1]) || cmp(a.card, b.card) || cmp(a.rid, b.rid);
}

/** An opened diary shard: the database and month that led to it. */
export function checkDiaryShard(shard, db, month) {
  if (shard.db !== db || shard.month !== month || !isObject(shard.days)) {
    throw new FormatError('diary shard does not match its pointer');
  }
  return shard;
}
