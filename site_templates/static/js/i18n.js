// UI strings: one JSON file per language (site_templates/i18n/), shared with Jinja2.
// Fragments rendered at export time carry data-i18n keys, so switching language here
// relabels decrypted records too without re-rendering their data.
import STRINGS from './strings.js';

const RTL = new Set(['ar']);
const PREF = 'chartseal.lang'; // a UI preference, not a secret: sessionStorage is fine
let lang = STRINGS[document.documentElement.lang] ? document.documentElement.lang : 'en';

export function current() { return lang; }

export function t(key) {
  const table = STRINGS[lang] || {};
  return table[key] ?? STRINGS.en[key] ?? key;
}

/** Relabel every element under `root` that carries a data-i18n* key. */
export function apply(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', t(el.dataset.i18nLabel));
  for (const el of root.querySelectorAll('[data-i18n-ph]')) el.setAttribute('placeholder', t(el.dataset.i18nPh));
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.setAttribute('title', t(el.dataset.i18nTitle));
}

export function setLang(code, { remember = false } = {}) {
  if (!STRINGS[code]) return;
  lang = code;
  const html = document.documentElement;
  html.lang = code;
  html.dir = RTL.has(code) ? 'rtl' : 'ltr';
  apply(document);
  if (remember) {
    try { sessionStorage.setItem(PREF, code); } catch { /* storage may be disabled */ }
  }
  document.dispatchEvent(new CustomEvent('chartseal:lang', { detail: { lang: code } }));
}

/** The clinic's language, unless the user picked one in this tab. */
export function adoptClinicLang(code) {
  let chosen = null;
  try { chosen = sessionStorage.getItem(PREF); } catch { /* ignore */ }
  setLang(chosen && STRINGS[chosen] ? chosen : code);
}

/** Wire the language button: it cycles through the languages there are strings for. */
export function wireSwitch(button) {
  let chosen = null;
  try { chosen = sessionStorage.getItem(PREF); } catch { /* ignore */ }
  if (chosen && STRINGS[chosen]) setLang(chosen);
  button.addEventListener('click', () => {
    const codes = Object.keys(STRINGS).sort();
    setLang(codes[(codes.indexOf(lang) + 1) % codes.length], { remember: true });
  });
}

const money = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
let currency = '';

/** The clinic's `currency` from site.json (FORMAT.md 4), written after every amount. */
export function setCurrency(code) { currency = typeof code === 'string' ? code.trim() : ''; }

/** Same format as the exporter's `money` filter, so totals read alike everywhere. */
export function formatMoney(value) {
  const text = money.format(Number(value) || 0);
  return currency ? `${text}\u00a0${currency}` : text;
}
