// The doctor's patient list on screen. Rows come from the index shards (each row's `html` is
// autoescaped Jinja2 output, wrapped here in an <li>) and are put in the page a hundred at a
// time, so a list of 50,000 patients costs the DOM of a hundred, and a keystroke re-renders
// one page instead of restyling every row. While shards arrive the list shows what is in,
// sorted, a counter says how much, and the view is refreshed every FLUSH_MS or so.
import { $, markPainted, show } from './ui.js';
import { current as currentLang, t } from './i18n.js';
import { ListRows } from './list_rows.js';
import { Scan } from './list_search.js';

const PAGE = 100;
// While loading, re-sort and repaint at most every FLUSH_MS, longer for a long list (each
// flush merges every row so far): 250 ms up to 25,000 rows, 500 ms at 50,000.
const FLUSH_MS = 250;
const SLICE_MS = 6; // a search finishing in the background yields this often

let normalize = (s) => s;
let rows = new ListRows();
let expected = 0; // rows the root announced for this database
let loading = false;
let flushTimer = null;
let firstPainted = false;
let scan = null; // the search on screen
let shown = 0;
let painted = []; // the row ids in the list element, in order
let ol = null;
let sort = { key: '', dir: 1 };
let keys = []; // header sort keys by row id, read from a row's html when first needed
const reversed = new Map(); // "key/version" -> descending ids
const number = new Intl.NumberFormat('en-US'); // Western digits in every language, as every number in the portal

export function setup(normalizeSearch) {
  normalize = normalizeSearch;
  $('search').addEventListener('input', () => search());
  $('list-more').addEventListener('click', () => more());
  if ('IntersectionObserver' in window) {
    // Scrolling near the end of the list brings the next page, as if "Show more" was pressed.
    new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) more();
    }, { rootMargin: '800px' }).observe($('list-more'));
  }
  for (const b of document.querySelectorAll('#list-head [data-sort]')) b.addEventListener('click', () => sortBy(b.dataset.sort));
  document.addEventListener('chartseal:lang', progress);
}

// -- loading ---------------------------------------------------------------------------------

/** A new list of `total` rows is coming (a database opened): empty it and show the counter. */
export function begin(total, { keepQuery = false } = {}) {
  clearTimeout(flushTimer);
  flushTimer = null;
  rows = new ListRows();
  expected = total;
  loading = true;
  firstPainted = false;
  reversed.clear();
  keys = [];
  if (sort.key) rows.addOrder(sort.key, headerCmp(sort.key));
  $('list').innerHTML = '<ol class="plist"></ol>';
  ol = $('list').firstElementChild;
  painted = [];
  $('list').setAttribute('aria-busy', 'true');
  if (!keepQuery) $('search').value = '';
  scan = null;
  render();
  progress();
}

/** One shard's rows are in and checked (packed, packed_rows.js). The first are shown at once, later ones in batches. */
export function add(packed) {
  rows.add(packed);
  if (!firstPainted && rows.size > 0) {
    firstPainted = true;
    flush();
    performance.mark('chartseal:list-first-shown');
    markPainted('chartseal:list-first-painted');
  } else if (!flushTimer) {
    flushTimer = setTimeout(flush, Math.max(FLUSH_MS, rows.size / 100));
  }
}

/** Every shard is in: the whole list, sorted, and the counter goes away. */
export function end() {
  clearTimeout(flushTimer);
  flushTimer = null;
  loading = false;
  flush(true);
  $('list').removeAttribute('aria-busy');
  performance.mark('chartseal:list-shown');
  markPainted('chartseal:list-painted');
}

/** Nothing to show (a shard failed its checks): no row of this database stays on screen. */
export function clear() {
  begin(0, { keepQuery: true });
  loading = false;
  $('list').removeAttribute('aria-busy');
  progress();
  show($('list-empty'), false);
}

function flush(force = false) {
  clearTimeout(flushTimer);
  flushTimer = null;
  // New rows keep the pages the viewer already brought (a keystroke starts at the first).
  if (rows.flush() || force) search(shown);
  progress(); // with the rows, not per shard: each change of the line costs a layout
}

function progress() {
  const box = $('list-progress');
  show(box, loading);
  if (!loading) return;
  box.textContent = t('list.loading').replace('{n}', number.format(rows.size)).replace('{total}', number.format(expected));
}

/** The row shown with `data-i` = `id`. */
export function rowAt(id) { return rows.row(id); }

// -- header sorts ------------------------------------------------------------------------------

// Row text is autoescaped Jinja2 output: these are the only entities it can hold.
const ENT = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&#34;': '"', '&#39;': "'", '&quot;': '"' };
const unescape = (html) => html.replace(/<[^>]*>/g, '').replace(/&(amp|lt|gt|quot|#34|#39);/g, (e) => ENT[e]);
const field = (row, cls) => { const m = new RegExp(`class="${cls}"[^>]*>(.*?)</span>`).exec(row); return m ? unescape(m[1]).trim() : ''; };

function keyOf(i) {
  if (!keys[i]) {
    const html = rows.html(i);
    const age = field(html, 'page');
    keys[i] = { name: field(html, 'pname'), surname: field(html, 'psur'), age: age === '' ? Infinity : Number(age) };
  }
  return keys[i];
}

/** Ascending by `key` (name, surname or age; unknown ages last), by the page language's collation. */
function headerCmp(key) {
  const coll = new Intl.Collator(currentLang(), { sensitivity: 'base', numeric: true });
  const k = keyOf;
  const byName = (a, b) => coll.compare(k(a).name, k(b).name);
  if (key === 'surname') return (a, b) => coll.compare(k(a).surname, k(b).surname) || byName(a, b) || a - b;
  if (key !== 'age') return (a, b) => byName(a, b) || a - b;
  return (a, b) => {
    const ua = k(a).age === Infinity; const ub = k(b).age === Infinity;
    if (ua !== ub) return ua ? 1 : -1;
    return (ua ? 0 : k(a).age - k(b).age) || byName(a, b) || a - b;
  };
}

/** Sort by name, surname or age; pressing the same header again reverses the order
 * (unknown ages stay last). Each order is computed once per list, then kept up to date. */
function sortBy(key) {
  sort = { key, dir: sort.key === key ? -sort.dir : 1 };
  if (!rows.order(key)) rows.addOrder(key, headerCmp(key));
  for (const b of document.querySelectorAll('#list-head [data-sort]')) {
    if (b.dataset.sort === key) b.setAttribute('aria-sort', sort.dir > 0 ? 'ascending' : 'descending');
    else b.removeAttribute('aria-sort');
  }
  search();
}

/** Row ids in the order on screen; the same array until the rows or the order change. */
function ids() {
  if (!sort.key) return rows.order('default').ids;
  const asc = rows.order(sort.key).ids;
  if (sort.dir > 0) return asc;
  const memo = `${sort.key}/${rows.version}`;
  if (!reversed.has(memo)) {
    reversed.clear();
    const known = (i) => sort.key !== 'age' || keyOf(i).age !== Infinity;
    reversed.set(memo, [...asc.filter(known).reverse(), ...asc.filter((i) => !known(i))]);
  }
  return reversed.get(memo);
}

// -- search and pages ----------------------------------------------------------------------------

/**
 * A keystroke, a new order or new rows: the first page of matches (or `keep` rows) now, the
 * count after the paint.
 */
function search(keep = 0) {
  const q = normalize($('search').value);
  scan = new Scan(rows.hay, ids(), q, scan);
  render(keep);
}

function render(keep = 0) {
  if (!scan) scan = new Scan(rows.hay, ids(), normalize($('search').value));
  const want = Math.max(PAGE, keep);
  scan.run(want);
  const page = scan.matches.slice(0, want);
  // Once a few shards are in, most new rows sort after the page on screen: then the page is
  // left as it is, which spares a re-render and a layout per batch while the list loads.
  if (page.length !== painted.length || page.some((id, k) => id !== painted[k])) {
    ol.replaceChildren();
    painted = [];
    append(page);
  }
  shown = page.length;
  const mine = scan;
  if (!mine.done) {
    // Finish counting after the rows are painted, in slices, so typing never waits for it.
    const slice = () => {
      if (scan !== mine) return; // a newer search took over
      if (mine.run(Infinity, performance.now() + SLICE_MS)) counted();
      else setTimeout(slice, 0);
    };
    requestAnimationFrame(() => setTimeout(slice, 0));
  }
  counted();
}

/** The match count, once the search has looked at every row. */
function counted() {
  const done = !scan || scan.done;
  const found = scan ? scan.matches.length : 0;
  $('list-count').textContent = done ? `${number.format(found)} / ${number.format(rows.size - rows.pending.length)}` : '';
  show($('list-more'), !!scan && shown < (done ? found : Infinity));
  show($('list-empty'), done && found === 0 && rows.size > 0 && !loading);
}

function more(count = PAGE) {
  if (!scan) scan = new Scan(rows.hay, ids(), normalize($('search').value));
  scan.run(shown + count);
  append(scan.matches.slice(shown, shown + count));
  shown = painted.length;
  if (scan.done) counted();
  else show($('list-more'), true);
}

/** Put rows `next` (ids) at the end of the list element. */
function append(next) {
  if (!next.length) return;
  ol.insertAdjacentHTML('beforeend', next.map((i) => `<li data-i="${i}">${rows.html(i)}</li>`).join(''));
  painted.push(...next);
}
