// crypto.js's normalizations against tests/vectors/normalize.json (hand-written answers of
// FORMAT.md 2 and 6.2, which exporter/normalize.py is checked against too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { normalizeCard, normalizeSearch, normalizeUser, FormatError } from '../../site_templates/static/js/crypto.js';

const V = JSON.parse(readFileSync(new URL('../vectors/normalize.json', import.meta.url), 'utf8'));
const FN = { search: normalizeSearch, card: normalizeCard, user: normalizeUser };
const cp = (hex) => String.fromCodePoint(parseInt(hex, 16));

test('normalize.json covers every rule', () => {
  assert.ok(V.search.length >= 50 && V.card.length >= 15 && V.user.length >= 8);
  assert.equal(V.white_space.length, 25);
  assert.equal(V.invisible.length, 23);
});

for (const kind of Object.keys(FN)) {
  test(`normalize.json ${kind} vectors, and each answer is a fixed point`, () => {
    for (const row of V[kind]) {
      assert.equal(FN[kind](row.in), row.out, `${kind}(${JSON.stringify(row.in)})`);
      assert.equal(FN[kind](row.out), row.out, `${kind}(${JSON.stringify(row.out)}) again`);
    }
  });
}

test('white space: exactly the listed set, in card, user and search', () => {
  for (const hex of V.white_space) {
    const ws = cp(hex);
    assert.equal(normalizeCard(`${ws}a${ws}1${ws}`), 'A1', hex);
    assert.equal(normalizeUser(`${ws}A${ws}`), 'a', hex);
    if (!V.invisible.includes(hex)) assert.equal(normalizeSearch(`${ws}A${ws}${ws}b${ws}`), 'a b', hex);
  }
  // white space to Python's isspace(), or to older Unicode data, but not to the format
  for (const ch of ['\u0085', '\u001c', '\u001d', '\u001e', '\u001f', '\u180e', '\u200b']) {
    assert.equal(normalizeCard(`a${ch}b`), `A${ch}B`);
    assert.equal(normalizeUser(`${ch}a`), `${ch}a`);
  }
});

test('invisible controls are removed from search keys only', () => {
  for (const hex of V.invisible) {
    const ch = cp(hex);
    assert.equal(normalizeSearch(`${ch}A${ch}b${ch}`), 'ab', hex);
  }
});

test('search folds', () => {
  assert.equal(normalizeSearch('  أحمـــد\t\n ١٢٣  Éric '), 'احمد 123 eric');
  assert.equal(normalizeSearch('فاطمة مصطفى ۰۵۹۹'), 'فاطمه مصطفي 0599');
  assert.equal(normalizeSearch('مُحَمَّد ٱلرَّحْمٰن'), 'محمد الرحمن');
  assert.equal(normalizeSearch('Σ ς σ'), 'σ σ σ');
  assert.equal(normalizeSearch(''), '');
});

test('non-text input is a FormatError', () => {
  for (const fn of Object.values(FN)) assert.throws(() => fn(null), FormatError);
});
