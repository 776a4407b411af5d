// The doctor list's search (list_search.js) and orders (list_rows.js) against brute force:
// random lists, random queries typed a character at a time (so every narrowing path runs),
// scans stopped early and resumed, rows arriving in batches between keystrokes.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { bruteForce, Haystack, Scan } from '../../site_templates/static/js/list_search.js';
import { compareRows, ListRows, mergeSorted } from '../../site_templates/static/js/list_rows.js';
import { pack } from '../../site_templates/static/js/packed_rows.js';
import { init, normalizeSearch } from '../../site_templates/static/js/crypto.js';

await init();

let seed = 7;
const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
const pick = (a) => a[Math.floor(rnd() * a.length)];
const WORDS = ['ahmad', 'ahmed', 'amal', 'haddad', 'had', 'sara', 'saleh', 'سامي', 'أمل', 'الخطيب', 'zed', 'a', 'dad'];
const digits = (n) => Array.from({ length: n }, () => Math.floor(rnd() * 10)).join('');

function randomKey() {
  const parts = Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => pick(WORDS));
  if (rnd() < 0.7) parts.push(`07${digits(2)} ${digits(3)} ${digits(3)}`);
  if (rnd() < 0.5) parts.push(`a${digits(3)}`);
  return normalizeSearch(parts.join(' '));
}

function randomQuery() {
  const kinds = [
    () => pick(WORDS).slice(0, 1 + Math.floor(rnd() * 4)),
    () => `${pick(WORDS)} ${pick(WORDS).slice(0, 2)}`,
    () => `07${digits(1 + Math.floor(rnd() * 5))}`,
    () => `07${digits(2)} ${digits(2)}`,
    () => `${pick(WORDS)}${pick(WORDS)}`,
    () => ` ${pick(WORDS)}  ${digits(1)} `,
    () => 'zzz',
  ];
  return pick(kinds)();
}

function hayOf(keys) {
  const hay = new Haystack();
  for (const k of keys) hay.add(k);
  return hay;
}

/** Type `text` a character at a time, narrowing as the page does; each answer must be brute force's. */
function typeAndCheck(hay, order, text, { want = 100 } = {}) {
  let prev = null;
  for (let k = 0; k <= text.length; k += 1) {
    const q = normalizeSearch(text.slice(0, k));
    const scan = new Scan(hay, order, q, prev);
    scan.run(want); // the first page, as a keystroke does ...
    if (rnd() < 0.5) scan.run(Infinity); // ... and sometimes the count after the paint
    const expect = bruteForce(hay, order, q);
    assert.deepEqual(scan.matches, expect.slice(0, scan.matches.length), `first matches of ${JSON.stringify(q)}`);
    const check = new Scan(hay, order, q, prev); // the same narrowing, run to the end
    check.run();
    assert.deepEqual(check.matches, expect, `all matches of ${JSON.stringify(q)}`);
    prev = scan;
  }
  // the last scan, finished from where it stopped, agrees too
  prev.run();
  assert.deepEqual(prev.matches, bruteForce(hay, order, normalizeSearch(text)));
}

test('search matches brute force on random lists and random queries typed key by key', () => {
  for (let round = 0; round < 40; round += 1) {
    const keys = Array.from({ length: 50 + Math.floor(rnd() * 400) }, randomKey);
    const hay = hayOf(keys);
    const order = keys.map((_, i) => i).sort(() => rnd() - 0.5);
    for (let q = 0; q < 10; q += 1) typeAndCheck(hay, order, randomQuery(), { want: 1 + Math.floor(rnd() * 30) });
  }
});

test('a narrowed search equals a fresh one, and a query that does not extend the last starts over', () => {
  const keys = Array.from({ length: 2000 }, randomKey);
  const hay = hayOf(keys);
  const order = keys.map((_, i) => i);
  let prev = null;
  for (const text of ['a', 'ah', 'ahm', 'ahma', 'ahmad', 'ahmad ', 'ahmad 0', 'ahmad 07', 'ahmad 0', 'had', 'hadd', 'haddad07']) {
    const q = normalizeSearch(text);
    const scan = new Scan(hay, order, q, prev);
    scan.run(5);
    const expect = bruteForce(hay, order, q);
    scan.run();
    assert.deepEqual(scan.matches, expect, text);
    prev = scan;
  }
});

test('every word must occur, or the query without spaces occurs in the key without spaces', () => {
  const hay = hayOf(['amal haddad 0791 234 567', 'sara saleh 0780 000 001', 'ahmad zed']);
  const find = (text) => { const s = new Scan(hay, [0, 1, 2], normalizeSearch(text)); s.run(); return s.matches; };
  assert.deepEqual(find('haddad amal'), [0]);
  assert.deepEqual(find('0791234'), [0]); // a mobile typed without its spaces
  assert.deepEqual(find('amal zed'), []);
  assert.deepEqual(find(''), [0, 1, 2]);
  assert.deepEqual(find('أمل'), []);
  assert.deepEqual(find('AMAL'), [0]);
});

test('a scan stops at a deadline and resumes where it stopped', () => {
  const keys = Array.from({ length: 5000 }, randomKey);
  const hay = hayOf(keys);
  const order = keys.map((_, i) => i);
  const scan = new Scan(hay, order, normalizeSearch('a'));
  assert.equal(scan.run(Infinity, performance.now() - 1), false); // past deadline: one block of rows
  assert.ok(scan.at > 0 && scan.at < order.length);
  assert.equal(scan.run(), true);
  assert.deepEqual(scan.matches, bruteForce(hay, order, 'a'));
});

// -- orders ----------------------------------------------------------------------------------

const row = (s0, s1, card, rid) => ({ rid, card, search: `${s1} ${s0}`, sort: [s0, s1], html: `<b>${card}</b>`, bundle: 'obj/x.bin', ck: 'k' });
const packed = (rows) => pack({ v: 2, db: 'main', shard: 0, rows });

test('the default order: sort[0], sort[1], card, rid by UTF-16 code units', () => {
  const rows = [row('b', 'a', '1', '2'), row('a', 'b', '1', '1'), row('a', 'a', '2', '1'), row('a', 'a', '10', '1'),
    row('a', 'a', '10', '0'), row('\u{1F600}', '', '', ''), row('\uFF21', '', '', ''), row('A', '', '', '')];
  const sorted = rows.slice().sort(compareRows).map((r) => `${r.sort[0]}|${r.sort[1]}|${r.card}|${r.rid}`);
  // U+1F600 is the surrogates D83D DE00: before U+FF21 in UTF-16, after it in code points
  assert.deepEqual(sorted, ['A|||', 'a|a|10|0', 'a|a|10|1', 'a|a|2|1', 'a|b|1|1', 'b|a|1|2', '\u{1F600}|||', '\uFF21|||']);
});

test('rows arriving shard by shard end in the order one sort of all gives, in every order kept', () => {
  for (let round = 0; round < 20; round += 1) {
    const list = new ListRows();
    const byLen = list.addOrder('len', (a, b) => list.row(a).search.length - list.row(b).search.length || a - b);
    const all = [];
    const shards = 1 + Math.floor(rnd() * 12);
    for (let s = 0; s < shards; s += 1) {
      const batch = Array.from({ length: Math.floor(rnd() * 60) }, () => row(pick(WORDS), pick(WORDS), digits(2), digits(4)));
      if (rnd() < 0.7) batch.sort(compareRows); // writers SHOULD sort a shard; readers must not rely on it
      list.add(packed(batch));
      all.push(...batch);
      if (rnd() < 0.5) list.flush();
    }
    list.flush();
    assert.equal(list.size, all.length);
    assert.deepEqual(list.order('default').ids.map((i) => list.row(i)), all.slice().sort(compareRows));
    const lens = byLen.ids.map((i) => list.row(i).search.length);
    assert.deepEqual(lens, lens.slice().sort((a, b) => a - b));
    assert.equal(new Set(byLen.ids).size, all.length);
  }
});

test('mergeSorted keeps both lists and their order', () => {
  const cmp = (a, b) => a - b;
  assert.deepEqual(mergeSorted([1, 4, 9], [2, 3, 10], cmp), [1, 2, 3, 4, 9, 10]);
  assert.deepEqual(mergeSorted([], [2], cmp), [2]);
  assert.deepEqual(mergeSorted([5], [], cmp), [5]);
});
