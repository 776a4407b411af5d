// The rows of the list being shown, as the index shards bring them, and the orders they are
// shown in. No DOM: node --test checks the orders (tests/js/list_search.test.mjs).
//
// Rows get an id (their arrival number) when they arrive; they stay packed as the worker
// sent them (packed_rows.js), a field sliced out when it is used. An order is a list of ids
// kept sorted as rows arrive: a batch of new rows is sorted on its own (a shard comes
// sorted already, and the engine's sort finds such runs) and merged into the order in one
// linear pass, so the list of 50,000 is never sorted from scratch while shards arrive.
import { Haystack } from './list_search.js';
import { F, field, unpack } from './packed_rows.js';
// The default order is the readers' order of FORMAT.md 6.2 (sort[0], sort[1], card, rid by
// UTF-16 code units), held to the Python reader's in rules.js; each row's sort key
// (packed_rows.js sortKey) gives the same order with one `<`.
import { compareRows } from './rules.js';

export { compareRows };

/** Merge the sorted id lists `a` and `b` (by `cmp`) into a new sorted list. */
export function mergeSorted(a, b, cmp) {
  if (!b.length) return a;
  if (!a.length) return b;
  const out = new Array(a.length + b.length);
  let i = 0; let j = 0; let k = 0;
  while (i < a.length && j < b.length) out[k++] = cmp(b[j], a[i]) < 0 ? b[j++] : a[i++];
  while (i < a.length) out[k++] = a[i++];
  while (j < b.length) out[k++] = b[j++];
  return out;
}

export class ListRows {
  constructor() {
    this.src = []; // by row id: its packed shard
    this.at = []; // by row id: its position in that shard
    this.keys = []; // by row id: its sort key
    this.hay = new Haystack(); // their search keys, by id
    this.pending = []; // ids added since the last flush
    this.orders = new Map(); // name -> {cmp(idA, idB), ids}
    const k = this.keys;
    this.addOrder('default', (a, b) => (k[a] < k[b] ? -1 : k[a] > k[b] ? 1 : 0));
    this.version = 0; // bumped by each flush: a search over an older version is stale
  }

  get size() { return this.src.length; }

  /** A packed shard's rows arrived: shown from the next flush on. */
  add(p) {
    for (let r = 0; r < p.n; r += 1) {
      this.pending.push(this.src.length);
      this.src.push(p);
      this.at.push(r);
      this.keys.push(p.keys[r]);
      this.hay.add(p.search[r], p.flat[r]);
    }
  }

  /** The row HTML of row `id`. */
  html(id) { return field(this.src[id], this.at[id], F.html); }

  /** Row `id` as its shard held it ({rid, card, search, sort, html, bundle, ck}), or null. */
  row(id) { return id >= 0 && id < this.size ? unpack(this.src[id], this.at[id]) : null; }

  /** An order by `cmp` over ids, kept up to date by every flush from now on. */
  addOrder(name, cmp) {
    const shown = this.size - this.pending.length;
    const ids = Array.from({ length: shown }, (_, i) => i).sort(cmp);
    const order = { cmp, ids };
    this.orders.set(name, order);
    return order;
  }

  order(name) { return this.orders.get(name); }

  /** Put the pending rows into every order; false when there were none. */
  flush() {
    if (!this.pending.length) return false;
    const batch = this.pending;
    this.pending = [];
    for (const order of this.orders.values()) order.ids = mergeSorted(order.ids, batch.slice().sort(order.cmp), order.cmp);
    this.version += 1;
    return true;
  }
}
