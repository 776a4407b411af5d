"""Test a target before trusting it with a publish: reach it, list it, write and delete a probe.

Core of ``chartseal test-target`` and the console's "test connection" button. Every failure
comes back as the publisher's own error (message and hint), the same a publish would give.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from exporter.home import Home

from .errors import TargetError
from .policy import Policy

PROBE_BODY = b"chartseal connection test; safe to delete\n"


@dataclass
class ProbeResult:
    target: str
    listed: int          # objects of this clinic found (up to LIST_LIMIT)
    wrote: bool
    seconds: float


LIST_LIMIT = 1000


def probe_target(home: Home, url: str | None = None, endpoint_url: str | None = None,
                 region: str | None = None, policy: Policy | None = None) -> ProbeResult:
    """Open, list and write ``url`` (default: the configured target); raise PublishError if not."""
    from .publish import make_target

    started = time.monotonic()
    target = make_target(home, url, endpoint_url, region, policy or Policy.from_env())
    target.check()
    listed = 0
    for _ in target.list(home.clinic_prefix + "/"):
        listed += 1
        if listed >= LIST_LIMIT:
            break
    # Under the clinic's own prefix, with a random name: if the delete below is lost, the
    # next `sync --repair` removes it as an orphan; no other clinic's files are touched.
    name = f"{home.clinic_prefix}/probe-{secrets.token_hex(8)}.txt"
    target.put(name, PROBE_BODY, "text/plain; charset=utf-8", "no-store")
    try:
        target.delete([name])
    except TargetError as exc:
        raise TargetError(f"wrote a test file but could not delete it: {exc}",
                          hint="publishing needs delete permission too (s3:DeleteObject); "
                               "chartseal sync --repair removes the test file later") from exc
    return ProbeResult(target.url, listed, True, time.monotonic() - started)
