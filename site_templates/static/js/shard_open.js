// Opening one index shard from its fetched bytes (FORMAT.md 6.2, 10): shared by the worker
// (shard-worker.js) and the page's own fallback (index_loader.js). Imports only crypto.js,
// rules.js and packed_rows.js, so it runs in either.
import { FormatError, VERSION } from './crypto.js';
import { checkObjectName, checkShard } from './rules.js';
import { pack } from './packed_rows.js';

const HEX32 = /^[0-9a-f]{32}$/;
const isText = (v) => typeof v === 'string';

/**
 * What the list uses of a row, checked before it is shown: `rid` (routes, the rid map),
 * `card`, `search`, `sort` and `html`. The rest of FORMAT.md 10.2's row rules (`bundle`,
 * `ck`) is checked when the patient is opened (rules.js checkShardRow): a row MAY be checked
 * when used, and decoding 50,000 keys nobody opens would cost the list a quarter second.
 */
export function checkShownRow(row) {
  if (row === null || typeof row !== 'object' || Array.isArray(row) || !isText(row.rid) || !HEX32.test(row.rid)
    || !isText(row.card) || !isText(row.search) || !isText(row.html)
    || !Array.isArray(row.sort) || row.sort.length !== 2 || !isText(row.sort[0]) || !isText(row.sort[1])) {
    throw new FormatError('index row lacks a key or has one of the wrong type');
  }
  return row;
}

/**
 * A shard opened earlier (packed), checked again against the pointer naming it now: the same
 * test as rules.js checkShard (its `v`, `db`, position and row count), on the packed form.
 */
export function checkPacked(p, db, i, n) {
  if (p === null || typeof p !== 'object' || p.v !== VERSION || p.db !== db || p.shard !== i || p.n !== n) {
    throw new FormatError('index shard does not match its pointer');
  }
  return p;
}

/**
 * Shard `i` of database `db` from its bytes: the name the root gave must be the bytes' own
 * (an older shard of the same position opens with the same key: the name pins it to this
 * root), then AEAD with the derived key and `ad`, then `v`, `db`, `shard` and `n` rows.
 * `C` is the initialised crypto module; `ik` the account's index key. Returns the
 * checked shard packed (packed_rows.js).
 */
export async function openShardBody(C, body, { obj, ik, clinic, doorId, db, i, n }) {
  checkObjectName(obj, body);
  const key = C.shardKey(ik, db, i);
  try {
    const shard = checkShard(await C.openBody(key, body, C.shardAd(clinic, doorId, db, i)), db, i, n);
    for (const row of shard.rows) checkShownRow(row);
    return pack(shard);
  } finally {
    key.fill(0);
  }
}
