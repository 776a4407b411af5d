// A checked index shard's rows packed into one string and one array of offsets (plus the
// keys the list compares, as arrays), the form in which the shard worker hands them to the
// page and the page keeps them. Why: at 50,000 patients, parsing every shard's JSON text into
// row objects (16 MB of row HTML, half of it two-byte Arabic text) was the page's largest
// cost; one string is copied in one piece, the offsets are transferred without a copy, and a
// field is read by slicing when it is used. No DOM, no crypto: node --test checks it
// (tests/js/list_rows.test.mjs).
//
// Also here: each row's sort key, one string whose plain `<` order is the readers' order of
// FORMAT.md 6.2 (compareRows in rules.js), so the page sorts 50,000 rows with one string
// comparison per step instead of up to four.

// The fields of a packed row, in this order (`s0` and `s1` are the row's `sort`). The keys the
// list compares on every sort and keystroke travel apart, as arrays of strings: a string
// sliced out of a larger one compares about three times slower in V8 than a string of its own.
export const FIELDS = ['rid', 'card', 's0', 's1', 'html', 'bundle', 'ck'];
export const F = Object.fromEntries(FIELDS.map((f, i) => [f, i]));
const WIDTH = FIELDS.length;
// Keys the list never reads are kept as they came (of any JSON type) so that the checks made
// when a patient is opened (rules.js checkShardRow) see exactly what the shard held.
const LOOSE = new Set(['bundle', 'ck']);

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
 * ends, keys, search, flat, loose}: field f of row r is text.slice(ends[r*WIDTH+f-1] or 0,
 * ends[r*WIDTH+f]); keys[r] is row r's sort key, search[r] its search key and flat[r] that
 * key without spaces; `loose` lists [row, name, value] for a `bundle` or `ck` that is not a
 * string.
 */
export function pack(shard) {
  const { rows } = shard;
  const n = rows.length;
  const parts = new Array(n * WIDTH);
  const ends = new Uint32Array(n * WIDTH);
  const keys = new Array(n);
  const search = new Array(n);
  const flat = new Array(n);
  const loose = [];
  let at = 0;
  let k = 0;
  for (let r = 0; r < n; r += 1) {
    const row = rows[r];
    keys[r] = sortKey(row.sort[0], row.sort[1], row.card, row.rid);
    search[r] = row.search;
    flat[r] = row.search.replace(/ /g, '');
    for (let f = 0; f < WIDTH; f += 1) {
      const name = FIELDS[f];
      let v = f === F.s0 || f === F.s1 ? row.sort[f - F.s0] : row[name];
      if (typeof v !== 'string') { // only a bundle or ck can be other than a string here
        if (!LOOSE.has(name)) throw new TypeError(`unchecked row key ${name}`);
        loose.push([r, name, v]);
        v = '';
      }
      parts[k] = v;
      at += v.length;
      ends[k] = at;
      k += 1;
    }
  }
  return { v: shard.v, db: shard.db, shard: shard.shard, n, text: parts.join(''), ends, keys, search, flat, loose };
}

/** Field `f` (an index of FIELDS) of row `r` of packed shard `p`. */
export function field(p, r, f) {
  const k = r * WIDTH + f;
  return p.text.slice(k ? p.ends[k - 1] : 0, p.ends[k]);
}

/** Row `r` of packed shard `p` as the shard held it (the keys the readers use). */
export function unpack(p, r) {
  const row = {
    rid: field(p, r, F.rid), card: field(p, r, F.card), search: p.search[r],
    sort: [field(p, r, F.s0), field(p, r, F.s1)], html: field(p, r, F.html),
    bundle: field(p, r, F.bundle), ck: field(p, r, F.ck),
  };
  for (const [at, name, value] of p.loose) if (at === r) row[name] = value;
  return row;
}
