"""patients."""
from __future__ import annotations

from flask import Blueprint

from .web import page

bp = Blueprint("patients", __name__)
CLI_COMMANDS = ('patient-page enable', 'patient-page disable', 'patient-page password')


@bp.get("/patients")
def index():  # type: ignore[no-untyped-def]
    return page("patients.html", "patients")
