// Every vector of tests/vectors/ as a list of named checks on crypto.js, shared by the Node
// tests (crypto.test.mjs) and the browser test (tests/test_crypto_browser.py), so both
// runtimes prove the same things. No Node or browser API here: vectors come in as objects.

export const VECTOR_FILES = ['labels.json', 'ids.json', 'kdf.json', 'chain.json', 'notes.json', 'negative.json',
  'normalize.json', 'rules.json', 'shards.json'];

class CheckFailed extends Error {}

function eq(actual, expected, what) {
  if (actual !== expected) {
    throw new CheckFailed(`${what}: got ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
  }
}

async function refused(fn, cls, what) {
  let value;
  try {
    value = await fn();
  } catch (err) {
    if (err instanceof cls) return;
    throw new CheckFailed(`${what}: expected ${cls.name}, got ${err && err.name}: ${err && err.message}`);
  }
  throw new CheckFailed(`${what}: expected ${cls.name}, but it opened: ${JSON.stringify(value).slice(0, 80)}`);
}

/**
 * The checks as [{name, run}]; `v` maps each VECTOR_FILES name to its parsed JSON, `C` is
 * crypto.js and `R` rules.js.
 */
export function vectorChecks(C, v, R) {
  const out = [];
  const ctx = {
    C, R, v, na: C.sodium(), chain: v['chain.json'],
    same: (a, b, what) => eq(C.canonicalJson(a), C.canonicalJson(b), what),
    salt: { patient: C.patientSalt, general: C.generalSalt, account: C.accountSalt },
    add: (name, run) => out.push({ name, run }),
  };
  basicChecks(ctx);
  chainChecks(ctx);
  noteChecks(ctx);
  negativeChecks(ctx);
  normalizeChecks(ctx);
  ruleChecks(ctx);
  shardChecks(ctx);
  return out;
}

function basicChecks({ C, v, same, salt, add }) {
  add('labels', () => {
    for (const r of v['labels.json'].labels) eq(C.hex(C.label(r.name, ...r.parts)), r.hex, r.name);
  });
  add('salts, password bytes, entry ids, object names, canonical JSON', () => {
    const d = v['ids.json'];
    for (const s of d.salts) eq(C.hex(salt[s.kind](s.clinic, ...s.parts)), s.salt, `salt ${s.kind}`);
    for (const p of d.password_bytes) eq(C.hex(C.passwordBytes(...p.passwords)), p.hex, 'password bytes');
    for (const e of d.entry_ids) eq(C.entryId(C.b64d(e.lk, 32), e.card), e.entry_id, 'entry id');
    for (const o of d.object_names) eq(C.objectName(C.b64d(o.body)), o.name, 'object name');
    for (const j of d.canonical_json) eq(C.canonicalJson(j.value), j.text, 'canonical JSON');
  });
  add('kdf checks', async () => {
    for (const k of v['kdf.json'].ok) same(C.checkKdf(k), { ops: k.ops, mem: k.mem }, 'checkKdf');
    for (const k of v['kdf.json'].bad) await refused(() => C.checkKdf(k), C.FormatError, JSON.stringify(k));
  });
  for (const r of v['kdf.json'].derive) {
    add(`derive door ${r.salt_kind} ops=${r.ops} mem=${r.mem}`, () => {
      const s = salt[r.salt_kind](...r.salt_parts);
      const pw = C.passwordBytes(...r.passwords);
      eq(C.hex(s), r.salt, 'salt');
      eq(C.hex(pw), r.pw, 'password bytes');
      const { doorKey, doorId } = C.deriveDoor(pw, s, { ops: r.ops, mem: r.mem });
      eq(C.b64e(doorKey), r.door_key, 'door key');
      eq(doorId, r.door_id, 'door id');
    });
  }
}

function chainChecks({ C, R, chain, same, salt, add }) {
  const general = chain.doors.find((d) => d.kind === 'general');
  const walkDoor = (door) => {
    if (door.kind === 'entry') {
      eq(C.entryId(C.b64d(general.payload.lk, 32), door.salt_parts[0]), door.door_id, 'entry id');
      eq(C.hex(C.entryAd(chain.clinic, door.door_id, C.checkKdf(door.kdf), C.b64d(door.note_pk))), door.ad, 'entry ad');
      return C.openDoor(C.b64d(general.payload.gk, 32), chain.clinic, door.door_id, door.json, { entry: true });
    }
    const s = salt[door.kind](chain.clinic, ...door.salt_parts);
    const site = C.checkKdf(door.kdf); // the site.json this door was written under
    const { doorKey, doorId } = C.deriveDoor(C.passwordBytes(...door.passwords), s, site);
    eq(doorId, door.door_id, 'door id');
    eq(C.hex(C.doorAd(chain.clinic, doorId, site, C.b64d(door.note_pk))), door.ad, 'door ad');
    return C.openDoor(doorKey, chain.clinic, doorId, door.json, { site });
  };
  for (const door of chain.doors) {
    add(`door ${door.kind}: password to payload`, () => {
      same(walkDoor(door), door.payload, 'payload');
      const fromBytes = C.openDoor(C.b64d(door.door_key), chain.clinic, door.door_id,
        new TextEncoder().encode(door.json), { entry: door.entry });
      same(fromBytes, door.payload, 'payload from bytes');
    });
  }
  add('site.json: signed bytes and signature check against every door', () => {
    const site = chain.site;
    eq(C.canonicalJson(site.value), site.json, 'site.json text');
    eq(C.hex(C.siteSignedBytes(JSON.parse(site.json))), site.signed, 'signed bytes');
    for (const door of chain.doors) same(C.checkSite(JSON.parse(site.json), door.payload), { seq: 41, floor: 37, at: site.value.at }, 'checkSite');
  });
  const adFor = { bundle: C.bundleAd, index: C.indexAd, diary: C.diaryAd, 'index-shard': C.shardAd };
  for (const body of chain.bodies) {
    add(`body ${body.kind} (${body.deflated_len} deflated bytes) opens`, async () => {
      const ad = adFor[body.kind](...body.ad_parts);
      eq(C.hex(ad), body.ad, 'ad');
      const raw = C.b64d(body.body);
      eq(C.objectName(raw), body.name, 'object name');
      same(await C.openBody(C.b64d(body.key, 32), raw, ad), body.value, 'body value');
    });
  }
  add('chain: passwords to bundle, index and diary', async () => {
    const byName = new Map(chain.bodies.map((x) => [`obj/${x.name}.bin`, x]));
    const [patient, , entry, account] = chain.doors;
    for (const door of [patient, entry]) {
      const p = walkDoor(door);
      R.checkDoorPayload(p, door.kind === 'entry' ? 'general' : 'patient');
      const value = await C.openBody(C.b64d(p.ck, 32), C.b64d(byName.get(p.bundle).body), C.bundleAd(chain.clinic, p.rid));
      R.checkBundle(value, p);
    }
    const a = R.checkDoorPayload(walkDoor(account), 'account');
    const index = R.checkRoot(await C.openBody(C.b64d(a.ik, 32), C.b64d(byName.get(a.index).body),
      C.indexAd(chain.clinic, account.door_id)));
    const db = index.databases[0];
    const ik = C.b64d(a.ik, 32);
    const [pointer] = db.shards;
    const raw = R.checkObjectName(pointer.obj, C.b64d(byName.get(pointer.obj).body));
    const rows = R.checkShard(await C.openBody(C.shardKey(ik, db.id, 0), raw, C.shardAd(chain.clinic, account.door_id, db.id, 0)),
      db.id, 0, pointer.n).rows;
    const row = R.checkShardRow(rows[0]);
    R.checkBundle(await C.openBody(C.b64d(row.ck, 32), C.b64d(byName.get(row.bundle).body), C.bundleAd(chain.clinic, row.rid)), row);
    const shard = db.diary['2026-11'];
    const key = R.checkDiaryPointer(shard, ik, db.id, '2026-11'); // derived, and the copy agrees
    const diary = R.checkDiaryShard(await C.openBody(key, C.b64d(byName.get(shard.obj).body),
      C.diaryAd(chain.clinic, account.door_id, db.id, '2026-11')), db.id, '2026-11');
    eq(diary.days['2026-11-26'].visits, 2, 'diary visits');
  });
}

function noteChecks({ C, v, na, add }) {
  add('note: signed bytes and signature match, the sealed box opens', () => {
    const n = v['notes.json'];
    const sealed = C.b64d(n.sealed);
    const opened = na.crypto_box_seal_open(sealed, C.b64d(n.notes_pk, 32), C.b64d(n.notes_sk, 32));
    eq(new TextDecoder().decode(opened), n.payload_json, 'opened note');
    eq(C.canonicalJson(n.payload), n.payload_json, 'payload JSON');
    const signed = C.noteSignedBytes(n.clinic, n.door, n.ts, sealed);
    eq(C.hex(signed), n.signed, 'signed bytes');
    eq(C.b64e(C.signNote(C.b64d(n.note_sk, 64), signed)), n.sig, 'signature');
  });
  add('note: a fresh note from makeNote opens and verifies', () => {
    const n = v['notes.json'];
    const note = C.makeNote({ clinic: n.clinic, door: n.door, ts: n.ts, payload: n.payload,
      noteSk: C.b64d(n.note_sk, 64), notesPk: C.b64d(n.notes_pk, 32) });
    const sealed = C.b64d(note.sealed);
    eq(note.sealed === n.sealed, false, 'fresh sealed box');
    const opened = na.crypto_box_seal_open(sealed, C.b64d(n.notes_pk), C.b64d(n.notes_sk));
    eq(new TextDecoder().decode(opened), n.payload_json, 'opened note');
    const signed = C.noteSignedBytes(note.clinic, note.door, note.ts, sealed);
    eq(na.crypto_sign_verify_detached(C.b64d(note.sig, 64), signed, C.b64d(n.note_pk, 32)), true, 'signature');
  });
}

function negativeChecks({ C, v, na, add }) {
  const neg = v['negative.json'];
  const ERRORS = { format: C.FormatError, auth: C.AuthError, stale: C.StaleError };
  const run = (c) => {
    switch (c.op) {
      case 'open_door': return C.openDoor(C.b64d(c.door_key), neg.clinic, c.door_id, c.json, { entry: c.entry, site: c.site });
      case 'open_body': return C.openBody(C.b64d(c.key), C.b64d(c.body), na.from_hex(c.ad));
      case 'derive_door': return C.deriveDoor(na.from_hex(c.pw), na.from_hex(c.salt), { ops: c.ops, mem: c.mem });
      case 'b64d': return C.b64d(c.text);
      case 'check_site': return C.checkSite(c.site, c.payload);
      default: throw new CheckFailed(`unknown op ${c.op}`);
    }
  };
  for (const c of neg.cases) {
    add(`refused (${c.error}): ${c.name}`, () => refused(() => run(c), ERRORS[c.error], c.name));
  }
}

function normalizeChecks({ C, v, add }) {
  const fn = { search: C.normalizeSearch, card: C.normalizeCard, user: C.normalizeUser };
  for (const kind of Object.keys(fn)) {
    add(`normalize ${kind}`, () => {
      for (const r of v['normalize.json'][kind]) eq(fn[kind](r.in), r.out, `${kind}(${JSON.stringify(r.in)})`);
    });
  }
}

/** `fn()` must throw a FormatError when `refused`, and return normally otherwise. */
function outcome(C, fn, refused, what) {
  let value;
  try {
    value = fn();
  } catch (err) {
    if (refused && err instanceof C.FormatError) return undefined;
    throw new CheckFailed(`${what}: ${refused ? 'expected FormatError, got' : 'refused:'} ${err && err.name}: ${err && err.message}`);
  }
  if (refused) throw new CheckFailed(`${what}: expected a refusal, but it passed`);
  return value;
}

function ruleChecks({ C, R, v, same, add }) {
  const r = v['rules.json'];
  const show = (x) => JSON.stringify(x).slice(0, 120);
  add('rule: base64 is strict', () => {
    for (const c of r.b64) {
      const got = outcome(C, () => C.hex(C.b64d(c.text)), c.hex === null, `b64d ${show(c.text)}`);
      if (c.hex !== null) eq(got, c.hex, `b64d ${show(c.text)}`);
    }
  });
  add('rule: site.json kdf, the test flag and loopback', () => {
    for (const c of r.site_kdf) {
      const got = outcome(C, () => R.checkSiteKdf(c.kdf, c.loopback), c.params === null, `site kdf ${show(c)}`);
      if (c.params !== null) same(got, c.params, `site kdf ${show(c)}`);
    }
    for (const c of r.loopback) eq(R.isLoopback(c.host), c.loopback, `loopback ${c.host}`);
    for (const c of r.site) outcome(C, () => R.checkSite(c.site, c.clinic, c.loopback), c.refused, show(c));
  });
  add('rule: an index root has its databases and shards', () => {
    for (const c of r.root) outcome(C, () => R.checkRoot(c.index), c.refused, show(c));
    const root = (n) => ({ v: 2, databases: [{ id: 'main', name: 'main', count: n, diary: {},
      shards: Array.from({ length: n }, () => ({ obj: `obj/${'ab'.repeat(16)}.bin`, n: 1 })) }] });
    outcome(C, () => R.checkRoot(root(4096)), false, '4096 shards');
    outcome(C, () => R.checkRoot(root(4097)), true, '4097 shards');
  });
  add('rule: an index shard matches its pointer, and its rows their types', () => {
    for (const c of r.index_shard) outcome(C, () => R.checkShard(c.shard, c.db, c.i, c.n), c.refused, show(c));
    for (const c of r.shard_row) outcome(C, () => R.checkShardRow(c.row), c.refused, show(c));
    for (const c of r.object_name) outcome(C, () => R.checkObjectName(c.obj, C.b64d(c.body)), c.refused, show(c));
  });
  add('rule: a door has exactly its keys, and site.json\'s kdf', () => {
    for (const c of r.door_object) outcome(C, () => C.checkDoorObject(c.door, c.entry, c.site), c.refused, show(c));
  });
  add('rule: door payloads', () => {
    for (const c of r.door_payload) outcome(C, () => R.checkDoorPayload(c.payload, c.who), c.refused, show(c));
    for (const c of r.pointer_card) outcome(C, () => R.checkRecordPointer(c.pointer, c.card), c.refused, show(c));
  });
  add('rule: a bundle matches its pointer', () => {
    for (const c of r.bundle) outcome(C, () => R.checkBundle(c.bundle, c.pointer), c.refused, show(c));
  });
  add('rule: the diary key is derived and the index copy must agree', () => {
    const ik = C.b64d(r.ik, 32);
    for (const c of r.diary) {
      const key = outcome(C, () => R.checkDiaryPointer(c.pointer, ik, c.db, c.month), c.refused, show(c));
      if (!c.refused) eq(C.b64e(key), c.key, `diary key ${c.db} ${c.month}`);
    }
    for (const c of r.diary_shard) outcome(C, () => R.checkDiaryShard(c.shard, c.db, c.month), c.refused, show(c));
  });
}

/** The reader's walk of one index shard pointer: name, key, ad, open, pointer, rows. */
async function walkShard(C, R, d, c) {
  const body = R.checkObjectName(c.obj, C.b64d(c.body));
  const ik = C.b64d(d.ik, 32);
  const shard = R.checkShard(await C.openBody(C.shardKey(ik, c.db, c.i), body, C.shardAd(d.clinic, d.door_id, c.db, c.i)), c.db, c.i, c.n);
  for (const row of shard.rows) R.checkShardRow(row);
  return shard;
}

function shardChecks({ C, R, v, same, add }) {
  const d = v['shards.json'];
  add('index shard keys and associated data', () => {
    const ik = C.b64d(d.ik, 32);
    for (const k of d.keys) {
      eq(C.b64e(C.shardKey(ik, k.db, k.i)), k.key, `shard key ${k.db} ${k.i}`);
      eq(C.hex(C.shardAd(d.clinic, d.door_id, k.db, k.i)), k.ad, `shard ad ${k.db} ${k.i}`);
    }
  });
  for (const c of d.cases) {
    add(`index shard ${c.refused ? 'refused' : 'opens'}: ${c.name}`, async () => {
      let shard;
      try {
        shard = await walkShard(C, R, d, c);
      } catch (err) {
        if (c.refused && (err instanceof C.FormatError || err instanceof C.AuthError)) return;
        throw new CheckFailed(`${c.name}: ${err && err.name}: ${err && err.message}`);
      }
      if (c.refused) throw new CheckFailed(`${c.name}: expected a refusal, but it opened`);
      eq(shard.rows.length, c.n, c.name);
    });
  }
  add('index shards: the root, and rows in the readers\' order', async () => {
    const root = R.checkRoot(d.root);
    const rows = [];
    for (const [i, p] of root.databases[0].shards.entries()) {
      const c = d.cases.find((x) => !x.refused && x.obj === p.obj && x.i === i);
      rows.push(...(await walkShard(C, R, d, { ...c, n: p.n })).rows);
    }
    rows.sort(R.compareRows);
    same(rows.map((r) => r.rid), d.order, 'row order');
    // UTF-16 code units, not code points: U+FF5E sorts after U+1F9B7 (a surrogate pair).
    const row = (s0, card, rid) => ({ sort: [s0, ''], card, rid });
    same([row('\uff5e', 'A', '1'), row('\u{1f9b7}', 'A', '1'), row('a', 'B', '1'), row('a', 'A', '2'), row('a', 'A', '1')]
      .sort(R.compareRows).map((r) => [r.sort[0], r.card, r.rid]),
    [['a', 'A', '1'], ['a', 'A', '2'], ['a', 'B', '1'], ['\u{1f9b7}', 'A', '1'], ['\uff5e', 'A', '1']], 'UTF-16 order');
  });
}
