// A checked index shard's rows packed into one string and one array of offsets, the form in
// which the shard worker hands them to the page (and the page keeps them). Why: at 50,000
// patients, cloning or parsing 50,000 row objects (16 MB of row HTML, half of it two-byte
// Arabic text) on the page's main thread was most of the list's wait; one string is copied
// in one piece, the offsets are transferred without a copy, and a field is read by slicing
// when it is used. No DOM, no crypto: node --test checks it (tests/js/list_rows.test.mjs).
//
// Also here: each row's sort key, one string whose plain `<` order is the readers' order of
// FORMAT.md 6.2 (compareRows in rules.js), so the page sorts 50,000 rows with one string
// comparison per step instead of up to four.

// The fields of a packed row, in this order. `flat` is `search` without spaces (the search
// compares both), `key` the sort key below, `s0` and `s1` the row's `sort`.
export const FIELDS = ['rid', 'card', 'search', 'flat', 'key', 's0', 's1', 'html', 'bundle', 'ck'];
export const F = Object.fromEntries(FIELDS.map((f, i) => [f, i]));
const WIDTH = FIELDS.length;
// Keys the list never reads are kept as they came (of any JSON type) so that the checks made
// when a patient is opened (rules.js checkShardRow) see exactly what the shard held.
const LOOSE = ['bundle', 'ck'];

/**
 * The sort key of (sort[0], sort[1], card, rid): each part with U+0000 written as U+0000
 * U+0001, parts joined by U+0000 U+0000. Comparing two keys with `<` then gives
 * compareRows' order exactly: within a part the code units compare as themselves, and the
 * end of a part (U+0000 U+0000) sorts before any code unit that can follow in a longer part
 * (U+0000 U+0001 for a U+0000, or the unit itself, at least U+0001), as the shorter string
 * of a prefix pair sorts first.
 */
export function sortKey(s0, s1, card, rid) {
  const esc = (s) => (s.includes('\0') ? s.replaceAll('\0', '\0\u0001') : s);
  return `${esc(s0)}\0\0${esc(s1)}\0\0${esc(card)}\0\0${esc(rid)}`;
}

/**
 * Pack the rows of an opened, checked shard (every row passed shard_open.js checkShownRow:
 * rid, card, search, html and both sort keys are strings). Returns {v, db, shard, n, text,
 * ends, loose}: field f of row r is text.slice(ends[r*WIDTH+f-1] or 0, ends[r*WIDTH+f]);
 * `loose` lists [row, name, value] for a `bundle` or `ck` that is not a string.
 */
export function pack(shard) {
  const { rows } = shard;
  const parts = new Array(rows.length * WIDTH);
  const ends = new Uint32Array(rows.length * WIDTH);
  const loose = [];
  let at = 0;
  let k = 0;
  for (let r = 0; r < rows.length; r += 1) {
    const row = rows[r];
    const [s0, s1] = row.sort;
    const values = [row.rid, row.card, row.search, row.search.replace(/ /g, ''), sortKey(s0, s1, row.card, row.rid), s0, s1, row.html];
    for (const name of LOOSE) {
      if (typeof row[name] === 'string') values.push(row[name]);
      else {
        values.push('');
        loose.push([r, name, row[name]]);
      }
    }
    for (const s of values) {
      parts[k] = s;
      at += s.length;
      ends[k] = at;
      k += 1;
    }
  }
  return { v: shard.v, db: shard.db, shard: shard.shard, n: rows.length, text: parts.join(''), ends, loose };
}

/** Field `f` (an index of FIELDS) of row `r` of packed shard `p`. */
export function field(p, r, f) {
  const k = r * WIDTH + f;
  return p.text.slice(k ? p.ends[k - 1] : 0, p.ends[k]);
}

/** Row `r` of packed shard `p` as the shard held it (the keys the readers use). */
export function unpack(p, r) {
  const row = {
    rid: field(p, r, F.rid), card: field(p, r, F.card), search: field(p, r, F.search),
    sort: [field(p, r, F.s0), field(p, r, F.s1)], html: field(p, r, F.html),
    bundle: field(p, r, F.bundle), ck: field(p, r, F.ck),
  };
  for (const [at, name, value] of p.loose) if (at === r) row[name] = value;
  return row;
}
