"""Publishing: "Update all patient data on the server now", "Publish changes now" and
"Synchronize the server" as background jobs with live progress; the upload list, the upload
status per patient, and the target setting with a connection test.

The jobs are the CLI's own (``publish --background`` ...), started through
``publisher.background.start_job``; their progress lives in the clinic home, so the page
reads it again after a reload, and a job keeps running when the console is closed.
"""
from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, jsonify, request

from exporter import databases as home_core
from exporter import settings
from exporter.errors import ChartsealError
from publisher import background, progress, uploads

from .web import FormError, attempt, current_home, done, page, t

bp = Blueprint("publishing", __name__)

CLI_COMMANDS = ("publish", "queue", "log", "sync", "jobs", "test-target")
# The target fields of the form, in order: the settings ``config set`` writes.
TARGET_FIELDS = ("target", "endpoint_url", "region")
PAGE_ROWS = 100  # rows of the upload list and of the log per page


def _show(errors: dict[str, FormError] | None = None, status: int = 200,
          form: dict[str, str] | None = None, probe: Any = None):  # type: ignore[no-untyped-def]
    home = current_home()
    only = request.args.get("log", "all")
    only = only if only in uploads.LOG_FILTERS else "all"
    page_no = _page_number()
    errors = errors or {}
    waiting = attempt(errors, "queue", uploads.upload_list, home) or []
    log = attempt(errors, "log", uploads.upload_status, home, only) or []
    # Records the export could not publish from their rows: "which patients were not uploaded
    # correctly", beside the uploads that failed.
    problems = [] if only == "ok" else (attempt(errors, "log", uploads.export_problems, home) or [])
    pages = max(1, -(-len(log) // PAGE_ROWS))
    page_no = min(page_no, pages)  # a stale link past the end shows the last page
    first = (page_no - 1) * PAGE_ROWS
    job = background.current(home)
    return page("publishing.html", "publishing", status, errors=errors,
                job=job, job_json=_job_json(job),
                last_sync=progress.read_last(home.root, "sync"),
                waiting=waiting[:PAGE_ROWS], waiting_total=len(waiting),
                log=log[first:first + PAGE_ROWS], log_total=len(log), log_filter=only,
                problems=problems,
                page_no=page_no, pages=pages,
                form=form or {name: str(home.config.get(name) or "") for name in TARGET_FIELDS},
                default_target=(home.root / "public").as_uri(), probe=probe, when=when, who=who,
                isolate=isolate)


def who(patient: str) -> str:
    """A group of the upload list or log as the user knows it."""
    return {"(clinic)": t("publishing.group.clinic"), "(app)": t("publishing.group.app")}.get(patient, patient)


def isolate(text: str) -> str:
    """FSI ... PDI around a value put into a sentence: dates, paths and URLs keep their
    order inside an Arabic sentence."""
    return f"\u2068{text}\u2069"


def when(ts: float | None) -> str:
    return isolate(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))) if ts else ""


def clock_text(seconds: float | None) -> str:
    """A duration as H:MM:SS: the same digits in every language."""
    if seconds is None:
        return ""
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _page_number() -> int:
    text = request.args.get("page", "1")
    return max(1, int(text)) if text.isdigit() else 1


def _job_json(job: progress.JobStatus | None) -> dict[str, Any] | None:
    """What the page's script shows; the words come from the page's language."""
    if job is None:
        return None
    data = job.to_json()
    data["label_text"] = t(f"publishing.kind.{job.kind}")
    data["state_text"] = t(f"publishing.state.{job.state}")
    data["phase_text"] = t(f"publishing.phase.{job.phase}") if job.phase in PHASES else job.phase
    data["eta_text"] = t("publishing.eta", eta=clock_text(job.eta)) if job.active and job.eta is not None else ""
    data["rate_text"] = t("publishing.rate", rate=f"{job.rate:.1f}")
    counting = "publishing.keys" if job.phase == "deriving keys" else "publishing.sent"
    data["counts_text"] = t(counting, done=job.done, total=job.total) if job.total else ""
    return data


PHASES = ("starting", "exporting", "deriving keys", "queueing", "uploading", "deleting",
          "listing", "repairing", "deleting orphans", "finished")


@bp.get("/publishing")
def index():  # type: ignore[no-untyped-def]
    return _show()


@bp.get("/publishing/job.json")
def job_json():  # type: ignore[no-untyped-def]
    """Polled by the page while a job runs (and after a reload)."""
    data = _job_json(background.current(current_home()))
    if data is not None and data["active"]:
        try:
            data["waiting_text"] = t("publishing.queue_live", n=uploads.waiting_count(current_home()))
        except ChartsealError:
            data["waiting_text"] = ""
    return jsonify(data)


@bp.post("/publishing/start")
def start():  # type: ignore[no-untyped-def]
    kind = request.form.get("kind", "")
    if kind not in background.JOB_ARGS:
        return _show({"job": FormError(t("publishing.unknown_job"), "", "ValueError")}, 400)
    errors: dict[str, FormError] = {}
    attempt(errors, "job", background.start_job, current_home(), kind)
    if errors:
        return _show(errors, 409)
    return done("/publishing", "job_started", t(f"publishing.kind.{kind}"))


@bp.post("/publishing/target")
def save_target():  # type: ignore[no-untyped-def]
    form = _target_form()
    errors = _check_target_form(form)
    if errors:
        return _show(errors, 400, form)
    root = current_home().root
    home = current_home()
    for name in TARGET_FIELDS:
        if form[name] != str(home.config.get(name) or ""):
            attempt(errors, name, home_core.set_setting, root, name, form[name])
    if errors:
        return _show(errors, 400, form)
    return done("/publishing", "target_saved")


@bp.post("/publishing/test-target")
def test_target():  # type: ignore[no-untyped-def]
    """Test what the form holds (saved or not), as ``chartseal test-target URL`` does."""
    from publisher.probe import probe_target

    form = _target_form()
    errors = _check_target_form(form)
    if errors:
        return _show(errors, 400, form)
    result = attempt(errors, "target", probe_target, current_home(), form["target"] or None,
                     form["endpoint_url"] or None, form["region"] or None)
    return _show(errors, 400 if errors else 200, form, result)


def _target_form() -> dict[str, str]:
    return {name: request.form.get(name, "").strip() for name in TARGET_FIELDS}


def _check_target_form(form: dict[str, str]) -> dict[str, FormError]:
    """Every field checked before any is saved, so a bad one changes nothing."""
    errors: dict[str, FormError] = {}
    for name in TARGET_FIELDS:
        try:
            settings.parse_setting(name, form[name])
        except ChartsealError as exc:
            errors[name] = FormError(str(exc), exc.hint or t("publishing.target_hint"), type(exc).__name__)
    return errors
