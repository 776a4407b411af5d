// The doctor's patient list. Rows are cut out of the index's list fragment (autoescaped
// Jinja2 output: row text can never hold a raw "<", so the cut is exact) and put in the
// page a hundred at a time, so a list of 10,000 patients costs the DOM of a hundred, and
// a keystroke re-renders one page instead of restyling every row.
import { $, show } from './ui.js';
import { formatError } from './clinic.js';

const PAGE = 100;
const ROW_RE = /<li data-i="(\d+)">[\s\S]*?<\/li>/g;

let normalize = (s) => s;
let rows = []; // row HTML by index
let haystack = []; // [search, search without spaces] by index
let matches = []; // indexes that match the current query
let shown = 0;
let ol = null;

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
}

/** Show one database's list (index entry `db`: `list_html` and `patients`). */
export function load(db) {
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
  $('search').value = '';
  search();
}

/** Every word of the query must appear; a query typed without spaces also matches a spaced mobile. */
function search() {
  const q = normalize($('search').value);
  const words = q ? q.split(' ') : [];
  const compact = q.replace(/ /g, '');
  matches = [];
  for (let i = 0; i < haystack.length; i += 1) {
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
