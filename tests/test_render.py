"""The Jinja2 fragments and the app files: escaping, sections, languages, hashed assets."""
from __future__ import annotations

import json
import re
from datetime import date
from html.parser import HTMLParser

import pytest

from exporter import records as r
from exporter import render
from site_templates import ROOT
from site_templates import build

TODAY = date(2026, 11, 26)
XSS = "<img src=x onerror=alert(1)>"


def patient(**over) -> r.Patient:
    base = dict(
        id=7, card="AB12", first_name="Amal", surname="Haddad", birth_date=date(1980, 5, 2),
        gender="F", mobile="+961 70 123 456", phone="01 234 567",
        other={"Address": "Beirut", "Email": "amal@example.org"}, modified_at="2026-11-20T09:30:00",
        health=(r.Health("condition", "Diabetes", "type 2"), r.Health("medication", "Metformin", "500 mg"),
                r.Health("allergy", "Penicillin", "rash")),
        deals=(r.Deal(1, "Implant", 1000.0, 100.0, 50.0, 500.0, date(2026, 1, 5), False),
               r.Deal(2, "Old braces", 300.0, 0.0, 0.0, 300.0, date(2020, 3, 1), True)),
        visits=(r.Visit(1, date(2026, 10, 1), 120.5, "Cleaning", "all fine", date(2026, 12, 3), 45),
                r.Visit(2, date(2026, 11, 2), 80.0, "Filling", "", None, None)),
        appointments=(r.Appointment(1, date(2026, 12, 3), "10:30", 45, "Check-up"),),
    )
    base.update(over)
    return r.Patient(**base)


class Tags(HTMLParser):
    """Every start tag with its attributes, to assert on structure rather than text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


# -- escaping ---------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", render.LANGS)
def test_hostile_text_is_escaped_everywhere(lang):
    p = patient(first_name=XSS, surname='"><script>alert(2)</script>', mobile='" onclick="x',
                other={XSS: XSS}, visits=(r.Visit(1, TODAY, 1, XSS, XSS, None, None),),
                deals=(r.Deal(1, XSS, 1, 0, 0, 0, None, False),),
                health=(r.Health("allergy", XSS, XSS),),
                appointments=(r.Appointment(1, TODAY, "09:00", 10, XSS),))
    outputs = [
        render.patient_fragment(p, TODAY, lang),
        render.list_fragment([p], TODAY, lang),
        render.diary_day_fragment(TODAY, [(p, p.visits[0])], [(p, p.appointments[0])], {7: "a" * 32}, lang),
    ]
    for html in outputs:
        assert "<img" not in html and "<script" not in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html
        for tag, attrs in tags(html):
            assert tag not in ("img", "script", "iframe", "object")
            assert not any(name.startswith("on") for name in attrs), (tag, attrs)


def test_tel_link_keeps_only_dialable_characters():
    html = render.patient_fragment(patient(mobile='+961 (70) 123-456"><b>', phone="٠١٢٣"), TODAY, "en")
    hrefs = [a["href"] for t, a in tags(html) if t == "a"]
    assert "tel:+96170123456" in hrefs
    assert "tel:0123" in hrefs  # Arabic-Indic digits dial as ASCII
    assert render.tel_href("no number") == ""


@pytest.mark.parametrize("number, href", [
    ("+1 555 \u00b2\u00b3 1234", "tel:+15551234"),   # superscripts: isdigit() but no value
    ("\u2460\u2461 07", "tel:07"),                    # circled digits
    ("\U0001d7d8\U0001d7d9", "tel:01"),               # mathematical digits are decimal
    ("\u00b2", ""),
])
def test_tel_link_never_raises_on_unicode_digits(number, href):
    assert render.tel_href(number) == href
    html = render.patient_fragment(patient(mobile=number, phone=""), TODAY, "en")
    assert (href in html) if href else "tel:" not in html


# -- the record view ------------------------------------------------------------------------


def test_record_has_every_section_and_value():
    html = render.patient_fragment(patient(), TODAY, "en")
    for cls in ("sec-personal", "sec-health", "sec-deals", "sec-visits", "rec-foot"):
        assert f'class="sec {cls}"' in html or f'class="{cls}"' in html, cls
    assert '<section id="note-box"' in html
    # personal data, age, call link, card, last update
    assert "<bdi>Amal</bdi> <bdi>Haddad</bdi>" in html and ">Haddad<" in html
    assert 'class="age">46 ' in html
    assert 'href="tel:+96170123456"' in html
    assert "Beirut" in html and "amal@example.org" in html
    assert 'class="card-no" dir="auto">AB12<' in html
    assert "2026-11-20 09:30" in html
    # health, by kind
    for word in ("Diabetes", "Metformin", "Penicillin"):
        assert word in html
    # deals: remaining = total - deduction + tax - paid; expired ones marked
    assert 'class="remaining">450.00<' in html
    assert 'class="total">1,000.00<' in html
    assert 'class="card deal expired"' in html and 'class="card deal current"' in html
    assert html.index("Implant") < html.index("Old braces")  # current first
    # visits newest first, with next visit and its duration
    assert html.index("2026-11-02") < html.index("2026-10-01")
    assert 'class="v-next">2026-12-03 · 45 ' in html
    assert 'class="v-paid">120.50<' in html
    assert "(2)" in html  # visit count
    assert "Check-up" in html  # upcoming appointment


def test_labels_carry_i18n_keys_present_in_every_language():
    html = render.patient_fragment(patient(), TODAY, "en")
    keys = set(re.findall(r'data-i18n(?:-label)?="([^"]+)"', html))
    assert {"health", "deals", "visits", "updated", "card", "deal.remaining", "visit.next"} <= keys
    for lang in render.LANGS:
        missing = keys - set(render.strings(lang))
        assert not missing, (lang, missing)


def test_arabic_labels_and_unknowns():
    p = patient(birth_date=None, gender="", mobile="", phone="", other={}, health=(), deals=(),
                visits=(), appointments=(), modified_at="")
    html = render.patient_fragment(p, TODAY, "ar")
    assert "الصحة" in html and "الاتفاقات" in html and "الزيارات" in html
    assert "آخر تحديث لهذا الملف" in html
    assert "tel:" not in html
    assert 'av-unknown g-x' in html
    assert 'data-i18n="visits.none"' in html and 'data-i18n="deals.none"' in html


def test_i18n_files_have_the_same_keys():
    tables = {lang: json.loads((ROOT / "i18n" / f"{lang}.json").read_text("utf-8")) for lang in render.LANGS}
    assert set(tables["en"]) == set(tables["ar"])
    assert all(isinstance(v, str) and v for t in tables.values() for v in t.values())


def test_unknown_language_is_refused():
    with pytest.raises(render.RenderError, match="unknown language 'fr'"):
        render.patient_fragment(patient(), TODAY, "fr")


# -- list and diary ---------------------------------------------------------------------------


@pytest.mark.parametrize("birth, group", [
    (date(2020, 1, 1), "child"), (date(2013, 11, 27), "child"), (date(2013, 11, 26), "teen"),
    (date(2008, 11, 27), "teen"), (date(2008, 11, 26), "adult"), (date(1966, 11, 27), "adult"),
    (date(1966, 11, 26), "senior"), (None, "unknown"), (date(2030, 1, 1), "unknown"),
])
def test_age_groups_at_the_boundaries(birth, group):
    assert render.age_group(render.age(birth, TODAY)) == group


def test_list_keeps_the_given_order_and_indexes_rows():
    ps = [patient(id=i, first_name=f"P{i}", card=f"C{i}", gender=g)
          for i, g in zip(range(5), ["M", "F", "", "M", "F"])]
    ps.reverse()
    html = render.list_fragment(ps, TODAY, "en")
    assert html.startswith('<ol class="plist">')
    items = [a for t, a in tags(html) if t == "li"]
    assert [a["data-i"] for a in items] == ["0", "1", "2", "3", "4"]
    names = [re.sub(r"<[^>]+>", "", n) for n in re.findall(r'class="pname" dir="[a-z]+">(.*?)</span>', html)]
    assert names == [p.full_name for p in ps]
    assert html.count("g-M") == 2 and html.count("g-F") == 2 and html.count("g-x") == 1
    assert '<bdi class="pmob" dir="ltr">+961 70 123 456</bdi>' in html
    assert render.list_fragment([], TODAY, "en") == '<ol class="plist">\n</ol>'


def test_diary_day_is_one_table_with_a_totals_row():
    a, b = patient(id=1, first_name="Ali"), patient(id=2, first_name="Bea")
    visits = [(a, a.visits[0]), (b, b.visits[1])]
    appts = [(b, r.Appointment(9, TODAY, "15:00", 30, "X")), (a, r.Appointment(8, TODAY, "08:15", 20, "Y"))]
    html = render.diary_day_fragment(TODAY, visits, appts, {1: "1" * 32}, "en", "SAR")
    assert html.count("<table") == 1 and "<thead>" in html and "<tfoot>" in html
    heads = re.findall(r'<th scope="col"[^>]*><span data-i18n="([^"]+)"', html)
    assert heads == ["appt.time", "diary.patient", "diary.what", "visit.paid"]
    assert html.count('<tr class="d-appt">') == 2 and html.count('<tr class="d-visit">') == 2
    assert html.count('href="#patient/' + "1" * 32 + '"') == 2
    assert "#patient/" + "2" * 32 not in html  # patient 2 has no rid: plain text, no link
    assert html.index("08:15") < html.index("15:00") < html.index('class="d-visit"')  # by time, then visits
    total = sum(v.paid for _, v in visits)
    foot = html[html.index("<tfoot>"):]
    assert f'class="c-paid d-sum">{total:,.2f}\u00a0SAR<' in foot
    assert 'class="d-nvisits">2<' in foot and 'class="d-nappts">2<' in foot
    assert render.diary_day_fragment(TODAY, [], [], {}, "ar") == '<div class="diary-day" data-day="2026-11-26">\n</div>'


@pytest.mark.parametrize("first, surname, want", [
    ("Amal", "Haddad", "ltr"), ("سامي", "الخطيب", "rtl"), ("سامي", "Smith", "rtl"),
    ("123", "Zed", "ltr"), ("", "", "auto"), ("\u202e", "٣", "auto"),
])
def test_a_name_of_several_isolates_carries_the_direction_of_its_first_letter(first, surname, want):
    """dir="auto" does not look inside <bdi>: a name made of isolates needs its direction set,
    or "Amal Haddad" reads "Haddad Amal" in an Arabic page."""
    p = patient(first_name=first, surname=surname)
    assert render.text_dir(p.full_name) == want
    assert f'<h2 class="rec-name" dir="{want}">' in render.patient_fragment(p, TODAY, "ar")
    assert f'class="pname" dir="{want}">' in render.list_row(p, 3)


# -- app files --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files():
    return render.app_files("en", ["http://127.0.0.1:9999"])


def test_app_files_have_pages_and_hashed_assets(files):
    assert {"index.html", "doctor/index.html", "patient/index.html"} <= set(files)
    assets = [n for n in files if n.startswith("assets/")]
    assert all(re.fullmatch(r"assets/[A-Za-z0-9_-]+\.[0-9a-f]{8}\.[a-z]+", n) for n in assets), assets
    stems = {n.split("/")[1].split(".")[0] for n in assets}
    assert {"libsodium-sumo", "libsodium-wrappers", "crypto", "doctor", "patient", "kdf-worker",
            "app", "strings"} <= stems


def test_pages_reference_only_existing_hashed_assets(files):
    for page in ("index.html", "doctor/index.html", "patient/index.html"):
        html = files[page].decode()
        refs = re.findall(r'(?:src|href)="(?:\.\./)?(assets/[^"]+)"', html)
        assert refs and all(ref in files for ref in refs), (page, refs)
        assert "<script>" not in html and " style=" not in html and "onclick" not in html


def test_assets_refer_to_each_other_by_hashed_name(files):
    names = {n.split("/", 1)[1] for n in files if n.startswith("assets/")}
    for name in names:
        if not name.endswith((".js", ".mjs", ".css")):
            continue
        text = files["assets/" + name].decode()
        for ref in re.findall(r"""["'(]\./([A-Za-z0-9_.-]+\.(?:js|mjs|css|svg))["')]""", text):
            assert ref in names, (name, ref)
    wrappers = next(files["assets/" + n] for n in names if n.startswith("libsodium-wrappers."))
    assert b'from"libsodium-sumo"' not in wrappers  # the bare specifier was made relative


def test_csp_meta_tag(files):
    html = files["doctor/index.html"].decode()
    m = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html)
    policy = m.group(1).replace("&#39;", "'")
    assert "default-src 'self'" in policy and "object-src 'none'" in policy
    assert "base-uri 'none'" in policy and "'unsafe-inline'" not in policy
    assert "connect-src 'self' http://127.0.0.1:9999" in policy
    with pytest.raises(build.AssetError):
        build.csp(["http://x; script-src *"])


def test_pages_in_arabic_are_right_to_left():
    html = render.app_files("ar")["patient/index.html"].decode()
    assert '<html lang="ar" dir="rtl">' in html
    assert "رقم البطاقة" in html


def test_hashes_follow_content():
    before = {n for n in render.app_files("en") if n.startswith("assets/")}
    tables = {lang: dict(render.strings(lang)) for lang in render.LANGS}
    tables["en"] = {**tables["en"], "logout": "Sign out"}
    changed = set(build.build_assets(tables).files)
    # strings.js changed, so did every module that imports it, directly or not
    diff = {n.split(".")[0] for n in changed - {n.split("/", 1)[1] for n in before}}
    assert {"strings", "i18n", "ui", "doctor", "patient"} <= diff
    assert "libsodium-sumo" not in diff and "crypto" not in diff


def test_missing_node_modules_says_run_npm_ci(monkeypatch, tmp_path):
    monkeypatch.setenv("CHARTSEAL_NODE_MODULES", str(tmp_path))
    with pytest.raises(build.AssetError, match="npm ci"):
        render.app_files("en")


def test_wrong_libsodium_version_is_refused(monkeypatch, tmp_path):
    for pkg in ("libsodium-wrappers-sumo", "libsodium-sumo"):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "package.json").write_text('{"version": "0.7.0"}')
    monkeypatch.setenv("CHARTSEAL_NODE_MODULES", str(tmp_path))
    with pytest.raises(build.AssetError, match="expected 0.8.4"):
        render.app_files("en")


def test_reference_cycle_is_an_error():
    with pytest.raises(build.AssetError, match="cycle"):
        build._order({"a.js": b'import "./b.js";', "b.js": b"import './a.js';"})


def test_optional_notes_module_is_loaded_only_when_present():
    assert b"loadNotes = null" in build.features_module({"app.js": b""})
    with_notes = build.features_module({"notes.js": b"export function attach() {}"})
    assert b"import('./notes.js')" in with_notes
    order = build._order({"features.js": with_notes, "notes.js": b""})
    assert order == ["notes.js", "features.js"]  # hashed first, so the import is rewritten
