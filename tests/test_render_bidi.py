"""Every value from the clinic database sits in its own bidi isolate in every fragment, so a
right-to-left override (U+202E) typed into one field cannot reorder the fields beside it."""
from __future__ import annotations

from datetime import date
from html.parser import HTMLParser

import pytest

from exporter import records as r
from exporter import render

TODAY = date(2026, 11, 26)
RLO = "\u202e"
VOID = {"br", "img", "input", "meta", "link", "hr", "wbr"}


def hostile(tag: str) -> str:
    return f"{RLO}{tag}-x"


class Isolation(HTMLParser):
    """For each text holding a hostile value: is its innermost element an isolate?"""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, dict]] = []
        self.found: list[tuple[str, bool]] = []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.stack.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        if RLO in data:
            tag, attrs = self.stack[-1]
            self.found.append((data.strip(), tag == "bdi" or "dir" in attrs))


def isolated(html: str) -> dict[str, bool]:
    parser = Isolation()
    parser.feed(html)
    return dict(parser.found)


FIELDS = ("first", "sur", "mobile", "phone", "address", "visit-action", "visit-notes", "deal",
          "health-name", "health-detail", "appt-reason")


def patient() -> r.Patient:
    h = hostile
    return r.Patient(
        id=7, card="AB12", first_name=h("first"), surname=h("sur"), birth_date=date(1980, 5, 2),
        gender="F", mobile=h("mobile"), phone=h("phone"), other={"address": h("address")},
        modified_at="2026-11-20T09:30:00",
        health=(r.Health("allergy", h("health-name"), h("health-detail")),),
        deals=(r.Deal(1, h("deal"), 1.0, 0.0, 0.0, 0.0, None, False),),
        visits=(r.Visit(1, TODAY, 1.0, h("visit-action"), h("visit-notes"), None, None),),
        appointments=(r.Appointment(1, TODAY, "10:00", 30, h("appt-reason")),),
    )


@pytest.mark.parametrize("lang", render.LANGS)
def test_every_value_is_isolated_in_the_record(lang):
    found = isolated(render.patient_fragment(patient(), TODAY, lang))
    assert {k.split("-x")[0].lstrip(RLO) for k in found} == set(FIELDS)
    assert all(found.values()), [k for k, ok in found.items() if not ok]


def test_every_value_is_isolated_in_the_list_and_the_diary():
    p = patient()
    row = render.list_fragment([p], TODAY, "en")
    day = render.diary_day_fragment(TODAY, [(p, p.visits[0])], [(p, p.appointments[0])],
                                    {7: "a" * 32}, "en")
    found = {**isolated(row), **isolated(day)}
    assert {k.split("-x")[0].lstrip(RLO) for k in found} == {"first", "sur", "mobile",
                                                             "visit-action", "appt-reason"}
    assert all(found.values()), [k for k, ok in found.items() if not ok]


def test_first_name_and_surname_are_isolated_from_each_other():
    html = render.list_fragment([patient()], TODAY, "en")
    assert f"<bdi>{RLO}first-x</bdi> <bdi>{RLO}sur-x</bdi>" in html
