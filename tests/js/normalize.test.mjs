// crypto.js's normalizations against tests/vectors/normalize.json (written from
// exporter/normalize.py, which the Python tests check against the same file).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';

import { normalizeCard, normalizeSearch, normalizeUser, FormatError } from '../../site_templates/static/js/crypto.js';

const FILE = new URL('../vectors/normalize.json', import.meta.url);

// The file is a list of {in, out} search cases, or an object of such lists keyed by
// "search", "card" and "user".
function cases() {
  const doc = JSON.parse(readFileSync(FILE, 'utf8'));
  return Array.isArray(doc) ? { search: doc } : doc;
}

const FN = { search: normalizeSearch, card: normalizeCard, user: normalizeUser };

test('normalize.json vectors', { skip: existsSync(FILE) ? false : 'tests/vectors/normalize.json not written yet' }, () => {
  const doc = cases();
  assert.ok(doc.search && doc.search.length >= 10, 'expected at least 10 search cases');
  for (const [kind, rows] of Object.entries(doc)) {
    if (!Array.isArray(rows)) continue;
    const fn = FN[kind];
    assert.ok(fn, `unknown normalization ${kind}`);
    for (const row of rows) assert.equal(fn(row.in), row.out, `${kind}(${JSON.stringify(row.in)})`);
  }
});

test('card and user rules of FORMAT.md 2', () => {
  assert.equal(normalizeCard(' ab 12 '), 'AB12');
  assert.equal(normalizeCard('x\u00a0y\u3000z\ufeff'), 'XYZ');
  assert.equal(normalizeUser('  Dr.Amal\u2003'), 'dr.amal');
  assert.equal(normalizeUser('E\u0301MILE'), '\u00e9mile');
  // U+0085 and U+180E are white space to one language and not the other: neither rule
  // treats them as white space.
  assert.equal(normalizeUser('\u0085a\u180e'), '\u0085a\u180e');
});

test('search folds', () => {
  assert.equal(normalizeSearch('  أحمـــد\t\n ١٢٣  Éric '), 'احمد 123 eric');
  assert.equal(normalizeSearch('فاطمة مصطفى ۰۵۹۹'), 'فاطمه مصطفي 0599');
  assert.equal(normalizeSearch('مُحَمَّد ٱلرَّحْمٰن'), 'محمد الرحمن');
  assert.equal(normalizeSearch(''), '');
});

test('non-text input is a FormatError', () => {
  for (const fn of Object.values(FN)) assert.throws(() => fn(null), FormatError);
});
