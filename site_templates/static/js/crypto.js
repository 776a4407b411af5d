// The browser's side of docs/FORMAT.md: the only module of the app that calls libsodium.
//
// It imports nothing, so it runs unchanged in the browser (as a hashed asset) and in Node
// (`node --test tests/js/`). libsodium is injected: `await init(sodium)` with the
// libsodium-wrappers-sumo instance (the sumo build is the one with Argon2id), or with a
// module URL / bare specifier to import. Every failure is one of two errors, so the UI can
// tell "this file is damaged" (FormatError) from "wrong credentials" (AuthError).

/** The object is malformed, of an unknown version, or outside the format's limits. */
export class FormatError extends Error {
  constructor(message) { super(message); this.name = 'FormatError'; }
}

/** Authentication failed: a wrong key or password, or a tampered object. */
export class AuthError extends Error {
  constructor(message) { super(message); this.name = 'AuthError'; }
}

/** An object older than the site's floor or than one already seen: a rollback (FORMAT.md 5.4). */
export class StaleError extends Error {
  constructor(message) { super(message); this.name = 'StaleError'; }
}

export const KEY_BYTES = 32;
export const NONCE_BYTES = 24;
export const TAG_BYTES = 16;
export const SALT_BYTES = 16;
export const ID_BYTES = 16;
export const NOTE_SK_BYTES = 64;
export const MIN_OPS = 1, MAX_OPS = 10;
export const MIN_MEM = 8192, MAX_MEM = 1073741824;
export const SECURE_OPS = 3, SECURE_MEM = 67108864;
export const FORMAT = 'chartseal-site/2';
export const VERSION = 2; // "v" of every door, entry and sealed body
export const DOOR_PLAIN = 1024; // every door and entry payload is padded to this (FORMAT.md 5.2)
export const MAX_SEQ = Number.MAX_SAFE_INTEGER;
const AT_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

const DOOR_KINDS = new Set(['record', 'general', 'account']);
const enc = new TextEncoder();
// fatal: invalid UTF-8 is damage, not something to repair; ignoreBOM: keep a BOM so that
// JSON.parse refuses it exactly as Python's json.loads does.
const dec = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const ZERO = new Uint8Array([0]);

let S = null;

/**
 * Make libsodium ready. `sodium` is the libsodium-wrappers-sumo instance or its module
 * namespace, or a URL / specifier string to import; with no argument the bare specifier
 * 'libsodium-wrappers-sumo' is imported (works in Node, and in a page with an import map).
 */
export async function init(sodium = 'libsodium-wrappers-sumo') {
  let s = sodium;
  if (typeof s === 'string' || s instanceof URL) s = await import(String(s));
  // A module namespace re-exports only part of the API; the instance is its default.
  if (s && s.default && s.default.ready !== undefined) s = s.default;
  if (!s || s.ready === undefined) throw new TypeError('init: expected the libsodium-wrappers-sumo module');
  await s.ready;
  if (typeof s.crypto_pwhash !== 'function') {
    throw new TypeError('init: this libsodium build has no Argon2id; load libsodium-wrappers-sumo');
  }
  S = s;
  return s;
}

/** The libsodium instance given to init(); throws if init() has not finished. */
export function sodium() {
  if (!S) throw new Error('crypto.js: await init(sodium) before using it');
  return S;
}

// -- bytes and encodings ----------------------------------------------------------------

export function concat(...chunks) {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return out;
}

export function utf8(text) { return enc.encode(text); }

function bytes(value, what, size) {
  if (!(value instanceof Uint8Array)) throw new FormatError(`${what} must be bytes`);
  if (size !== undefined && value.length !== size) {
    throw new FormatError(`${what} must be ${size} bytes, got ${value.length}`);
  }
  return value;
}

/** Standard base64 with padding (libsodium ORIGINAL variant). */
export function b64e(data) {
  return sodium().to_base64(bytes(data, 'data'), sodium().base64_variants.ORIGINAL);
}

/** Strict base64 decode (no white space, canonical padding); `size` checks the length. */
export function b64d(text, size) {
  if (typeof text !== 'string') throw new FormatError('expected base64 text');
  let out;
  try {
    out = sodium().from_base64(text, sodium().base64_variants.ORIGINAL);
  } catch {
    throw new FormatError('bad base64');
  }
  // One text per byte string (FORMAT.md 1): set padding bits would let a door's text change
  // undetected, so refuse them here rather than trust the library's leniency.
  if (b64e(out) !== text) throw new FormatError('bad base64');
  if (size !== undefined && out.length !== size) {
    throw new FormatError(`expected ${size} bytes, got ${out.length}`);
  }
  return out;
}

export function hex(data) { return sodium().to_hex(data); }

/** JSON with sorted keys and no white space, as the writers emit it (FORMAT.md 1). */
export function canonicalJson(value) {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new FormatError('JSON cannot hold NaN or Infinity');
  }
  const text = JSON.stringify(value);
  if (text === undefined) throw new FormatError(`JSON cannot hold a ${typeof value}`);
  return text;
}

function parseObject(data, what) {
  let value;
  try {
    value = JSON.parse(typeof data === 'string' ? data : dec.decode(data));
  } catch {
    throw new FormatError(`${what} is not JSON`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new FormatError(`${what} is not a JSON object`);
  }
  return value;
}

// -- labels, hashes, identifiers (FORMAT.md 1.1, 2, 3) ------------------------------------

function partText(part) {
  if (typeof part === 'number') {
    if (!Number.isSafeInteger(part)) throw new FormatError(`label part must be an integer, got ${part}`);
    return String(part);
  }
  if (typeof part === 'bigint') return part.toString();
  if (typeof part !== 'string') throw new FormatError('label part must be text or an integer');
  return part.normalize('NFC');
}

/** L(name, a, b, ...): the name and every part, each followed by one 0x00. */
export function label(name, ...parts) {
  if (typeof name !== 'string' || !/^[\x21-\x7e]+$/.test(name)) {
    throw new FormatError('label name must be printable ASCII');
  }
  const chunks = [enc.encode(name), ZERO];
  for (const part of parts) chunks.push(enc.encode(partText(part)), ZERO);
  return concat(...chunks);
}

/** H(n, msg, key?): BLAKE2b with an n-byte output. */
export function hash(n, msg, key = null) {
  if (key !== null) bytes(key, 'hash key', KEY_BYTES);
  return sodium().crypto_generichash(n, bytes(msg, 'message'), key);
}

/** Name of an opaque object under obj/, from its own bytes. */
export function objectName(body) {
  return hex(hash(ID_BYTES, concat(label('chartseal/v1/object-name'), bytes(body, 'body'))));
}

export function patientSalt(clinic, card) {
  return hash(SALT_BYTES, label('chartseal/v1/salt/patient', clinic, card));
}

export function generalSalt(clinic) {
  return hash(SALT_BYTES, label('chartseal/v1/salt/general', clinic));
}

export function accountSalt(clinic, user) {
  return hash(SALT_BYTES, label('chartseal/v1/salt/account', clinic, user));
}

/** Password bytes: each password NFC and UTF-8, joined by one 0x00 (FORMAT.md 5.1). */
export function passwordBytes(...passwords) {
  const chunks = [];
  passwords.forEach((pw, i) => {
    if (typeof pw !== 'string') throw new FormatError('password must be text');
    if (i > 0) chunks.push(ZERO);
    chunks.push(enc.encode(pw.normalize('NFC')));
  });
  return concat(...chunks);
}

// -- key derivation (FORMAT.md 1.2, 5.1) ---------------------------------------------------

function checkCost(ops, mem) {
  if (!Number.isInteger(ops) || !Number.isInteger(mem)) {
    throw new FormatError('key derivation parameters must be integers');
  }
  if (ops < MIN_OPS || ops > MAX_OPS || mem < MIN_MEM || mem > MAX_MEM) {
    throw new FormatError(`key derivation parameters out of range: ops=${ops}, mem=${mem}`);
  }
  return { ops, mem };
}

/** Check a `kdf` JSON object (site.json, a door) BEFORE running the KDF. */
export function checkKdf(kdf) {
  if (kdf === null || typeof kdf !== 'object' || kdf.alg !== 'argon2id13') {
    throw new FormatError('unknown key derivation algorithm');
  }
  return checkCost(kdf.ops, kdf.mem);
}

/** Argon2id, then the door key and door id. Synchronous: run it after painting a spinner. */
export function deriveDoor(pwBytes, salt, { ops, mem }) {
  checkCost(ops, mem);
  bytes(pwBytes, 'password');
  bytes(salt, 'salt', SALT_BYTES);
  const na = sodium();
  let master;
  try {
    master = na.crypto_pwhash(KEY_BYTES, pwBytes, salt, ops, mem, na.crypto_pwhash_ALG_ARGON2ID13);
  } catch (err) {
    throw new FormatError(`key derivation failed (${err.message}); try a device with more memory`);
  }
  const doorKey = hash(KEY_BYTES, label('chartseal/v1/door-key'), master);
  const doorId = hex(hash(ID_BYTES, label('chartseal/v1/door-id'), master));
  na.memzero(master);
  return { doorKey, doorId };
}

export function entryId(lk, card) {
  return hex(hash(ID_BYTES, label('chartseal/v1/entry-id', card), bytes(lk, 'locator key', KEY_BYTES)));
}

// -- doors and entries (FORMAT.md 5.2, 5.3) --------------------------------------------

export function doorAd(clinic, doorId, { ops, mem }, notePk) {
  return label('chartseal/v1/door', clinic, doorId, ops, mem, b64e(notePk));
}

export function entryAd(clinic, entry, { ops, mem }, notePk) {
  return label('chartseal/v1/entry', clinic, entry, ops, mem, b64e(notePk));
}

function aeadOpen(key, nonce, ct, ad, what) {
  bytes(key, 'key', KEY_BYTES);
  if (nonce.length !== NONCE_BYTES || ct.length < TAG_BYTES) throw new FormatError(`${what} is too short`);
  try {
    return sodium().crypto_aead_xchacha20poly1305_ietf_decrypt(null, ct, ad, nonce, key);
  } catch {
    throw new AuthError(`${what} failed authentication`);
  }
}

const DOOR_KEYS = ['ct', 'kdf', 'n', 'note_pk', 'v'];
const ENTRY_KEYS = DOOR_KEYS; // an entry carries kdf too, so every door file has one length
const DOOR_KDF_KEYS = ['alg', 'mem', 'ops'];
const sameKeys = (obj, keys) => Object.keys(obj).sort().join() === keys.join();

/**
 * FORMAT.md 10.1-10.2: a door's outer keys are exactly the listed ones, its kdf exactly
 * {alg, ops, mem} and equal to site.json's (`site`, {ops, mem}) when given.
 */
export function checkDoorObject(obj, entry, site = null) {
  if (!sameKeys(obj, entry ? ENTRY_KEYS : DOOR_KEYS)) throw new FormatError('door has missing or unknown keys');
  const kdf = obj.kdf;
  if (kdf === null || typeof kdf !== 'object' || Array.isArray(kdf) || !sameKeys(kdf, DOOR_KDF_KEYS)) {
    throw new FormatError('door kdf must hold exactly alg, ops and mem');
  }
  const params = checkKdf(kdf);
  if (site && (params.ops !== site.ops || params.mem !== site.mem)) throw new FormatError("door kdf differs from site.json's");
  return params;
}

/**
 * Open a door (or, with {entry: true}, a general entry) from its JSON text or bytes and
 * return the payload object. Unknown versions, kinds and outer keys are refused; `site` is
 * site.json's {ops, mem}, which derived `doorKey`, and the door's must be the same.
 */
export function openDoor(doorKey, clinic, doorId, doorJson, { entry = false, site = null } = {}) {
  const obj = parseObject(doorJson, 'door');
  if (obj.v !== VERSION) throw new FormatError(`unknown door version ${JSON.stringify(obj.v)}`);
  const params = checkDoorObject(obj, entry, site);
  const notePk = b64d(obj.note_pk, 32);
  const ad = (entry ? entryAd : doorAd)(clinic, doorId, params, notePk);
  const ct = b64d(obj.ct);
  if (ct.length !== DOOR_PLAIN + TAG_BYTES) throw new FormatError('door has the wrong length');
  const padded = aeadOpen(doorKey, b64d(obj.n, NONCE_BYTES), ct, ad, 'door');
  let plain;
  try {
    plain = sodium().unpad(padded, DOOR_PLAIN);
  } catch {
    throw new FormatError('door has bad padding');
  }
  const payload = parseObject(plain, 'door payload');
  if (entry ? payload.kind !== 'record' : !DOOR_KINDS.has(payload.kind)) {
    throw new FormatError(`unknown door kind ${JSON.stringify(payload.kind)}`);
  }
  return payload;
}

// -- sealed bodies (FORMAT.md 6) -------------------------------------------------------

export function bundleAd(clinic, rid) { return label('chartseal/v1/bundle', clinic, rid); }
export function indexAd(clinic, doorId) { return label('chartseal/v1/index', clinic, doorId); }
export function diaryAd(clinic, doorId, db, month) {
  return label('chartseal/v1/diary', clinic, doorId, db, month);
}
/** Key of shard `i` (0-based position in the root's `shards`) of database `db` (FORMAT.md 6.2). */
export function shardKey(ik, db, i) { return hash(KEY_BYTES, label('chartseal/v1/index-shard-key', db, i), ik); }
export function shardAd(clinic, doorId, db, i) { return label('chartseal/v1/index-shard', clinic, doorId, db, i); }

// Written straight into the stream (not through a Blob, which costs a copy and a task per
// body: 1.8 ms against 0.4 ms for an index shard). A bad body fails the read; the write
// and close promises fail with it and are only awaited there.
async function inflate(data) {
  const ds = new DecompressionStream('deflate');
  const w = ds.writable.getWriter();
  const written = Promise.all([w.write(data), w.close()]);
  written.catch(() => {});
  const out = new Uint8Array(await new Response(ds.readable).arrayBuffer());
  await written;
  return out;
}

/** Open a bundle, index root, index shard or diary shard: AEAD, unpad, inflate, JSON object with v = 2. */
export async function openBody(key, body, ad) {
  bytes(body, 'body');
  if (body.length < NONCE_BYTES + TAG_BYTES) throw new FormatError('sealed body is too short');
  const plain = aeadOpen(key, body.subarray(0, NONCE_BYTES), body.subarray(NONCE_BYTES), ad, 'sealed body');
  let data;
  try {
    // The block size is not stored: the whole length as one block is valid for every
    // block size (FORMAT.md 6).
    data = await inflate(sodium().unpad(plain, plain.length));
  } catch {
    throw new FormatError('sealed body has bad padding or compression');
  }
  const value = parseObject(data, 'sealed body');
  if (value.v !== VERSION) throw new FormatError(`unknown body version ${JSON.stringify(value.v)}`);
  return value;
}

// -- site.json and freshness (FORMAT.md 4, 5.4) -----------------------------------------

/** A publish counter: an integer from 1 to 2^53 - 1 (not 1.0 in the JSON text: see parseSite). */
export function checkSeq(value, what) {
  if (!Number.isSafeInteger(value) || value < 1) throw new FormatError(`${what} must be an integer from 1 to 2^53-1`);
  return value;
}

export function checkAt(value, what) {
  if (typeof value !== 'string' || !AT_RE.test(value)) throw new FormatError(`${what} must be a UTC time`);
  return value;
}

/** The bytes site.json's `sig` signs: its canonical JSON without `sig`. */
export function siteSignedBytes(site) {
  const rest = { ...site };
  delete rest.sig;
  return concat(label('chartseal/v2/site'), enc.encode(canonicalJson(rest)));
}

/**
 * Steps 1 and 2 of FORMAT.md 5.4, once a door or entry is open: site.json's signature with
 * the key the door holds, then the door's seq against the floor. Returns {seq, floor, at}.
 */
export function checkSite(site, payload) {
  const sitePk = b64d(payload.site_pk, 32);
  const sig = b64d(site.sig, 64);
  if (!sodium().crypto_sign_verify_detached(sig, siteSignedBytes(site), sitePk)) {
    throw new AuthError('site.json signature does not verify');
  }
  const seq = checkSeq(site.seq, 'site seq');
  const floor = checkSeq(site.floor, 'site floor');
  checkAt(site.at, 'site time');
  if (floor > seq) throw new FormatError('site floor above its seq');
  const doorSeq = checkSeq(payload.seq, 'door seq');
  checkAt(payload.at, 'door time');
  if (doorSeq < floor) throw new StaleError(`door of publish ${doorSeq} is below the floor ${floor}`);
  return { seq, floor, at: site.at };
}

/** Where the session keeps the highest seq seen for `what` (a hash: no id in clear). */
export function seenKey(clinic, what) {
  return `chartseal.seen.${hex(hash(ID_BYTES, label('chartseal/v2/seen', clinic, what)))}`;
}

// -- notes (FORMAT.md 9) ---------------------------------------------------------------

export function noteSignedBytes(clinic, door, ts, sealed) {
  if (!Number.isSafeInteger(ts)) throw new FormatError('note time must be an integer');
  return concat(label('chartseal/v1/note', clinic, door, ts), bytes(sealed, 'sealed note'));
}

/** SEAL(notes_pk, canonical JSON of the payload): only the clinic can open it. */
export function sealNote(notesPk, payload) {
  bytes(notesPk, 'notes public key', 32);
  return sodium().crypto_box_seal(enc.encode(canonicalJson(payload)), notesPk);
}

export function signNote(noteSk, msg) {
  bytes(noteSk, 'note signing key', NOTE_SK_BYTES);
  return sodium().crypto_sign_detached(bytes(msg, 'message'), noteSk);
}

/** The whole note object to POST to the notes endpoint. */
export function makeNote({ clinic, door, noteSk, notesPk, payload, ts }) {
  const sealed = sealNote(notesPk, payload);
  const sig = signNote(noteSk, noteSignedBytes(clinic, door, ts, sealed));
  return { v: 1, clinic, door, ts, sealed: b64e(sealed), sig: b64e(sig) };
}

// -- text normalization (FORMAT.md 2, 6.2; exporter/normalize.py; tests/vectors/normalize.json)

// Exactly the code points of normalize.py's WS_CHARS and INVISIBLE_CHARS: JS \s and Python's
// idea of white space disagree on a few, so neither is used.
const WS = '\\u0009-\\u000d\\u0020\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff';
const WS_RUN = new RegExp(`[${WS}]+`, 'g');
const WS_ENDS = new RegExp(`^[${WS}]+|[${WS}]+$`, 'g');
const INVISIBLE = /[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;
// Unicode 17.0 answers for letters of Unicode 14.0 whose mapping or category changed since,
// applied explicitly so a browser on older Unicode data agrees (normalize.py has the same).
const UPPER_FIXES = new Map([['\u019b', '\ua7dc'], ['\u0264', '\ua7cb'], ['\ua7d3', '\ua7d2'], ['\ua7d5', '\ua7d4']]);
const UPPER_FIX_RE = /[\u019b\u0264\ua7d3\ua7d5]/g;
const MARKS = /(?!\u{1171e})\p{Mn}/gu; // U+1171E: Mn in Unicode 14, Mc since: kept
const FOLD = new Map([
  ['\u0640', ''], ['\u0622', '\u0627'], ['\u0623', '\u0627'], ['\u0625', '\u0627'],
  ['\u0671', '\u0627'], ['\u0649', '\u064a'], ['\u0629', '\u0647'], ['\u03c2', '\u03c3'],
]);
for (let i = 0; i < 10; i += 1) {
  FOLD.set(String.fromCharCode(0x0660 + i), String(i));
  FOLD.set(String.fromCharCode(0x06f0 + i), String(i));
}
const FOLD_RE = new RegExp(`[${[...FOLD.keys()].join('')}]`, 'g');

function text(s) {
  if (typeof s !== 'string') throw new FormatError('expected text');
  return s;
}

/** Card number: no white space at all, upper-case, NFC. */
export function normalizeCard(s) {
  return text(s).replace(WS_RUN, '').replace(UPPER_FIX_RE, (c) => UPPER_FIXES.get(c)).toUpperCase().normalize('NFC');
}

/** User name: NFC, trimmed, lower-case. */
export function normalizeUser(s) { return text(s).normalize('NFC').replace(WS_ENDS, '').toLowerCase(); }

/** Fold text for search: invisible controls, case, marks, letter variants, digits, white space. */
export function normalizeSearch(s) {
  let t = text(s).replace(INVISIBLE, '').normalize('NFC').toLowerCase();
  t = t.normalize('NFD').replace(MARKS, '').normalize('NFC');
  t = t.replace(FOLD_RE, (c) => FOLD.get(c));
  return t.replace(WS_RUN, ' ').replace(WS_ENDS, '');
}
