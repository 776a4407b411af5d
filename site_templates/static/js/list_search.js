// Search over the doctor's list (FORMAT.md 2: every word of the query occurs in the row's
// search key, or the query without spaces occurs in the key without spaces). Pure: no DOM,
// so node --test holds it to a brute-force scan (tests/js/list_search.test.mjs).
//
// A keystroke at 50,000 patients must paint within 50 ms, so a search is a resumable scan
// rather than one loop over every row:
// - it stops as soon as it has the rows the page shows (the first page of matches), and the
//   caller finishes it in small slices after the paint, for the count;
// - a query that extends the previous one (its search key starts with the previous key)
//   scans only the previous matches plus the rows the previous scan had not reached: every
//   row matching "ahmad 07" also matches "ahmad 0" (each old word is a word, or the prefix of
//   one, of the new query, and the old query without spaces is a prefix of the new one).

/** The search keys of a list's rows, by row id, with their spaceless copies. */
export class Haystack {
  constructor() { this.keys = []; this.flat = []; }

  /** Row `key`'s search key; `flat`, when the caller has it already, is the key without spaces. */
  add(key, flat) {
    const s = typeof key === 'string' ? key : '';
    this.keys.push(s);
    this.flat.push(typeof flat === 'string' ? flat : s.replace(/ /g, ''));
  }

  get size() { return this.keys.length; }
}

/** Does row `i` match the query (search key `q`, its `words`, `compact` = q without spaces)? */
function matchesRow(hay, i, words, compact) {
  // One word: its occurrence in the key is also one in the spaceless key, so the second test alone decides.
  if (hay.flat[i].includes(compact)) return true;
  if (words.length < 2) return false;
  const s = hay.keys[i];
  for (const w of words) if (!s.includes(w)) return false;
  return true;
}

/** The reference answer: every row id of `order` that matches `q`, in that order. */
export function bruteForce(hay, order, q) {
  const words = q ? q.split(' ') : [];
  const compact = q.replace(/ /g, '');
  return order.filter((i) => !q || words.every((w) => hay.keys[i].includes(w)) || hay.flat[i].includes(compact));
}

/**
 * A search of `q` (already a search key) over `order` (row ids in the shown order) of `hay`.
 * `prev`, the scan of the previous keystroke over the same rows and order, is narrowed from
 * when `q` extends its query. Matches are row ids in `order`'s order; `done` once every row
 * was looked at.
 */
export class Scan {
  constructor(hay, order, q, prev = null) {
    this.hay = hay;
    this.order = order;
    this.q = q;
    this.words = q ? q.split(' ') : [];
    this.compact = q.replace(/ /g, '');
    this.matches = [];
    const narrow = prev && prev.hay === hay && prev.order === order && prev.q !== '' && q.startsWith(prev.q);
    if (narrow) {
      // What is left to look at: the previous matches, then what the previous scan had not reached.
      const rest = prev.head.length > prev.at ? prev.head.slice(prev.at) : [];
      this.head = rest.length ? prev.matches.concat(rest) : prev.matches.slice();
      this.tail = prev.tail + Math.max(0, prev.at - prev.head.length);
    } else {
      this.head = [];
      this.tail = 0; // order[tail..] follows head
    }
    this.at = 0; // position in head ++ order[tail..]
  }

  get total() { return this.head.length + this.order.length - this.tail; }

  get done() { return this.at >= this.total; }

  /**
   * Look at rows until `want` matches are found, `deadline` (performance.now()) passes, or
   * every row was seen; returns `done`. The clock is read every 512 rows only.
   */
  run(want = Infinity, deadline = Infinity) {
    const { hay, head, order, words, compact } = this;
    const all = this.q === '';
    const end = this.total;
    let at = this.at;
    while (at < end && this.matches.length < want) {
      const stop = Math.min(end, at + 512);
      for (; at < stop && this.matches.length < want; at += 1) {
        const i = at < head.length ? head[at] : order[this.tail + at - head.length];
        if (all || matchesRow(hay, i, words, compact)) this.matches.push(i);
      }
      if (deadline !== Infinity && performance.now() > deadline) break;
    }
    this.at = at;
    return this.done;
  }
}
