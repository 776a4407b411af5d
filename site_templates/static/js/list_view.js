// The doctor's patient list. Rows are cut out of the index's list fragment (autoescaped
// Jinja2 output: row text can never hold a raw "<", so the cut is exact) and put in the
// page a hundred at a time, so a list of 10,000 patients costs the DOM of a hundred, and
// a keystroke re-renders one page instead of restyling every row.
import { $, show } from './ui.js';
import { formatError } from './clinic.js';
import { current as currentLang } from './i18n.js';

const PAGE = 100;
const ROW_RE = /<li data-i="(\d+)">[\s\S]*?<\/li>/g;

let normalize = (s) => s;
let rows = []; // row HTML by index
let haystack = []; // [search, search without spaces] by index
let matches = []; // indexes that match the current query
let shown = 0;
let ol = null;
let order = null; // row indexes in the chosen sort order; null: the index's own order
let sort = { key: '', dir: 1 };
let keys = null; // per row {name, surname, age}, read from the rows when first sorting

export function setup(normalizeSearch) {
  normalize = normalizeSearch;
  $('search').addEventListener('input', search);
  $('list-more').addEventListener('click', more);
  if ('IntersectionObserver' in window) {
    // Scrolling near the end of the list brings the next page, as if "Show more" was pressed.
    new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) more();
    }, { rootMargin: '800px' }).observe($('list-more'));
  }
  for (const b of document.querySelectorAll('#list-head [data-sort]')) b.addEventListener('click', () => sortBy(b.dataset.sort));
}

// Row text is autoescaped Jinja2 output: these are the only entities it can hold.
const ENT = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&#34;': '"', '&#39;': "'", '&quot;': '"' };
const unescape = (html) => html.replace(/<[^>]*>/g, '').replace(/&(amp|lt|gt|quot|#34|#39);/g, (e) => ENT[e]);
const field = (row, cls) => { const m = new RegExp(`class="${cls}"[^>]*>(.*?)</span>`).exec(row); return m ? unescape(m[1]).trim() : ''; };

function rowKeys(row) {
  const surname = field(row, 'psur');
  const age = field(row, 'page');
  return { name: field(row, 'pname'), surname, age: age === '' ? Infinity : Number(age) };
}

const ascending = new Map(); // key -> row indexes in ascending order, for this list

function ascendingBy(key) {
  if (ascending.has(key)) return ascending.get(key);
  keys = keys || rows.map(rowKeys);
  const coll = new Intl.Collator(currentLang(), { sensitivity: 'base', numeric: true });
  const byName = (a, b) => coll.compare(keys[a].name, keys[b].name);
  const cmp = key === 'age' ? (a, b) => (keys[a].age - keys[b].age) || byName(a, b)
    : key === 'surname' ? (a, b) => coll.compare(keys[a].surname, keys[b].surname) || byName(a, b)
      : byName;
  // Infinity - Infinity is NaN: unknown ages compare by name among themselves, after the rest.
  const order = rows.map((_, i) => i).sort((a, b) => {
    const ua = keys[a].age === Infinity; const ub = keys[b].age === Infinity;
    if (key === 'age' && ua !== ub) return ua ? 1 : -1;
    return (key === 'age' && ua && ub) ? byName(a, b) : cmp(a, b);
  });
  ascending.set(key, order);
  return order;
}

/** Sort by name, surname or age; pressing the same header again reverses the order
 * (unknown ages stay last). Each order is computed once per list, then reused. */
function sortBy(key) {
  sort = { key, dir: sort.key === key ? -sort.dir : 1 };
  const asc = ascendingBy(key);
  if (sort.dir > 0) order = asc;
  else if (key === 'age') order = [...asc.filter((i) => keys[i].age !== Infinity).reverse(), ...asc.filter((i) => keys[i].age === Infinity)];
  else order = asc.slice().reverse();
  for (const b of document.querySelectorAll('#list-head [data-sort]')) {
    if (b.dataset.sort === key) b.setAttribute('aria-sort', sort.dir > 0 ? 'ascending' : 'descending');
    else b.removeAttribute('aria-sort');
  }
  search();
}

/** Show one database's list (index entry `db`: `list_html` and `patients`). */
export function load(db, { keepQuery = false } = {}) {
  const head = /^\s*(<ol\b[^>]*>)/.exec(db.list_html);
  if (!head) throw formatError('patient list is not an <ol>');
  rows = [];
  for (const m of db.list_html.matchAll(ROW_RE)) rows[Number(m[1])] = m[0];
  if (rows.length !== db.patients.length || rows.some((r) => r === undefined)) {
    throw formatError('patient list and index disagree');
  }
  $('list').innerHTML = `${head[1]}</ol>`;
  ol = $('list').firstElementChild;
  haystack = db.patients.map((p) => {
    const s = typeof p.search === 'string' ? p.search : '';
    return [s, s.replace(/ /g, '')];
  });
  keys = null;
  ascending.clear();
  if (sort.key) { const { key, dir } = sort; sort = { key, dir: -dir }; sortBy(key); } else order = null;
  if (!keepQuery) $('search').value = '';
  search();
}

/** Every word of the query must appear; a query typed without spaces also matches a spaced mobile. */
function search() {
  const q = normalize($('search').value);
  const words = q ? q.split(' ') : [];
  const compact = q.replace(/ /g, '');
  matches = [];
  for (let k = 0; k < haystack.length; k += 1) {
    const i = order ? order[k] : k;
    const [s, flat] = haystack[i];
    if (!q || words.every((w) => s.includes(w)) || flat.includes(compact)) matches.push(i);
  }
  ol.replaceChildren();
  shown = 0;
  more();
  $('list-count').textContent = `${matches.length} / ${haystack.length}`;
  show($('list-empty'), matches.length === 0 && haystack.length > 0);
}

function more() {
  const next = matches.slice(shown, shown + PAGE);
  if (next.length) ol.insertAdjacentHTML('beforeend', next.map((i) => rows[i]).join(''));
  shown += next.length;
  show($('list-more'), shown < matches.length);
}
