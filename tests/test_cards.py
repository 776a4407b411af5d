"""Patient access cards (issue 14): the PDF read back, its QR codes decoded, the CLI."""
from __future__ import annotations

import os
import stat

import pytest
from click.testing import CliRunner

from cards_kit import glyph_runs, page_images, page_texts, qr_texts
from cli import main
from conftest import WEAK, keys, make_clinic_db
from exporter import access, card_pdf, cards, keystore, settings
from exporter.errors import ChartsealError, SettingError
from exporter.home import Database, create_home, load_home
from exporter.site import export_site
from siteread import NoDoor, Site

SITE = "https://records.example-clinic.org"
HOSTILE = "<img src=x onerror=alert(1)> Zed"


@pytest.fixture
def ready(home):
    """The conftest clinic, exported, with a site address and a name."""
    home.config.update(site_url=SITE, clinic_name="عيادة النور Al Noor Dental")
    home.save()
    export_site(home)
    return load_home(home.root)


def passwords(home) -> dict[str, str]:
    conn = keys(home)
    try:
        return {card: access.patient_password(conn, card) for card in ("1001", "1002", "1003")}
    finally:
        conn.close()


def url(home, card, pw):
    return f"{SITE}/patient/?c={home.clinic_id}&k={card}#p={pw}"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_every_qr_code_opens_its_patient_and_the_text_is_all_there(ready):
    pw = passwords(ready)
    pdf = cards.render_pdf(ready, all=True)
    [image] = page_images(pdf)
    assert qr_texts(image) == [url(ready, c, pw[c]) for c in ("1001", "1002", "1003")]
    [text] = page_texts(pdf)
    for needle in ("Al Noor Dental", "Amal Haddad", HOSTILE, "سامي الخطيب", "Card number",
                   f"{SITE}/patient/?c={ready.clinic_id}", *pw.values(), "1001", "1002", "1003"):
        assert needle in text, needle
    # the printed address carries no secret; only the QR code holds the password
    assert "#p=" not in text and "k=1001" not in text


def test_single_puts_one_card_on_each_card_size_page(ready):
    pdf = cards.render_pdf(ready, ["1003", "1001"], single=True)
    images = page_images(pdf, dpi=300)
    assert len(images) == 2
    from pypdf import PdfReader
    import io
    for page in PdfReader(io.BytesIO(pdf)).pages:  # ISO/IEC 7810 ID-1, in points
        assert (round(float(page.mediabox.width) / 72 * 25.4, 1),
                round(float(page.mediabox.height) / 72 * 25.4, 1)) == (85.6, 54.0)
    pw = passwords(ready)
    assert [qr_texts(i) for i in images] == [[url(ready, "1003", pw["1003"])],
                                             [url(ready, "1001", pw["1001"])]]


def test_arabic_card_is_shaped_and_right_to_left(ready):
    name = "سامي الخطيب"
    pdf = cards.render_pdf(ready, ["1003"], lang="ar", single=True)
    runs = glyph_runs(pdf)
    # Glyphs are drawn left to right, so a right-to-left word is drawn last letter first.
    [run] = [r for r in runs if r.text == name[::-1]]
    assert run.font == "NotoSansArabic"
    # Shaping: 'ي' is medial in الخطيب and final in سامي, 'ا' final and isolated: each is
    # drawn with two different glyphs (contextual forms). Unshaped text uses one per letter.
    for letter in "يا":
        assert len({cid for cid, ch in zip(run.cids, run.text) if ch == letter}) == 2, letter
    assert "رقم البطاقة"[::-1] in "".join(r.text for r in runs)  # the labels too
    [text] = page_texts(pdf)
    assert name in text and "رقم البطاقة" in text and "كلمة المرور" in text
    # the layout is mirrored: the QR code on the left, the labels on the right
    [image] = page_images(pdf)
    [code] = zxing_positions(image)
    assert code < image.size[0] / 2
    [image_en] = page_images(cards.render_pdf(ready, ["1003"], single=True))
    assert zxing_positions(image_en)[0] > image_en.size[0] / 2


def zxing_positions(image):
    import zxingcpp
    return [b.position.top_left.x for b in zxingcpp.read_barcodes(image)]


def test_without_shaping_the_same_name_would_use_one_glyph_per_letter(ready):
    """The shaping check above can fail: fpdf2 with shaping off draws isolated forms."""
    from fpdf import FPDF

    pdf = FPDF(unit="mm", format=(85.6, 54))
    pdf.add_font("arabic", "", card_pdf._font_path("arabic"))
    pdf.add_page()
    pdf.set_font("arabic", "", 12)
    pdf.cell(70, 8, "سامي الخطيب")
    run = next(r for r in glyph_runs(bytes(pdf.output())) if "ي" in r.text)
    assert len({cid for cid, ch in zip(run.cids, run.text) if ch == "ي"}) == 1


def test_a4_pages_hold_ten_cards_each(tmp_path):
    rows = [dict(id=i, card=f"C{i:03}", first_name=f"Name{i}", surname="Test",
                 modified_at="2026-11-01T10:00:00") for i in range(1, 13)]
    db = make_clinic_db(tmp_path / "many.sqlite", rows)
    h = create_home(tmp_path / "home", WEAK)
    conn = keystore.create(h.keys_path)
    access.init_keys(conn)
    conn.close()
    h.databases["main"] = Database("main", db)
    h.config["site_url"] = SITE
    h.save()
    h = load_home(h.root)
    export_site(h)
    pdf = cards.render_pdf(h, all=True)
    images = page_images(pdf, dpi=150)
    found = [qr_texts(i) for i in images]
    assert [len(f) for f in found] == [10, 2]
    assert [u.split("&k=")[1].split("#")[0] for f in found for u in f] == [r["card"] for r in rows]


def test_hostile_name_prints_as_plain_text(tmp_path):
    evil = "<script>alert(1)</script>\u202eevil\x07\nname 😀 %PDF-1.4 ) Tj ET"
    db = make_clinic_db(tmp_path / "e.sqlite", [dict(id=1, card="666", first_name=evil,
                                                     surname="(x", modified_at="2026-11-01")])
    h = create_home(tmp_path / "home", WEAK)
    conn = keystore.create(h.keys_path)
    access.init_keys(conn)
    conn.close()
    h.databases["main"] = Database("main", db)
    h.config.update(site_url=SITE, clinic_name="<b>Clinic</b>")
    h.save()
    h = load_home(h.root)
    export_site(h)
    pdf = cards.render_pdf(h, ["666"], single=True)
    [text] = page_texts(pdf)
    # markup stays text; the bidi override and control characters are gone; a character no
    # bundled font has prints as '?', not as nothing
    assert "<script>alert(1)</script>evil name ? %PDF-1.4 ) Tj ET (x" in text
    assert "\u202e" not in text and "\x07" not in text
    assert "<b>Clinic</b>" in text
    assert len(page_images(pdf)) == 1


def test_printable_is_one_line_and_bounded():
    assert card_pdf.printable("a\u202bb\u2066c\r\nd\te", 100) == "abc d e"
    assert card_pdf.printable("x" * 500) == "x" * 120


def test_missing_site_url_is_a_clear_error(home, tmp_path):
    export_site(home)
    out = tmp_path / "cards.pdf"
    result = run("patient-page", "card", "1001", "--out", out, "--home", home.root)
    assert result.exit_code == 1
    assert "error: the site's public address is not set" in result.output
    assert "hint: chartseal config set site_url" in result.output
    assert not out.exists() and "Traceback" not in result.output


@pytest.mark.parametrize("args, message", [
    (["9999"], "no exported patient with card '9999'"),
    (["1001", "--all"], "name the cards to print, or --all, not both"),
    ([], "no card named"),
    (["1001", "--db", "nope"], "no database named 'nope'"),
])
def test_bad_requests_print_nothing_and_change_nothing(ready, tmp_path, args, message):
    before = passwords(ready)
    out = tmp_path / "cards.pdf"
    result = run("patient-page", "card", *args, "--new-password", "--out", out, "--home", ready.root)
    assert result.exit_code == 1 and message in result.output, result.output
    assert "hint: " in result.output
    assert not out.exists() and list(tmp_path.glob(".cards*")) == []
    assert passwords(ready) == before


def test_one_unprintable_card_stops_the_whole_batch(ready):
    conn = keys(ready)
    access.set_patient_page(conn, "1002", False)
    before = {c: access.patient_password(conn, c) for c in ("1001", "1003")}
    with pytest.raises(cards.CardError, match="page of card '1002' is off"):
        cards.render_pdf(ready, ["1001", "1002", "1003"], new_password=True)
    assert {c: access.patient_password(conn, c) for c in ("1001", "1003")} == before
    # --all leaves out the patients whose page is off
    assert len(qr_texts(page_images(cards.render_pdf(ready, all=True))[0])) == 2
    conn.execute("UPDATE patients SET password = '' WHERE card = '1003'")
    conn.commit()
    conn.close()
    with pytest.raises(cards.CardError, match="holds no password for card '1003'") as err:
        cards.render_pdf(ready, ["1001", "1003"])
    assert "--new-password" in err.value.hint
    assert cards.render_pdf(ready, ["1003"], new_password=True).startswith(b"%PDF")


def test_patient_pages_off_is_refused(ready):
    ready.config["patient_pages"] = False
    with pytest.raises(cards.CardError, match="patient pages are off"):
        cards.render_pdf(ready, ["1001"])


def test_new_password_voids_the_old_card_after_publish(ready, tmp_path):
    old = passwords(ready)["1001"]
    Site(ready.site_dir, ready.clinic_id).patient("1001", old)  # the old card opens
    out = tmp_path / "cards.pdf"
    result = run("patient-page", "card", "1001", "--new-password", "--out", out, "--home", ready.root)
    assert result.exit_code == 0, result.output
    assert "stop working at the next publish" in result.output
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    [link] = qr_texts(page_images(out.read_bytes())[0])
    new = link.split("#p=")[1]
    assert new != old and new == passwords(ready)["1001"]
    # the generated form: groups of four, without the look-alikes 0/o and 1/l
    assert all(len(g) == 4 and not set(g) & set("01lo") for g in new.split("-"))
    export_site(load_home(ready.root))
    site = Site(ready.site_dir, ready.clinic_id)
    with pytest.raises(NoDoor):
        site.patient("1001", old)
    assert site.patient("1001", new)["card"] == "1001"


def test_cli_arabic_and_language_default(ready, tmp_path):
    out = tmp_path / "ar.pdf"
    result = run("patient-page", "card", "1001", "1003", "--lang", "ar", "--out", out,
                 "--home", ready.root)
    assert result.exit_code == 0, result.output
    assert "keep it private" in result.output
    assert "كلمة المرور" in page_texts(out.read_bytes())[0]
    bad = run("patient-page", "card", "1001", "--lang", "fr", "--out", out, "--home", ready.root)
    assert bad.exit_code == 2


def test_unwritable_out_is_a_clear_error_before_any_password_changes(ready, tmp_path):
    before = passwords(ready)
    result = run("patient-page", "card", "1001", "--new-password", "--out",
                 tmp_path / "no" / "such" / "c.pdf", "--home", ready.root)
    assert result.exit_code == 1 and "error: cannot write" in result.output
    assert "hint: choose a writable folder for --out" in result.output
    assert passwords(ready) == before
    with pytest.raises(cards.CardError, match="cannot write"):  # the write itself, too
        cards.write_pdf(tmp_path / "missing" / "c.pdf", b"%PDF-")


def test_settings_are_validated():
    assert settings.parse_setting("site_url", "https://a.example/x/") == "https://a.example/x"
    assert settings.parse_setting("clinic_name", "  Al   Noor ") == "Al Noor"
    for name, value in [("site_url", "ftp://a"), ("site_url", "https://a/?c=1"),
                        ("site_url", "https://" + "a" * 100), ("clinic_name", "a\x07b"),
                        ("clinic_name", "x" * 81)]:
        with pytest.raises(SettingError):
            settings.parse_setting(name, value)


def test_site_json_carries_the_clinic_name_only_when_set(ready, home):
    import json
    info = json.loads((ready.site_dir / "c" / ready.clinic_id / "site.json").read_text())
    assert info["clinic_name"] == "عيادة النور Al Noor Dental"
    ready.config["clinic_name"] = ""
    export_site(ready)
    info = json.loads((ready.site_dir / "c" / ready.clinic_id / "site.json").read_text())
    assert "clinic_name" not in info


def test_card_url_escapes_what_it_carries():
    assert cards.card_url("https://x.org/", "1234567890", "A B/7", "p#q&r") == \
        "https://x.org/patient/?c=1234567890&k=A%20B%2F7#p=p%23q%26r"
    assert issubclass(cards.CardError, ChartsealError)


def test_arabic_sheet_runs_from_the_right_and_latin_names_keep_their_order(ready):
    pdf = cards.render_pdf(ready, all=True, lang="ar")
    links = qr_texts(page_images(pdf)[0])  # top to bottom, left to right
    assert [u.split("&k=")[1].split("#")[0] for u in links] == ["1002", "1001", "1003"]
    # a Latin name on an Arabic card reads as written ("<img ... Zed", not "img ... Zed>")
    [text] = page_texts(pdf)
    assert HOSTILE in text


def test_a_password_too_long_for_the_card_is_refused_not_cut(ready, tmp_path):
    conn = keys(ready)
    long_pw = "correct horse battery staple and then some more words"
    access.set_patient_password(conn, "1001", long_pw, weak_ok=True)
    conn.close()
    out = tmp_path / "c.pdf"
    result = run("patient-page", "card", "1001", "--out", out, "--home", ready.root)
    assert result.exit_code == 1 and not out.exists()
    assert "error: the password of card '1001' is too long to print" in result.output
    assert "hint: give it a generated password with --new-password" in result.output
    # a chosen password that fits prints whole, shrunk if need be
    conn = keys(ready)
    access.set_patient_password(conn, "1001", "Wm8-Wm8-Wm8-Wm8-Wm8-Wm8", weak_ok=True)
    conn.close()
    [link] = qr_texts(page_images(cards.render_pdf(ready, ["1001"], single=True))[0])
    assert link.endswith("#p=Wm8-Wm8-Wm8-Wm8-Wm8-Wm8")
    assert "Wm8-Wm8-Wm8-Wm8-Wm8-Wm8" in page_texts(cards.render_pdf(ready, ["1001"]))[0]


def test_text_after_a_name_in_the_fallback_font_keeps_its_own_font(tmp_path):
    """A long Latin name shrunk to the labels' size on an Arabic card: the label after it
    must still be drawn with the Arabic font (fpdf2 would reuse the name's font)."""
    db = make_clinic_db(tmp_path / "l.sqlite", [dict(
        id=1, card="77", first_name="Bartholomew-Alexander Maximilian Fitzgerald-Montgomery",
        surname="de la Cruz y Villanueva", modified_at="2026-11-01")])
    h = create_home(tmp_path / "home", WEAK)
    conn = keystore.create(h.keys_path)
    access.init_keys(conn)
    conn.close()
    h.databases["main"] = Database("main", db)
    h.config.update(site_url=SITE, clinic_name="مركز الدكتورة أمل حداد لطب الأسنان التخصصي")
    h.save()
    h = load_home(h.root)
    export_site(h)
    pdf = cards.render_pdf(h, ["77"], lang="ar", single=True)
    drawn = "".join(r.text for r in glyph_runs(pdf))
    assert "رقم البطاقة"[::-1] in drawn and "كلمة المرور"[::-1] in drawn
    [text] = page_texts(pdf)
    assert "رقم البطاقة" in text and "Bartholomew-Alexander" in text and "…" in text
