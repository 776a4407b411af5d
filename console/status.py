"""Status, the landing page: clinic ID, the service, the last publish, waiting and failed uploads."""
from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, jsonify

from publisher import progress, service_control, service_install
from publisher.service_status import read_status
from publisher.uploads import upload_list, upload_status

from .web import FormError, attempt, current_home, done, page, t, unread_notes

bp = Blueprint("status", __name__)
CLI_COMMANDS = ("service status", "service start", "service stop", "service install",
                "service uninstall")


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else ""


def overview() -> dict[str, Any]:
    """What the Status page shows, from the same files `service status`, `queue` and `log` read."""
    home = current_home()
    errors: dict[str, FormError] = {}
    st = read_status(home.root)
    plan = attempt(errors, "install", service_install.plan_install, home.root, home.clinic_id)
    installed = bool(plan and plan.path.exists())
    waiting = attempt(errors, "uploads", upload_list, home)
    failed = attempt(errors, "uploads", upload_status, home, "failed")
    last = progress.read_last(home.root, "publish")
    current = progress.read_status(home.root)
    hb = st.heartbeat or {}
    return {
        "service": "running" if st.running else ("stopped" if installed else "missing"),
        "responding": st.responding, "pid": st.pid, "installed": installed,
        "install_path": str(plan.path) if plan else "",
        "beat_age": None if st.beat_age is None else round(st.beat_age),
        "since": _when(st.since), "activity": hb.get("activity") if st.running else "",
        "last_error": hb.get("last_error", ""), "up_to_date": _when(hb.get("last_publish")),
        "waiting": None if waiting is None else len(waiting),
        "failed": None if failed is None else len(failed),
        "last": last, "last_finished": _when(last.finished) if last else "",
        "current": current if current and current.active else None,
        "unread": unread_notes(), "errors": errors,
    }


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    info = overview()
    return page("status.html", "status", info=info, errors=info.pop("errors"))


@bp.get("/status.json")
def status_json():  # type: ignore[no-untyped-def]
    info = overview()
    info.pop("errors")
    for key in ("last", "current"):
        info[key] = info[key].to_json() if info[key] else None
    return jsonify(info)


def _act(field: str, fn, *args, ok: str):  # type: ignore[no-untyped-def]
    errors: dict[str, FormError] = {}
    attempt(errors, field, fn, *args)
    if errors:
        info = overview()
        info.pop("errors")
        return page("status.html", "status", 400, info=info, errors=errors)
    return done("/", ok)


@bp.post("/service/start")
def start():  # type: ignore[no-untyped-def]
    return _act("service", service_control.start, current_home(), ok="service_started")


@bp.post("/service/stop")
def stop():  # type: ignore[no-untyped-def]
    return _act("service", service_control.stop, current_home(), ok="service_stopped")


def _service_file(action: str, ok: str):  # type: ignore[no-untyped-def]
    """Install or uninstall, then show what is left to run by hand (as the CLI prints it)."""
    home = current_home()
    errors: dict[str, FormError] = {}
    plan = attempt(errors, "install", service_install.plan_install, home.root, home.clinic_id)
    left: list[str] | None = None
    if plan is not None and action == "install":
        left = service_install.install(plan)
    elif plan is not None:
        removed, left = service_install.uninstall(plan)
        if not removed:
            errors["install"] = FormError(t("status.not_installed_error"), "", "")
    info = overview()
    info.pop("errors")
    if errors:
        return page("status.html", "status", 400, info=info, errors=errors)
    return page("status.html", "status", info=info, steps=left or [], notice=t(f"ok.{ok}"))


@bp.post("/service/install")
def install():  # type: ignore[no-untyped-def]
    return _service_file("install", "service_installed")


@bp.post("/service/uninstall")
def uninstall():  # type: ignore[no-untyped-def]
    return _service_file("uninstall", "service_uninstalled")
